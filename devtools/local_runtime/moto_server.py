"""The in-process moto server a runtime deploys to: where it listens, as which account, and the
process-wide settings it changes while it runs (restored when it stops)."""

from __future__ import annotations

import logging
import os
import threading
import urllib.request
from typing import Any

LOG = logging.getLogger("local_runtime.runtime")

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"  # noqa: S105 - moto accepts any credentials


class MotoServer:
    """``ThreadedMotoServer`` on 127.0.0.1 (``port`` 0: a free one), with Step Functions execution on."""

    def __init__(self, port: int = 0) -> None:
        self.requested_port = port
        self.port: int | None = None
        self.endpoint_url = ""
        self._server: Any = None
        self._saved: dict[str, Any] = {}

    @property
    def running(self) -> bool:
        return self._server is not None

    def start(self) -> str:
        """Starts the server; returns its endpoint URL."""
        from moto.core.config import default_user_config
        from moto.server import ThreadedMotoServer

        werkzeug = logging.getLogger("werkzeug")
        self._saved["werkzeug_level"] = werkzeug.level
        werkzeug.setLevel(logging.WARNING)
        self._saved["stepfunctions_config"] = default_user_config.get("stepfunctions")
        # Before any state machine exists: only those created afterwards execute.
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.requested_port, verbose=False)
        self._server.start()
        self.port = int(self._server.get_host_and_port()[1])
        self.endpoint_url = f"http://127.0.0.1:{self.port}"
        # moto's Step Functions interpreter calls the other services at http://localhost:$MOTO_PORT.
        self._saved["MOTO_PORT"] = os.environ.get("MOTO_PORT")
        os.environ["MOTO_PORT"] = str(self.port)
        return self.endpoint_url

    def shutdown(self) -> None:
        """Resets moto's state (the next runtime starts clean) and stops the server."""
        if self._server is None:
            return
        try:
            reset = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")  # noqa: S310
            urllib.request.urlopen(reset, timeout=10).close()  # noqa: S310 - our own http:// server
        except OSError:
            LOG.warning("could not reset moto's state")
        self._server.stop()
        self._server = None

    def restore(self) -> None:
        """Puts back what :meth:`start` changed in the process (``MOTO_PORT``, moto's config, log level)."""
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


class MotoClients:
    """boto3 clients for the server (cached; boto3 clients are thread-safe), created on first use."""

    def __init__(self, server: MotoServer, region: str = REGION) -> None:
        self._server = server
        self._region = region
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._session: Any = None

    def get(self, service: str) -> Any:
        with self._lock:
            client = self._clients.get(service)
            if client is None:
                import boto3
                from botocore.config import Config

                if self._session is None:
                    self._session = boto3.session.Session(
                        aws_access_key_id=ACCESS_KEY_ID,
                        aws_secret_access_key=SECRET_ACCESS_KEY,
                        region_name=self._region,
                    )
                client = self._session.client(
                    service,
                    endpoint_url=self._server.endpoint_url,
                    config=Config(retries={"max_attempts": 3, "mode": "standard"}, read_timeout=120),
                )
                self._clients[service] = client
            return client


def aws_env(endpoint_url: str, region: str = REGION) -> dict[str, str]:
    """Environment variables that point an AWS SDK or CLI process at the server."""
    return {
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
    }
