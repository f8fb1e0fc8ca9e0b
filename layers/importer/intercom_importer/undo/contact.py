"""Undoing one change-log entry (``changelog.Change``) on the record it names. The contact is read first
(``GET``), and only what still holds the import's value is written back:

- a contact the import **created** is archived (never deleted) when every value it holds is still the one the
  import wrote; one with a value changed in Intercom since is left alone, each changed value reported (someone
  works with that contact now). A contact Intercom no longer shows (archived, deleted, merged: 404/410) is
  undone already;
- a contact the import **updated**: each field and custom attribute that holds the import's after value is put
  back to its before value (one ``PUT`` with all of them); one that holds its before value is restored already
  (a re-run after a crash finds it so, and writes nothing); one that holds anything else was changed in Intercom
  since the import and is left alone. ``role`` does not go back: Intercom refuses to turn a user into a lead. The
  company the import attached is detached, and each tag it added removed, while the contact shows them;
- a **company** row, or a row whose replaced values the import could not read (``before_known`` false), is left
  alone.

With ``dry_run`` nothing is written: the tally says what a real undo would do (``write_calls``: the calls it needs).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from intercom_importer.changelog import CONTACT, Change
from intercom_importer.errors import (
    IntercomConflictError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomValidationError,
)
from intercom_importer.intercom import IntercomClient
from intercom_importer.undo.records import Tally
from intercom_importer.undo.values import ROLE, held, quoted, restore_value, same
from intercom_importer.upsert.diff import CUSTOM, listed

CREATED = "created"

COMPANY_CREATED = (
    "a company this import created: the undo does not remove companies (deleting one in Intercom detaches all its "
    "contacts); delete it in Intercom if it should go"
)
COMPANY_UPDATED = (
    "a company this import updated: companies are written without reading them first, so the values the import "
    "replaced are not known"
)
BEFORE_UNKNOWN = (
    "the values this import replaced are not known (an attempt of the import that stopped wrote them before they "
    "were logged): check the contact in Intercom"
)
GONE = "the contact is no longer in Intercom (archived, deleted or merged since the import)"
ROLE_STAYS = "Intercom cannot turn a user back into a lead: the contact stays a user"
KEPT = "the contact this import created is kept, not archived"


def changed_since(current: Any, after: Any) -> str:
    return f"changed in Intercom since the import (now {quoted(current)}, the import wrote {quoted(after)})"


def refused(message: str) -> str:
    return f"Intercom refused to put it back: {message}"


class TagIds:
    """The Intercom id of each of the import's tags: from the change log, else looked up by name (``GET /tags``,
    once per undo; names are case-insensitive)."""

    def __init__(self, client: IntercomClient) -> None:
        self._client = client
        self._by_name: dict[str, str] | None = None
        self._lock = threading.Lock()  # entries are undone several at once: one lookup for all

    def id_of(self, name: str, known: str) -> str | None:
        if known:
            return known
        with self._lock:
            if self._by_name is None:
                self._by_name = {str(t.get("name") or "").casefold(): str(t["id"]) for t in self._client.list_tags()}
        return self._by_name.get(name.casefold())


def undo_change(client: IntercomClient, change: Change, *, tags: TagIds, dry_run: bool = False) -> Tally:
    """Undo what one row of the import changed (see the module's docstring); returns what that came to."""
    tally = Tally()
    if change.kind != CONTACT:
        tally.leave(
            change.line, change.intercom_id, None, COMPANY_CREATED if change.outcome == CREATED else COMPANY_UPDATED
        )
        return tally
    if not change.before_known:
        tally.leave(change.line, change.intercom_id, None, BEFORE_UNKNOWN)
        return tally
    try:
        contact = client.get_contact(change.intercom_id)
    except (IntercomNotFoundError, IntercomGoneError):
        if change.outcome == CREATED:
            tally.archived = tally.already_restored = 1
        else:
            tally.leave(change.line, change.intercom_id, None, GONE)
        return tally
    if change.outcome == CREATED:
        _archive_created(client, change, contact, tally, dry_run)
    else:
        _restore_updated(client, change, contact, tally, tags, dry_run)
    return tally


def _values(change: Change) -> list[tuple[str, str, bool, list[Any]]]:
    """The change's values as ``(label, name, custom, [before, after])``: fields, then custom attributes."""
    standard = [(name, name, False, pair) for name, pair in change.fields.items()]
    custom = [(f"{CUSTOM}.{name}", name, True, pair) for name, pair in change.custom_attributes.items()]
    return standard + custom


def _archive_created(
    client: IntercomClient, change: Change, contact: Mapping[str, Any], tally: Tally, dry_run: bool
) -> None:
    """Archive the contact the import created, unless a value it holds changed since."""
    changed = False
    for label, name, custom, (_, after) in _values(change):
        current = held(contact, name, custom=custom)
        if not same("" if custom else name, current, after):
            tally.leave(change.line, change.intercom_id, label, f"{changed_since(current, after)}: {KEPT}")
            changed = True
    if changed:
        return
    if not dry_run:
        client.archive_contact(change.intercom_id)
    tally.archived += 1
    tally.write_calls += 1


def _restore_updated(
    client: IntercomClient, change: Change, contact: Mapping[str, Any], tally: Tally, tags: TagIds, dry_run: bool
) -> None:
    """Put back the values, the company link and the tags of a contact the import updated."""
    restored_before = tally.restored
    body: dict[str, Any] = {}
    custom_body: dict[str, Any] = {}
    labels: list[str] = []
    for label, name, custom, (before, after) in _values(change):
        key = "" if custom else name
        current = held(contact, name, custom=custom)
        if same(key, current, before):
            tally.restored += 1
            tally.already_restored += 1
        elif name == ROLE and not custom:
            tally.leave(change.line, change.intercom_id, label, ROLE_STAYS)
        elif same(key, current, after):
            (custom_body if custom else body)[name] = restore_value(key, before)
            labels.append(label)
        else:
            tally.leave(change.line, change.intercom_id, label, changed_since(current, after))
    if custom_body:
        body[CUSTOM] = custom_body
    if body:
        _put_back(client, change, body, labels, tally, dry_run)
    if change.company:
        _detach(client, change, contact, tally, dry_run)
    for name, known in change.tags.items():
        _untag(client, change, contact, name, tags.id_of(name, known), tally, dry_run)
    if tally.restored > restored_before:
        tally.contacts_restored += 1


def _put_back(
    client: IntercomClient, change: Change, body: dict[str, Any], labels: list[str], tally: Tally, dry_run: bool
) -> None:
    """One ``PUT`` with every value to restore; a refusal leaves them alone with Intercom's reason."""
    tally.write_calls += 1
    if not dry_run:
        try:
            client.update_contact(change.intercom_id, body)
        except (IntercomConflictError, IntercomValidationError, IntercomNotFoundError, IntercomGoneError) as exc:
            for label in labels:
                tally.leave(change.line, change.intercom_id, label, refused(exc.message))
            return
    tally.restored += len(labels)


def _detach(client: IntercomClient, change: Change, contact: Mapping[str, Any], tally: Tally, dry_run: bool) -> None:
    """Detach the company the import attached, if the contact may still show it."""
    assert change.company is not None
    ids, complete = listed(contact, "companies")
    tally.restored += 1
    if complete and change.company not in ids:
        tally.already_restored += 1
        return
    tally.write_calls += 1
    if not dry_run:
        try:
            client.detach_contact_from_company(change.intercom_id, change.company)
        except IntercomNotFoundError:  # the company is gone: so is the link
            tally.already_restored += 1


def _untag(
    client: IntercomClient,
    change: Change,
    contact: Mapping[str, Any],
    name: str,
    tag_id: str | None,
    tally: Tally,
    dry_run: bool,
) -> None:
    """Remove one tag the import added, if the contact may still have it (a tag deleted since is gone from all)."""
    ids, complete = listed(contact, "tags")
    tally.restored += 1
    if tag_id is None or (complete and tag_id not in ids):
        tally.already_restored += 1
        return
    tally.write_calls += 1
    if not dry_run:
        try:
            client.untag_contact(change.intercom_id, tag_id)
        except IntercomNotFoundError:  # not on the contact (any more)
            tally.already_restored += 1
