"""Intercom's pagination: the page size limit and the cursor of the next page (``pages.next.starting_after``),
with a guard against a cursor returned twice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intercom_importer.errors import IntercomServerError

MAX_PER_PAGE = 150
"""Intercom's maximum page size for any list or search."""


def check_per_page(per_page: int) -> int:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    return per_page


def next_cursor(page: Mapping[str, Any], seen: set[str]) -> str | None:
    """The cursor of the page after ``page``, or ``None`` on the last page; ``seen`` holds the cursors followed."""
    pages = page.get("pages")
    nxt = pages.get("next") if isinstance(pages, dict) else None
    cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
    if not cursor or not isinstance(cursor, str):
        return None
    if cursor in seen:
        raise IntercomServerError(
            "Intercom returned the same page cursor twice; the listing was stopped to avoid a loop."
        )
    seen.add(cursor)
    return cursor
