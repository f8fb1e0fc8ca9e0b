"""Execution environments: one long-lived subprocess per concurrent instance of a function, reused warm.

Parent side of the protocol implemented by ``bootstrap.py``. A :class:`FunctionPool` hands out idle
environments (most recently used first, like Lambda keeps the warmest), starts a new one (a cold
start) when all are busy, enforces the function's timeout by killing the environment, and turns a
crash into the Lambda error payload while the rest of the runtime carries on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import select
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOTSTRAP = Path(__file__).with_name("bootstrap.py")


@dataclass(frozen=True)
class FunctionConfig:
    """What an execution environment needs to run one function (resolved from the deployed stack)."""

    logical_id: str
    name: str
    arn: str
    handler: str
    runtime: str
    timeout: int
    memory_size: int
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    environment: Mapping[str, str]
    log_path: Path
    version: str = "$LATEST"


@dataclass
class InvocationOutcome:
    """Result of one invocation: ``payload`` is the handler's JSON text, or ``error`` the Lambda error."""

    request_id: str
    payload: str | None
    error: dict[str, Any] | None
    duration: float
    cold_start: bool = False
    init_duration: float | None = None

    @property
    def errored(self) -> bool:
        return self.error is not None

    @property
    def body(self) -> str:
        """What the Invoke API returns: the payload, or the error document."""
        if self.error is not None:
            return json.dumps(self.error)
        return self.payload if self.payload is not None else "null"


class _Timeout(Exception):
    pass


class _Closed(Exception):
    pass


class _LineReader:
    """Reads newline-terminated messages from a pipe with a deadline (no reader thread)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._poll = select.poll()
        self._poll.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def read_line(self, deadline: float | None) -> bytes:
        while True:
            newline = self._buffer.find(b"\n")
            if newline >= 0:
                line = bytes(self._buffer[:newline])
                del self._buffer[: newline + 1]
                return line
            if deadline is None:
                wait_ms = None
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise _Timeout
                wait_ms = max(int(remaining * 1000), 1)
            if not self._poll.poll(wait_ms):
                continue
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                raise _Closed
            self._buffer.extend(chunk)


def _exit_reason(returncode: int | None) -> str:
    if returncode is None:
        return "Runtime exited without providing a reason"
    if returncode < 0:
        try:
            name = signal.strsignal(-returncode) or f"signal {-returncode}"
        except ValueError:
            name = f"signal {-returncode}"
        return f"Runtime exited with error: signal: {name.lower()}"
    return f"Runtime exited with error: exit status {returncode}"


def _max_memory_mb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError):
        return None
    return None


class ExecutionEnvironment:
    """One warm sandbox: a subprocess running ``bootstrap.py`` for one function."""

    def __init__(self, config: FunctionConfig, python: str) -> None:
        self.config = config
        self.python = python
        self.id = uuid.uuid4().hex
        self.log_stream_name = f"{dt.datetime.now(dt.UTC):%Y/%m/%d}/[{config.version}]{self.id}"
        self.process: subprocess.Popen[bytes] | None = None
        self.init_duration: float | None = None
        self.invocations = 0
        self._request_fd: int | None = None
        self._reader: _LineReader | None = None
        self._dead = False

    @property
    def alive(self) -> bool:
        return not self._dead and self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    def _environment(self) -> dict[str, str]:
        env = dict(self.config.environment)
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = self.log_stream_name
        return env

    def start(self, init_timeout: float) -> dict[str, Any] | None:
        """Starts the process and runs the init phase (imports the handler). Returns an init error."""
        started = time.monotonic()
        request_r, request_w = os.pipe()
        response_r, response_w = os.pipe()
        try:
            with open(self.config.log_path, "ab") as log:
                self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and bootstrap
                    [self.python, "-u", "-P", str(BOOTSTRAP), str(request_r), str(response_w)],
                    env=self._environment(),
                    cwd=self.config.code_dir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    pass_fds=(request_r, response_w),
                    start_new_session=True,
                )
        except BaseException:
            for fd in (request_r, request_w, response_r, response_w):
                os.close(fd)
            raise
        os.close(request_r)
        os.close(response_w)
        self._request_fd = request_w
        self._reader = _LineReader(response_r)
        try:
            message = json.loads(self._reader.read_line(time.monotonic() + init_timeout))
        except _Timeout:
            self.kill()
            return {
                "errorType": "Runtime.InitTimeout",
                "errorMessage": f"Init phase did not finish within {init_timeout:.0f} seconds",
            }
        except _Closed:
            returncode = self._reap()
            self.kill()
            return {"errorType": "Runtime.ExitError", "errorMessage": _exit_reason(returncode)}
        self.init_duration = time.monotonic() - started
        if message.get("error"):
            self.kill()
            return message["error"]
        return None

    def invoke(self, request: dict[str, Any], timeout: float) -> tuple[str | None, dict[str, Any] | None]:
        """Sends one event; returns ``(payload_json_text, None)`` or ``(None, lambda_error)``."""
        assert self._request_fd is not None and self._reader is not None
        request_id = request["request_id"]
        self.invocations += 1
        line = json.dumps(request).encode("utf-8") + b"\n"
        deadline = time.monotonic() + timeout
        try:
            view = memoryview(line)
            while view:
                written = os.write(self._request_fd, view)
                view = view[written:]
            message = json.loads(self._reader.read_line(deadline))
        except _Timeout:
            self.kill()
            return None, {
                "errorType": "Sandbox.Timedout",
                "errorMessage": f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds",
            }
        except (_Closed, BrokenPipeError):
            returncode = self._reap()
            self.kill()
            return None, {
                "errorType": "Runtime.ExitError",
                "errorMessage": f"RequestId: {request_id} Error: {_exit_reason(returncode)}",
            }
        return message.get("payload"), message.get("error")

    def max_memory_mb(self) -> int | None:
        return _max_memory_mb(self.process.pid) if self.process else None

    def _reap(self) -> int | None:
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None

    def release_pipe(self) -> None:
        """Closes the request pipe: an idle bootstrap sees EOF and exits on its own."""
        if self._request_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._request_fd)
            self._request_fd = None

    def close(self, deadline: float) -> None:
        """Lets an idle environment exit until ``deadline`` (monotonic), then makes sure it is gone."""
        self.release_pipe()
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=max(deadline - time.monotonic(), 0.01))
        self.kill()

    def kill(self) -> None:
        self._dead = True
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=5)
        if self.process is not None:
            # The session may hold processes the handler started; they die with the sandbox.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)
        if self._request_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._request_fd)
            self._request_fd = None
        if self._reader is not None:
            with contextlib.suppress(OSError):
                os.close(self._reader.fd)
            self._reader = None


@dataclass
class PoolStats:
    started: int = 0
    running: int = 0
    killed: int = 0
    invocations: int = 0
    peak_running: int = 0
    init_durations: list[float] = field(default_factory=list)


class FunctionPool:
    """The execution environments of one function."""

    def __init__(self, config: FunctionConfig, python: str, max_environments: int = 32) -> None:
        self.config = config
        self.python = python
        self.max_environments = max_environments
        self.stats = PoolStats()
        self._idle: list[ExecutionEnvironment] = []
        self._all: set[ExecutionEnvironment] = set()
        self._cond = threading.Condition()
        self._closed = False
        self._log_lock = threading.Lock()

    # ------------------------------------------------------------------ environments
    def _acquire(self) -> tuple[ExecutionEnvironment, bool]:
        with self._cond:
            while True:
                if self._closed:
                    raise RuntimeError(f"function {self.config.logical_id} is shut down")
                while self._idle:
                    env = self._idle.pop()
                    if env.alive:
                        self._mark_running()
                        return env, False
                    self._all.discard(env)
                if len(self._all) < self.max_environments:
                    env = ExecutionEnvironment(self.config, self.python)
                    self._all.add(env)
                    self.stats.started += 1
                    self._mark_running()
                    return env, True
                self._cond.wait(timeout=1)

    def _mark_running(self) -> None:
        self.stats.running += 1
        self.stats.peak_running = max(self.stats.peak_running, self.stats.running)

    def _release(self, env: ExecutionEnvironment) -> None:
        with self._cond:
            self.stats.running -= 1
            if env.alive and not self._closed:
                self._idle.append(env)
            else:
                self._all.discard(env)
                if not env.alive:
                    self.stats.killed += 1
                env.kill()
            self._cond.notify()

    def prewarm(self) -> None:
        """Starts one environment ahead of the first invocation (its init runs now, not on demand)."""
        with self._cond:
            if self._all or self._closed:
                return
            env = ExecutionEnvironment(self.config, self.python)
            self._all.add(env)
            self.stats.started += 1
        error = env.start(self._init_timeout())
        with self._cond:
            if error is None and not self._closed:
                self._idle.append(env)
                self.stats.init_durations.append(env.init_duration or 0.0)
            else:
                self._all.discard(env)
                env.kill()
            self._cond.notify()

    def _init_timeout(self) -> float:
        return 10.0 + self.config.timeout

    @property
    def environment_count(self) -> int:
        with self._cond:
            return len(self._all)

    def environments(self) -> list[ExecutionEnvironment]:
        with self._cond:
            return list(self._all)

    # ------------------------------------------------------------------ invocation
    def invoke(self, event: Any, request_id: str | None = None, trace_id: str | None = None) -> InvocationOutcome:
        request_id = request_id or str(uuid.uuid4())
        env, cold = self._acquire()
        try:
            init_duration = None
            if cold:
                error = env.start(self._init_timeout())
                init_duration = env.init_duration
                if error is not None:
                    error = {**error, "requestId": request_id}
                    self._log(f"INIT_REPORT RequestId: {request_id}\tStatus: error\tErrorType: {error['errorType']}")
                    return InvocationOutcome(request_id, None, error, 0.0, cold_start=True)
                self.stats.init_durations.append(init_duration or 0.0)
            return self._run(env, event, request_id, trace_id, cold, init_duration)
        finally:
            self._release(env)

    def _run(
        self,
        env: ExecutionEnvironment,
        event: Any,
        request_id: str,
        trace_id: str | None,
        cold: bool,
        init_duration: float | None,
    ) -> InvocationOutcome:
        timeout = float(self.config.timeout)
        started = time.monotonic()
        request = {
            "request_id": request_id,
            "deadline_ms": int(time.time() * 1000 + timeout * 1000),
            "invoked_function_arn": self.config.arn,
            "trace_id": trace_id or _trace_id(),
            "event": event,
        }
        self._log(f"START RequestId: {request_id} Version: {self.config.version}")
        payload, error = env.invoke(request, timeout)
        duration = time.monotonic() - started
        with self._cond:
            self.stats.invocations += 1
        if error is not None and error.get("errorType") == "Sandbox.Timedout":
            stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            self._log(f"{stamp} {request_id} Task timed out after {timeout:.2f} seconds")
        self._log(f"END RequestId: {request_id}")
        report = (
            f"REPORT RequestId: {request_id}\tDuration: {duration * 1000:.2f} ms\t"
            f"Billed Duration: {max(int(duration * 1000 + 0.999), 1)} ms\tMemory Size: {self.config.memory_size} MB"
        )
        memory = env.max_memory_mb() if env.alive else None
        if memory is not None:
            report += f"\tMax Memory Used: {memory} MB"
        if init_duration is not None:
            report += f"\tInit Duration: {init_duration * 1000:.2f} ms"
        self._log(report)
        return InvocationOutcome(request_id, payload, error, duration, cold, init_duration)

    def _log(self, line: str) -> None:
        with self._log_lock, open(self.config.log_path, "a", encoding="utf-8") as log:
            log.write(line + "\n")

    def shutdown(self) -> None:
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [env for env in self._all if env not in idle]
            self._all.clear()
            self._cond.notify_all()
        for env in busy:
            env.kill()
        for env in idle:
            env.release_pipe()
        deadline = time.monotonic() + 0.5
        for env in idle:
            env.close(deadline)


def _trace_id() -> str:
    root = f"1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]}"
    return f"Root={root};Parent={uuid.uuid4().hex[:16]};Sampled=0"
