"""Helpers for tests that drive the whole pipeline through the local runtime."""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer

from importer_cli.local_stack import forget_identities
from importer_cli.main import main
from intercom_importer.jobs import TERMINAL, job_id_for, plain
from local_runtime import LocalRuntime, RuntimeOptions

_DES = TypeDeserializer()
ROOT = Path(__file__).resolve().parents[1]
# where a data row can end: each row in exactly one of these (the invariant ``Pipeline.wait_done`` asserts)
OUTCOMES = ("created", "updated", "unchanged", "skipped", "failed", "invalid")


@contextmanager
def local_pipeline(intercom_url: str, token: str, log_dir: Path, **kwargs: Any) -> Iterator[Pipeline]:
    """The real stack on moto pointed at an Intercom (sandbox) URL, as tests use it.

    ``parameters`` are added to the template parameters; other keyword arguments go to LocalRuntime or are
    fields of its RuntimeOptions.
    """
    parameters = {"IntercomBaseUrl": intercom_url, **kwargs.pop("parameters", {})}
    overrides = {"*": {"POWERTOOLS_TRACE_DISABLED": "true"}}
    for name, values in kwargs.pop("function_env_overrides", {}).items():
        overrides.setdefault(name, {}).update(values)
    options, arguments = RuntimeOptions.split({**kwargs, "function_env_overrides": overrides})
    runtime = LocalRuntime(
        template_path=str(ROOT / "template.yaml"),
        parameters=parameters,
        intercom_token=token,
        log_dir=str(log_dir),
        options=options,
        **arguments,
    )
    with runtime:
        yield Pipeline(runtime)


class SharedStack:
    """The one shared stack of this process (a sandbox and a pipeline), kept across test modules.

    One LocalRuntime can be live per process, so a stack shared by several modules must be stopped before any
    other starts: ``conftest.py`` runs a shared stack's modules one after another (their ``xdist_group`` is the
    stack's name; under pytest-xdist the whole group goes to one worker) and calls :meth:`close_unless_next`
    after every test, which stops the stack once the next test belongs to another group.
    """

    def __init__(self) -> None:
        self.name: str | None = None
        self.value: tuple[Any, Pipeline] | None = None
        self._stack = ExitStack()

    def get(self, name: str, start: Callable[[ExitStack], tuple[Any, Pipeline]]) -> tuple[Any, Pipeline]:
        if self.name != name or self.value is None:
            self.close()
            self.value = start(self._stack)
            self.name = name
        return self.value

    def close_unless_next(self, next_group: str | None) -> None:
        if self.name is not None and next_group != self.name:
            self.close()

    def close(self) -> None:
        stack, self._stack = self._stack, ExitStack()
        self.name = self.value = None
        stack.close()


SHARED = SharedStack()
DEFAULT_STACK = "stack-default"
DEFAULT_STACK_TOKEN = "default-stack-token"


def default_stack_fixtures() -> tuple[Any, Any]:
    """``sandbox`` and ``pipeline`` fixtures on the stack with the template's defaults, shared by every module
    that uses it (mark the module ``pytest.mark.xdist_group(DEFAULT_STACK)``; its token is ``DEFAULT_STACK_TOKEN``).
    The sandbox is reset when a module starts; the stack's jobs, logs and sent emails accumulate, so tests
    look at their own job ids."""
    return shared_pipeline_fixtures(DEFAULT_STACK, DEFAULT_STACK_TOKEN)


SECOND_STACK = "stack-second"
SECOND_STACK_TOKEN = "second-stack-token"


def second_stack_fixtures() -> tuple[Any, Any]:
    """Like :func:`default_stack_fixtures`, on a second stack with the template's defaults (mark the module
    ``pytest.mark.xdist_group(SECOND_STACK)``): the long end-to-end modules run on it, beside the default stack's,
    so the two test workers share the work."""
    return shared_pipeline_fixtures(SECOND_STACK, SECOND_STACK_TOKEN)


def shared_pipeline_fixtures(name: str, token: str, **pipeline_kwargs: Any) -> tuple[Any, Any]:
    """Like :func:`pipeline_fixtures`, for a stack shared by the modules marked ``xdist_group(name)``."""
    from intercom_sandbox import SandboxConfig, SandboxServer

    def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Pipeline]:
        groups = {str(m.args[0] if m.args else m.kwargs.get("name")) for m in request.node.iter_markers("xdist_group")}
        if groups != {name}:
            raise pytest.UsageError(
                f"{request.node.nodeid} uses the shared stack {name!r}: mark it xdist_group({name!r})"
            )

        def start(stack: ExitStack) -> tuple[Any, Pipeline]:
            server = stack.enter_context(SandboxServer(port=0, config=SandboxConfig(token=token)))
            logs = tmp_path_factory.mktemp(f"{name}-logs")
            return server, stack.enter_context(local_pipeline(server.url, token, logs, **pipeline_kwargs))

        return SHARED.get(name, start)

    @pytest.fixture(scope="module")
    def sandbox(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Any:
        server, pipeline = shared(request, tmp_path_factory)
        pipeline.runtime.wait_idle(timeout=120)  # nothing of an earlier module still runs
        server.clear_faults()
        pipeline.fresh_intercom(server)
        server.reset_stats()
        server.configure(**SandboxConfig(token=token).as_dict())  # what earlier modules configured is undone
        return server

    @pytest.fixture(scope="module")
    def pipeline(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, sandbox: Any) -> Pipeline:
        return shared(request, tmp_path_factory)[1]

    return sandbox, pipeline


def pipeline_fixtures(token: str, **pipeline_kwargs: Any) -> tuple[Any, Any]:
    """A test module's ``sandbox`` (an Intercom sandbox accepting ``token``) and ``pipeline`` (the real stack
    on moto pointed at it) fixtures, both module-scoped; ``pipeline_kwargs`` go to :func:`local_pipeline`.

    ``sandbox, pipeline = pipeline_fixtures(TOKEN, visibility_timeout_override={"ChunkQueue": 8})``
    """
    from intercom_sandbox import SandboxConfig, SandboxServer

    @pytest.fixture(scope="module")
    def sandbox() -> Iterator[Any]:
        with SandboxServer(port=0, config=SandboxConfig(token=token)) as server:
            yield server

    @pytest.fixture(scope="module")
    def pipeline(sandbox: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pipeline]:
        with local_pipeline(sandbox.url, token, tmp_path_factory.mktemp("logs"), **pipeline_kwargs) as pipeline:
            yield pipeline

    return sandbox, pipeline


class Pipeline:
    """A thin driver over a started LocalRuntime: upload like a user, read what the stack recorded."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.outputs = runtime.outputs
        self.bucket = self.outputs["ImportBucketName"]
        self.table = self.outputs["JobsTableName"]
        self.s3 = runtime.client("s3")
        self.ddb = runtime.client("dynamodb")
        self.sfn = runtime.client("stepfunctions")

    def fresh_intercom(self, sandbox: Any) -> None:
        """An empty Intercom workspace: the sandbox reset, and the identity ledger of the stack emptied (what
        it remembers of the contacts the reset removed would otherwise name contacts that are gone)."""
        sandbox.reset()
        forget_identities(self.runtime)

    def upload(self, key: str, body: bytes | str, **metadata: str) -> str:
        data = body.encode("utf-8") if isinstance(body, str) else body
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata)
        return job_id_for(self.bucket, key, put.get("VersionId") or put.get("ETag"))

    def job_id_of(self, key: str, head: dict[str, Any]) -> str:
        """The job id of an object uploaded some other way (presigned URL), from its HeadObject answer."""
        return job_id_for(self.bucket, key, head.get("VersionId") or (head.get("ETag") or "").strip('"'))

    def stack_file(self, directory: Path) -> Path:
        """The stack's connection info in the shape `intercom-import up` writes it, for the CLI's ``--outputs``."""
        runtime = self.runtime
        info = {"endpoint_url": runtime.endpoint_url, "region": runtime.region, "aws_env": runtime.aws_env()}
        path = directory / "stack.json"
        path.write_text(json.dumps({**info, "outputs": self.outputs}))
        return path

    def job(self, job_id: str, *fields: str) -> dict[str, Any]:
        """The job record (only ``fields`` when given: a poll reads the status, not the header and columns)."""
        projection: dict[str, Any] = {}
        if fields:
            names = {f"#f{i}": name for i, name in enumerate(fields)}
            projection = {"ProjectionExpression": ", ".join(names), "ExpressionAttributeNames": names}
        item = self.ddb.get_item(
            TableName=self.table,
            Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "META"}},
            ConsistentRead=True,
            **projection,
        ).get("Item")
        return plain({k: _DES.deserialize(v) for k, v in item.items()}) if item else {}

    def execution(self, job_id: str) -> dict[str, Any]:
        arn = self.outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{job_id}"
        try:
            return self.sfn.describe_execution(executionArn=arn)
        except self.sfn.exceptions.ExecutionDoesNotExist:
            return {}

    def wait_done(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait (bounded) until the job is terminal and its execution has finished."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id, "status")
            if job.get("status") in TERMINAL and self.execution(job_id).get("status") not in (None, "RUNNING"):
                # read it again: the execution's last states (MarkJobDone: email_status, finished_at) wrote to
                # the job after the read above saw its terminal status
                job = self.job(job_id)
                # the invariant of every import: each data row ends in exactly one count
                c = {**counts(job), "unchanged": int(job.get("unchanged", 0))}
                assert c["rows"] == sum(c[k] for k in OUTCOMES), c
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} not done after {timeout} s: {self.job(job_id)}")

    def chunk_records(self, job_id: str) -> list[dict[str, Any]]:
        """The job's ``CHUNK#`` records (one per recorded chunk: counts, ``recorded_at``, ``source``)."""
        kwargs: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :chunk)",
            "ExpressionAttributeValues": {":pk": {"S": f"JOB#{job_id}"}, ":chunk": {"S": "CHUNK#"}},
            "ConsistentRead": True,
        }
        records: list[dict[str, Any]] = []
        while True:
            page = self.ddb.query(**kwargs)
            records += [plain({k: _DES.deserialize(v) for k, v in item.items()}) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return records
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def emails_for(self, job_id: str) -> list[dict[str, Any]]:
        return [e for e in self.runtime.sent_emails() if job_id in (e.get("text") or "")]

    def error_rows(self, job: dict[str, Any]) -> list[dict[str, str]]:
        body = self.s3.get_object(Bucket=self.bucket, Key=job["error_file_key"])["Body"].read().decode("utf-8-sig")
        return list(csv.DictReader(io.StringIO(body)))

    def chunk_message(self, job_id: str, index: int) -> str:
        return json.dumps({"v": 1, "job_id": job_id, "chunk": index, "key": f"work/{job_id}/chunks/{index:06d}.json"})


def run_cli(*argv: str) -> tuple[int, str, str]:
    """``intercom-import ARGV`` in this process: (exit status, stdout, stderr); a usage error's exit is returned."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def cli_json(stack_file: Path, *argv: str) -> dict[str, Any]:
    """``intercom-import ARGV --json`` in this process on the stack of ``stack_file`` (``Pipeline.stack_file``): what
    it printed. The command must succeed (exit 0)."""
    code, out, err = run_cli(*argv, "--outputs", str(stack_file), "--json")
    assert code == 0, err
    return dict(json.loads(out))


def counts(job: dict[str, Any]) -> dict[str, int]:
    return {k: int(job.get(k, 0)) for k in ("rows", "created", "updated", "skipped", "failed", "invalid")}
