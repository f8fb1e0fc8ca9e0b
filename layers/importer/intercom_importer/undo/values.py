"""A contact's values as the undo reads and writes them: the value a field holds now, compared with the import's
before and after values exactly as the import's diff compared them (``upsert.diff.same_value``), and the value a
restore sends back.

- a standard field is read as the diff reads it (``shown``: an avatar by its ``image_url``, "" as empty), a custom
  attribute from ``custom_attributes``;
- ``unsubscribed_from_emails`` cleared (null) is stored by Intercom as ``false``: both are one value (``same_value``);
- ``email`` and ``external_id`` are strings that cannot be null in the 2.14 contract: an empty before value is
  restored as "" (which clears them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from intercom_importer.upsert.diff import CUSTOM, same_value, shown

NOT_NULLABLE = frozenset({"email", "external_id"})
"""Fields ``update_contact_request`` types as non-nullable strings: cleared with ""."""
ROLE = "role"
SHOWN_MAX = 60  # characters of a value quoted in a reason


def held(contact: Mapping[str, Any], name: str, *, custom: bool = False) -> Any:
    """The value ``contact`` (Intercom's answer to ``GET /contacts/{id}``) holds for a standard field or, with
    ``custom``, a custom attribute."""
    if custom:
        return (contact.get(CUSTOM) or {}).get(name)
    return shown(contact, name)


def same(name: str, current: Any, wanted: Any) -> bool:
    """Whether the value a contact holds is ``wanted`` (one of the import's before or after values)."""
    return same_value(current, wanted, name)


def restore_value(name: str, before: Any) -> Any:
    """The value ``PUT /contacts/{id}`` sends to put ``before`` back."""
    if before is None and name in NOT_NULLABLE:
        return ""
    return before


def quoted(value: Any) -> str:
    """A value as a reason quotes it: ``'Ada'``, ``12``, ``empty``; long text cut to ``SHOWN_MAX`` characters."""
    if isinstance(value, Mapping) and "image_url" in value:
        value = value.get("image_url")
    if value is None or value == "":
        return "empty"
    if isinstance(value, bool | int | float):
        return str(value).lower() if isinstance(value, bool) else str(value)
    text = str(value)
    return repr(text if len(text) <= SHOWN_MAX else text[: SHOWN_MAX - 1] + "…")
