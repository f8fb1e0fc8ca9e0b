"""What a people row would change on the contact it is: each mapped value compared with the one Intercom holds
(as the chunk's search, or a lookup, showed it), by type; the company attachment and the tags the contact lacks.

Equality (``same_value``, shared with ``undo``):
- an empty cell, an empty string and an absent value are one (Intercom shows a cleared text as "" or null), and
  a cleared ``unsubscribed_from_emails`` is ``false`` (Intercom stores it so);
- emails compare case-insensitively (Intercom matches them so), phones by their digits (``normalise_phone``:
  Intercom may show a number formatted differently from how it was sent);
- numbers numerically (``10`` == ``10.0``), booleans only with booleans, dates as unix seconds (the coerced cell
  is already an integer), an avatar by its ``image_url``;
- anything else by its text.

An update sends only the changed values. A contact's embedded ``companies`` and ``tags`` lists show at most 10
entries (``has_more`` says when there are more): what they do not show is assumed missing and written again
(attaching and tagging are idempotent), but never logged as this import's change, so an undo never removes a
company or tag the contact may have had before.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intercom_importer.ledger import normalise_phone

CUSTOM = "custom_attributes"
CLEARED_IS_FALSE = frozenset({"unsubscribed_from_emails"})
"""Booleans Intercom stores as ``false`` when they are cleared: empty and false are one value."""


@dataclass
class ContactDiff:
    """The changes a row makes to a contact: ``fields`` (standard, and ``role``) and ``custom`` (custom
    attributes) as attribute -> [before, after]."""

    fields: dict[str, list[Any]] = field(default_factory=dict)
    custom: dict[str, list[Any]] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.fields or self.custom)

    def update_body(self) -> dict[str, Any]:
        """The ``PUT /contacts/{id}`` body: the changed values only."""
        body = {name: after for name, (_, after) in self.fields.items()}
        if self.custom:
            body[CUSTOM] = {name: after for name, (_, after) in self.custom.items()}
        return body


def same_value(before: Any, after: Any, attribute: str = "") -> bool:
    """Whether Intercom's ``before`` and the row's ``after`` are the same value of ``attribute``."""
    before, after = _plain(before), _plain(after)
    if attribute in CLEARED_IS_FALSE:  # Intercom stores a cleared one as false
        before, after = before or None, after or None
    if before is None or after is None:
        return before is None and after is None
    if attribute == "email":
        return str(before).casefold() == str(after).casefold()
    if attribute == "phone":
        return normalise_phone(str(before)) == normalise_phone(str(after))
    if isinstance(before, bool) or isinstance(after, bool):
        return isinstance(before, bool) and isinstance(after, bool) and before is after
    if isinstance(before, int | float) and isinstance(after, int | float):
        return float(before) == float(after)
    return str(before) == str(after)


def shown(contact: Mapping[str, Any], attribute: str) -> Any:
    """The value of a standard ``attribute`` as a contact shows it."""
    return _plain(contact.get(attribute))


def contact_diff(body: Mapping[str, Any], contact: Mapping[str, Any], *, role: str | None = None) -> ContactDiff:
    """The values of ``body`` (a row's contact body) that differ from ``contact``'s; ``role``: the role the row
    makes the contact (a lead imported as a user is converted)."""
    diff = ContactDiff()
    for name, after in body.items():
        if name == CUSTOM:
            held = contact.get(CUSTOM) or {}
            for attribute, value in after.items():
                if not same_value(held.get(attribute), value):
                    diff.custom[attribute] = [_plain(held.get(attribute)), value]
        elif not same_value(contact.get(name), after, name):
            diff.fields[name] = [shown(contact, name), after]
    if role == "user" and contact.get("role") == "lead":
        diff.fields["role"] = ["lead", "user"]
    return diff


def listed(contact: Mapping[str, Any], embedded: str) -> tuple[set[str], bool]:
    """The Intercom ids a contact's embedded list (``companies`` or ``tags``) shows, and whether that is all of
    them. A contact without the list (only its id is known) shows nothing, and not all."""
    data = contact.get(embedded)
    if not isinstance(data, Mapping):
        return set(), False
    ids = {str(item.get("id")) for item in data.get("data") or [] if isinstance(item, Mapping)}
    return ids, not data.get("has_more")


def missing_tags(contact: Mapping[str, Any], tags: Sequence[str], tag_ids: Mapping[str, str]) -> tuple[list, list]:
    """Of the import's ``tags``: those the contact is to be tagged with (not shown on it), and of those, the ones
    it surely lacked (its list is complete and the tag's id known): only these are this import's change."""
    ids, complete = listed(contact, "tags")
    to_tag = [t for t in tags if not (tag_ids.get(t) and tag_ids[t] in ids)]
    lacked = [t for t in to_tag if complete and tag_ids.get(t)]
    return to_tag, lacked


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping) and "image_url" in value:  # the avatar object
        value = value.get("image_url")
    if value == "":
        return None
    return value
