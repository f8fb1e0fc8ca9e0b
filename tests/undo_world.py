"""The world of the undo tests: an Intercom (sandbox) as an import left it, the import's job record and its change
log written and recorded as the worker writes them (``write_log``: ``changelog.write_chunk_log`` under a delivery's
attempt, ``JobStore.record_chunk`` naming it), so an undo can run without an import.

``seed_import(client, store, s3, bucket, job_id)`` seeds four contacts and returns ``Seeded`` (their ids and the
change log written): Ada, updated by the import (name, phone, two custom attributes, a company attached, a tag
added); Bea, created by it (tagged); Cy, updated by it, then renamed in Intercom since (his email's case changed
too: the same value); Dee, created by it, then renamed in Intercom since.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from intercom_importer import keys
from intercom_importer.changelog import COMPANY, CONTACT, Change, write_chunk_log
from intercom_importer.chunk_outputs import new_attempt
from intercom_importer.intercom import IntercomClient
from intercom_importer.jobs import JobStore

TAG = "VIP"
FINISHED = "2026-03-14T09:41:09.000Z"


class Writes(requests.Session):
    """A session that keeps ``(method, path, JSON body)`` of every request that writes (not ``GET``), and raises
    ``Crash`` instead of sending the write after ``crash_after`` of them: the process dies there."""

    def __init__(self, crash_after: int | None = None) -> None:
        super().__init__()
        self.trust_env = False
        self.mount("http://", HTTPAdapter(pool_maxsize=8, max_retries=0))
        self.crash_after = crash_after
        self.sent: list[tuple[str, str, Any]] = []

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if method != "GET":
            if self.crash_after is not None and len(self.sent) >= self.crash_after:
                raise Crash(f"the process died before {method} {urlsplit(url).path}")
            data = kwargs.get("data")
            self.sent.append((method, urlsplit(url).path, json.loads(data) if data else None))
        return super().request(method, url, *args, **kwargs)


class Crash(BaseException):
    """The process died (nothing catches it, as nothing catches a SIGKILL)."""


@dataclass
class Seeded:
    ada: str
    bea: str
    cy: str
    dee: str
    company: str
    tag: str
    changes: list[Change] = field(default_factory=list)


def seed_intercom(client: IntercomClient) -> Seeded:
    """The workspace as the import left it, and the change log of what it changed."""
    client.create_data_attribute("plan", "contact", "string")
    client.create_data_attribute("seats", "contact", "integer")
    ada = client.create_contact(
        {
            "role": "user",
            "email": "ada@example.com",
            "name": "Ada Lovelace",
            "phone": "+44 20 7946 0000",
            "custom_attributes": {"plan": "pro", "seats": 12},
        }
    )["id"]
    bea = client.create_contact({"role": "user", "email": "bea@example.com", "name": "Bea"})["id"]
    cy = client.create_contact({"role": "user", "email": "cy@new.example", "name": "Cyrus Smith"})["id"]
    dee = client.create_contact({"role": "user", "email": "dee@example.com", "name": "Deanna"})["id"]
    company = client.upsert_company({"company_id": "acme", "name": "Acme"})["id"]
    client.attach_contact_to_company(ada, company)
    tag = client.tag_contacts(TAG, [ada, bea])["id"]
    seeded = Seeded(ada, bea, cy, dee, company, str(tag))
    seeded.changes = [
        Change(
            CONTACT,
            ada,
            "updated",
            fields={"name": ["Ada", "Ada Lovelace"], "phone": [None, "+44 20 7946 0000"]},
            custom_attributes={"plan": ["free", "pro"], "seats": [10, 12.0]},
            company=company,
            tags={TAG: ""},  # the id not known: looked up by name
            line=2,
        ),
        Change(
            CONTACT,
            bea,
            "created",
            fields={"role": [None, "user"], "email": [None, "Bea@Example.com"], "name": [None, "Bea"]},
            tags={TAG: str(tag)},
            line=3,
        ),
        # renamed in Intercom since the import; the email the import wrote is shown in another case (the same)
        Change(
            CONTACT,
            cy,
            "updated",
            fields={"name": ["Cy", "Cyrus"], "email": ["cy@old.example", "CY@new.example"]},
            line=4,
        ),
        Change(CONTACT, dee, "created", fields={"email": [None, "dee@example.com"], "name": [None, "Dee"]}, line=5),
    ]
    return seeded


def write_job(store: Any, job_id: str, bucket: str, **fields: Any) -> None:
    """The import's job record, finished unless ``fields`` say otherwise."""
    record = {
        "status": "completed",
        "bucket": bucket,
        "key": "incoming/people.csv",
        "finished_at": FINISHED,
        "recipients": ["ops@example.com"],
        **fields,
    }
    assert store.create(job_id, record)


def write_log(
    store: JobStore, s3: Any, bucket: str, job_id: str, changes: Iterable[Change], per_chunk: int = 2, first: int = 1
) -> None:
    """The change log in chunks of ``per_chunk`` rows (chunk numbers from ``first``, as the validator numbers them:
    from 1), each recorded as a worker records it: the log under its delivery's attempt, the chunk record naming it."""
    rows = list(changes)
    for index, start in enumerate(range(0, len(rows), per_chunk), start=first):
        attempt = new_attempt()
        key = write_chunk_log(s3, bucket, keys.changes(job_id, index, attempt), rows[start : start + per_chunk])
        counts = Counter(change.outcome for change in rows[start : start + per_chunk])
        assert store.record_chunk(
            job_id, index, counts, result_key=None, changes_key=key, attempt=attempt, source="worker"
        )


def company_row(company_id: str, line: int) -> Change:
    return Change(COMPANY, company_id, "updated", line=line, before_known=False)


def contact_of(state: dict[str, Any], contact_id: str) -> dict[str, Any]:
    """A contact as the sandbox's state shows it (archived ones included and flagged)."""
    return next(c for c in state["contacts"] if c["id"] == contact_id)
