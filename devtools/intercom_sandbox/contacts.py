"""Contacts: create, update, find, list, search, archive and delete (users unique on e-mail and external_id)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from intercom_sandbox.contact_json import contact_json, contact_list
from intercom_sandbox.errors import ApiError, contact_not_found, invalid
from intercom_sandbox.models import ADMIN_ID, Contact, Json, new_object_id
from intercom_sandbox.parsing import CONTACT_FIELDS, check_fields, cursor_page, json_object, parse_per_page
from intercom_sandbox.search import compile_query, index_candidates
from intercom_sandbox.store import WorkspaceStore

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CONTACT_ROLES = ("user", "lead")


class ContactRules(WorkspaceStore):
    """Intercom's rules for contacts (see ``state.py``)."""

    def create_contact(self, body: object, *, email_conflicts: bool = True) -> Json:
        """``POST /contacts``. ``email_conflicts=False``: a user create that sends an external_id conflicts
        only on it (Intercom matches by e-mail only when no external_id is sent; ``SandboxConfig.email_conflicts``)."""
        data = json_object(body)
        with self._lock:
            check_fields(data, CONTACT_FIELDS)
            values = self._contact_values(data)
            role = values.get("role") or "user"
            if role not in _CONTACT_ROLES:
                raise invalid("role must be either user or lead", "role")
            email, external_id = values.get("email"), values.get("external_id")
            if role == "user":
                if not email and not external_id:
                    raise invalid("A user needs an email or an external_id", "email")
                matched_email = email if email_conflicts or not external_id else None
                self._raise_on_conflict(matched_email, external_id, exclude=None)
            now, now_s = self._now()
            contact = Contact(
                id=new_object_id(now),
                seq=self._next_seq(),
                role=role,
                created_at=now_s,
                created_clock=now,
                updated_at=now_s,
            )
            self._apply_contact(contact, values)
            self._contacts[contact.id] = contact
            return contact_json(contact, single=True)

    def update_contact(self, contact_id: str, body: object, keep_shown_for: float = 0.0) -> Json:
        """``PUT /contacts/{contact_id}``: partial update; ``custom_attributes`` merged per key. ``keep_shown_for``:
        the search update lag: the contact as search showed it before is kept that long (``Contact.shown``)."""
        data = json_object(body)
        with self._lock:
            contact = self._live_contact(contact_id, contact_not_found)
            if keep_shown_for > 0:
                contact.remember_shown(contact_json(contact), self._clock(), keep_shown_for)
            check_fields(data, CONTACT_FIELDS)
            values = self._contact_values(data)
            role = values.get("role", contact.role)
            if role not in _CONTACT_ROLES:
                raise invalid("role must be either user or lead", "role")
            if contact.role == "user" and role == "lead":
                raise ApiError(400, "client_error", "Contact with user role can't be converted to a lead")
            email = values.get("email", contact.email)
            external_id = values.get("external_id", contact.external_id)
            if role == "user":
                if not email and not external_id:
                    raise invalid("A user needs an email or an external_id", "email")
                self._raise_on_conflict(email, external_id, exclude=contact.id)
            values["role"] = role
            self._apply_contact(contact, values)
            contact.updated_at = self._now()[1]
            return contact_json(contact, single=True)

    def _contact_values(self, data: Json) -> Json:
        """Validated, normalised field values of a create/update body."""
        values = dict(data)
        if "email" in values:
            email = (values["email"] or "").strip() or None
            if email is not None and not _EMAIL_RE.match(email):
                raise invalid(f"{email} is not a valid email address", "email")
            values["email"] = email
        if "external_id" in values:
            values["external_id"] = values["external_id"] or None
        owner = values.get("owner_id")
        if owner is not None and str(owner) != ADMIN_ID:
            raise invalid("The owner specified is not a member of the workspace", "owner_id")
        if "custom_attributes" in values:
            values["custom_attributes"] = self.attributes.check_values("contact", values["custom_attributes"])
        if values.get("unsubscribed_from_emails", False) is None:
            values["unsubscribed_from_emails"] = False
        return values

    def _raise_on_conflict(self, email: str | None, external_id: str | None, exclude: str | None) -> None:
        for holder_ids in (
            self._by_external_id.get(external_id, set()) if external_id else set(),
            self._by_email.get(email.lower(), set()) if email else set(),
        ):
            for holder_id in holder_ids:
                holder = self._contacts[holder_id]
                if holder.role == "user" and holder.id != exclude:
                    article = "An archived contact" if holder.archived else "A contact"
                    raise ApiError(
                        409,
                        "conflict",
                        f"{article} matching those details already exists with id={holder.id}",
                    )

    def _apply_contact(self, contact: Contact, values: Json) -> None:
        self._unindex(contact)
        for key, value in values.items():
            if key == "custom_attributes":
                for attr_name, attr_value in value.items():
                    if attr_value is None:
                        contact.custom_attributes.pop(attr_name, None)
                    else:
                        contact.custom_attributes[attr_name] = attr_value
            else:
                setattr(contact, key, value)
        self._index(contact)

    def _index(self, contact: Contact) -> None:
        if contact.email:
            self._by_email.setdefault(contact.email.lower(), set()).add(contact.id)
        if contact.external_id:
            self._by_external_id.setdefault(contact.external_id, set()).add(contact.id)

    def _unindex(self, contact: Contact) -> None:
        for index, key in (
            (self._by_email, contact.email.lower() if contact.email else None),
            (self._by_external_id, contact.external_id),
        ):
            if key and key in index:
                index[key].discard(contact.id)
                if not index[key]:
                    del index[key]

    def get_contact(self, contact_id: str) -> Json:
        """``GET /contacts/{contact_id}``."""
        with self._lock:
            return contact_json(self._live_contact(contact_id, contact_not_found), single=True)

    def find_by_external_id(self, external_id: str) -> Json:
        """``GET /contacts/find_by_external_id/{external_id}``: users only."""
        with self._lock:
            for contact_id in sorted(self._by_external_id.get(external_id, ())):
                contact = self._contacts[contact_id]
                if contact.role == "user" and not contact.archived:
                    return contact_json(contact, single=True)
            raise contact_not_found()

    def list_contacts(self, query: dict[str, str]) -> Json:
        """``GET /contacts`` with ``per_page`` and ``starting_after`` in the query string."""
        per_page = parse_per_page(query.get("per_page"))
        with self._lock:
            live = [c for c in self._contacts.values() if not c.archived]
            chunk, pages = cursor_page(live, per_page, query.get("starting_after"))
            return contact_list(chunk, pages, len(live))

    def search_contacts(self, body: object, lag_seconds: float = 0.0, update_lag_seconds: float = 0.0) -> Json:
        """``POST /contacts/search``; pagination is read from the body only (as Intercom does)."""
        data = json_object(body)
        if "query" not in data:
            raise invalid("query is required", "query")
        pagination = data.get("pagination") or {}
        if not isinstance(pagination, dict):
            raise invalid("pagination must be an object", "pagination")
        per_page = parse_per_page(pagination.get("per_page"))
        starting_after = pagination.get("starting_after")
        if starting_after is not None and not isinstance(starting_after, str):
            raise invalid("starting_after must be a string", "starting_after")
        with self._lock:
            predicate = compile_query(data["query"], self._custom_type("contact"))
            candidates = index_candidates(data["query"], self._lookup)
            pool: Iterable[Contact]
            if candidates is None:
                pool = self._contacts.values()
            else:
                pool = sorted((self._contacts[i] for i in candidates), key=lambda c: c.seq)
            visible_before = self._clock() - lag_seconds
            matches = [
                c
                for c in pool
                if not c.archived and (lag_seconds <= 0 or c.created_clock <= visible_before) and predicate(c)
            ]
            chunk, pages = cursor_page(matches, per_page, starting_after)
            shown_at = self._clock() - update_lag_seconds
            return contact_list(chunk, pages, len(matches), shown=lambda c: c.shown_as_of(shown_at))

    def _lookup(self, name: str, keys: set[str]) -> set[str]:
        if name == "id":
            return {k for k in keys if k in self._contacts}
        index = self._by_email if name == "email" else self._by_external_id
        found: set[str] = set()
        for key in keys:
            found |= index.get(key, set())
        return found

    def _custom_type(self, model: str) -> Callable[[str], str | None]:
        def lookup(name: str) -> str | None:
            attr = self.attributes.custom(model, name)
            return None if attr is None else attr.data_type

        return lookup

    def archive_contact(self, contact_id: str) -> Json:
        """``POST /contacts/{contact_id}/archive``."""
        with self._lock:
            contact = self._contacts.get(contact_id)
            if contact is None:
                raise contact_not_found()
            contact.archived = True
            return contact.reference(archived=True)

    def unarchive_contact(self, contact_id: str) -> Json:
        """``POST /contacts/{contact_id}/unarchive``."""
        with self._lock:
            contact = self._contacts.get(contact_id)
            if contact is None:
                raise contact_not_found()
            contact.archived = False
            return contact.reference(archived=False)

    def delete_contact(self, contact_id: str) -> Json:
        """``DELETE /contacts/{contact_id}``: gone for good, detached from companies."""
        with self._lock:
            contact = self._contacts.pop(contact_id, None)
            if contact is None:
                raise contact_not_found()
            self._unindex(contact)
            for company_id in contact.companies:
                self._companies[company_id].contacts.pop(contact.id, None)
            return contact.reference(deleted=True)
