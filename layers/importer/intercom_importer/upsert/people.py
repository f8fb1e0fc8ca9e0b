"""People in a chunk: one search for the chunk's emails and external_ids, then per row a create, an update
or a skip of the contact the row is (``identity.py``), its company attached, and the chunk's tags.

A 409 on create (search lag, or a concurrent import) yields the existing id, then update or skip; a 409 to a
create the client repeated after losing an answer may name the contact that create made: a contact created
since that attempt was sent is finished as the row's create. A row with an Intercom ``id`` updates (or, with
``existing=skip``, looks up) that contact; an unknown id fails the row with the fix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from intercom_importer.errors import (
    IntercomAuthError,
    IntercomConflictError,
    IntercomConnectionError,
    IntercomForbiddenError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomPermanentError,
    IntercomServerError,
)
from intercom_importer.intercom import IntercomClient
from intercom_importer.ledger import LedgerEntry, identity_keys
from intercom_importer.upsert import identity
from intercom_importer.upsert.bodies import CONTACT_FIELDS, request_body, safe_update
from intercom_importer.upsert.companies import attach_company
from intercom_importer.upsert.known import Known, is_anonymous, learn, remember
from intercom_importer.upsert.leads import recover_anonymous_leads
from intercom_importer.upsert.pool import JobAbort, RowUncertain, run_rows
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
    """Upsert one chunk of people rows; returns one result per row, in row order. Each row written is
    remembered in the identity ledger (``ctx.ledger``) before its result counts."""
    known = learn(client, [row["record"] for row in rows], ctx.ledger)
    recovered = recover_anonymous_leads(known.found, rows, ctx)
    for lead in recovered.values():
        known.take(lead)

    def one(row: Mapping[str, Any]) -> RowResult:
        record = row["record"]
        result = _person(client, row, ctx, known, scope, recovered.get(int(row["line"])))
        if ctx.ledger is not None and not ctx.dry_run:
            remember(ctx.ledger, record, role_of(record, ctx), result, ctx.job_id, known)
        return result

    return tagged(client.tag_contacts, ctx, run_rows(rows, one, ctx, threads))


def role_of(record: Mapping[str, Any], ctx: ChunkContext) -> str:
    """The role a row's contact is created with: the row's, else a lead when Intercom could not match a user
    by anything, else the import's."""
    return record.get("role") or ("lead" if not (record.get("email") or record.get("external_id")) else ctx.role)


@dataclass(frozen=True)
class _Row:
    """One people row being written, with what each step of it needs: the client, the chunk's context, the
    company cache's scope, the row's line and record, the role its contact is created with and its body."""

    client: IntercomClient
    ctx: ChunkContext
    scope: str
    line: int
    record: Mapping[str, Any]
    role: str
    body: dict[str, Any]

    def attached(self, result: RowResult) -> RowResult:
        """``result``, once the contact is attached to the row's company (if it names one)."""
        return attach_company(self.client, result, self.record, self.ctx, self.scope)

    @property
    def attach_calls(self) -> int:
        return 1 if self.record.get("company_id") else 0


def _person(
    client: IntercomClient,
    row: Mapping[str, Any],
    ctx: ChunkContext,
    known: Known,
    scope: str,
    recovered: Mapping[str, Any] | None = None,
) -> RowResult:
    """``recovered``: the lead an earlier attempt of this chunk created for this identifier-less row."""
    record = row["record"]
    role = role_of(record, ctx)
    r = _Row(client, ctx, scope, int(row["line"]), record, role, request_body(record, CONTACT_FIELDS, ctx))
    try:
        if record.get("id"):
            return _by_id(r, str(record["id"]))
        found, reason = identity.pick_existing(record, known.by_external, known.by_email, role, ctx.identity_trap)
        if reason and known.drop_gone(client, record, ctx.ledger):  # a contact only the ledger knew is gone
            found, reason = identity.pick_existing(record, known.by_external, known.by_email, role, ctx.identity_trap)
        if reason:
            return RowResult(r.line, FAILED, error=reason, column="email")
        claim = known.claim_of(record) if ctx.ledger is not None else None
        since = _created_since(r, claim)
        existing = found or recovered or (known.take_lead(record, since) if is_anonymous(record) else None)
        if existing is not None:
            updated = _update_known(r, existing, since)
            if updated is not None:
                return updated
        if ctx.dry_run:
            return RowResult(r.line, CREATED, calls=1 + r.attach_calls)
        if (
            claim is not None
            and claim.claimed_at is not None
            and client.now() < claim.claimed_at + ctx.search_lag_seconds
        ):
            raise RowUncertain(r.line, claim.claimed_at, RuntimeError("a create of this lead is not searchable yet"))
        return _create(r)
    except (IntercomAuthError, IntercomForbiddenError) as exc:
        raise JobAbort(exc) from exc
    except IntercomPermanentError as exc:
        column = exc.field or ""
        return RowResult(r.line, FAILED, error=f"Intercom refused the row: {exc.message}", column=column)


def _created_since(r: _Row, claim: LedgerEntry | None) -> float | None:
    """When this import may have created the row's contact without knowing it: the create an earlier attempt set
    aside, or the one this job claimed in the ledger (a run that died before the answer). A contact found that was
    created since then is that create's: the row counts as created."""
    claimed = claim.claimed_at if claim is not None and claim.job_id == r.ctx.job_id else None
    times = [t for t in (r.ctx.uncertain.get(r.line), claimed) if t is not None]
    return min(times) if times else None


def _create(r: _Row) -> RowResult:
    """Create the row's contact; a 409 makes it the existing contact's update (``_after_conflict``). A lead's
    create is claimed in the ledger first; one answered 5xx or not at all may have been carried out: the row is
    set aside (``RowUncertain``)."""
    sent = r.client.now()
    keys = identity_keys(r.record)
    if r.role == "lead" and r.ctx.ledger is not None and keys:
        r.ctx.ledger.claim(keys, job_id=r.ctx.job_id, line=r.line, sent_at=sent)
    try:
        created = r.client.create_contact({"role": r.role, **r.body})
    except IntercomConflictError as exc:
        return _after_conflict(r, exc)
    except (IntercomServerError, IntercomConnectionError) as exc:
        if r.role != "lead":  # a user's create was repeated by the client: its 409 names the contact made
            raise
        raise RowUncertain(r.line, sent, exc) from exc
    return r.attached(RowResult(r.line, CREATED, str(created["id"])))


def _update_known(r: _Row, existing: Mapping[str, Any], since: float | None) -> RowResult | None:
    """Update (or skip) the contact the row was found to be; None when only the ledger knew it and Intercom no
    longer does (deleted, or merged away): its entries are forgotten and the row is created. A contact only the
    ledger knows is looked up before a skip or a dry run counts it."""
    try:
        looked_up = bool(existing.get("from_ledger")) and (r.ctx.existing == "skip" or r.ctx.dry_run)
        if looked_up:
            r.client.get_contact(str(existing["id"]))
        result = _update_existing(r, existing, created_since=since)
        if looked_up and result.outcome == SKIPPED:
            result.calls = 1  # the lookup is what the real run spends on it too
        return result
    except (IntercomNotFoundError, IntercomGoneError):
        if not existing.get("from_ledger") or r.ctx.ledger is None:
            raise
        r.ctx.ledger.forget(identity_keys(r.record), str(existing["id"]))
        return None


def _after_conflict(r: _Row, exc: IntercomConflictError) -> RowResult:
    """A create answered 409: the row is the existing contact's update (or skip), or its own create whose
    answer was lost; an archived contact, or one with another external_id, fails the row."""
    if not exc.existing_id:
        raise exc
    if exc.archived:
        return RowResult(
            r.line,
            FAILED,
            exc.existing_id,
            "an archived contact already has this email/external_id: unarchive it in Intercom, then "
            "import the row again",
        )
    conflicting: Mapping[str, Any] = {"id": exc.existing_id}
    # It may be the contact this create made on an attempt whose answer was lost (the client repeated
    # it), or the dead attempt's create on a redelivered chunk, still not searchable: its created_at says.
    # A row with an external_id may have conflicted on its email with a user who has another one: the
    # contact is compared with the row before anything is written to it.
    if r.ctx.redelivered_since is not None or exc.ambiguous_since is not None or r.record.get("external_id"):
        conflicting = r.client.get_contact(exc.existing_id)
        reason = identity.conflict_reason(r.record, conflicting, r.ctx.identity_trap)
        if reason:
            return RowResult(r.line, FAILED, exc.existing_id, reason, column="email")
    return _update_existing(r, conflicting, created_since=exc.ambiguous_since)


def _by_id(r: _Row, contact_id: str) -> RowResult:
    """A row naming the contact by its Intercom ``id``: skip or update it.

    The dry run looks the contact up (``GET``) so an unknown id counts as the failure the real run's write
    gets; ``calls`` is what the real run spends (a ``GET`` to skip; the update and the company attachment).
    """
    try:
        if r.ctx.existing == "skip" or r.ctx.dry_run:
            r.client.get_contact(contact_id)
            if r.ctx.existing == "skip":
                return RowResult(r.line, SKIPPED, contact_id, calls=1)
            return RowResult(r.line, UPDATED, contact_id, calls=1 + r.attach_calls)
        r.client.update_contact(contact_id, safe_update(r.body, None, r.ctx))
    except (IntercomNotFoundError, IntercomGoneError):
        return RowResult(
            r.line,
            FAILED,
            error=(
                f"no Intercom contact has the id {contact_id!r} (a wrong id, or the contact was deleted or merged): "
                "correct the id (the contact's Intercom id, from its URL in Intercom), or leave the id cell empty "
                "to match the row by email or external_id"
            ),
            column="id",
            calls=1,
        )
    return r.attached(RowResult(r.line, UPDATED, contact_id))


def _update_existing(r: _Row, existing: Mapping[str, Any], *, created_since: float | None = None) -> RowResult:
    """Update (or skip) the contact the row refers to; or finish the row as a create when this import made the
    contact: an earlier attempt of the chunk (``identity.created_by_earlier_attempt``), or this row's own create,
    applied by an attempt whose answer was lost: ``created_since`` is when that attempt was sent (the 409's
    ``ambiguous_since``)."""
    contact_id = str(existing["id"])
    if identity.created_by_earlier_attempt(existing, r.ctx) or identity.created_since(existing, created_since):
        # finish the row as the first attempt would have: the same values, then its company and tags
        r.client.update_contact(contact_id, safe_update(r.body, existing, r.ctx))
        return r.attached(RowResult(r.line, CREATED, contact_id))
    if r.ctx.existing == "skip":
        return RowResult(r.line, SKIPPED, contact_id)
    if r.ctx.dry_run:
        return RowResult(r.line, UPDATED, contact_id, calls=1 + r.attach_calls)
    update = safe_update(r.body, existing, r.ctx)
    if existing.get("role") == "lead" and r.role == "user":
        update["role"] = "user"
    r.client.update_contact(contact_id, update)
    return r.attached(RowResult(r.line, UPDATED, contact_id))
