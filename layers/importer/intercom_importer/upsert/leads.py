"""Lead recovery on a redelivered chunk: the leads an earlier attempt created for rows with neither email nor
external_id, found again (by phone and name, in the chunk's search) so that they are updated rather than
created twice."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.upsert.identity import created_by_earlier_attempt
from intercom_importer.upsert.known import is_anonymous
from intercom_importer.upsert.records import ChunkContext


def recover_anonymous_leads(
    found: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]], ctx: ChunkContext
) -> dict[int, dict[str, Any]]:
    """On a redelivered chunk, the leads an earlier attempt created for rows with no email and no
    external_id (Intercom cannot match those and never answers 409 for leads, so a blind create would
    duplicate them), among the leads the chunk's search ``found`` by those rows' phones: each row takes, at
    most once, a lead created after the first delivery with exactly its phone and name and no email or
    external_id. A phone is required: a name alone ("John Smith") is too common to tell this import's lead
    from another's. Rows without one cannot be recognised and are created again (documented limit)."""
    if ctx.redelivered_since is None or ctx.dry_run:
        return {}
    anonymous = [r for r in rows if is_anonymous(r["record"]) and r["record"].get("phone")]
    pool: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for lead in sorted(found, key=lambda c: (c.get("created_at") or 0, str(c.get("id")))):
        if lead.get("role") != "lead" or lead.get("email") or lead.get("external_id"):
            continue
        if created_by_earlier_attempt(lead, ctx):
            pool.setdefault((lead.get("name") or "", lead.get("phone") or ""), []).append(lead)
    recovered: dict[int, dict[str, Any]] = {}
    for row in anonymous:
        record = row["record"]
        candidates = pool.get((record.get("name") or "", record.get("phone") or ""))
        if candidates:
            recovered[int(row["line"])] = dict(candidates.pop(0))
    return recovered
