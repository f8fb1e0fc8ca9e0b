"""Which existing contact a people row is: Intercom's precedence (external_id, then email; a user before a
lead), the "identity trap" (an email whose contact has no external_id, where Intercom would create a
duplicate), and whether a contact found is one this import created itself on an earlier attempt."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from intercom_importer.upsert.records import ChunkContext

TRAP_MESSAGE = (
    "an existing contact has this email but no external_id; Intercom would not match them and "
    "would create a duplicate. Import with identity_trap=attach to give that contact this "
    "external_id, or remove the external_id from the row"
)


def pick_existing(
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
                return None, _another_user(contact["external_id"], external_id)
        candidates = [c for c in candidates if not c.get("external_id")]
        if candidates and identity_trap == "report":
            return None, TRAP_MESSAGE
    users = [c for c in candidates if c.get("role") == "user"]
    if users:
        return users[0], None
    if candidates:  # a lead with this email: update it (importing a user converts it with role=user)
        return candidates[0], None
    return None, None


def conflict_reason(record: Mapping[str, Any], contact: Mapping[str, Any], identity_trap: str) -> str | None:
    """Why a row must not be written to the contact its create conflicted with (409), or None.

    Intercom answers 409 for a user with the row's external_id or its email: a contact with another
    external_id is another person (writing the row would overwrite their identifier), and one without any
    is the identity trap (``identity_trap=report`` fails the row, ``attach`` gives it the row's)."""
    external_id = record.get("external_id")
    theirs = contact.get("external_id")
    if not external_id or str(theirs or "") == str(external_id):
        return None
    if theirs not in (None, ""):
        return _another_user(theirs, external_id)
    return TRAP_MESSAGE if identity_trap == "report" else None


def _another_user(theirs: Any, ours: Any) -> str:
    return (
        f"the email belongs to an existing user whose external_id is {theirs!r}, not {ours!r}: "
        "correct the external_id or the email"
    )


def created_by_earlier_attempt(existing: Mapping[str, Any], ctx: ChunkContext) -> bool:
    """True when a redelivered chunk finds the contact its row describes created after the chunk's first
    delivery: no other row of this import has the identifier (duplicates are refused at validation), so
    the earlier attempt of this row created it. (Another system creating the same person in those minutes
    would be counted as this import's create; the contact is still updated once, never duplicated.)
    Intercom's ``created_at`` is in whole seconds, so the comparison is with the second of the first
    delivery: a contact made earlier in that same second by someone else is the one case it misreads."""
    if ctx.dry_run:
        return False
    return created_since(existing, ctx.redelivered_since)


def created_since(existing: Mapping[str, Any], since: float | None) -> bool:
    """Intercom created the contact at or after ``since`` (epoch seconds; None: never true). Its ``created_at``
    has whole seconds, so a contact of the same second counts (see ``created_by_earlier_attempt``)."""
    if since is None:
        return False
    created_at = existing.get("created_at")
    return isinstance(created_at, int | float) and created_at >= math.floor(since)
