"""Companies in a chunk: company rows upserted by ``company_id`` (created or updated, or skipped and looked up),
and a people row's company (from the import's map, else upserted once through the cache) attached to its
contact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.changelog import COMPANY, Change
from intercom_importer.errors import IntercomAuthError, IntercomForbiddenError, IntercomPermanentError
from intercom_importer.intercom import IntercomClient
from intercom_importer.upsert.bodies import company_attributes, company_body
from intercom_importer.upsert.company_cache import COMPANIES
from intercom_importer.upsert.diff import listed
from intercom_importer.upsert.pool import JobAbort, run_rows
from intercom_importer.upsert.records import CREATED, FAILED, SKIPPED, UPDATED, ChunkContext, RowResult
from intercom_importer.upsert.tagging import tagged


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
        return _company_row(client, row, ctx, started_at)

    return tagged(client.tag_companies, ctx, run_rows(rows, one, ctx, threads))


def _company_row(client: IntercomClient, row: Mapping[str, Any], ctx: ChunkContext, started_at: float) -> RowResult:
    line = int(row["line"])
    body = company_body(row["record"], ctx)
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
    outcome = CREATED if float(company.get("created_at") or 0) >= started_at - 1 else UPDATED
    return RowResult(line, outcome, str(company["id"]), change=_company_change(line, company, body, outcome))


def _company_change(line: int, company: Mapping[str, Any], body: Mapping[str, Any], outcome: str) -> dict[str, Any]:
    """A company row's change-log line: the values written. ``POST /companies`` is written without a lookup (no
    batch lookup of companies exists: one would cost the call the write costs), so the values an update replaced
    are not known (``before_known``)."""
    change = Change(COMPANY, str(company["id"]), outcome, line=line, before_known=outcome == CREATED)
    change.fields = {k: [None, v] for k, v in body.items() if k != "custom_attributes"}
    change.custom_attributes = {k: [None, v] for k, v in (body.get("custom_attributes") or {}).items()}
    return change.to_json()


def company_to_attach(record: Mapping[str, Any], contact: Mapping[str, Any] | None, ctx: ChunkContext) -> bool:
    """Whether the row's contact is to be attached to the company of its ``company_id`` column: it names one, and
    the contact (None: a new one) does not show it already (a company outside the import's map, or a contact
    showing only part of its companies, is attached again: attaching is idempotent)."""
    company_id = record.get("company_id")
    if not company_id:
        return False
    if contact is None:
        return True
    intercom_id = ctx.companies.get(str(company_id))
    ids, _ = listed(contact, "companies")
    return intercom_id is None or intercom_id not in ids


def attach_company(
    client: IntercomClient, contact_id: str, record: Mapping[str, Any], ctx: ChunkContext, scope: str
) -> str:
    """Attach the contact to the company of the row's ``company_id`` column; returns the company's Intercom id."""
    company_id = str(record["company_id"])

    def create() -> str:
        if company_id in ctx.companies:
            return ctx.companies[company_id]
        if ctx.existing == "skip":  # as the validator does: an existing company is left untouched
            found = client.find_company(company_id)
            if found is not None:
                return str(found["id"])
        return str(client.upsert_company({"company_id": company_id, **company_attributes(record)})["id"])

    intercom_id = COMPANIES.get_or_create(scope, company_id, create)
    client.attach_contact_to_company(contact_id, intercom_id)
    return intercom_id
