"""Rows to Intercom: the per-chunk upsert of people and companies (``import_rows``).

People, per chunk of rows (``people.py``):
1. one search (``OR[email IN [...], external_id IN [...]]``, all pages) learns which rows exist;
2. one create or update per row, several in flight (``pool.py``: a thread pool over one keep-alive session);
   a 409 on create (search lag, or a concurrent import) yields the existing id, then update or skip; a 409
   to a create the client repeated after losing an answer may name the contact that create made: a contact
   created since that attempt was sent is finished as the row's create;
3. company columns: the companies were upserted once for the whole import by the validator; the
   contact is attached to its company (one call; ``companies.py``, ``company_cache.py``);
4. tags: one bulk ``POST /tags`` per tag per 50 contacts (``tagging.py``).

Companies, per chunk (``companies.py``): one ``POST /companies`` per row (several in flight), then the same
bulk tagging (``POST /tags`` with ``companies``) for the companies created or updated. Skipped rows
(``existing=skip``) are never written, attached or tagged.

A row with an Intercom ``id`` updates (or, with ``existing=skip``, looks up) that contact; an unknown id
fails the row with the fix, in the dry run as in the real run.

Intercom matches contacts by id, then external_id, then email, and does **not** fall back to email
when a row has an external_id: a row with email + external_id whose email belongs to an existing
contact without external_id would create a duplicate. That "identity trap" is detected here, before
the write, and handled by the ``identity_trap`` policy (``identity.py``): ``attach`` updates the existing
contact (adding the external_id), ``report`` fails the row with an explanation.

In a dry run only the search is made; each row is classified as it would be (create, update, skip,
fail) and the calls the real import would make are counted.

Per-row problems Intercom refuses (a value, an unknown id) fail that row with Intercom's message;
a bad token or plan restriction aborts the job (``JobAbort``); outages propagate so SQS retries
the chunk (``ChunkInterrupted``); a lead's create whose outcome is unknown sets the row aside, the rest of
the chunk completes, and the chunk is run again after the search lag (``ChunkSetAside``). The request
bodies are built in ``bodies.py``; the records are in
``records.py``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.errors import IntercomAuthError, IntercomForbiddenError
from intercom_importer.intercom import IntercomClient
from intercom_importer.mapping import PEOPLE
from intercom_importer.upsert.bodies import company_attributes
from intercom_importer.upsert.companies import import_companies
from intercom_importer.upsert.company_cache import CompanyCache
from intercom_importer.upsert.people import import_people
from intercom_importer.upsert.pool import ChunkInterrupted, ChunkSetAside, JobAbort
from intercom_importer.upsert.records import CREATED, FAILED, SKIPPED, UPDATED, ChunkContext, Outcome, RowResult

__all__ = [
    "CREATED",
    "FAILED",
    "SKIPPED",
    "UPDATED",
    "ChunkContext",
    "ChunkInterrupted",
    "ChunkSetAside",
    "CompanyCache",
    "JobAbort",
    "Outcome",
    "RowResult",
    "company_attributes",
    "import_companies",
    "import_people",
    "import_rows",
]


def import_rows(
    client: IntercomClient,
    import_type: str,
    rows: Sequence[Mapping[str, Any]],
    ctx: ChunkContext,
    *,
    scope: str,
    threads: int,
    started_at: float,
) -> list[RowResult]:
    """Upsert one chunk of ``import_type`` rows; one result per row, in row order."""
    try:
        if import_type == PEOPLE:
            return import_people(client, rows, ctx, scope=scope, threads=threads)
        return import_companies(client, rows, ctx, scope=scope, threads=threads, started_at=started_at)
    except (IntercomAuthError, IntercomForbiddenError) as exc:  # e.g. from the chunk's search or a tag call
        raise JobAbort(exc) from exc
