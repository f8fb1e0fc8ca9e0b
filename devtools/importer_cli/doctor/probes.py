"""The probe contacts the doctor creates (leads, clearly named) and their deletion: every probe is remembered as
soon as Intercom answers its create, and :meth:`Probes.clean_up` deletes them all (``DELETE /contacts/{id}``), or
keeps them for ``--keep``, and says so in the ``probe cleanup`` check. A create whose answer was lost may have made
a probe nobody knows the id of: clean-up looks for it once by search and says how to find it if it stays hidden.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from importer_cli.doctor.model import FAILED, OK, WARNING, Check
from intercom_importer.errors import IntercomConnectionError, IntercomError, IntercomNotFoundError, IntercomServerError
from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.client import IntercomClient
from intercom_importer.intercom.connection import INTERCOM_VERSION

CLEANUP = "probe cleanup"
PROBE_NAME = "intercom-import doctor probe (safe to delete)"
PROBE_PREFIX = "intercom-import-doctor-"


def probe_email(tag: str) -> str:
    """A probe lead's e-mail: mixed case (the e-mail case check), under the reserved ``example.com``."""
    return f"Intercom-Import-Doctor-{tag}@Example.com"


def probe_tag() -> str:
    return secrets.token_hex(4)


@dataclass
class Probes:
    """The probe contacts of one doctor run."""

    client: IntercomClient
    created: list[str] = field(default_factory=list)
    """Ids of the probes Intercom answered for."""
    unanswered: list[dict[str, Any]] = field(default_factory=list)
    """Bodies of creates whose answer was lost (the lead may exist)."""

    def create_lead(self, body: dict[str, Any]) -> JSONDict:
        """``POST /contacts`` of a probe lead (never repeated: a repeat would make a second lead)."""
        try:
            contact = self.client.create_contact(body, retry_on_ambiguous=False)
        except (IntercomServerError, IntercomConnectionError):
            self.unanswered.append(body)
            raise
        if contact.get("id"):
            self.created.append(str(contact["id"]))
        return contact

    def clean_up(self, *, keep: bool) -> tuple[Check, list[str]]:
        """Delete every probe (unless ``keep``): the ``probe cleanup`` check, and the ids left in Intercom."""
        found = self._find_unanswered()
        if keep:
            return self._kept(), list(self.created)
        failures: dict[str, str] = {}
        for contact_id in self.created:
            try:
                self.client.delete_contact(contact_id)
            except IntercomNotFoundError:
                pass  # gone already
            except IntercomError as exc:
                failures[contact_id] = exc.message
        return self._deleted(failures, found), list(failures)

    def _find_unanswered(self) -> int:
        """Look once for the probes whose create got no answer; found ones join :attr:`created`."""
        found = 0
        for body in list(self.unanswered):
            key, value = ("email", body.get("email")) if body.get("email") else ("external_id", body.get("external_id"))
            try:
                hits = list(self.client.search_contacts({"field": key, "operator": "=", "value": value}))
            except IntercomError:
                continue
            for contact in hits:
                if contact.get("id") and contact.get("name") == PROBE_NAME and str(contact["id"]) not in self.created:
                    self.created.append(str(contact["id"]))
                    found += 1
            if hits:
                self.unanswered.remove(body)
        return found

    def _kept(self) -> Check:
        ids = ", ".join(self.created) or "none"
        return Check(
            CLEANUP,
            WARNING,
            f"kept {len(self.created)} probe contacts for inspection (--keep): {ids}",
            self._how_to_delete(self.created),
        )

    def _deleted(self, failures: dict[str, str], found: int) -> Check:
        deleted = len(self.created) - len(failures)
        if failures:
            said = "; ".join(f"{cid}: {message}" for cid, message in failures.items())
            return Check(
                CLEANUP,
                FAILED,
                f"deleted {deleted} probe contacts, not {len(failures)}: {said}",
                self._how_to_delete(failures),
            )
        if self.unanswered:
            keys = ", ".join(str(b.get("email") or b.get("external_id")) for b in self.unanswered)
            return Check(
                CLEANUP,
                FAILED,
                f"deleted {deleted} probe contacts; {len(self.unanswered)} probe creates got no answer and may have "
                f"made a lead search does not show yet ({keys})",
                f"in a few minutes, search Intercom's people for {PROBE_NAME!r} and delete what you find",
            )
        if not self.created:
            return Check(CLEANUP, OK, "no probe contact was created")
        again = f" ({found} found by search after a lost answer)" if found else ""
        return Check(CLEANUP, OK, f"deleted the {deleted} probe contacts (DELETE /contacts/{{id}}){again}")

    def _how_to_delete(self, ids: Any) -> str:
        base = self.client.base_url
        first = next(iter(ids), "ID")
        return (
            f"delete them in Intercom (people named {PROBE_NAME!r}), or with the API: curl -X DELETE "
            f"{base}/contacts/{first} -H 'Authorization: Bearer $INTERCOM_TOKEN' -H 'Intercom-Version: {INTERCOM_VERSION}'"
            + (" (and so on for each id)" if len(list(ids)) > 1 else "")
        )
