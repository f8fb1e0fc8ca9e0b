"""The threaded HTTP/1.1 server around :class:`~intercom_sandbox.app.SandboxApp`.

One thread per connection (``socketserver.ThreadingTCPServer``) speaking a lean HTTP/1.1: keep-alive,
``Content-Length`` bodies, ``Expect: 100-continue``, each answer written with a single ``send`` and
``TCP_NODELAY`` set, so many pooled ``requests`` sessions can hammer it. (``http.server``'s request
parsing cost more than the whole Intercom logic.) ``stop()`` also closes idle keep-alive connections,
so a stopped sandbox really stops answering.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from intercom_sandbox.app import Request, Response, SandboxApp, reason_phrase
from intercom_sandbox.config import SandboxConfig

logger = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 120.0
MAX_LINE = 65_536
MAX_HEADERS = 100
MAX_BODY = 32 * 1024 * 1024


class _BadRequest(Exception):
    """The bytes on the wire are not an HTTP/1.x request we can answer."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class _Handler(socketserver.StreamRequestHandler):
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            with contextlib.suppress(OSError):
                super().finish()
        finally:
            self.server.untrack(self.connection)

    def handle(self) -> None:
        keep_alive = True
        while keep_alive:
            try:
                keep_alive = self._handle_one()
            except _BadRequest as exc:
                with contextlib.suppress(OSError):
                    self._write(Response(exc.status, [("Content-Type", "text/plain")], str(exc).encode()), False)
                return
            except (ConnectionError, TimeoutError, OSError):
                return  # the client went away, or the connection sat idle too long

    def _handle_one(self) -> bool:
        """Read and answer one request; whether the connection stays open."""
        line = self.rfile.readline(MAX_LINE + 1)
        if not line:
            return False
        if len(line) > MAX_LINE:
            raise _BadRequest(414, "request line too long")
        parts = line.decode("latin-1").split()
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            raise _BadRequest(400, "malformed request line")
        method, target, version = parts
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            raw = self.rfile.readline(MAX_LINE + 1)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, sep, value = raw.decode("latin-1").partition(":")
            if not sep:
                raise _BadRequest(400, "malformed header line")
            headers[name.strip().lower()] = value.strip()
        else:
            raise _BadRequest(431, "too many headers")
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if "transfer-encoding" in headers:
            raise _BadRequest(411, "send a Content-Length body (chunked bodies are not supported)")
        try:
            length = int(headers.get("content-length") or 0)
        except ValueError as exc:
            raise _BadRequest(400, "bad Content-Length") from exc
        if not 0 <= length <= MAX_BODY:
            raise _BadRequest(413, "body too large")
        if length and headers.get("expect", "").lower() == "100-continue":
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        body = self.rfile.read(length) if length else b""
        if len(body) < length:
            return False

        response = self.server.app.handle(Request(method, target, headers, body))
        if response.reset:
            self._reset_connection()
            return False
        self._write(response, keep_alive, head_only=method == "HEAD")
        return keep_alive

    def _write(self, response: Response, keep_alive: bool, head_only: bool = False) -> None:
        lines = [f"HTTP/1.1 {response.status} {reason_phrase(response.status)}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}")
        if not keep_alive:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head if head_only else head + response.body)

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP RST and no answer (``reset`` fault)."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()


class _HTTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: SandboxApp) -> None:
        self.app = app
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.exception("sandbox request from %s failed", client_address)


class SandboxServer:
    """A local Intercom API on ``host:port`` (port 0: a free port). Also a context manager.

    >>> with SandboxServer(config=SandboxConfig(token="t")) as srv:   # doctest: +SKIP
    ...     requests.get(f"{srv.url}/me", headers={"Authorization": "Bearer t", "Accept": "application/json"})
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] | None = None,
    ) -> None:
        """``clock`` drives the workspace's timestamps (``created_at``...), search lag, rate-limit windows and
        stats, as :class:`SandboxApp`'s does: a test passes a fake one to set ``created_at`` without sleeping.
        ``sleep`` waits for latency and timeout faults; by default a real wait that :meth:`stop` cuts short
        (one passed here must return on its own)."""
        self.host = host
        self._requested_port = port
        self._stopping = threading.Event()
        self.app = SandboxApp(config, clock=clock, sleep=sleep or self._stopping.wait)
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            raise RuntimeError("the sandbox is already running")
        self._stopping.clear()
        self._httpd = _HTTPServer((self.host, self._requested_port), self.app)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"intercom-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()  # wakes latency/timeout sleeps
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the sandbox is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # ------------------------------------------------------------------ admin API, in Python

    @property
    def config(self) -> SandboxConfig:
        return self.app.config

    def configure(self, **changes: Any) -> SandboxConfig:
        """Like ``POST /__sandbox/config``."""
        return self.app.configure(**changes)

    def state(self) -> dict[str, Any]:
        """Like ``GET /__sandbox/state``: contacts, companies, attachments, tags, data attributes."""
        return self.app.workspace.dump()

    def reset(self) -> None:
        """Like ``POST /__sandbox/reset``."""
        self.app.reset()

    def settle(self) -> int:
        """Like ``POST /__sandbox/settle``: every contact made so far is searchable (its search lag has passed)."""
        return self.app.workspace.settle()

    def stats(self) -> dict[str, Any]:
        """Like ``GET /__sandbox/stats``."""
        return self.app.stats.snapshot()

    def reset_stats(self) -> None:
        """Like ``DELETE /__sandbox/stats``."""
        self.app.stats.reset()

    def add_fault(self, **spec: Any) -> dict[str, Any]:
        """Like ``POST /__sandbox/faults``; ``method``/``path`` may be given directly instead of ``match``."""
        match = dict(spec.pop("match", None) or {})
        for key in ("method", "path"):
            if key in spec:
                match[key] = spec.pop(key)
        if match:
            spec["match"] = match
        return self.app.faults.add(spec).to_json()

    def faults(self) -> list[dict[str, Any]]:
        """Like ``GET /__sandbox/faults``."""
        return self.app.faults.pending()

    def clear_faults(self) -> int:
        """Like ``DELETE /__sandbox/faults``; returns how many were pending."""
        return self.app.faults.clear()
