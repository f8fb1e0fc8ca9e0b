"""LocalRuntime: the real SAM template, handlers and state machine on an in-process moto server.

The runtime joins the parts: the moto server (``moto_server.py``), the deployment (``provision.py``,
``stack.py``), the functions' environments (``functions.py``, ``environment.py``), the event sources
(``event_sources.py``) and what ran (``invocations.py``, ``observation.py``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from . import moto_hooks, observation, provision, stack
from .environment import FunctionConfig, FunctionPool, InvocationOutcome
from .errors import LocalRuntimeError
from .event_sources import AsyncFailure, AsyncInvoker, SqsPoller
from .functions import configure_functions, parameter_value
from .invocations import InvocationLog, InvocationRecord
from .moto_server import ACCOUNT_ID, REGION, MotoClients, MotoServer, aws_env
from .options import RuntimeOptions

__all__ = ["ACCOUNT_ID", "REGION", "InvocationRecord", "LocalRuntime", "RuntimeOptions"]

LOG = logging.getLogger(__name__)

T = TypeVar("T")


class LocalRuntime:
    """Deploys ``template_path`` on an in-process moto server and runs its functions locally.

    ``parameters`` are the stack's; ``intercom_token`` goes into the secret created for
    ``IntercomTokenSecretArn`` (when the template declares it and it is not given); ``workdir`` holds the
    translation cache and, by default, ``log_dir`` (one log file per function). Timing and test knobs are
    in ``options`` (:class:`RuntimeOptions`).

    Use as a context manager or call :meth:`start` / :meth:`stop`. Only one runtime can be active per
    process (moto's state is global to the process); use pytest-xdist workers for parallelism.
    """

    def __init__(
        self,
        template_path: str | os.PathLike[str] = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        *,
        stack_name: str = "intercom-importer-local",
        intercom_token: str | None = "local-intercom-token",  # noqa: S107 - a stand-in, never a real token
        workdir: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        options: RuntimeOptions | None = None,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.project_dir = self.template_path.parent
        self._given_parameters = {k: parameter_value(v) for k, v in (parameters or {}).items()}
        self.stack_name = stack_name
        self.intercom_token = intercom_token
        self.workdir = Path(workdir) if workdir else self.project_dir / ".local" / "runtime"
        self.log_dir = Path(log_dir) if log_dir else self.workdir / "logs"
        self.options = options or RuntimeOptions()
        self.region = REGION
        self.account_id = ACCOUNT_ID

        self.parameters: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        # The template's resource types moto's CloudFormation does not create (alarms, ...).
        self.unemulated_resources: frozenset[str] = frozenset()
        self.deployment: stack.Deployment | None = None
        self.functions: dict[str, FunctionConfig] = {}
        self.pools: dict[str, FunctionPool] = {}
        self.pollers: list[SqsPoller] = []
        self.startup_seconds: float | None = None
        self.startup_phases: dict[str, float] = {}

        self._moto = MotoServer(self.options.port)
        self._clients = MotoClients(self._moto, self.region)
        self._started = False
        self._stop = threading.Event()
        self._log = InvocationLog()
        self._by_arn: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._async = AsyncInvoker(self._execute, self.options.async_retry_delays, self._stop)

    @property
    def port(self) -> int | None:
        return self._moto.port

    @property
    def endpoint_url(self) -> str:
        return self._moto.endpoint_url

    # ------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> LocalRuntime:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> LocalRuntime:
        if self._started:
            return self
        started = time.monotonic()
        moto_hooks.install()
        moto_hooks.activate(self)
        self._started = True
        try:
            self._moto.start()
            self.startup_phases["moto"] = time.monotonic() - started
            self._deploy()
            self._start_event_sources()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        LOG.info("local runtime up in %.2fs at %s", self.startup_seconds, self.endpoint_url)
        return self

    def _deploy(self) -> None:
        phase = time.monotonic()
        sam = stack.load_template(self.template_path)
        self.parameters = provision.stack_parameters(
            sam, self._given_parameters, self.intercom_token, self._create_token_secret
        )
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.deployment, self.unemulated_resources = provision.deploy(
            self.client,
            self.template_path,
            sam,
            self.parameters,
            stack_name=self.stack_name,
            account_id=self.account_id,
            region=self.region,
            verified_identities=self.options.verified_identities,
            cache_dir=self.workdir / "sam-translation-cache",
        )
        self.outputs = dict(self.deployment.outputs)
        self.startup_phases["stack"] = time.monotonic() - phase

        phase = time.monotonic()
        functions = configure_functions(
            self.client, self.deployment, self.log_dir, self.options, endpoint_url=self.endpoint_url, region=self.region
        )
        for logical_id, function in functions.items():
            self.functions[logical_id] = function
            self.pools[logical_id] = FunctionPool(
                function, self.options.interpreter, self.options.max_environments_per_function
            )
            self._by_arn[function.arn] = logical_id
            self._by_name[function.name] = logical_id
        self.startup_phases["functions"] = time.monotonic() - phase

    def _create_token_secret(self, token: str) -> str:
        secret = self.client("secretsmanager").create_secret(
            Name=f"{self.stack_name}/intercom-token", SecretString=token
        )
        return str(secret["ARN"])

    def _start_event_sources(self) -> None:
        assert self.deployment is not None
        phase = time.monotonic()
        arns = {logical: f.arn for logical, f in self.functions.items()}
        mappings = stack.sqs_event_source_mappings(self.client, self.deployment, arns)
        moto_hooks.detach_sqs_mappings(
            self.account_id, self.region, [(m.queue_arn.rsplit(":", 1)[1], m.function_arn) for m in mappings]
        )
        sqs = self.client("sqs")
        for queue, seconds in self.options.visibility_timeout_override.items():
            sqs.set_queue_attributes(QueueUrl=self.queue_url(queue), Attributes={"VisibilityTimeout": str(seconds)})
        for mapping in mappings:
            if not mapping.enabled:
                continue
            poller = SqsPoller(
                mapping,
                self._execute,
                self.client,
                self.region,
                concurrency=mapping.maximum_concurrency or self.options.default_sqs_concurrency,
                poll_wait_seconds=self.options.sqs_poll_wait_seconds,
                stop=self._stop,
                visibility_timeout=_visibility_timeout(sqs, mapping.queue_url),
                lookahead=self.options.sqs_fair_share_lookahead,
                mapping_enabled=functools.partial(
                    moto_hooks.event_source_mapping_enabled, self.account_id, self.region, mapping.uuid
                ),
            )
            self.pollers.append(poller)
            poller.start()
        names = self.options.prewarm_functions(self.pools)
        if names:
            self.prewarm(*names, wait=False)
        self.startup_phases["event_sources"] = time.monotonic() - phase

    def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        self._stop.set()
        self._async.join(timeout=2)
        for pool in self.pools.values():
            pool.shutdown()
        self._moto.shutdown()
        # Pollers may sit in a long poll the server still answers; they stop on their next turn.
        deadline = time.monotonic() + 0.2
        for poller in self.pollers:
            poller.join(timeout=max(deadline - time.monotonic(), 0))
        moto_hooks.deactivate(self)
        self._moto.restore()

    # ------------------------------------------------------------------------------ stack info
    def physical_id(self, logical_id: str) -> str:
        """Physical id of a stack resource (a name, URL or ARN, as CloudFormation reports it)."""
        assert self.deployment is not None, "start() first"
        try:
            return self.deployment.resources[logical_id]["physical_id"]
        except KeyError:
            raise KeyError(f"{logical_id} is not a resource of stack {self.stack_name}") from None

    def queue_url(self, queue: str) -> str:
        """URL of a queue given its logical id (or name), as moto serves it."""
        name = queue
        if self.deployment is not None and queue in self.deployment.resources:
            name = self.physical_id(queue).rstrip("/").rsplit("/", 1)[-1]
        return self.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]

    def state_machine_arn(self, logical_id: str | None = None) -> str:
        assert self.deployment is not None, "start() first"
        machines = self.deployment.state_machines
        if logical_id is None:
            if len(machines) != 1:
                raise LocalRuntimeError(f"the stack has {len(machines)} state machines; name one")
            return next(iter(machines.values()))
        return machines[logical_id]

    def client(self, service: str) -> Any:
        """A boto3 client for moto (cached; boto3 clients are thread-safe)."""
        return self._clients.get(service)

    def aws_env(self) -> dict[str, str]:
        """Environment variables that point an AWS SDK or CLI process at this runtime."""
        return aws_env(self.endpoint_url, self.region)

    # ------------------------------------------------------------------------------ invocation
    def _logical_id(self, function: str) -> str:
        if function in self.pools:
            return function
        for candidate in (function, function.split(":$LATEST")[0]):
            if candidate in self._by_arn:
                return self._by_arn[candidate]
            if candidate in self._by_name:
                return self._by_name[candidate]
        raise KeyError(f"{function} is not a function of stack {self.stack_name}")

    def _execute(
        self, logical_id: str, event: Any, source: str, request_id: str | None = None, attempt: int = 0
    ) -> InvocationOutcome:
        return self._log.run(logical_id, self.pools[logical_id], event, source, request_id, attempt)

    def invoke(self, function: str, event: Any = None) -> tuple[Any, dict[str, Any] | None]:
        """Synchronous invocation through the function's environments: ``(payload, None)`` or
        ``(None, lambda_error)``."""
        outcome = self._execute(self._logical_id(function), {} if event is None else event, "direct")
        if outcome.errored:
            return None, outcome.error
        return (json.loads(outcome.payload) if outcome.payload is not None else None), None

    def invoke_async(self, function: str, event: Any = None) -> str:
        """Asynchronous invocation (InvocationType=Event semantics, retries included); returns its request id."""
        return self._async.submit(self._logical_id(function), {} if event is None else event, "direct-async")

    def prewarm(self, *functions: str, wait: bool = True) -> None:
        """Starts one environment per function now (all when none is named) instead of on first use."""
        targets = [self._logical_id(f) for f in functions] or list(self.pools)
        threads = [threading.Thread(target=self.pools[t].prewarm, daemon=True) for t in targets]
        for thread in threads:
            thread.start()
        if wait:
            for thread in threads:
                thread.join()

    # moto_hooks.RuntimeHooks
    def moto_invoke(self, function: Any, event: Any) -> tuple[str, bool, str]:
        try:
            logical_id = self._logical_id(function.function_arn)
        except KeyError:
            error = {
                "errorType": "Runtime.InvalidEntrypoint",
                "errorMessage": f"{function.function_name} is not part of the locally deployed stack",
            }
            return json.dumps(error), True, ""
        outcome = self._execute(logical_id, event, "invoke")
        return outcome.body, outcome.errored, ""

    def moto_invoke_async(self, function_arn: str, event: Any, source: str) -> bool:
        try:
            logical_id = self._logical_id(function_arn)
        except KeyError:
            return False
        self._async.submit(logical_id, event, source)
        return True

    def record_email(self, message_id: str, request: dict[str, Any]) -> None:
        self._log.record_email(message_id, request)

    # ------------------------------------------------------------------------------ observation
    def invocations(self, function: str | None = None, source: str | None = None) -> list[InvocationRecord]:
        """Finished invocations, oldest first, optionally of one function (logical id) or source."""
        records = self._log.records()
        if function is not None:
            logical_id = self._logical_id(function)
            records = [r for r in records if r.function == logical_id]
        if source is not None:
            records = [r for r in records if r.source == source]
        return records

    @property
    def running_invocations(self) -> int:
        return self._log.running

    @property
    def async_failures(self) -> list[AsyncFailure]:
        """Asynchronous events that still failed after all retries."""
        return list(self._async.failures)

    def idle(self, include_executions: bool = True) -> bool:
        """True when nothing is running or pending: no invocation, no async event waiting for a retry,
        no message (visible, in flight or delayed) in a queue the functions poll, and (by default) no
        running state machine execution."""
        if self.running_invocations or self._async.pending:
            return False
        sqs = self.client("sqs")
        for poller in self.pollers:
            attributes = sqs.get_queue_attributes(
                QueueUrl=poller.mapping.queue_url,
                AttributeNames=[
                    "ApproximateNumberOfMessages",
                    "ApproximateNumberOfMessagesNotVisible",
                    "ApproximateNumberOfMessagesDelayed",
                ],
            )["Attributes"]
            if any(int(v) for v in attributes.values()):
                return False
        if include_executions:
            return not any(e["status"] == "RUNNING" for e in self.executions(describe=False))
        return True

    def wait_until(
        self, predicate: Callable[[], T | None], timeout: float = 30.0, interval: float = 0.05, message: str = ""
    ) -> T:
        """Polls ``predicate`` until it returns something truthy (returned) or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result:
                return result
            if time.monotonic() >= deadline:
                raise TimeoutError(message or f"condition not met within {timeout:.1f}s")
            time.sleep(interval)

    def wait_idle(self, timeout: float = 60.0, include_executions: bool = True) -> None:
        self.wait_until(lambda: self.idle(include_executions), timeout, interval=0.1, message="runtime never idle")

    def executions(self, state_machine: str | None = None, describe: bool = True) -> list[dict[str, Any]]:
        """Executions of the stack's state machines, newest first, with status and parsed input/output."""
        assert self.deployment is not None, "start() first"
        machines = self.deployment.state_machines
        if state_machine is not None:
            machines = {state_machine: machines[state_machine]}
        return observation.executions(self.client("stepfunctions"), machines, describe)

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email sent through SES (v1 or v2), oldest first, with both text and HTML bodies."""
        messages = moto_hooks.ses_sent_messages(self.account_id, self.region)
        captured = self._log.emails()
        return [observation.email_dict(message, captured.get(getattr(message, "id", ""))) for message in messages]

    def log_path(self, function: str) -> Path:
        return self.functions[self._logical_id(function)].log_path

    def read_log(self, function: str) -> str:
        return self.log_path(function).read_text(encoding="utf-8", errors="replace")

    def environments(self, function: str) -> int:
        """How many execution environments of the function are alive (idle or busy)."""
        return self.pools[self._logical_id(function)].environment_count

    def upload(self, bucket: str, key: str, body: bytes | str) -> dict[str, Any]:
        """Convenience PutObject (a plain S3 call: notifications fire like for any other client)."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        return self.client("s3").put_object(Bucket=bucket, Key=key, Body=data)


def _visibility_timeout(sqs: Any, queue_url: str) -> float:
    """The queue's VisibilityTimeout (after the runtime's overrides)."""
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"]
    return float(attributes["VisibilityTimeout"])
