"""In-file duplicate detection: which columns identify a row, the key an identifier is compared by, and a
block of rows checked against every identifier seen earlier in the file (``seen.SeenKeys``, checkpointed)."""

from __future__ import annotations

from typing import Any

from intercom_importer.csv_reader import Row
from intercom_importer.ledger import identity_keys
from intercom_importer.mapping import PEOPLE, Column
from intercom_importer.schema import Problem
from intercom_importer.seen import SeenKeys

Checked = tuple[Row, dict[str, Any] | None, list[Problem]]  # a row, its record (None if invalid), its problems


def identity_columns(columns: list[Column], import_type: str) -> dict[str, str]:
    """Identifier targets present in the file -> their column header. A people file with phone and name columns
    also identifies a row with neither email, external_id nor id by its phone and name (``PHONE_AND_NAME``)."""
    wanted = ("email", "external_id", "id") if import_type == PEOPLE else ("company_id",)
    found = {c.target: c.header for c in columns if c.target in wanted}
    headers = {c.target: c.header for c in columns}
    if import_type == PEOPLE and "phone" in headers and "name" in headers:
        found[PHONE_AND_NAME] = f"{headers['phone']} and {headers['name']}"
    return found


def identity_key(target: str, value: Any) -> str:
    """The duplicate-detection key of an identifier (the format of the checkpointed database):
    ``target NUL value``, trimmed; only emails are compared case-insensitively (Intercom matches
    emails case-insensitively, ``external_id``, ``id`` and ``company_id`` exactly)."""
    text = str(value).strip()
    return f"{target}\0{text.lower() if target == 'email' else text}"


PHONE_AND_NAME = "phone_and_name"
"""The pseudo-target of a lead known only by its phone and name (the identity ledger's key for it)."""


def _identifier(record: dict[str, Any], target: str) -> Any:
    if target != PHONE_AND_NAME:
        return record.get(target)
    if record.get("email") or record.get("external_id") or record.get("id"):
        return None
    key = identity_keys(record)
    return key[0].removeprefix("phone:") if key else None


def find_duplicates(seen: SeenKeys, checked: list[Checked], identity: dict[str, str]) -> dict[int, list[Problem]]:
    """Rows of the block whose identifier appeared earlier in the file -> their problems."""
    if not identity:
        return {}
    entries = []
    for row, record, problems in checked:
        if record is None or problems:
            continue
        for target in identity:
            value = _identifier(record, target)
            if value is not None:
                entries.append((row.line, identity_key(target, value)))
    found: dict[int, list[Problem]] = {}
    for line, key, first in seen.check_block(entries):
        target, _, value = key.partition("\0")
        what = "phone and name" if target == PHONE_AND_NAME else target
        found.setdefault(line, []).append(
            Problem(
                line,
                identity[target],
                value[:80],
                # the line of the first occurrence after the first ':' so that every duplicate is one kind
                f"duplicates an earlier row's {what}: the same {what} as line {first}; a contact or company "
                "may appear once per file: merge the two rows",
            )
        )
    return found
