"""People in a chunk: one search for the chunk's emails and external_ids, then per row a create, an update
or a skip of the contact the row is (``identity.py``), its company attached, and the chunk's tags.

A 409 on create (search lag, or a concurrent import) yields the existing id, then update or skip; a 409 to a
create the client repeated after losing an answer may name the contact that create made: a contact created
since that attempt was sent is finished as the row's create. A row with an Intercom ``id`` updates (or, with
``existing=skip``, looks up) that contact; an unknown id fails the row with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.errors import (
    IntercomAuthError,
    IntercomConflictError,
    IntercomForbiddenError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomPermanentError,
)
from intercom_importer.intercom import IntercomClient
from intercom_importer.upsert import identity
from intercom_importer.upsert.bodies import CONTACT_FIELDS, request_body, safe_update
from intercom_importer.upsert.companies import attach_company
from intercom_importer.upsert.leads import recover_anonymous_leads
from intercom_importer.upsert.pool import JobAbort, run_rows
from intercom_importer.upsert.records import CREATED, FAILED, SKIPPED, UPDATED, ChunkContext, RowResult
from intercom_importer.upsert.tagging import tagged


def import_people(
    client: IntercomClient,
    rows: Sequence[Mapping[str, Any]],
    ctx: ChunkContext,
    *,
    scope: str,
    threads: int,
) -> list[RowResult]:
    """Upsert one chunk of people rows; returns one result per row, in row order."""
    records = [row["record"] for row in rows]
    found = client.search_by_identifiers(
        [r["email"] for r in records if r.get("email")],
        [r["external_id"] for r in records if r.get("external_id")],
    )
    by_external: dict[str, dict[str, Any]] = {}
    by_email: dict[str, list[dict[str, Any]]] = {}
    for contact in found:
        if contact.get("external_id"):
            by_external[str(contact["external_id"])] = contact
        if contact.get("email"):
            by_email.setdefault(str(contact["email"]).lower(), []).append(contact)

    recovered = recover_anonymous_leads(client, rows, ctx)

    def one(row: Mapping[str, Any]) -> RowResult:
        return _person(client, row, ctx, by_external, by_email, scope, recovered.get(int(row["line"])))

    return tagged(client.tag_contacts, ctx, run_rows(rows, one, ctx, threads))


def _person(
    client: IntercomClient,
    row: Mapping[str, Any],
    ctx: ChunkContext,
    by_external: Mapping[str, dict],
    by_email: Mapping[str, list[dict]],
    scope: str,
    recovered: Mapping[str, Any] | None = None,
) -> RowResult:
    """``recovered``: the lead an earlier attempt of this chunk created for this identifier-less row."""
    line = int(row["line"])
    record = row["record"]
    role = record.get("role") or ("lead" if not (record.get("email") or record.get("external_id")) else ctx.role)
    body = request_body(record, CONTACT_FIELDS, ctx)
    attach_calls = 1 if record.get("company_id") else 0
    try:
        if record.get("id"):
            return _by_id(client, line, str(record["id"]), body, ctx, record, scope)
        found, reason = identity.pick_existing(record, by_external, by_email, role, ctx.identity_trap)
        existing: Mapping[str, Any] | None = found if found is not None else recovered
        if reason:
            return RowResult(line, FAILED, error=reason, column="email")
        if existing is not None:
            return _update_existing(client, line, existing, body, role, ctx, record, scope)
        if ctx.dry_run:
            return RowResult(line, CREATED, calls=1 + attach_calls)
        try:
            created = client.create_contact({"role": role, **body})
        except IntercomConflictError as exc:
            return _after_conflict(client, line, exc, body, role, ctx, record, scope)
        return attach_company(client, RowResult(line, CREATED, str(created["id"])), record, ctx, scope)
    except (IntercomAuthError, IntercomForbiddenError) as exc:
        raise JobAbort(exc) from exc
    except IntercomPermanentError as exc:
        column = exc.field or ""
        return RowResult(line, FAILED, error=f"Intercom refused the row: {exc.message}", column=column)


def _after_conflict(
    client: IntercomClient,
    line: int,
    exc: IntercomConflictError,
    body: dict[str, Any],
    role: str,
    ctx: ChunkContext,
    record: Mapping[str, Any],
    scope: str,
) -> RowResult:
    """A create answered 409: the row is the existing contact's update (or skip), or its own create whose
    answer was lost; an archived contact fails the row."""
    if not exc.existing_id:
        raise exc
    if exc.archived:
        return RowResult(
            line,
            FAILED,
            exc.existing_id,
            "an archived contact already has this email/external_id: unarchive it in Intercom, then "
            "import the row again",
        )
    conflicting: Mapping[str, Any] = {"id": exc.existing_id}
    # It may be the contact this create made on an attempt whose answer was lost (the client repeated
    # it), or the dead attempt's create on a redelivered chunk, still not searchable: its created_at says.
    if ctx.redelivered_since is not None or exc.ambiguous_since is not None:
        conflicting = client.get_contact(exc.existing_id)
    return _update_existing(
        client, line, conflicting, body, role, ctx, record, scope, created_since=exc.ambiguous_since
    )


def _by_id(
    client: IntercomClient,
    line: int,
    contact_id: str,
    body: dict[str, Any],
    ctx: ChunkContext,
    record: Mapping[str, Any],
    scope: str,
) -> RowResult:
    """A row naming the contact by its Intercom ``id``: skip or update it.

    The dry run looks the contact up (``GET``) so an unknown id counts as the failure the real run's write
    gets; ``calls`` is what the real run spends (a ``GET`` to skip; the update and the company attachment).
    """
    try:
        if ctx.existing == "skip" or ctx.dry_run:
            client.get_contact(contact_id)
            if ctx.existing == "skip":
                return RowResult(line, SKIPPED, contact_id, calls=1)
            return RowResult(line, UPDATED, contact_id, calls=1 + (1 if record.get("company_id") else 0))
        client.update_contact(contact_id, safe_update(body, None, ctx))
    except (IntercomNotFoundError, IntercomGoneError):
        return RowResult(
            line,
            FAILED,
            error=(
                f"no Intercom contact has the id {contact_id!r} (a wrong id, or the contact was deleted or merged): "
                "correct the id (the contact's Intercom id, from its URL in Intercom), or leave the id cell empty "
                "to match the row by email or external_id"
            ),
            column="id",
            calls=1,
        )
    return attach_company(client, RowResult(line, UPDATED, contact_id), record, ctx, scope)


def _update_existing(
    client: IntercomClient,
    line: int,
    existing: Mapping[str, Any],
    body: dict[str, Any],
    role: str,
    ctx: ChunkContext,
    record: Mapping[str, Any],
    scope: str,
    *,
    created_since: float | None = None,
) -> RowResult:
    """Update (or skip) the contact the row refers to; or finish the row as a create when this import made the
    contact: an earlier attempt of the chunk (``identity.created_by_earlier_attempt``), or this row's own create,
    applied by an attempt whose answer was lost: ``created_since`` is when that attempt was sent (the 409's
    ``ambiguous_since``)."""
    contact_id = str(existing["id"])
    if identity.created_by_earlier_attempt(existing, ctx) or identity.created_since(existing, created_since):
        # finish the row as the first attempt would have: the same values, then its company and tags
        client.update_contact(contact_id, safe_update(body, existing, ctx))
        return attach_company(client, RowResult(line, CREATED, contact_id), record, ctx, scope)
    if ctx.existing == "skip":
        return RowResult(line, SKIPPED, contact_id)
    if ctx.dry_run:
        return RowResult(line, UPDATED, contact_id, calls=1 + (1 if record.get("company_id") else 0))
    update = safe_update(body, existing, ctx)
    if existing.get("role") == "lead" and role == "user":
        update["role"] = "user"
    client.update_contact(contact_id, update)
    return attach_company(client, RowResult(line, UPDATED, contact_id), record, ctx, scope)
