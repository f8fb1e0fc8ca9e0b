"""LocalRuntime: the real SAM template, handlers and state machine on an in-process moto server."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from . import moto_hooks, stack
from .environment import FunctionConfig, FunctionPool, InvocationOutcome
from .errors import LocalRuntimeError
from .event_sources import AsyncFailure, AsyncInvoker, SqsPoller

LOG = logging.getLogger(__name__)


class _UnemulatedResources(logging.Filter):
    """While the stack deploys, turns moto's one warning per resource it cannot create (alarms, topic
    policies, ...) into one summary line instead of a screenful; the types stack.py applies itself
    (``moto_hooks.HANDLED_RESOURCE_TYPES``) are not reported at all."""

    _LOGGER = "moto"
    _MESSAGE = "No Moto CloudFormation support for %s"

    def __init__(self) -> None:
        super().__init__()
        self.types: set[str] = set()  # moto warns more than once per resource: types, not counts

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self._MESSAGE and record.args:
            resource_type = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            if resource_type not in moto_hooks.HANDLED_RESOURCE_TYPES:
                self.types.add(resource_type)
            return False
        return True

    def __enter__(self) -> _UnemulatedResources:
        logging.getLogger(self._LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(self._LOGGER).removeFilter(self)

    def __str__(self) -> str:
        return ", ".join(sorted(self.types))


T = TypeVar("T")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts any credentials

# Applied to a parameter only when the template declares it and the caller gives no value.
LOCAL_PARAMETER_DEFAULTS = {
    "Stage": "local",
    "SenderEmail": "imports@example.com",
    "NotificationRecipients": "ops@example.com",
}
TOKEN_PARAMETER = "IntercomTokenSecretArn"  # noqa: S105 - a parameter name
# Variables AWS reserves: the function's own configuration cannot change them.
_RESERVED = {
    "_HANDLER",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
}


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation as the runtime saw it (for tests and progress displays)."""

    function: str  # logical id
    function_name: str
    source: str  # "s3" | "sqs" | "invoke" (Invoke API, Step Functions) | "invoke-async" | "direct"
    request_id: str
    started_at: float  # epoch seconds
    ended_at: float
    cold_start: bool
    attempt: int  # 0 for the first delivery of an asynchronous event, 1 and 2 for Lambda's retries
    records: int | None  # number of records in an S3/SQS event (the batch size)
    error_type: str | None
    error_message: str | None

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.error_type is None


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _parameter_value(value: Any) -> str:
    if isinstance(value, (list, tuple)):  # CommaDelimitedList
        return ",".join(str(item) for item in value)
    return _env_value(value)


class LocalRuntime:
    """Deploys ``template_path`` on an in-process moto server and runs its functions locally.

    Use as a context manager or call :meth:`start` / :meth:`stop`. Only one runtime can be active per
    process (moto's state is global to the process); use pytest-xdist workers for parallelism.
    """

    def __init__(
        self,
        template_path: str | os.PathLike[str] = "template.yaml",
        parameters: Mapping[str, Any] | None = None,
        *,
        stack_name: str = "intercom-importer-local",
        function_env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        workdir: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        intercom_token: str | None = "local-intercom-token",  # noqa: S107 - a stand-in, never a real token
        visibility_timeout_override: Mapping[str, int] | None = None,
        timeout_override: Mapping[str, int] | None = None,
        async_retry_delays: Sequence[float] = (1.0, 2.0),
        sqs_poll_wait_seconds: int = 1,
        default_sqs_concurrency: int = 5,
        max_environments_per_function: int = 32,
        prewarm: bool | Iterable[str] = False,
        verified_identities: Iterable[str] | None = None,
        python: str | None = None,
        port: int = 0,
    ) -> None:
        self.template_path = Path(template_path).resolve()
        self.project_dir = self.template_path.parent
        self._given_parameters = {k: _parameter_value(v) for k, v in (parameters or {}).items()}
        self.stack_name = stack_name
        self.function_env_overrides = {k: dict(v) for k, v in (function_env_overrides or {}).items()}
        self.workdir = Path(workdir) if workdir else self.project_dir / ".local" / "runtime"
        self.log_dir = Path(log_dir) if log_dir else self.workdir / "logs"
        self.intercom_token = intercom_token
        self.visibility_timeout_override = dict(visibility_timeout_override or {})
        # function logical id -> seconds: a shorter Timeout than the template's, so tests can time a
        # function out in the middle of its work without waiting minutes
        self.timeout_override = dict(timeout_override or {})
        self.async_retry_delays = tuple(async_retry_delays)
        self.sqs_poll_wait_seconds = sqs_poll_wait_seconds
        self.default_sqs_concurrency = default_sqs_concurrency
        self.max_environments_per_function = max_environments_per_function
        self._prewarm = prewarm
        self._verified_identities = None if verified_identities is None else tuple(verified_identities)
        self.python = python or sys.executable
        self._requested_port = port
        self.region = REGION
        self.account_id = ACCOUNT_ID

        self.port: int | None = None
        self.endpoint_url = ""
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

        self._server: Any = None
        self._started = False
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._records: list[InvocationRecord] = []
        self._running = 0
        self._by_arn: dict[str, str] = {}
        self._by_name: dict[str, str] = {}
        self._emails: dict[str, dict[str, Any]] = {}
        self._clients: dict[str, Any] = {}
        self._client_lock = threading.Lock()
        self._session: Any = None
        self._async = AsyncInvoker(self._execute, self.async_retry_delays, self._stop)
        self._saved: dict[str, Any] = {}

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
            self._start_server()
            self.startup_phases["moto"] = time.monotonic() - started
            self._deploy()
            self._start_event_sources()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        LOG.info("local runtime up in %.2fs at %s", self.startup_seconds, self.endpoint_url)
        return self

    def _start_server(self) -> None:
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        werkzeug = logging.getLogger("werkzeug")
        self._saved["werkzeug_level"] = werkzeug.level
        werkzeug.setLevel(logging.WARNING)
        self._saved["stepfunctions_config"] = default_user_config.get("stepfunctions")
        # Before any state machine exists: only those created afterwards execute.
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self._requested_port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        # moto's Step Functions interpreter calls the other services at http://localhost:$MOTO_PORT.
        self._saved["MOTO_PORT"] = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)

    def _deploy(self) -> None:
        phase = time.monotonic()
        sam = stack.load_template(self.template_path)
        declared = sam.get("Parameters", {})
        parameters = {k: v for k, v in LOCAL_PARAMETER_DEFAULTS.items() if k in declared}
        parameters.update(self._given_parameters)
        if TOKEN_PARAMETER in declared and TOKEN_PARAMETER not in parameters and self.intercom_token is not None:
            secret = self.client("secretsmanager").create_secret(
                Name=f"{self.stack_name}/intercom-token", SecretString=self.intercom_token
            )
            parameters[TOKEN_PARAMETER] = secret["ARN"]
        self.parameters = parameters
        identities = self._verified_identities
        if identities is None:
            identities = (parameters["SenderEmail"],) if "SenderEmail" in parameters else ()

        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.workdir.mkdir(parents=True, exist_ok=True)
        unemulated = _UnemulatedResources()
        with unemulated:
            self.deployment = stack.deploy(
                self.client,
                self.template_path,
                sam,
                parameters,
                self.stack_name,
                code_bucket=f"local-runtime-code-{self.account_id}-{self.region}",
                region=self.region,
                account_id=self.account_id,
                verified_identities=tuple(identities),
                cache_dir=self.workdir / "sam-translation-cache",
            )
        self.unemulated_resources = frozenset(unemulated.types)
        if unemulated.types:
            LOG.info("not emulated locally (moto creates no such resources; they deploy on AWS): %s", unemulated)
        self.outputs = dict(self.deployment.outputs)
        self.startup_phases["stack"] = time.monotonic() - phase

        phase = time.monotonic()
        for logical_id, config in stack.describe_functions(self.client, self.deployment).items():
            source = self.deployment.functions[logical_id]
            log_path = self.log_dir / f"{logical_id}.log"
            log_path.write_text("", encoding="utf-8")
            function = FunctionConfig(
                logical_id=logical_id,
                name=config["FunctionName"],
                arn=config["FunctionArn"],
                handler=config["Handler"],
                runtime=config.get("Runtime", "python3.13"),
                timeout=int(self.timeout_override.get(logical_id, config.get("Timeout", 3))),
                memory_size=int(config.get("MemorySize", 128)),
                code_dir=source.code_dir,
                layer_dirs=source.layer_dirs,
                environment={},
                log_path=log_path,
            )
            variables = (config.get("Environment") or {}).get("Variables") or {}
            function = _with_environment(function, self._process_environment(function, variables))
            self.functions[logical_id] = function
            self.pools[logical_id] = FunctionPool(function, self.python, self.max_environments_per_function)
            self._by_arn[function.arn] = logical_id
            self._by_name[function.name] = logical_id
        self.startup_phases["functions"] = time.monotonic() - phase

    def _process_environment(self, function: FunctionConfig, variables: Mapping[str, Any]) -> dict[str, str]:
        """The process environment of one function: what Lambda sets, the function's variables as
        Lambda holds them, the moto endpoint, then the caller's overrides. Nothing is inherited."""
        env = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "TZ": ":UTC",
            "PYTHONPATH": os.pathsep.join(str(p) for p in (function.code_dir, *function.layer_dirs)),
            "PYTHONDONTWRITEBYTECODE": "1",
            "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
            "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        }
        env.update({k: _env_value(v) for k, v in variables.items() if k not in _RESERVED})
        env.update(
            {
                "_HANDLER": function.handler,
                "LAMBDA_TASK_ROOT": str(function.code_dir),
                "LAMBDA_RUNTIME_DIR": str(Path(__file__).parent),
                "AWS_EXECUTION_ENV": f"AWS_Lambda_{function.runtime}",
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_size),
                "AWS_LAMBDA_FUNCTION_VERSION": function.version,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(function.timeout),
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function.name}",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
                "AWS_SESSION_TOKEN": "local-session-token",
                "AWS_ENDPOINT_URL": self.endpoint_url,
                # No developer profile or credentials file leaks into the function.
                "AWS_CONFIG_FILE": os.devnull,
                "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            }
        )
        for key in ("*", function.logical_id, function.name):
            env.update({k: _env_value(v) for k, v in self.function_env_overrides.get(key, {}).items()})
        return env

    def _start_event_sources(self) -> None:
        assert self.deployment is not None
        phase = time.monotonic()
        arns = {logical: f.arn for logical, f in self.functions.items()}
        mappings = stack.sqs_event_source_mappings(self.client, self.deployment, arns)
        moto_hooks.detach_sqs_mappings(
            self.account_id, self.region, [(m.queue_arn.rsplit(":", 1)[1], m.function_arn) for m in mappings]
        )
        sqs = self.client("sqs")
        for queue, seconds in self.visibility_timeout_override.items():
            sqs.set_queue_attributes(QueueUrl=self.queue_url(queue), Attributes={"VisibilityTimeout": str(seconds)})
        for mapping in mappings:
            if not mapping.enabled:
                continue
            poller = SqsPoller(
                mapping,
                self._execute,
                self.client,
                self.region,
                concurrency=mapping.maximum_concurrency or self.default_sqs_concurrency,
                poll_wait_seconds=self.sqs_poll_wait_seconds,
                stop=self._stop,
            )
            self.pollers.append(poller)
            poller.start()
        if self._prewarm:
            names = list(self.pools) if self._prewarm is True else list(self._prewarm)  # type: ignore[arg-type]
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
        if self._server is not None:
            try:
                reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
                urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our own http:// server
            except OSError:
                LOG.warning("could not reset moto's state")
            self._server.stop()
            self._server = None
        # Pollers may sit in a long poll the server still answers; they stop on their next turn.
        deadline = time.monotonic() + 0.2
        for poller in self.pollers:
            poller.join(timeout=max(deadline - time.monotonic(), 0))
        moto_hooks.deactivate(self)
        self._restore()

    def _restore(self) -> None:
        from moto.core.config import default_user_config

        if "MOTO_PORT" in self._saved:
            previous = self._saved.pop("MOTO_PORT")
            if previous is None:
                os.environ.pop("MOTO_PORT", None)
            else:
                os.environ["MOTO_PORT"] = previous
        if "stepfunctions_config" in self._saved:
            previous = self._saved.pop("stepfunctions_config")
            if previous is None:
                default_user_config.pop("stepfunctions", None)
            else:
                default_user_config["stepfunctions"] = previous
        if "werkzeug_level" in self._saved:
            logging.getLogger("werkzeug").setLevel(self._saved.pop("werkzeug_level"))

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

    # ------------------------------------------------------------------------------ clients
    def client(self, service: str) -> Any:
        """A boto3 client for moto (cached; boto3 clients are thread-safe)."""
        with self._client_lock:
            client = self._clients.get(service)
            if client is None:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.session.Session(
                        aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        region_name=self.region,
                    )
                client = self._session.client(
                    service,
                    endpoint_url=self.endpoint_url,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=120),
                )
                self._clients[service] = client
            return client

    def aws_env(self) -> dict[str, str]:
        """Environment variables that point an AWS SDK or CLI process at this runtime."""
        return {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
        }

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
        pool = self.pools[logical_id]
        with self._lock:
            self._running += 1
        started = time.time()
        outcome: InvocationOutcome | None = None
        try:
            outcome = pool.invoke(event, request_id=request_id)
        finally:
            ended = time.time()
            # The record lands before the invocation stops counting as running, so idle() never
            # reports quiet while an invocation is still missing from invocations().
            with self._lock:
                if outcome is not None:
                    self._records.append(
                        self._record(logical_id, pool, event, source, outcome, started, ended, attempt)
                    )
                self._running -= 1
        return outcome

    @staticmethod
    def _record(
        logical_id: str,
        pool: Any,
        event: Any,
        source: str,
        outcome: InvocationOutcome,
        started: float,
        ended: float,
        attempt: int,
    ) -> InvocationRecord:
        error = outcome.error or {}
        return InvocationRecord(
            function=logical_id,
            function_name=pool.config.name,
            source=source,
            request_id=outcome.request_id,
            started_at=started,
            ended_at=ended,
            cold_start=outcome.cold_start,
            attempt=attempt,
            records=_record_count(event),
            error_type=error.get("errorType") if outcome.errored else None,
            error_message=error.get("errorMessage") if outcome.errored else None,
        )

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
        with self._lock:
            self._emails[message_id] = request

    # ------------------------------------------------------------------------------ observation
    def invocations(self, function: str | None = None, source: str | None = None) -> list[InvocationRecord]:
        """Finished invocations, oldest first, optionally of one function (logical id) or source."""
        with self._lock:
            records = list(self._records)
        if function is not None:
            logical_id = self._logical_id(function)
            records = [r for r in records if r.function == logical_id]
        if source is not None:
            records = [r for r in records if r.source == source]
        return records

    @property
    def running_invocations(self) -> int:
        with self._lock:
            return self._running

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
        sfn = self.client("stepfunctions")
        machines = self.deployment.state_machines
        if state_machine is not None:
            machines = {state_machine: machines[state_machine]}
        result = []
        for logical_id, arn in machines.items():
            for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
                for item in page["executions"]:
                    row: dict[str, Any] = {
                        "state_machine": logical_id,
                        "name": item["name"],
                        "arn": item["executionArn"],
                        "status": item["status"],
                        "start_date": item.get("startDate"),
                        "stop_date": item.get("stopDate"),
                    }
                    if describe:
                        detail = sfn.describe_execution(executionArn=item["executionArn"])
                        row.update(
                            status=detail["status"],
                            input=_maybe_json(detail.get("input")),
                            output=_maybe_json(detail.get("output")),
                            error=detail.get("error"),
                            cause=detail.get("cause"),
                            stop_date=detail.get("stopDate"),
                        )
                    result.append(row)
        result.sort(key=lambda row: row["start_date"] or 0, reverse=True)
        return result

    def sent_emails(self) -> list[dict[str, Any]]:
        """Every email sent through SES (v1 or v2), oldest first, with both text and HTML bodies."""
        messages = moto_hooks.ses_sent_messages(self.account_id, self.region)
        with self._lock:
            captured = dict(self._emails)
        return [_email_dict(message, captured.get(getattr(message, "id", ""))) for message in messages]

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


def _with_environment(function: FunctionConfig, env: dict[str, str]) -> FunctionConfig:
    return replace(function, environment=env)


def _record_count(event: Any) -> int | None:
    records = event.get("Records") if isinstance(event, dict) else None
    return len(records) if isinstance(records, list) else None


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def _email_dict(message: Any, request: dict[str, Any] | None) -> dict[str, Any]:
    """One moto SES message as a plain dict (source, destinations, subject, text, html)."""
    destinations = getattr(message, "destinations", {})
    if isinstance(destinations, dict):
        to = list(destinations.get("ToAddresses", []))
        cc = list(destinations.get("CcAddresses", []))
        bcc = list(destinations.get("BccAddresses", []))
    else:
        to, cc, bcc = list(destinations or []), [], []
    result: dict[str, Any] = {
        "message_id": getattr(message, "id", None),
        "source": getattr(message, "source", None),
        "destinations": to + cc + bcc,
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "subject": getattr(message, "subject", None),
        "text": None,
        "html": None,
        "configuration_set": (request or {}).get("ConfigurationSetName"),
    }
    simple = ((request or {}).get("Content") or {}).get("Simple")
    if simple:
        body = simple.get("Body", {})
        result["subject"] = simple.get("Subject", {}).get("Data", result["subject"])
        result["text"] = body.get("Text", {}).get("Data")
        result["html"] = body.get("Html", {}).get("Data")
    elif hasattr(message, "raw_data"):
        parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
        result["subject"] = parsed.get("Subject")
        for kind in ("plain", "html"):
            part = parsed.get_body(preferencelist=(kind,))
            if part is not None:
                result["text" if kind == "plain" else "html"] = part.get_content()
    elif hasattr(message, "body"):
        body = message.body or ""
        result["html" if body.lstrip().startswith("<") else "text"] = body
    return result
