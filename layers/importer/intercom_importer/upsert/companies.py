"""Companies in a chunk: company rows upserted by ``company_id`` (created or updated, or skipped and looked up),
and a people row's company (from the import's map, else upserted once through the cache) attached to its
contact."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.errors import IntercomAuthError, IntercomForbiddenError, IntercomPermanentError
from intercom_importer.intercom import IntercomClient
from intercom_importer.upsert.bodies import company_attributes, company_body
from intercom_importer.upsert.company_cache import COMPANIES
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
    created = float(company.get("created_at") or 0) >= started_at - 1
    return RowResult(line, CREATED if created else UPDATED, str(company["id"]))


def attach_company(
    client: IntercomClient, result: RowResult, record: Mapping[str, Any], ctx: ChunkContext, scope: str
) -> RowResult:
    """Attach the contact of a written people row to the company of its ``company_id`` column, if any."""
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
