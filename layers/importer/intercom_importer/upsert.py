"""Rows to Intercom: the per-chunk upsert of people and companies.

People, per chunk of rows:
1. one search (``OR[email IN [...], external_id IN [...]]``, all pages) learns which rows exist;
2. one create or update per row, several in flight (a thread pool over one keep-alive session);
   a 409 on create (search lag, or a concurrent import) yields the existing id, then update or skip; a 409
   to a create the client repeated after losing an answer may name the contact that create made: a contact
   created since that attempt was sent is finished as the row's create;
3. company columns: the companies were upserted once for the whole import by the validator; the
   contact is attached to its company (one call);
4. tags: one bulk ``POST /tags`` per tag per 50 contacts.

Companies, per chunk: one ``POST /companies`` per row (several in flight), then the same bulk tagging
(``POST /tags`` with ``companies``) for the companies created or updated. Skipped rows (``existing=skip``)
are never written, attached or tagged.

A row with an Intercom ``id`` updates (or, with ``existing=skip``, looks up) that contact; an unknown id
fails the row with the fix, in the dry run as in the real run.

Intercom matches contacts by id, then external_id, then email, and does **not** fall back to email
when a row has an external_id: a row with email + external_id whose email belongs to an existing
contact without external_id would create a duplicate. That "identity trap" is detected here, before
the write, and handled by the ``identity_trap`` policy: ``attach`` updates the existing contact
(adding the external_id), ``report`` fails the row with an explanation.

In a dry run only the search is made; each row is classified as it would be (create, update, skip,
fail) and the calls the real import would make are counted.

Per-row problems Intercom refuses (a value, an unknown id) fail that row with Intercom's message;
a bad token or plan restriction aborts the job (``JobAbort``); outages propagate so SQS retries
the chunk.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

from intercom_importer.errors import (
    ChunkOutOfTimeError,
    IntercomAuthError,
    IntercomConflictError,
    IntercomForbiddenError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomPermanentError,
)
from intercom_importer.intercom import MAX_FILTERS_PER_GROUP, MAX_IN_VALUES, TAG_BATCH_SIZE, IntercomClient
from intercom_importer.mapping import PEOPLE, PEOPLE_COMPANY_COLUMNS
from intercom_importer.schema import coerce
from intercom_importer.sequences import batched, unique

CREATED, UPDATED, SKIPPED, FAILED = "created", "updated", "skipped", "failed"

CONTACT_FIELDS = (
    "email",
    "external_id",
    "name",
    "phone",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
)
COMPANY_FIELDS = ("company_id", "name", "plan", "size", "website", "industry", "monthly_spend", "remote_created_at")
COMPANY_TEXT_FIELDS = ("name", "plan", "website", "industry")  # typed ``string`` (not nullable) in 2.14


class JobAbort(Exception):
    """Intercom refused the whole job (bad token, plan restriction): stop calling it.

    ``done`` holds the rows of the chunk that had finished before (written to Intercom, on other threads or
    before a refused tagging call): they count as they ended, not as "not imported".
    """

    def __init__(self, cause: IntercomPermanentError, done: Mapping[int, RowResult] | None = None) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.done: dict[int, RowResult] = dict(done or {})


@dataclass
class RowResult:
    line: int
    outcome: str
    contact_id: str | None = None
    error: str | None = None
    column: str = ""
    calls: int = 0  # calls the row needs (counted in dry runs)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowResult:
        return cls(**dict(data))


class ChunkInterrupted(Exception):
    """A retryable error stopped the chunk; ``done`` holds the rows that finished before it.

    The worker keeps them, so the retry neither writes those rows again nor counts a user it created
    as "updated" because of the 409 its second create would get.
    """

    def __init__(self, done: dict[int, RowResult], cause: BaseException) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause


@dataclass
class ChunkContext:
    existing: str  # update | skip
    role: str  # user | lead
    tags: Sequence[str] = ()
    custom_types: Mapping[str, str] = field(default_factory=dict)  # custom attribute -> internal type
    dry_run: bool = False
    identity_trap: str = "attach"
    allow_resubscribe: bool = False
    day_first: bool = True
    companies: Mapping[str, str] = field(default_factory=dict)  # company_id -> Intercom id
    done: Mapping[int, RowResult] = field(default_factory=dict)  # rows finished by an earlier attempt
    # Set on a redelivered chunk: when its first delivery was received (epoch seconds). A contact the
    # row identifies that Intercom created after it was made by that earlier attempt, which died (killed,
    # timed out) before it could record the row: the row finishes as the create it was.
    redelivered_since: float | None = None
    # ``time.monotonic()`` after which no row starts (the invocation must end before its timeout): the rest
    # wait for the chunk's next delivery. None: no limit.
    start_rows_until: float | None = None


def _run_rows(
    rows: Sequence[Mapping[str, Any]],
    one: Callable[[Mapping[str, Any]], RowResult],
    ctx: ChunkContext,
    threads: int,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> list[RowResult]:
    """Run ``one`` for every row not done by an earlier attempt, several at a time, in row order.

    A retryable error does not lose the rows that finished: they travel in ``ChunkInterrupted``.
    A ``JobAbort`` (bad token, plan restriction) propagates with the rows that finished (``JobAbort.done``), and
    no row starts after it: only the calls already in flight on other threads are made (Intercom refuses those too).
    ``clock`` is the one ``ctx.start_rows_until`` is a time of (injectable for tests).
    """
    results: dict[int, RowResult] = {}
    pending = []
    for row in rows:
        line = int(row["line"])
        if line in ctx.done:
            results[line] = ctx.done[line]
        else:
            pending.append(row)
    failure: BaseException | None = None
    aborted: list[JobAbort] = []
    out_of_time: list[int] = []

    def guarded(row: Mapping[str, Any]) -> RowResult | None:
        if aborted:
            return None  # not started: the job is aborted
        if ctx.start_rows_until is not None and clock() >= ctx.start_rows_until:
            out_of_time.append(int(row["line"]))
            return None  # not started: left for the next delivery
        try:
            return one(row)
        except JobAbort as exc:
            aborted.append(exc)
            raise

    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="row") as pool:
        futures = {pool.submit(guarded, row): int(row["line"]) for row in pending}
        for future, line in futures.items():
            try:
                result = future.result()
            except JobAbort:
                continue  # the rows queued after it return at once, not started; those in flight are collected
            except Exception as exc:
                failure = failure or exc
            else:
                if result is not None:
                    results[line] = result
    if aborted:
        aborted[0].done = {**results, **aborted[0].done}
        raise aborted[0]
    if failure is None and out_of_time:
        failure = ChunkOutOfTimeError(
            f"{len(out_of_time)} of the chunk's {len(rows)} rows were not started before the worker's time ran out "
            "(a slow Intercom or a low rate limit); they are imported by the chunk's next delivery"
        )
    if failure is not None:
        raise ChunkInterrupted(results, failure) from failure
    return [results[int(row["line"])] for row in rows]


class CompanyCache:
    """``company_id -> Intercom id`` for this environment: a company missing from the import's map is
    upserted at most once per environment and import."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], threading.Lock] = {}

    def get_or_create(self, scope: str, company_id: str, create: Callable[[], str]) -> str:
        key = (scope, company_id)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:  # one upsert per company even with many threads asking at once
            with self._lock:
                if key in self._ids:
                    return self._ids[key]
            intercom_id = create()
            with self._lock:
                self._ids[key] = intercom_id
                if len(self._ids) > 100_000:
                    self._ids.clear()
            return intercom_id


COMPANIES = CompanyCache()


def _body(record: Mapping[str, Any], standard: Sequence[str], ctx: ChunkContext) -> dict[str, Any]:
    body = {k: record[k] for k in standard if k in record}
    attrs = {}
    for name, kind in ctx.custom_types.items():
        if name not in record:
            continue
        value = record[name]
        # inferred attributes arrive as text; their type was only known after the whole file was read
        if isinstance(value, str) and kind not in ("string", "infer"):
            value = coerce(kind, value, day_first=ctx.day_first)
        attrs[name] = value
    if attrs:
        body["custom_attributes"] = attrs
    return body


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

    recovered = _recover_anonymous_leads(client, rows, ctx)

    def one(row: Mapping[str, Any]) -> RowResult:
        return _person(client, row, ctx, by_external, by_email, scope, recovered.get(int(row["line"])))

    return _tagged(client.tag_contacts, ctx, _run_rows(rows, one, ctx, threads))


def _is_anonymous(record: Mapping[str, Any]) -> bool:
    return not (record.get("email") or record.get("external_id") or record.get("id"))


def _recover_anonymous_leads(
    client: IntercomClient, rows: Sequence[Mapping[str, Any]], ctx: ChunkContext
) -> dict[int, dict[str, Any]]:
    """On a redelivered chunk, the leads an earlier attempt created for rows with no email and no
    external_id (Intercom cannot match those and never answers 409 for leads, so a blind create would
    duplicate them). One search: leads created since the day before the first delivery whose phone is one
    of those rows'; then each row takes, at most once, a lead created after the first delivery with exactly
    its phone and name and no email or external_id. A phone is required: a name alone ("John Smith") is
    too common to tell this import's lead from another's. Rows without one cannot be recognised and are
    created again (documented limit)."""
    if ctx.redelivered_since is None or ctx.dry_run:
        return {}
    anonymous = [r for r in rows if _is_anonymous(r["record"]) and r["record"].get("phone")]
    if not anonymous:
        return {}
    phones = unique(str(r["record"]["phone"]) for r in anonymous)  # every row here has one
    who = [{"field": "phone", "operator": "IN", "value": values} for values in batched(phones, MAX_IN_VALUES)]
    since = math.floor(ctx.redelivered_since)
    found: dict[str, dict[str, Any]] = {}
    for group in batched(who, MAX_FILTERS_PER_GROUP):
        query = {
            "operator": "AND",
            "value": [
                {"field": "role", "operator": "=", "value": "lead"},
                # dates are searched by day: from the day before, then the exact second is checked here
                {"field": "created_at", "operator": ">", "value": since - 86_400},
                group[0] if len(group) == 1 else {"operator": "OR", "value": group},
            ],
        }
        for lead in client.search_contacts(query):
            found.setdefault(str(lead.get("id")), lead)
    pool: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lead in sorted(found.values(), key=lambda c: (c.get("created_at") or 0, str(c.get("id")))):
        if lead.get("email") or lead.get("external_id") or not _created_by_earlier_attempt(lead, ctx):
            continue
        pool.setdefault((lead.get("name") or "", lead.get("phone") or ""), []).append(lead)
    recovered: dict[int, dict[str, Any]] = {}
    for row in anonymous:
        record = row["record"]
        candidates = pool.get((record.get("name") or "", record.get("phone") or ""))
        if candidates:
            recovered[int(row["line"])] = candidates.pop(0)
    return recovered


def _pick_existing(
    record: Mapping[str, Any],
    by_external: Mapping[str, dict],
    by_email: Mapping[str, list[dict]],
    role: str,
    identity_trap: str,
) -> tuple[dict | None, str | None]:
    """The contact a row refers to, by Intercom's precedence; or why the row must not be written."""
    external_id = record.get("external_id")
    if external_id and str(external_id) in by_external:
        return by_external[str(external_id)], None
    email = record.get("email")
    if not email:
        return None, None
    candidates = by_email.get(email, [])
    if external_id:
        for contact in candidates:
            if contact.get("role") == "user" and contact.get("external_id") not in (None, ""):
                return None, (
                    f"the email belongs to an existing user whose external_id is {contact['external_id']!r}, "
                    f"not {external_id!r}: correct the external_id or the email"
                )
        candidates = [c for c in candidates if not c.get("external_id")]
        if candidates and identity_trap == "report":
            return None, (
                "an existing contact has this email but no external_id; Intercom would not match them and "
                "would create a duplicate. Import with identity_trap=attach to give that contact this "
                "external_id, or remove the external_id from the row"
            )
    users = [c for c in candidates if c.get("role") == "user"]
    if users:
        return users[0], None
    if candidates:  # a lead with this email: update it (importing a user converts it with role=user)
        return candidates[0], None
    return None, None


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
    body = _body(record, CONTACT_FIELDS, ctx)
    attach_calls = 1 if record.get("company_id") else 0
    try:
        if record.get("id"):
            return _by_id(client, line, str(record["id"]), body, ctx, record, scope)
        found, reason = _pick_existing(record, by_external, by_email, role, ctx.identity_trap)
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
            if not exc.existing_id:
                raise
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
        return _company(client, RowResult(line, CREATED, str(created["id"])), record, ctx, scope)
    except (IntercomAuthError, IntercomForbiddenError) as exc:
        raise JobAbort(exc) from exc
    except IntercomPermanentError as exc:
        column = exc.field or ""
        return RowResult(line, FAILED, error=f"Intercom refused the row: {exc.message}", column=column)


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
        client.update_contact(contact_id, _safe_update(body, None, ctx))
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
    return _company(client, RowResult(line, UPDATED, contact_id), record, ctx, scope)


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
    contact: an earlier attempt of the chunk (``_created_by_earlier_attempt``), or this row's own create, applied
    by an attempt whose answer was lost: ``created_since`` is when that attempt was sent (the 409's
    ``ambiguous_since``)."""
    contact_id = str(existing["id"])
    if _created_by_earlier_attempt(existing, ctx) or _created_since(existing, created_since):
        # finish the row as the first attempt would have: the same values, then its company and tags
        client.update_contact(contact_id, _safe_update(body, existing, ctx))
        return _company(client, RowResult(line, CREATED, contact_id), record, ctx, scope)
    if ctx.existing == "skip":
        return RowResult(line, SKIPPED, contact_id)
    if ctx.dry_run:
        return RowResult(line, UPDATED, contact_id, calls=1 + (1 if record.get("company_id") else 0))
    update = _safe_update(body, existing, ctx)
    if existing.get("role") == "lead" and role == "user":
        update["role"] = "user"
    client.update_contact(contact_id, update)
    return _company(client, RowResult(line, UPDATED, contact_id), record, ctx, scope)


def _created_by_earlier_attempt(existing: Mapping[str, Any], ctx: ChunkContext) -> bool:
    """True when a redelivered chunk finds the contact its row describes created after the chunk's first
    delivery: no other row of this import has the identifier (duplicates are refused at validation), so
    the earlier attempt of this row created it. (Another system creating the same person in those minutes
    would be counted as this import's create; the contact is still updated once, never duplicated.)
    Intercom's ``created_at`` is in whole seconds, so the comparison is with the second of the first
    delivery: a contact made earlier in that same second by someone else is the one case it misreads."""
    if ctx.dry_run:
        return False
    return _created_since(existing, ctx.redelivered_since)


def _created_since(existing: Mapping[str, Any], since: float | None) -> bool:
    """Intercom created the contact at or after ``since`` (epoch seconds; None: never true). Its ``created_at``
    has whole seconds, so a contact of the same second counts (see ``_created_by_earlier_attempt``)."""
    if since is None:
        return False
    created_at = existing.get("created_at")
    return isinstance(created_at, int | float) and created_at >= math.floor(since)


def _safe_update(body: Mapping[str, Any], existing: Mapping[str, Any] | None, ctx: ChunkContext) -> dict[str, Any]:
    """Never re-subscribe someone (true -> false) unless the mapping allows it.

    ``None`` (an empty cell of a column mapped with ``"empty": "clear"``) re-subscribes too: Intercom stores a
    cleared ``unsubscribed_from_emails`` as false. Unless the contact is known to be subscribed already, the
    value is left out of the update."""
    update = dict(body)
    if (
        "unsubscribed_from_emails" in update
        and update["unsubscribed_from_emails"] in (False, None)
        and not ctx.allow_resubscribe
        and (existing is None or existing.get("unsubscribed_from_emails") is not False)
    ):
        update.pop("unsubscribed_from_emails")
    return update


def company_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes a people row gives its company (its ``company_*`` columns), named and typed as
    ``POST /companies`` takes them (``monthly_spend`` an integer: Intercom truncates decimals anyway)."""
    body = {
        attribute: record[column]
        for column, attribute in PEOPLE_COMPANY_COLUMNS.items()
        if record.get(column) not in (None, "")
    }
    if "monthly_spend" in body:
        body["monthly_spend"] = int(body["monthly_spend"])
    return body


def _company(
    client: IntercomClient, result: RowResult, record: Mapping[str, Any], ctx: ChunkContext, scope: str
) -> RowResult:
    company_id = record.get("company_id")
    if not company_id or not result.contact_id:
        return result
    company_id = str(company_id)

    def create() -> str:
        if company_id in ctx.companies:
            return ctx.companies[company_id]
        if ctx.existing == "skip":  # as the validator does: an existing company is left untouched
            found = client.find_company(company_id)
            if found is not None:
                return str(found["id"])
        return str(client.upsert_company({"company_id": company_id, **company_attributes(record)})["id"])

    intercom_id = COMPANIES.get_or_create(scope, company_id, create)
    client.attach_contact_to_company(result.contact_id, intercom_id)
    return result


TagMany = Callable[[str, Sequence[str]], Any]  # IntercomClient.tag_contacts / tag_companies


def _tagged(tag_many: TagMany, ctx: ChunkContext, results: list[RowResult]) -> list[RowResult]:
    """Tag the records the chunk created or updated (skipped and failed rows are never tagged): one bulk
    ``POST /tags`` per tag per 50 records. A failure keeps the rows' results, so only the tagging is retried;
    a refused token or permission (401/403) aborts the job, as it does on a row."""
    try:
        _tag(tag_many, ctx, results)
    except JobAbort:
        raise
    except (IntercomAuthError, IntercomForbiddenError) as exc:  # a bad token or permission: no retry can tag
        raise JobAbort(exc, done={r.line: r for r in results}) from exc  # the rows are written, only untagged
    except Exception as exc:
        raise ChunkInterrupted({r.line: r for r in results}, exc) from exc
    return results


def _tag(tag_many: TagMany, ctx: ChunkContext, results: Sequence[RowResult]) -> None:
    ids = [r.contact_id for r in results if r.outcome in (CREATED, UPDATED) and r.contact_id]
    tagged = [r for r in results if r.outcome in (CREATED, UPDATED)]
    if not tagged or not ctx.tags:
        return
    if ctx.dry_run:  # counted on the first result, so the chunk's total is right
        tagged[0].calls += len(ctx.tags) * math.ceil(len(tagged) / TAG_BATCH_SIZE)
        return
    for tag in ctx.tags:
        tag_many(tag, ids)


def import_companies(
    client: IntercomClient,
    rows: Sequence[Mapping[str, Any]],
    ctx: ChunkContext,
    *,
    scope: str,
    threads: int,
    started_at: float,
) -> list[RowResult]:
    """Upsert one chunk of company rows (``POST /companies`` creates or updates by company_id), then tag
    the companies created or updated.

    ``POST /companies`` does not say whether it created; a company is counted as created when its
    ``created_at`` is after the import started. ``existing=skip`` and dry runs look each company up first.
    """

    def one(row: Mapping[str, Any]) -> RowResult:
        line = int(row["line"])
        body = _company_body(row["record"], ctx)
        try:
            if ctx.existing == "skip" or ctx.dry_run:
                existing = client.find_company(str(body["company_id"]))
                if existing is not None and ctx.existing == "skip":
                    return RowResult(line, SKIPPED, str(existing["id"]), calls=1)
                if ctx.dry_run:
                    outcome = UPDATED if existing is not None else CREATED
                    return RowResult(line, outcome, calls=1 + (ctx.existing == "skip"))
            company = client.upsert_company(body)
        except (IntercomAuthError, IntercomForbiddenError) as exc:
            raise JobAbort(exc) from exc
        except IntercomPermanentError as exc:
            return RowResult(line, FAILED, error=f"Intercom refused the row: {exc.message}", column=exc.field or "")
        created = float(company.get("created_at") or 0) >= started_at - 1
        return RowResult(line, CREATED if created else UPDATED, str(company["id"]))

    return _tagged(client.tag_companies, ctx, _run_rows(rows, one, ctx, threads))


def _company_body(record: Mapping[str, Any], ctx: ChunkContext) -> dict[str, Any]:
    """The ``POST /companies`` body of a row, in the types of the 2.14 contract.

    - ``monthly_spend`` is an integer (Intercom truncates a float; sending the int says so);
    - the standard text fields are non-nullable strings: a cleared one (``"empty": "clear"``) is sent as "";
      the numeric ones cannot be cleared (the mapping refuses ``clear`` on them), a ``None`` is left out;
    - custom attributes are typed ``additionalProperties: string``: each value is sent as the canonical text
      of its attribute's type (``_as_text``), which Intercom stores as that type; a cleared one as "".
    """
    body = _body(record, COMPANY_FIELDS, ctx)
    for key, value in list(body.items()):
        if value is None:
            if key in COMPANY_TEXT_FIELDS:
                body[key] = ""
            else:
                del body[key]
    if "monthly_spend" in body:
        body["monthly_spend"] = int(body["monthly_spend"])
    if "custom_attributes" in body:
        body["custom_attributes"] = {k: _as_text(v) for k, v in body["custom_attributes"].items()}
    return body


def _as_text(value: Any) -> str:
    """A coerced cell as the canonical text of its type: ``true``/``false``; integers (and dates, in unix
    seconds) without a fraction; floats as Python's shortest round-trip form (``99.5``, ``10.0``); ``None``
    (a cleared cell) as ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


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
    try:
        if import_type == PEOPLE:
            return import_people(client, rows, ctx, scope=scope, threads=threads)
        return import_companies(client, rows, ctx, scope=scope, threads=threads, started_at=started_at)
    except (IntercomAuthError, IntercomForbiddenError) as exc:  # e.g. from the chunk's search or a tag call
        raise JobAbort(exc) from exc
