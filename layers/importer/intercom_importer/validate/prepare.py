"""Preparing Intercom for an accepted file, before any row is written: its new custom attributes created and the
companies of a people file upserted once (or, for a dry run or a validation only, the calls that would take)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from intercom_importer import keys
from intercom_importer.attributes import model_of
from intercom_importer.errors import FileRejectedError, IntercomValidationError
from intercom_importer.mapping import Column
from intercom_importer.settings import Settings
from intercom_importer.validate.context import Context
from intercom_importer.validate.state import ReadPlan


@dataclass(frozen=True)
class Prepared:
    """What preparing Intercom gave: the calls it took (or would take), the key of the ``company_id -> Intercom
    id`` map (None when none was written), and the import's tags' Intercom ids (name -> id)."""

    calls: int
    companies_key: str | None = None
    tag_ids: dict[str, str] = field(default_factory=dict)


def prepare_intercom(
    ctx: Context,
    plan: ReadPlan,
    columns: list[Column],
    new_attributes: list[dict[str, Any]],
    companies: dict[str, dict[str, Any]],
    chunks_total: int,
) -> Prepared:
    """Create the new attributes, the companies and the import's tags (unless the run writes nothing; a dry run
    finds the tags that exist): what it took, or would take."""
    prepare_calls = 2 if plan.create or any(c.custom for c in columns) else 0
    skip = plan.options.existing == "skip"
    writes = ctx.clients.intercom_writes
    companies_key = None
    tag_ids: dict[str, str] = {}
    if writes and not plan.options.dry_run and chunks_total:
        client = ctx.clients.intercom()
        before = client.stats.calls
        create_attributes(client, model_of(plan.import_type), new_attributes)
        if companies:
            companies_key = _upsert_companies(client, ctx.s3, ctx.settings, plan.job_id, companies, skip=skip)
        tag_ids = {tag: str(client.create_tag(tag)["id"]) for tag in plan.options.tags}
        prepare_calls += client.stats.calls - before
    elif companies and chunks_total and writes:
        # a dry run looks the companies up: the creates the real run would make, and the ids of those that exist (a
        # contact already attached to one is left unchanged, as in the real run)
        found = _found_companies(ctx.clients.intercom(), ctx.settings, companies)
        companies_key = _write_company_map(ctx.s3, ctx.settings, plan.job_id, found)
        missing = len(companies) - len(found)
        prepare_calls += len(new_attributes) + len(companies) + (missing if skip else 0)
    else:  # validate only (Intercom may not be reachable): under skip, as if every company were new
        prepare_calls += len(new_attributes) + len(companies) * (2 if skip else 1)
    if plan.options.dry_run and writes and chunks_total and plan.options.tags:
        tag_ids = _existing_tags(ctx.clients.intercom(), plan.options.tags)
        prepare_calls += len(plan.options.tags)  # the real run finds or creates each
    return Prepared(prepare_calls, companies_key, tag_ids)


def _existing_tags(client: Any, tags: tuple[str, ...]) -> dict[str, str]:
    """The Intercom ids of the tags that exist already (names compare case-insensitively, as Intercom's do)."""
    by_name = {str(t.get("name", "")).casefold(): str(t["id"]) for t in client.list_tags()}
    return {tag: by_name[tag.casefold()] for tag in tags if tag.casefold() in by_name}


def create_attributes(client: Any, model: str, attributes: list[dict[str, Any]]) -> None:
    """Create the planned custom attributes (an attribute created meanwhile by someone else is fine)."""
    for attribute in attributes:
        try:
            client.create_data_attribute(
                attribute["name"],
                model,
                "options" if attribute.get("options") else attribute["data_type"],
                options=attribute.get("options"),
                description="Created by the CSV importer",
            )
        except IntercomValidationError as exc:
            names = {str(a["name"]).lower() for a in client.list_data_attributes(model)}
            if attribute["name"].lower() not in names:
                raise FileRejectedError(
                    f"Intercom refused to create the custom attribute '{attribute['name']}': {exc.message}"
                ) from exc


def _upsert_companies(
    client: Any, s3: Any, settings: Settings, job_id: str, companies: dict[str, dict[str, Any]], *, skip: bool
) -> str:
    """Companies of a people file are upserted once per import, before any contact is written, with the
    attributes the file gives them. Under ``existing=skip`` each is looked up first and only the missing
    ones are created: an existing company is left untouched (new contacts are still attached to it).
    Writes the ``company_id -> Intercom id`` map the workers attach contacts with; returns its key."""

    def one(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        company_id, attributes = item
        if skip:
            found = client.find_company(company_id)
            if found is not None:
                return company_id, str(found["id"])
        return company_id, str(client.upsert_company({"company_id": company_id, **attributes})["id"])

    with ThreadPoolExecutor(max_workers=max(1, settings.worker_threads)) as pool:
        ids = dict(pool.map(one, companies.items()))
    return _write_company_map(s3, settings, job_id, ids)


def _found_companies(client: Any, settings: Settings, companies: Mapping[str, Any]) -> dict[str, str]:
    """``company_id -> Intercom id`` of the companies that exist in Intercom (one lookup each, nothing written)."""
    with ThreadPoolExecutor(max_workers=max(1, settings.worker_threads)) as pool:
        found = dict(zip(companies, pool.map(client.find_company, companies), strict=True))
    return {company_id: str(company["id"]) for company_id, company in found.items() if company is not None}


def _write_company_map(s3: Any, settings: Settings, job_id: str, ids: Mapping[str, str]) -> str:
    """The ``company_id -> Intercom id`` map the workers attach contacts with; returns its key."""
    key = keys.companies(job_id)
    s3.put_object(Bucket=settings.import_bucket, Key=key, Body=json.dumps(ids).encode(), ContentType="application/json")
    return key
