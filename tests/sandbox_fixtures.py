"""Shared fixtures for tests that talk to the local Intercom sandbox.

A pytest plugin module, registered by ``tests/conftest.py`` (``pytest_plugins``), so the fixtures
need no import; the helpers (``SandboxSession``, ``FakeClock``, ``INTERCOM_HEADERS``) are imported
directly: ``from sandbox_fixtures import FakeClock``.

- ``sandbox``: a fresh :class:`SandboxServer` on a free loopback port, stopped after the test;
  change its behaviour with ``sandbox.configure(...)`` / ``sandbox.add_fault(...)``.
- ``sandbox_clock``: the sandbox's clock (rate-limit windows, timestamps, search lag): real time. A test
  module that asserts on windows or lag overrides it with a ``FakeClock`` it advances itself.
- ``sandbox_session``: a ``requests.Session`` for it, with the Intercom headers set; relative URLs
  (``"/contacts"``) are resolved against the sandbox, and every call has a timeout.
- ``openapi_spec``: the pinned 2.14 description (openapi-core), loaded once per session.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI

from intercom_sandbox import SandboxConfig, SandboxServer

SANDBOX_TOKEN = "sandbox-test-token"
INTERCOM_HEADERS = {
    "Authorization": f"Bearer {SANDBOX_TOKEN}",
    "Accept": "application/json",
    "Intercom-Version": "2.14",
}
DEFAULT_TIMEOUT = (2.0, 10.0)


class SandboxSession(requests.Session):
    """A session bound to one sandbox: relative URLs, Intercom headers, a default timeout."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url
        self.headers.update(INTERCOM_HEADERS)

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if isinstance(url, str) and url.startswith("/"):
            url = self.base_url + url
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


@pytest.fixture
def sandbox_clock() -> Callable[[], float]:
    return time.time


@pytest.fixture
def sandbox(sandbox_clock: Callable[[], float]) -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0, clock=sandbox_clock) as server:
        yield server


@pytest.fixture
def sandbox_session(sandbox: SandboxServer) -> Iterator[SandboxSession]:
    with SandboxSession(sandbox.url) as session:
        yield session


@pytest.fixture(scope="session")
def openapi_spec() -> OpenAPI:
    from intercom_sandbox.contract import load_spec

    return load_spec()


class FakeClock:
    """An injectable ``time.time`` replacement for the sandbox's workspace, limiter and stats."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def clocked_sandbox_fixtures(start: float) -> tuple[Any, Any, Any]:
    """A module's ``clock``, ``server`` and per-test ``fresh`` sandbox on a :class:`FakeClock`: bind them under
    those names, ``clock, server, fresh = clocked_sandbox_fixtures(START)`` (``fresh`` may take another name).

    ``server`` is one sandbox for the module, on ``clock``; ``fresh`` gives it to a test emptied, with the default
    config and the clock back at ``start``, so ``created_at`` and the search lag are set by the test, not by time.
    """

    @pytest.fixture(scope="module")
    def clock() -> FakeClock:
        return FakeClock(start)

    @pytest.fixture(scope="module")
    def server(clock: FakeClock) -> Iterator[SandboxServer]:
        with SandboxServer(host="127.0.0.1", port=0, clock=clock) as running:
            yield running

    @pytest.fixture
    def fresh(server: SandboxServer, clock: FakeClock) -> SandboxServer:
        server.reset()
        server.configure(**SandboxConfig().as_dict())
        clock.now = start
        return server

    return clock, server, fresh
