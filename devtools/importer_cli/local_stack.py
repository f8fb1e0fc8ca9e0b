"""The local stack: moto + the real template and handlers (``local_runtime``) + the Intercom sandbox.

``run`` starts an ephemeral one in its own process. ``up`` starts a long-lived one and keeps it until
Ctrl-C, SIGTERM or ``down``; since moto runs inside that process, it is the one holding the state, and
other commands reach it over HTTP. It writes ``stack.json`` in the state folder (``.local/`` of the
project, or ``$INTERCOM_IMPORT_LOCAL_DIR``) with what they need:

    {"pid": ..., "endpoint_url": "http://127.0.0.1:PORT", "region": "us-east-1", "aws_env": {...},
     "sandbox_url": ..., "sandbox_config": {...}, "intercom_url": ..., "outputs": {...}, "control_url": ...,
     "log_dir": ...}

``sandbox_config`` is the sandbox's profile and the two values it sets, as it started (``GET
<sandbox_url>/__sandbox/config`` shows them as they are now). ``control_url`` is a tiny HTTP server in the ``up``
process: ``GET /health``, ``GET /emails`` (the SES messages sent, with both bodies, which moto alone does not
keep) and ``POST /shutdown`` (with the ``control_token`` of stack.json). A stack.json whose control server
does not answer with its pid is stale (the process was killed) and is ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer_cli.errors import EXIT_ERROR, CliError

if TYPE_CHECKING:
    from intercom_sandbox import SandboxConfig

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
STATE_DIR_ENV = "INTERCOM_IMPORT_LOCAL_DIR"
TOKEN_ENV = "INTERCOM_IMPORT_INTERCOM_TOKEN"  # noqa: S105 - a variable name; hands --intercom-token to a detached `up` (not on its command line)
SANDBOX_TOKEN = "local-sandbox-token"  # noqa: S105 - the sandbox accepts any token unless told otherwise
STACK_FILE_VERSION = 1
DEFAULT_RATE_LIMIT_PER_MINUTE = 10_000  # template.yaml IntercomRateLimitPerMinute default
DEFAULT_SANDBOX_PROFILE = "documented"  # as kind as Intercom, no kinder: a kinder sandbox hides bugs
# The functions' variable saying whether the stack outlives its import: "false" on the ephemeral stack of `run`
# (nothing of it is left afterwards, so the summary email must not point at `intercom-import status`).
KEEPS_HISTORY_ENV = "STACK_KEEPS_HISTORY"


def state_dir() -> Path:
    return Path(os.environ.get(STATE_DIR_ENV) or ROOT / ".local")


def stack_file() -> Path:
    return state_dir() / "stack.json"


def read_stack_file() -> dict[str, Any] | None:
    try:
        data = json.loads(stack_file().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except ValueError:
        return {}  # unreadable: treated as stale
    return data if isinstance(data, dict) else {}


def is_live(info: Mapping[str, Any]) -> bool:
    """The control server of ``info`` answers with the same pid."""
    if not info.get("control_url") or not info.get("pid"):
        return False
    try:
        health = _get_json(f"{info['control_url']}/health", timeout=2)
    except (OSError, ValueError):
        return False
    return bool(health.get("pid") == info["pid"])


def live_stack() -> dict[str, Any] | None:
    """The running local stack's connection info, or ``None``."""
    info = read_stack_file()
    return info if info and is_live(info) else None


def fetch_emails(info: Mapping[str, Any]) -> list[dict[str, Any]]:
    return list(_get_json(f"{info['control_url']}/emails", timeout=10))


def fetch_sandbox_state(info: Mapping[str, Any]) -> dict[str, Any]:
    return dict(_get_json(f"{info['sandbox_url']}/__sandbox/state", timeout=10))


def describe_sandbox(info: Mapping[str, Any]) -> str | None:
    """The running stack's sandbox as one line (its profile and values as they are now), or ``None``."""
    if not info.get("sandbox_url"):
        return None
    from intercom_sandbox import ConfigError, SandboxConfig

    try:
        shown = dict(_get_json(f"{info['sandbox_url']}/__sandbox/config", timeout=5))
        return SandboxConfig().replace(**shown).describe()
    except (OSError, ValueError, TypeError, ConfigError):
        return None


def forget_identities(runtime: Any) -> int:
    """Empty the identity ledger of a stack on the local runtime: what it remembers of contacts that a sandbox
    emptied or reseeded since no longer holds (a test's fresh workspace, the benchmark's). Returns the items
    deleted."""
    ddb = runtime.client("dynamodb")
    table = runtime.outputs["IdentityLedgerTableName"]
    keys = [
        {"DeleteRequest": {"Key": {"pk": item["pk"]}}}
        for page in ddb.get_paginator("scan").paginate(TableName=table, ProjectionExpression="pk")
        for item in page["Items"]
    ]
    for start in range(0, len(keys), 25):  # BatchWriteItem's most
        requests: dict[str, Any] = {table: keys[start : start + 25]}
        while requests:
            requests = ddb.batch_write_item(RequestItems=requests).get("UnprocessedItems") or {}
    return len(keys)


def _get_json(url: str, timeout: float) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our own http://127.0.0.1 servers
        return json.loads(response.read().decode("utf-8"))


# ------------------------------------------------------------------------------------ starting a stack
def sandbox_config(
    parameters: Mapping[str, Any] | None = None,
    profile: str | None = None,
    search_lag: float | None = None,
) -> SandboxConfig:
    """The ``SandboxConfig`` of a local stack's sandbox: ``profile`` (default :data:`DEFAULT_SANDBOX_PROFILE`),
    its search lag overridden by ``search_lag``, and Intercom's rate limit as the stack is told it (per minute)
    in Intercom's 10-second windows: the sandbox sends X-RateLimit-* headers like Intercom, and the client paces
    itself by them."""
    from intercom_sandbox import ConfigError, SandboxConfig

    per_minute = int((parameters or {}).get("IntercomRateLimitPerMinute", DEFAULT_RATE_LIMIT_PER_MINUTE))
    lag = {} if search_lag is None else {"search_lag_seconds": search_lag}
    try:
        return SandboxConfig.for_profile(
            profile or DEFAULT_SANDBOX_PROFILE, token=None, rate_limit_per_window=max(1, per_minute // 6), **lag
        )
    except ConfigError as exc:
        raise CliError(f"the Intercom sandbox's settings: {exc}") from exc


@contextlib.contextmanager
def local_pipeline(
    *,
    parameters: Mapping[str, Any] | None = None,
    intercom_url: str | None = None,
    intercom_token: str | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    port: int = 0,
    sandbox_port: int = 0,
    prewarm: bool = False,
    sandbox_profile: str | None = None,
    sandbox_search_lag: float | None = None,
    keeps_history: bool = True,
) -> Iterator[tuple[Any, Any]]:
    """Start the Intercom sandbox (unless ``intercom_url``) and the local runtime; yield ``(runtime, sandbox)``.
    ``sandbox_profile`` and ``sandbox_search_lag`` configure the sandbox (:func:`sandbox_config`);
    ``keeps_history`` False: the stack ends with its one import (``run``), and its functions are told so
    (:data:`KEEPS_HISTORY_ENV`)."""
    from intercom_sandbox import SandboxServer
    from local_runtime import LocalRuntime, RuntimeOptions

    if intercom_url and not intercom_token:
        raise CliError("--intercom-url needs --intercom-token (the access token of that Intercom workspace)")
    sandbox = None
    if intercom_url:
        url, token = intercom_url.rstrip("/"), intercom_token
    else:
        config = sandbox_config(parameters, sandbox_profile, sandbox_search_lag)
        sandbox = SandboxServer(port=sandbox_port, config=config)
        try:
            sandbox.start()
        except OSError as exc:
            raise CliError(
                f"cannot serve the Intercom sandbox on port {sandbox_port} ({exc}): pick another port"
            ) from exc
        url, token = sandbox.url, intercom_token or SANDBOX_TOKEN
    # No X-Ray daemon locally; everything else runs exactly as configured by the template.
    environment = {"POWERTOOLS_TRACE_DISABLED": "true"}
    if not keeps_history:
        environment[KEEPS_HISTORY_ENV] = "false"
    try:
        runtime = LocalRuntime(
            template_path=str(TEMPLATE),
            parameters={"IntercomBaseUrl": url, **(parameters or {})},
            intercom_token=token,
            log_dir=str(log_dir or state_dir() / "logs"),
            options=RuntimeOptions(
                function_env_overrides={"*": environment},
                port=port,
                prewarm=prewarm,  # one warm environment per function, started in the background
            ),
        )
        if port:
            _check_port_free(port)
        runtime.start()
        try:
            yield runtime, sandbox
        finally:
            runtime.stop()
    finally:
        if sandbox is not None:
            sandbox.stop()


def _check_port_free(port: int) -> None:
    """moto's threaded server waits forever for a port it cannot bind: find out first."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the HTTP server binds
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise CliError(
                f"port {port} is not free ({exc.strerror}): pick another --port, or 0 for a free one"
            ) from exc


class _ControlServer:
    """``GET /health``, ``GET /emails``, ``POST /shutdown`` for the other CLI processes."""

    def __init__(self, runtime: Any, stop: threading.Event, token: str) -> None:
        runtime_ref, stop_ref, token_ref = runtime, stop, token

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any) -> None:
                data = json.dumps(body, default=str).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                if self.path == "/health":
                    self._send(200, {"pid": os.getpid(), "endpoint_url": runtime_ref.endpoint_url})
                elif self.path == "/emails":
                    self._send(200, runtime_ref.sent_emails())
                else:
                    self._send(404, {"error": f"no such path {self.path}"})

            def do_POST(self) -> None:
                if self.path != "/shutdown":
                    self._send(404, {"error": f"no such path {self.path}"})
                elif not secrets.compare_digest(self.headers.get("X-Control-Token", ""), token_ref):
                    self._send(403, {"error": "wrong X-Control-Token (see control_token in stack.json)"})
                else:
                    self._send(202, {"stopping": os.getpid()})
                    stop_ref.set()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="stack-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def serve(
    *,
    parameters: Mapping[str, Any] | None = None,
    intercom_url: str | None = None,
    intercom_token: str | None = None,
    log_dir: str | None = None,
    port: int = 0,
    sandbox_port: int = 0,
    prewarm: bool = True,
    on_ready: Any = None,
    sandbox_profile: str | None = None,
    sandbox_search_lag: float | None = None,
) -> None:
    """``up`` in the foreground: start the stack, write stack.json, serve until Ctrl-C/SIGTERM/``down``."""
    existing = read_stack_file()
    if existing and is_live(existing):
        raise CliError(_already_running(existing))
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    log_dir = log_dir or str(state_dir() / "stack-logs")
    token = secrets.token_hex(16)
    path = stack_file()
    try:
        with local_pipeline(
            parameters=parameters,
            intercom_url=intercom_url,
            intercom_token=intercom_token,
            log_dir=log_dir,
            port=port,
            sandbox_port=sandbox_port,
            prewarm=prewarm,  # a long-lived stack: the first import should not pay the cold starts
            sandbox_profile=sandbox_profile,
            sandbox_search_lag=sandbox_search_lag,
        ) as (runtime, sandbox):
            control = _ControlServer(runtime, stop, token)
            control.start()
            try:
                info = {
                    "version": STACK_FILE_VERSION,
                    "pid": os.getpid(),
                    "started_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
                    "startup_seconds": round(runtime.startup_seconds or 0.0, 2),
                    "stack_name": runtime.stack_name,
                    "region": runtime.region,
                    "endpoint_url": runtime.endpoint_url,
                    "aws_env": runtime.aws_env(),
                    "sandbox_url": sandbox.url if sandbox is not None else None,
                    "sandbox_config": _profile_values(sandbox.config) if sandbox is not None else None,
                    "intercom_url": runtime.parameters.get("IntercomBaseUrl"),
                    "control_url": control.url,
                    "control_token": token,
                    "outputs": dict(runtime.outputs),
                    "log_dir": str(runtime.log_dir),
                }
                _write_atomically(path, info)
                if on_ready is not None:
                    on_ready(info)
                with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C: the normal way to stop `up`
                    while not stop.wait(0.5):
                        pass
            finally:
                control.stop()
    finally:
        current = read_stack_file()
        if current is not None and current.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


def _profile_values(config: SandboxConfig) -> dict[str, Any]:
    return {
        "profile": config.profile,
        "search_lag_seconds": config.search_lag_seconds,
        "email_conflicts": config.email_conflicts,
    }


def _write_atomically(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.chmod(tmp, 0o600)  # holds the control token
    os.replace(tmp, path)


def _already_running(info: Mapping[str, Any]) -> str:
    return (
        f"a local stack is already running (pid {info.get('pid')}, moto at {info.get('endpoint_url')}): "
        "use it, or stop it first with `intercom-import down`"
    )


def detach(forward: list[str], *, intercom_token: str | None, timeout: float) -> dict[str, Any]:
    """``up --detach``: start ``up`` in a background process and return its stack.json once it serves."""
    existing = read_stack_file()
    if existing and is_live(existing):
        raise CliError(_already_running(existing))
    if existing is not None:
        stack_file().unlink(missing_ok=True)  # stale
    log = state_dir() / "stack.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    if intercom_token:
        env[TOKEN_ENV] = intercom_token
    with log.open("wb") as out:
        proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "importer_cli", "up", "--background", *forward],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # not stopped by the terminal's Ctrl-C; outlives this command
            env=env,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise CliError(f"the local stack did not start: {_last_line(log)} (full log: {log})", EXIT_ERROR)
        info = read_stack_file()
        if info and info.get("pid") == proc.pid and is_live(info):
            info["stack_log"] = str(log)
            return info
        time.sleep(0.2)
    proc.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)
    raise CliError(f"the local stack did not start within {timeout:.0f} s: see {log}, or raise --timeout", EXIT_ERROR)


def _last_line(path: Path) -> str:
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return "no output"
    lines = [line for line in lines if line]
    return lines[-1] if lines else "no output"


def down(timeout: float) -> dict[str, Any]:
    """Stop the running local stack (if any); returns what happened."""
    path = stack_file()
    info = read_stack_file()
    if info is None:
        return {"stopped": False, "message": "no local stack is running"}
    if not is_live(info):
        path.unlink(missing_ok=True)
        return {
            "stopped": False,
            "pid": info.get("pid"),
            "message": f"no local stack is running; removed the stale {path}",
        }
    pid = int(info["pid"])  # is_live checked it
    request = urllib.request.Request(  # noqa: S310 - our own http://127.0.0.1 server
        f"{info['control_url']}/shutdown", method="POST", headers={"X-Control-Token": str(info.get("control_token"))}
    )
    try:
        urllib.request.urlopen(request, timeout=5).close()  # noqa: S310
    except urllib.error.HTTPError as exc:
        raise CliError(f"the local stack refused to stop ({exc.code}): stop it with `kill {pid}`") from exc
    except OSError:
        pass  # it may be stopping already
    if _wait_stopped(path, pid, timeout):
        return {"stopped": True, "pid": pid, "message": f"stopped the local stack (pid {pid})"}
    with contextlib.suppress(OSError):
        os.kill(pid, signal.SIGTERM)
    if _wait_stopped(path, pid, 5.0):
        return {"stopped": True, "pid": pid, "message": f"stopped the local stack (pid {pid}) after SIGTERM"}
    raise CliError(
        f"the local stack (pid {pid}) did not stop within {timeout:.0f} s: stop it with `kill -9 {pid}` and delete {path}",
        EXIT_ERROR,
    )


def _wait_stopped(path: Path, pid: int, timeout: float) -> bool:
    """The process removed its stack.json (the last thing it does) or is gone."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        current = read_stack_file()
        if current is None or current.get("pid") != pid:
            return True
        if not _pid_alive(pid):  # gone without cleaning up (killed)
            path.unlink(missing_ok=True)
            return True
        time.sleep(0.1)
    return False


def _pid_alive(pid: int) -> bool:
    with contextlib.suppress(ChildProcessError, OSError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:  # our own child (up --detach from this process): reap it
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
