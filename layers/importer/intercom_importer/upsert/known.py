"""What a chunk knows of the contacts its rows may be, before it decides create or update: one Intercom search
(emails, external_ids, and the phones of rows with neither) and the identity ledger (``ledger.py``), which
remembers the contacts this importer wrote that the search may not show yet (Intercom's search lags behind a
create by minutes), and those it updated: a contact the search shows from before such an update is read again
(``STALE``). And, once a row is written, the ledger entries that remember it.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from intercom_importer.errors import IntercomGoneError, IntercomNotFoundError
from intercom_importer.intercom import IntercomClient
from intercom_importer.ledger import IdentityLedger, LedgerEntry, identity_keys, normalise_name, normalise_phone
from intercom_importer.upsert.records import CREATED, FAILED, RowResult


def is_anonymous(record: Mapping[str, Any]) -> bool:
    """The row names no contact Intercom can match: no email, no external_id, no id."""
    return not (record.get("email") or record.get("external_id") or record.get("id"))


def phone_key(record: Mapping[str, Any]) -> str | None:
    """How a lead known only by phone and name is recognised (None: the row lacks one of them)."""
    phone, name = record.get("phone"), record.get("name")
    if not (phone and name and normalise_phone(str(phone))):
        return None
    return f"{normalise_phone(str(phone))}|{normalise_name(str(name))}"


def searched(records: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the chunk's search is made: some row has an email or external_id, or is a lead with a phone."""
    return any(r.get("email") or r.get("external_id") or (is_anonymous(r) and r.get("phone")) for r in records)


@dataclass
class Known:
    """The contacts a chunk's rows may be: by external_id, by email (lower-cased; a lead and a user may share
    one), and by phone and name for rows with neither. Contacts only the ledger knows carry ``from_ledger``."""

    by_external: dict[str, dict[str, Any]] = field(default_factory=dict)
    by_email: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    by_phone: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    found: list[dict[str, Any]] = field(default_factory=list)  # what the search returned
    claims: dict[str, LedgerEntry] = field(default_factory=dict)  # key -> a lead create with no recorded outcome
    _taken: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, contact: dict[str, Any]) -> None:
        if contact.get("external_id"):
            self.by_external.setdefault(str(contact["external_id"]), contact)
        if contact.get("email"):
            same = self.by_email.setdefault(str(contact["email"]).lower(), [])
            if all(c.get("id") != contact.get("id") for c in same):
                same.append(contact)
        unmatchable = not (contact.get("email") or contact.get("external_id"))  # by anything but phone and name
        key = phone_key(contact) if contact.get("role") == "lead" and unmatchable else None
        if key:
            same = self.by_phone.setdefault(key, [])
            if all(c.get("id") != contact.get("id") for c in same):
                same.append(contact)

    def take_lead(self, record: Mapping[str, Any], since: float | None = None) -> dict[str, Any] | None:
        """The lead a row known only by phone and name is: the oldest with the same phone and name that no other
        row of the chunk took (two such rows are two leads: each takes its own, or the second is created). For a
        row set aside ``since`` its create was sent, a lead created since then comes first: it is that create's."""
        key = phone_key(record)
        floor = math.floor(since) if since is not None else None

        def order(c: Mapping[str, Any]) -> tuple[bool, int, str]:
            created = int(c.get("created_at") or 0)
            return (floor is None or created < floor, created, str(c["id"]))

        leads = sorted(self.by_phone.get(key, []) if key else [], key=order)
        with self._lock:
            for lead in leads:
                if str(lead["id"]) not in self._taken:
                    self._taken.add(str(lead["id"]))
                    return lead
        return None

    def drop_gone(self, client: IntercomClient, record: Mapping[str, Any], ledger: IdentityLedger | None) -> bool:
        """Look up the contacts only the ledger knows under the row's email and external_id (one ``GET`` each):
        those Intercom no longer knows (deleted, merged away) are dropped here and forgotten by the ledger. True
        when one was: the row's decision is to be made again without it."""
        email, external_id = str(record.get("email") or "").lower(), str(record.get("external_id") or "")
        suspects = [c for c in self.by_email.get(email, []) if c.get("from_ledger")]
        if external_id and self.by_external.get(external_id, {}).get("from_ledger"):
            suspects.append(self.by_external[external_id])
        gone = {str(c["id"]) for c in suspects if not _exists(client, str(c["id"]))}
        for contact_id in gone:
            if ledger is not None:
                ledger.forget([k for c in suspects if str(c["id"]) == contact_id for k in identity_keys(c)], contact_id)
            with self._lock:
                self.by_email = {k: [c for c in v if str(c["id"]) != contact_id] for k, v in self.by_email.items()}
                self.by_external = {k: c for k, c in self.by_external.items() if str(c["id"]) != contact_id}
        return bool(gone)

    def claim_of(self, record: Mapping[str, Any]) -> LedgerEntry | None:
        """The earliest claim on the row's identifiers: a lead's create sent for them whose outcome is not known."""
        claims = [self.claims[k] for k in identity_keys(record) if k in self.claims]
        return min(claims, key=lambda c: c.claimed_at or 0.0) if claims else None

    def shows(self, key: str, contact_id: str) -> bool:
        """The chunk's search already showed ``contact_id`` under the ledger key ``key`` (and no claim waits on it):
        a later search will show it too, so the ledger need not remember it."""
        if key in self.claims:
            return False
        kind, _, value = key.partition(":")
        if kind == "external_id":
            found = [self.by_external.get(value)]
        elif kind == "email":
            found = list(self.by_email.get(value, []))
        else:
            found = list(self.by_phone.get(value, []))
        return any(c is not None and str(c.get("id")) == contact_id and not c.get("from_ledger") for c in found)

    def take(self, contact: Mapping[str, Any]) -> None:
        """``contact`` is taken by a row (another row looking for a lead by phone and name passes it over)."""
        with self._lock:
            self._taken.add(str(contact["id"]))


def learn(client: IntercomClient, records: Sequence[Mapping[str, Any]], ledger: IdentityLedger | None) -> Known:
    """One search for the chunk's identifiers, then the ledger's entries for what the search did not show."""
    known = Known()
    if searched(records):
        found = client.search_by_identifiers(
            [r["email"] for r in records if r.get("email")],
            [r["external_id"] for r in records if r.get("external_id")],
            phones=[r["phone"] for r in records if is_anonymous(r) and r.get("phone")],
        )
        known.found = found
        for contact in found:
            known.add(contact)
    if ledger is not None:
        shown = {str(c.get("id")): c for c in _all(known)}
        for entry in ledger.find(key for r in records for key in identity_keys(r)).values():
            if entry.pending:
                known.claims[entry.key] = entry
            elif entry.contact_id not in shown:
                known.add(_ledger_contact(entry))
            elif _before_note(shown[entry.contact_id], entry):
                shown[entry.contact_id][STALE] = True  # search shows it from before this importer's update
    return known


STALE = "stale_in_search"
"""Marks a contact the search showed from before this importer's last update of it (noted in the ledger): its values
may be older than Intercom's, so it is read (``GET``) before the row is compared with it."""


def _before_note(contact: Mapping[str, Any], entry: LedgerEntry) -> bool:
    """Whether search shows ``contact`` from before the update ``entry`` notes: an older ``updated_at``, or, within
    the same second (Intercom's ``updated_at`` counts seconds: a contact created and updated in one second shows one
    time for both), values other than those the update sent."""
    if entry.written_at is None:
        return False
    shown_at = int(contact.get("updated_at") or 0)
    if shown_at != entry.written_at:
        return shown_at < entry.written_at
    return entry.written_values is not None and not shows_written(contact, entry.written_values)


def written_values(body: Mapping[str, Any]) -> str:
    """What an update sent (its ``PUT`` body), as the ledger notes it: each field (a custom attribute as
    ``custom_attributes.<name>``) with its value, in one JSON text."""
    flat = {name: value for name, value in body.items() if name != "custom_attributes"}
    flat.update({f"custom_attributes.{name}": value for name, value in (body.get("custom_attributes") or {}).items()})
    return json.dumps(flat, sort_keys=True, separators=(",", ":"), default=str)


def shows_written(contact: Mapping[str, Any], noted: str) -> bool:
    """Whether ``contact`` holds every value of the update ``noted`` (:func:`written_values`). A value Intercom
    stores otherwise than it was sent reads as not shown: the contact is read once more, never taken as current."""
    try:
        written = json.loads(noted)
    except ValueError:
        return False
    custom = contact.get("custom_attributes") or {}
    for path, value in written.items():
        name = path.removeprefix("custom_attributes.")
        if (custom.get(name) if name != path else contact.get(path)) != value:
            return False
    return True


def remember(
    ledger: IdentityLedger,
    record: Mapping[str, Any],
    role: str,
    result: RowResult,
    job_id: str,
    known: Known | None = None,
    clock: Callable[[], float] = time.time,
) -> None:
    """Write the row's identifiers with its contact (a failed row or one without a contact writes nothing), but
    not those under which the chunk's search (``known``) already showed that contact; on those, a row that updated
    the contact only notes its update (``IdentityLedger.note_written``), for a later search that may show the
    contact from before it."""
    if result.outcome == FAILED or not result.contact_id:
        return
    contact_id = result.contact_id
    email, external_id = record.get("email"), record.get("external_id")

    def entry(key: str, created_at: int | None = None) -> LedgerEntry:
        return LedgerEntry(
            key,
            contact_id,
            role,
            email=str(email) if email else None,
            external_id=str(external_id) if external_id else None,
            created_at=created_at,
            job_id=job_id,
            written_at=result.written_at,
            written_values=result.written_values,
        )

    keys = identity_keys(record)
    shown = {k for k in keys if known is not None and known.shows(k, contact_id)}
    if result.written_at is not None:
        for key in sorted(shown):
            ledger.note_written(entry(key))
    if len(shown) < len(keys):
        created_at = int(clock()) if result.outcome == CREATED else None
        ledger.record(entry(key, created_at) for key in keys if key not in shown)


def _exists(client: IntercomClient, contact_id: str) -> bool:
    try:
        client.get_contact(contact_id)
    except (IntercomNotFoundError, IntercomGoneError):
        return False
    return True


def _ledger_contact(entry: LedgerEntry) -> dict[str, Any]:
    contact = entry.as_contact()
    if entry.key.startswith("phone:"):  # the lead's phone and name are those of its key
        phone, _, name = entry.key.removeprefix("phone:").partition("|")
        contact.update(phone=phone, name=name)
    return contact


def _all(known: Known) -> list[dict[str, Any]]:
    return [
        *known.by_external.values(),
        *(c for same in known.by_email.values() for c in same),
        *(c for same in known.by_phone.values() for c in same),
    ]
