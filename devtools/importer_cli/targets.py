"""Which stack a command talks to, resolved in one place.

- default: the local stack started by ``intercom-import up`` (``.local/stack.json``: moto's endpoint,
  fake credentials, the stack outputs);
- ``--stack NAME``: a deployed stack; its outputs come from CloudFormation ``DescribeStacks`` with your
  normal AWS credentials and region (``--profile``/``--region`` or the usual environment variables);
- ``--outputs FILE``: a JSON file of stack outputs, used with your normal AWS credentials. Accepted
  shapes: ``{"ImportBucketName": ..., ...}``; a list of ``{"OutputKey", "OutputValue"}`` (``aws
  cloudformation describe-stacks --query Stacks[0].Outputs``, ``sam list stack-outputs --output json``);
  the whole ``describe-stacks`` answer; or a ``stack.json`` written by ``up`` (its ``outputs`` plus the
  endpoint and credentials to reach it).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from importer_cli.errors import CliError

STACK_HINT = (
    "start one with `intercom-import up --detach`, or target a deployed stack with --stack NAME or --outputs FILE"
)


def add_target_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("target (default: the local stack started by `intercom-import up`)")
    which = group.add_mutually_exclusive_group()
    which.add_argument("--stack", metavar="NAME", help="a deployed stack: outputs from CloudFormation DescribeStacks")
    which.add_argument("--outputs", metavar="FILE", help="a JSON file of the stack's outputs (or a .local/stack.json)")
    group.add_argument(
        "--region", metavar="REGION", help="AWS region of --stack/--outputs (default: AWS_REGION, config)"
    )
    group.add_argument("--profile", metavar="NAME", help="AWS profile for --stack/--outputs (default: AWS_PROFILE)")


@dataclass
class Target:
    """A stack to talk to: its outputs and how to reach its AWS resources."""

    label: str  # for messages: "the local stack (moto at ...)", "stack NAME in REGION", ...
    outputs: dict[str, str]
    session: Any  # boto3.session.Session
    endpoint_url: str | None = None  # None: boto3's own resolution (honours AWS_ENDPOINT_URL)
    local: bool = False
    fix: str = ""  # how to fix a missing output
    emails: Callable[[], list[dict[str, Any]]] | None = None  # the SES messages sent (local stacks only)
    intercom_state: Callable[[], dict[str, Any]] | None = None  # what the Intercom sandbox holds
    log_dir: str | None = None
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            from botocore.config import Config

            retries = {"max_attempts": 2 if self.local else 5, "mode": "standard"}
            self._clients[service] = self.session.client(
                service, endpoint_url=self.endpoint_url, config=Config(retries=retries, connect_timeout=5)
            )
        return self._clients[service]

    def output(self, key: str) -> str:
        value = self.outputs.get(key)
        if not value:
            raise CliError(f"{self.label} has no {key} output: {self.fix or 'check the target'}")
        return value

    def job_store(self) -> Any:
        from intercom_importer.jobs import JobStore

        table = self.output("JobsTableName")
        if "dynamodb resource" not in self._clients:
            self._clients["dynamodb resource"] = self.session.resource("dynamodb", endpoint_url=self.endpoint_url)
        return JobStore(self._clients["dynamodb resource"].Table(table))

    @property
    def region(self) -> str | None:
        return self.session.region_name


def resolve(args: argparse.Namespace, *, optional: bool = False) -> Target | None:
    """The target the options name. With ``optional``, ``None`` when no local stack is up (``run``)."""
    if getattr(args, "stack", None):
        return from_stack(args.stack, region=args.region, profile=args.profile)
    if getattr(args, "outputs", None):
        return from_outputs_file(args.outputs, region=args.region, profile=args.profile)
    from importer_cli import local_stack

    info = local_stack.live_stack()
    if info is None:
        if optional:
            return None
        raise CliError(f"no local stack is running: {STACK_HINT}")
    return from_local_info(info)


def from_local_info(info: Mapping[str, Any]) -> Target:
    """A stack started by ``up`` (its stack.json)."""
    from importer_cli import local_stack

    return Target(
        label=f"the local stack (moto at {info['endpoint_url']}, pid {info.get('pid')})",
        outputs=dict(info.get("outputs") or {}),
        session=_local_session(info),
        endpoint_url=info["endpoint_url"],
        local=True,
        fix="restart it with `intercom-import down` and `intercom-import up --detach`",
        emails=lambda: local_stack.fetch_emails(info),
        intercom_state=(lambda: local_stack.fetch_sandbox_state(info)) if info.get("sandbox_url") else None,
        log_dir=info.get("log_dir"),
    )


def from_runtime(runtime: Any, sandbox: Any = None) -> Target:
    """An ephemeral stack running in this process (``run`` without a local stack up)."""
    env = runtime.aws_env()
    session = new_session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=runtime.region,
    )
    return Target(
        label=f"the ephemeral local stack (moto at {runtime.endpoint_url})",
        outputs=dict(runtime.outputs),
        session=session,
        endpoint_url=runtime.endpoint_url,
        local=True,
        emails=runtime.sent_emails,
        intercom_state=sandbox.state if sandbox is not None else None,
        log_dir=str(runtime.log_dir),
    )


def from_stack(name: str, *, region: str | None = None, profile: str | None = None) -> Target:
    session = _user_session(region, profile)
    cfn = _user_client(session, "cloudformation")
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        stacks = cfn.describe_stacks(StackName=name)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        if isinstance(exc, ClientError) and "does not exist" in str(exc.response.get("Error", {}).get("Message", "")):
            raise CliError(
                f"stack {name!r} does not exist in region {session.region_name}: check --stack and --region "
                "(aws cloudformation list-stacks lists yours)"
            ) from exc
        raise aws_error(exc, f"reading stack {name!r}") from exc
    if not stacks:
        raise CliError(f"stack {name!r} does not exist in region {session.region_name}: check --stack and --region")
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs") or []}
    return Target(
        label=f"stack {name} ({session.region_name})",
        outputs=outputs,
        session=session,
        fix="deploy the importer's template.yaml to that stack (sam deploy), or pick the right --stack",
    )


def from_outputs_file(path: str, *, region: str | None = None, profile: str | None = None) -> Target:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"--outputs {path}: no such file") from exc
    except ValueError as exc:
        raise CliError(f"--outputs {path}: not valid JSON ({exc})") from exc
    outputs = parse_outputs(data)
    if not outputs:
        raise CliError(
            f"--outputs {path}: no stack outputs found; write them with `aws cloudformation describe-stacks "
            "--stack-name NAME --query Stacks[0].Outputs > outputs.json`"
        )
    fix = f"add it to {path} (aws cloudformation describe-stacks --stack-name NAME --query Stacks[0].Outputs)"
    if isinstance(data, dict) and data.get("endpoint_url"):  # a stack.json written by `up`
        return Target(
            label=f"the stack in {path} (endpoint {data['endpoint_url']})",
            outputs=outputs,
            session=_local_session(data),
            endpoint_url=data["endpoint_url"],
            local=True,
            fix=fix,
        )
    session = _user_session(region, profile)
    return Target(label=f"the stack in {path} ({session.region_name})", outputs=outputs, session=session, fix=fix)


def parse_outputs(data: Any) -> dict[str, str]:
    """Stack outputs from any of the shapes listed in the module docstring."""
    if isinstance(data, dict) and isinstance(data.get("Stacks"), list) and data["Stacks"]:
        data = data["Stacks"][0].get("Outputs") or []
    elif isinstance(data, dict) and "outputs" in data:
        data = data["outputs"]
    elif isinstance(data, dict) and "Outputs" in data:
        data = data["Outputs"]
    if isinstance(data, list):
        return {str(o["OutputKey"]): str(o["OutputValue"]) for o in data if isinstance(o, dict) and "OutputKey" in o}
    if isinstance(data, dict):
        return {str(k): str(v) for k, v in data.items() if isinstance(v, str | int | float)}
    return {}


@functools.cache
def _service_models() -> Any:
    """One botocore loader for every session this process makes: each service's model (megabytes of JSON) is read
    once, not once per command (``status --watch``, the local runtime and the tests run many in one process)."""
    import botocore.loaders

    return botocore.loaders.create_loader()


_SESSIONS = threading.Lock()


def new_session(**options: Any) -> Any:
    """A boto3 session (``options`` as ``boto3.session.Session`` takes them) reading models from the shared loader."""
    import boto3
    import botocore.session

    core = botocore.session.get_session()
    loader = _service_models()
    core.register_component("data_loader", loader)
    with _SESSIONS:
        session = boto3.session.Session(botocore_session=core, **options)
        # boto3 adds its data folder to the loader of each session it makes: once is enough for a shared one
        loader.search_paths[:] = list(dict.fromkeys(loader.search_paths))
    return session


def _local_session(info: Mapping[str, Any]) -> Any:
    env = info.get("aws_env") or {}
    return new_session(
        aws_access_key_id=env.get("AWS_ACCESS_KEY_ID", "testing"),
        aws_secret_access_key=env.get("AWS_SECRET_ACCESS_KEY", "testing"),
        region_name=info.get("region") or env.get("AWS_REGION") or "us-east-1",
    )


def _user_session(region: str | None, profile: str | None) -> Any:
    from botocore.exceptions import ProfileNotFound

    # botocore reads AWS_DEFAULT_REGION; AWS_REGION is what Lambda and most other SDKs read.
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = new_session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        raise CliError(f"AWS profile {profile!r} not found: check --profile (aws configure list-profiles)") from exc
    if not session.region_name:
        raise CliError("no AWS region: pass --region REGION or set AWS_REGION (or a region in your AWS profile)")
    return session


def _user_client(session: Any, service: str) -> Any:
    from botocore.exceptions import BotoCoreError

    try:
        return session.client(service)
    except BotoCoreError as exc:
        raise aws_error(exc, f"creating the {service} client") from exc


def aws_error(exc: Exception, doing: str = "") -> CliError:
    """An AWS SDK exception (botocore's ``BotoCoreError`` or ``ClientError``) as one line saying what to do."""
    from botocore import exceptions as bx

    where = f" while {doing}" if doing else ""
    if isinstance(exc, bx.NoCredentialsError | bx.PartialCredentialsError):
        return CliError(
            f"no AWS credentials{where}: configure them (aws configure, AWS_PROFILE) or use the local stack"
        )
    if isinstance(exc, bx.NoRegionError):
        return CliError(f"no AWS region{where}: pass --region REGION or set AWS_REGION")
    if isinstance(exc, bx.EndpointConnectionError | bx.ConnectTimeoutError):
        return CliError(
            f"cannot reach {getattr(exc, 'kwargs', {}).get('endpoint_url', 'AWS')}{where}: if that is the local "
            "stack, it has stopped; start it with `intercom-import up --detach`",
        )
    if isinstance(exc, bx.ClientError):
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "Error"), error.get("Message", "")
        if code in ("ExpiredToken", "ExpiredTokenException", "InvalidClientTokenId", "UnrecognizedClientException"):
            return CliError(f"AWS refused your credentials{where} ({code}): refresh them (aws sso login, new keys)")
        if code in ("AccessDenied", "AccessDeniedException", "AuthorizationError"):
            return CliError(f"access denied{where} ({message}): use credentials allowed to read the stack's resources")
        return CliError(f"AWS error{where}: {code}: {message}")
    return CliError(f"AWS SDK error{where}: {exc}")
