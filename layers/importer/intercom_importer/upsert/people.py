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

from intercom_importer.changelog import CONTACT, Change
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
from intercom_importer.upsert.companies import attach_company, company_to_attach
from intercom_importer.upsert.diff import ContactDiff, contact_diff, listed, missing_tags
from intercom_importer.upsert.known import STALE, Known, is_anonymous, learn, remember, written_values
from intercom_importer.upsert.leads import recover_anonymous_leads
from intercom_importer.upsert.pool import JobAbort, RowUncertain, run_rows
from intercom_importer.upsert.records import (
    CREATED,
    FAILED,
    SKIPPED,
    UNCHANGED,
    UPDATED,
    ChunkContext,
    Outcome,
    RowResult,
)
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

    def written(
        self,
        outcome: Outcome,
        contact_id: str,
        contact: Mapping[str, Any] | None,
        diff: ContactDiff,
        *,
        before_known: bool = True,
        written_at: int | None = None,
        written_values: str | None = None,
    ) -> RowResult:
        """The row's contact written (``diff`` applied by the caller): attached to the row's company unless
        ``contact`` (None: created by this import) shows it, tagged with the import's tags it lacks; the result
        carries its change-log line."""
        change = Change(
            CONTACT, contact_id, outcome, diff.fields, diff.custom, line=self.line, before_known=before_known
        )
        if company_to_attach(self.record, contact, self.ctx):
            company = attach_company(self.client, contact_id, self.record, self.ctx, self.scope)
            shown, complete = listed(contact, "companies") if contact is not None else (set(), True)
            if complete and company not in shown:  # surely this import's attachment: an undo detaches it
                change.company = company
        if contact is None:
            to_tag, lacked = list(self.ctx.tags), list(self.ctx.tags)
        else:
            to_tag, lacked = missing_tags(contact, self.ctx.tags, self.ctx.tag_ids)
        change.tags = {t: self.ctx.tag_ids.get(t, "") for t in lacked}
        return RowResult(
            self.line,
            outcome,
            contact_id,
            tags=to_tag,
            change=change.to_json(),
            written_at=written_at,
            written_values=written_values,
        )

    @property
    def attach_calls(self) -> int:
        return 1 if self.record.get("company_id") else 0

    def created(self, contact_id: str) -> RowResult:
        """The row's create, and its change-log line: every value it set."""
        return self.written(CREATED, contact_id, None, created_diff(self.body))


def created_diff(body: Mapping[str, Any]) -> ContactDiff:
    """A created contact's values as changes from nothing."""
    diff = ContactDiff()
    for name, value in body.items():
        if name == "custom_attributes":
            diff.custom = {k: [None, v] for k, v in value.items() if v is not None}
        elif value is not None:
            diff.fields[name] = [None, value]
    return diff


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
    return r.created(str(created["id"]))


def _update_known(r: _Row, existing: Mapping[str, Any], since: float | None) -> RowResult | None:
    """Update (or skip) the contact the row was found to be; None when only the ledger knew it and Intercom no
    longer does (deleted, or merged away): its entries are forgotten and the row is created. A contact only the
    ledger knows is looked up first (``GET``): the row is compared with its values, and a skip or a dry run
    counts the lookup the real run makes. So is one the search shows from before this importer's own last update of
    it (``known.STALE``), unless the row is skipped: its values there may be older than Intercom's."""
    looked_up = bool(existing.get("from_ledger") or (existing.get(STALE) and r.ctx.existing != "skip"))
    try:
        if looked_up:
            existing = r.client.get_contact(str(existing["id"]))
    except (IntercomNotFoundError, IntercomGoneError):
        if r.ctx.ledger is None:
            raise
        r.ctx.ledger.forget(identity_keys(r.record), str(existing["id"]))
        return None
    result = _update_existing(r, existing, created_since=since)
    if looked_up and (r.ctx.dry_run or result.outcome == SKIPPED):
        result.calls += 1  # the lookup is what the real run spends on it too
    return result


def _after_conflict(r: _Row, exc: IntercomConflictError) -> RowResult:
    """A create answered 409: the row is the existing contact's update (or skip), or its own create whose
    answer was lost; an archived contact, or one with another external_id, fails the row.

    The conflicting contact is looked up (``GET``): its values are what the row is compared with (and what an
    undo restores). It may be the contact this create made on an attempt whose answer was lost (the client
    repeated it), or the dead attempt's create on a redelivered chunk, still not searchable: its created_at says.
    A row with an external_id may have conflicted on its email with a user who has another one: the contact is
    compared with the row before anything is written to it."""
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
    conflicting = r.client.get_contact(exc.existing_id)
    reason = identity.conflict_reason(r.record, conflicting, r.ctx.identity_trap)
    if reason:
        return RowResult(r.line, FAILED, exc.existing_id, reason, column="email")
    return _update_existing(r, conflicting, created_since=exc.ambiguous_since)


def _by_id(r: _Row, contact_id: str) -> RowResult:
    """A row naming the contact by its Intercom ``id``: looked up (``GET``: its values are what the row is
    compared with), then skipped, left unchanged or updated. ``calls`` of a dry run or a skip is what the real
    run spends (the lookup, and the update and attachment when the row changes the contact)."""
    try:
        existing = r.client.get_contact(contact_id)
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
    if r.ctx.existing == "skip":
        return RowResult(r.line, SKIPPED, contact_id, calls=1)
    result = _update_existing(r, existing)
    if r.ctx.dry_run:
        result.calls += 1
    return result


def _update_existing(r: _Row, existing: Mapping[str, Any], *, created_since: float | None = None) -> RowResult:
    """Update (or skip, or leave unchanged) the contact the row refers to; or finish the row as a create when
    this import made the contact: an earlier attempt of the chunk (``identity.created_by_earlier_attempt``), or
    this row's own create, applied by an attempt whose answer was lost: ``created_since`` is when that attempt
    was sent (the 409's ``ambiguous_since``).

    The row is compared with the contact (``diff.py``): only changed values are sent; a row that changes
    nothing, whose contact already shows its company and the import's tags, is ``unchanged`` and costs no
    call."""
    contact_id = str(existing["id"])
    if identity.created_by_earlier_attempt(existing, r.ctx) or identity.created_since(existing, created_since):
        # finish the row as the first attempt would have: the same values, then its company and tags
        diff = contact_diff(safe_update(r.body, existing, r.ctx), existing)
        if diff.changed:
            r.client.update_contact(contact_id, diff.update_body())
        return r.created(contact_id)
    if r.ctx.existing == "skip":
        return RowResult(r.line, SKIPPED, contact_id)
    diff = contact_diff(safe_update(r.body, existing, r.ctx), existing, role=r.role)
    if not diff.changed and not r.ctx.dry_run and _written_by_dead_attempt(existing, r.ctx):
        # an attempt that died before recording the row wrote its values: it was this import's update, whose
        # replaced values are lost with that attempt (an undo leaves them alone and says why); its company and
        # tags may still be missing
        return r.written(UPDATED, contact_id, existing, created_diff(r.body), before_known=False)
    attach = company_to_attach(r.record, existing, r.ctx)
    to_tag, _ = missing_tags(existing, r.ctx.tags, r.ctx.tag_ids)
    if not (diff.changed or attach or to_tag):
        return RowResult(r.line, UNCHANGED, contact_id)
    if r.ctx.dry_run:
        return RowResult(r.line, UPDATED, contact_id, calls=int(diff.changed) + int(attach), tags=to_tag)
    written_at = sent = None
    if diff.changed:
        body = diff.update_body()
        answer = r.client.update_contact(contact_id, body)
        written_at, sent = int(answer.get("updated_at") or r.client.now()), written_values(body)
    return r.written(UPDATED, contact_id, existing, diff, written_at=written_at, written_values=sent)


def _written_by_dead_attempt(contact: Mapping[str, Any], ctx: ChunkContext) -> bool:
    """On a redelivered chunk: the contact was updated since the first delivery was received."""
    since = ctx.redelivered_since
    return since is not None and int(contact.get("updated_at") or 0) >= int(since)
