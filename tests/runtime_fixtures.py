"""Helpers to run a stack on the local runtime in tests (plain module: import what you need).

Typical e2e use (the sandbox URL is only known once its fixture runs, hence start_runtime)::

    from runtime_fixtures import real_stack_parameters, real_stack_visibility, start_runtime

    @pytest.fixture(scope="session")
    def local_runtime(sandbox, tmp_path_factory):
        with start_runtime(
            parameters=real_stack_parameters(sandbox.url),
            visibility_timeout_override=real_stack_visibility(2),
            log_dir=tmp_path_factory.mktemp("runtime-logs"),
        ) as runtime:
            yield runtime

With static arguments, ``local_runtime = runtime_fixture(FIXTURE_TEMPLATE, stack_name="x")`` does the same.

One LocalRuntime can be live per process (moto's state is per process): give it module or session
scope, and do not use moto's in-process ``mock_aws`` in the same worker while it is up (it resets
the same backends). pytest-xdist workers are separate processes and each get their own runtime.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from local_runtime import InvocationRecord, LocalRuntime, RuntimeOptions

REPO_ROOT = Path(__file__).resolve().parents[1]
REAL_TEMPLATE = REPO_ROOT / "template.yaml"
FIXTURE_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "runtime" / "template.yaml"

# Local timings for tests: AWS retries async events after ~1 and ~2 minutes.
TEST_DEFAULTS = RuntimeOptions(async_retry_delays=(0.2, 0.4), sqs_poll_wait_seconds=1)


def real_stack_parameters(intercom_base_url: str = "http://127.0.0.1:9", **overrides: Any) -> dict[str, str]:
    """Parameters for the importer's template.yaml in tests (Stage/SenderEmail/recipients get the
    runtime's local defaults; the Intercom token secret is created by the runtime)."""
    parameters = {"IntercomBaseUrl": intercom_base_url, "WorkerMaxConcurrency": 2}
    parameters.update(overrides)
    return {key: str(value) for key, value in parameters.items()}


def real_stack_visibility(seconds: int = 2) -> dict[str, int]:
    """Visibility timeouts short enough for redelivery tests on the importer's queues."""
    return {"ChunkQueue": seconds, "ChunkDeadLetterQueue": seconds}


@contextlib.contextmanager
def start_runtime(template: str | os.PathLike[str] = REAL_TEMPLATE, **kwargs: Any) -> Iterator[LocalRuntime]:
    """A started LocalRuntime with test-friendly defaults: any LocalRuntime argument, ``options`` (instead of
    TEST_DEFAULTS) or a RuntimeOptions field (on top of them) can be given."""
    options, arguments = RuntimeOptions.split(kwargs, base=kwargs.pop("options", TEST_DEFAULTS))
    arguments.setdefault("workdir", REPO_ROOT / ".local" / "runtime")
    with LocalRuntime(template, options=options, **arguments) as runtime:
        yield runtime


def runtime_fixture(
    template: str | os.PathLike[str] = REAL_TEMPLATE, scope: str = "module", **kwargs: Any
) -> Callable[..., Any]:
    """Builds a pytest fixture yielding a started runtime; logs go to a pytest temporary folder.

    ``local_runtime = runtime_fixture(FIXTURE_TEMPLATE, stack_name="x")`` in a test module.
    """

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def _runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRuntime]:
        options = dict(kwargs)
        options["log_dir"] = options.get("log_dir") or tmp_path_factory.mktemp("runtime-logs")
        with start_runtime(template, **options) as runtime:
            yield runtime

    return _runtime


# ------------------------------------------------------------------------------ observations
def max_concurrency(records: Iterable[InvocationRecord]) -> int:
    """Largest number of invocations that were running at the same moment."""
    events = []
    for record in records:
        events.append((record.started_at, 1))
        events.append((record.ended_at, -1))
    running = peak = 0
    for _, delta in sorted(events, key=lambda e: (e[0], e[1])):
        running += delta
        peak = max(peak, running)
    return peak


def wait_for_invocations(
    runtime: LocalRuntime, function: str, count: int, timeout: float = 30.0, **filters: Any
) -> list[InvocationRecord]:
    """Waits until ``function`` has at least ``count`` finished invocations (optionally filtered by
    source, or by any InvocationRecord attribute); returns them."""
    source = filters.pop("source", None)

    def matching() -> list[InvocationRecord]:
        records = runtime.invocations(function, source=source)
        return [r for r in records if all(getattr(r, k) == v for k, v in filters.items())]

    runtime.wait_until(
        lambda: len(matching()) >= count,
        timeout,
        message=f"{function}: fewer than {count} invocations after {timeout}s\n{function_logs(runtime, function)}",
    )
    return matching()


def wait_for_execution(runtime: LocalRuntime, name: str, timeout: float = 60.0) -> dict[str, Any]:
    """Waits until the execution called ``name`` has finished; returns it (status, output, error...)."""

    def finished() -> dict[str, Any] | None:
        for execution in runtime.executions(describe=False):
            if execution["name"] == name and execution["status"] != "RUNNING":
                return next(e for e in runtime.executions() if e["name"] == name)
        return None

    return runtime.wait_until(finished, timeout, interval=0.1, message=f"execution {name} still running")


def function_logs(runtime: LocalRuntime, function: str | None = None, tail: int = 60) -> str:
    """The last lines of one function's log (or of all), for assertion messages."""
    names = [function] if function else list(runtime.functions)
    parts = []
    for name in names:
        lines = runtime.read_log(name).splitlines()[-tail:]
        parts.append(f"--- {name} ---\n" + "\n".join(lines))
    return "\n".join(parts)


def send_json_messages(runtime: LocalRuntime, queue: str, bodies: list[dict[str, Any]]) -> None:
    """SendMessageBatch of JSON bodies (10 per call) to a queue given by logical id or name."""
    sqs, url = runtime.client("sqs"), runtime.queue_url(queue)
    for start in range(0, len(bodies), 10):
        entries = [
            {"Id": str(index), "MessageBody": json.dumps(body)} for index, body in enumerate(bodies[start : start + 10])
        ]
        sqs.send_message_batch(QueueUrl=url, Entries=entries)


def queue_depth(runtime: LocalRuntime, queue: str) -> int:
    """Visible + in-flight + delayed messages of a queue."""
    attributes = runtime.client("sqs").get_queue_attributes(
        QueueUrl=runtime.queue_url(queue),
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())
