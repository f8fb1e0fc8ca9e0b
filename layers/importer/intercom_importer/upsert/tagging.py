"""Tagging a chunk's records: the records created or updated get each of the import's tags, in bulk (one
``POST /tags`` per tag per 50 records); a failure keeps the rows' results so only the tagging is retried."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from intercom_importer.errors import IntercomAuthError, IntercomForbiddenError
from intercom_importer.intercom import TAG_BATCH_SIZE
from intercom_importer.upsert.pool import ChunkInterrupted, JobAbort
from intercom_importer.upsert.records import CREATED, UPDATED, ChunkContext, RowResult

TagMany = Callable[[str, Sequence[str]], Any]  # IntercomClient.tag_contacts / tag_companies


def tagged(tag_many: TagMany, ctx: ChunkContext, results: list[RowResult]) -> list[RowResult]:
    """Tag the records the chunk created or updated that lack the tag (skipped, unchanged and failed rows are
    never tagged): one bulk ``POST /tags`` per tag per 50 records. A failure keeps the rows' results, so only the tagging is retried;
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
    """Each tag goes to the records written that lack it (``RowResult.tags``; None: every tag)."""
    written = [r for r in results if r.outcome in (CREATED, UPDATED)]
    if not written or not ctx.tags:
        return
    for tag in ctx.tags:
        ids = [r.contact_id for r in written if r.contact_id and (r.tags is None or tag in r.tags)]
        if ctx.dry_run:  # counted on the first result, so the chunk's total is right
            lacking = sum(1 for r in written if r.tags is None or tag in r.tags)
            written[0].calls += math.ceil(lacking / TAG_BATCH_SIZE)
        elif ids:
            tag_many(tag, ids)
