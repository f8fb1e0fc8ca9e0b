"""Lead recovery on a redelivered chunk: the leads an earlier attempt created for rows with neither email nor
external_id, found again (by phone and name) so that they are updated rather than created twice."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.intercom import MAX_FILTERS_PER_GROUP, MAX_IN_VALUES, IntercomClient
from intercom_importer.sequences import batched, unique
from intercom_importer.upsert.identity import created_by_earlier_attempt
from intercom_importer.upsert.records import ChunkContext


def is_anonymous(record: Mapping[str, Any]) -> bool:
    """The row names no contact Intercom can match: no email, no external_id, no id."""
    return not (record.get("email") or record.get("external_id") or record.get("id"))


def recover_anonymous_leads(
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
    anonymous = [r for r in rows if is_anonymous(r["record"]) and r["record"].get("phone")]
    if not anonymous:
        return {}
    pool: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for lead in _recent_leads_by_phone(client, anonymous, ctx.redelivered_since):
        if lead.get("email") or lead.get("external_id") or not created_by_earlier_attempt(lead, ctx):
            continue
        pool.setdefault((lead.get("name") or "", lead.get("phone") or ""), []).append(lead)
    recovered: dict[int, dict[str, Any]] = {}
    for row in anonymous:
        record = row["record"]
        candidates = pool.get((record.get("name") or "", record.get("phone") or ""))
        if candidates:
            recovered[int(row["line"])] = candidates.pop(0)
    return recovered


def _recent_leads_by_phone(
    client: IntercomClient, anonymous: Sequence[Mapping[str, Any]], redelivered_since: float
) -> list[dict[str, Any]]:
    """The leads with one of the rows' phones created since the day before ``redelivered_since``, each once,
    oldest first."""
    phones = unique(str(r["record"]["phone"]) for r in anonymous)  # every row here has one
    who = [{"field": "phone", "operator": "IN", "value": values} for values in batched(phones, MAX_IN_VALUES)]
    since = math.floor(redelivered_since)
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
    return sorted(found.values(), key=lambda c: (c.get("created_at") or 0, str(c.get("id"))))
