"""The threaded HTTP/1.1 server around :class:`~intercom_sandbox.app.SandboxApp`.

One thread per connection (``ThreadingHTTPServer``), keep-alive, each answer written with a single
``send`` and ``TCP_NODELAY`` set, so many pooled ``requests`` sessions can hammer it. ``stop()`` also
closes idle keep-alive connections, so a stopped sandbox really stops answering.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from intercom_sandbox.app import Request, Response, SandboxApp, reason_phrase
from intercom_sandbox.config import SandboxConfig

logger = logging.getLogger(__name__)

IDLE_TIMEOUT_SECONDS = 120.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    timeout = IDLE_TIMEOUT_SECONDS
    server_version = "intercom-sandbox"
    server: _HTTPServer

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except (ConnectionError, TimeoutError, OSError):
            # The client went away (or timed out and closed) while we were reading or answering.
            self.close_connection = True

    def _dispatch(self) -> None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            self._write(Response(411, body=b""))
            self.close_connection = True
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length > 0 else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        response = self.server.app.handle(Request(self.command, self.path, headers, body))
        if response.reset:
            self._reset_connection()
            return
        self._write(response)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _dispatch

    def _write(self, response: Response) -> None:
        lines = [f"HTTP/1.1 {response.status} {reason_phrase(response.status)}"]
        lines += [f"{name}: {value}" for name, value in response.headers]
        lines.append(f"Content-Length: {len(response.body)}")
        if self.close_connection:
            lines.append("Connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self.wfile.write(head + (b"" if self.command == "HEAD" else response.body))

    def _reset_connection(self) -> None:
        """Drop the connection with a TCP RST and no answer (``reset`` fault)."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


class _HTTPServer(ThreadingHTTPServer):
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

    def __init__(self, host: str = "127.0.0.1", port: int = 0, config: SandboxConfig | None = None) -> None:
        self.host = host
        self._requested_port = port
        self._stopping = threading.Event()
        self.app = SandboxApp(config, sleep=self._stopping.wait)
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
