"""The world of the upsert tests: the Intercom sandbox seen by one test (seeding through its API, the real
``IntercomClient`` under test on the sandbox's fake clock, what the client sent and Intercom answered), and
chunk rows as the validator writes them. Used by ``test_upsert.py`` and ``test_ledger.py``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from intercom_importer.intercom import IntercomClient, RetryPolicy
from intercom_importer.mapping import COMPANIES, PEOPLE
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.upsert import ChunkContext, RowResult, import_rows
from intercom_sandbox import SandboxServer
from sandbox_fixtures import FakeClock, SandboxSession

START = 1_700_000_000.0  # the sandbox's clock at the start of every test
RETRIES = RetryPolicy().max_retries
SEARCH = "POST /contacts/search"
CREATE = "POST /contacts"
GET = "GET /contacts/{contact_id}"
PUT = "PUT /contacts/{contact_id}"
ATTACH = "POST /contacts/{contact_id}/companies"
TAGS = "POST /tags"
FIND_COMPANY = "GET /companies"
UPSERT_COMPANY = "POST /companies"


class Recording(requests.Session):
    """A session that keeps ``(method, path, JSON body)`` of every request it sends (retries included)."""

    def __init__(self) -> None:
        super().__init__()
        self.trust_env = False
        self.mount("http://", HTTPAdapter(pool_maxsize=16, max_retries=0))
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        data = kwargs.get("data")
        self.sent.append((method, urlsplit(url).path, json.loads(data) if data else None))
        return super().request(method, url, *args, **kwargs)


SEEDED_AGO = 86_400.0  # a seeded contact that existed before the import was made this long before it


class Intercom:
    """One test's view of the sandbox: seeding through its API, the client under test, what it was sent."""

    def __init__(self, server: SandboxServer, clock: FakeClock) -> None:
        self.server = server
        self.clock = clock
        self.api = SandboxSession(server.url)
        self.recording = Recording()
        self.client = IntercomClient(
            "upsert-test-token",
            server.url,
            session=self.recording,
            limiter=NullRateLimiter(),
            sleep=lambda _seconds: None,
            clock=clock,  # the sandbox's: one timeline for created_at and the client's own timestamps
        )
        self.scope = uuid.uuid4().hex  # the CompanyCache is process-wide: one scope per test

    # ------------------------------------------------------------------ seeding, through the API
    def seed(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self.api.request(method, path, json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    def contact(self, *, just_now: bool = False, **fields: Any) -> dict[str, Any]:
        """Seed a contact made a day before the clock's time (one that existed before the import: searchable
        even under Intercom's documented search lag of minutes), or ``just_now``, at the clock's time (as this
        import's own create is: a search lag hides it)."""
        if just_now:
            return self.seed("POST", "/contacts", fields)
        self.clock.advance(-SEEDED_AGO)
        try:
            return self.seed("POST", "/contacts", fields)
        finally:
            self.clock.advance(SEEDED_AGO)

    def company(self, **fields: Any) -> dict[str, Any]:
        return self.seed("POST", "/companies", fields)

    # ------------------------------------------------------------------ running a chunk
    def watch(self) -> None:
        """From now on, count calls: what seeding sent is forgotten."""
        self.server.reset_stats()
        self.recording.sent.clear()

    def people(self, rows: Sequence[dict[str, Any]], *, threads: int = 4, **ctx: Any) -> list[RowResult]:
        self.watch()
        context = ChunkContext(**{"existing": "update", "role": "user", **ctx})
        return import_rows(
            self.client, PEOPLE, rows, context, scope=self.scope, threads=threads, started_at=self.clock.now
        )

    def companies(
        self, rows: Sequence[dict[str, Any]], *, started_at: float, threads: int = 4, **ctx: Any
    ) -> list[RowResult]:
        self.watch()
        context = ChunkContext(**{"existing": "update", "role": "user", **ctx})
        return import_rows(
            self.client, COMPANIES, rows, context, scope=self.scope, threads=threads, started_at=started_at
        )

    # ------------------------------------------------------------------ what Intercom got
    def calls(self) -> dict[str, dict[str, int]]:
        """Route -> status -> calls answered since :meth:`watch`."""
        return dict(self.server.stats()["by_route"])

    def sent(self, method: str, path: str) -> list[Any]:
        """The bodies sent to ``method path`` since :meth:`watch`, in order."""
        return [body for m, p, body in self.recording.sent if (m, p) == (method, path)]

    def state(self) -> dict[str, Any]:
        return self.server.state()

    def stored(self, contact_id: str) -> dict[str, Any]:
        (contact,) = [c for c in self.state()["contacts"] if c["id"] == contact_id]
        return dict(contact)

    def by_email(self, email: str) -> list[dict[str, Any]]:
        return [c for c in self.state()["contacts"] if c["email"] == email]

    def tagged(self, name: str) -> list[str]:
        """Ids of the contacts and companies carrying the tag ``name``."""
        state = self.state()
        (tag_id,) = [t["id"] for t in state["tags"] if t["name"] == name] or [None]
        return [t["contact_id"] for t in state["contact_tags"] if t["tag_id"] == tag_id] + [
            t["company_id"] for t in state["company_tags"] if t["tag_id"] == tag_id
        ]


def row(line: int, **record: Any) -> dict[str, Any]:
    """A chunk row as the validator writes it: its line, its cells, its coerced record."""
    return {"line": line, "cells": [str(v) for v in record.values()], "record": record}
