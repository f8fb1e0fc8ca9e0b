"""The contact endpoints of the client: create, update, get, find by external_id, archive, delete, and the
searches and listings (every page), including the batched search by emails and external_ids."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from intercom_importer.errors import IntercomNotFoundError
from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.pages import MAX_PER_PAGE, check_per_page, next_cursor
from intercom_importer.intercom.transport import Transport
from intercom_importer.sequences import batched, unique

MAX_IN_VALUES = 100
"""Values per ``IN`` filter (Intercom documents no maximum; 100 is the brief's safe chunk)."""
MAX_FILTERS_PER_GROUP = 15
"""Filters per AND/OR group (documented limit)."""


class ContactsAPI:
    """Contact methods of :class:`~intercom_importer.intercom.client.IntercomClient` (mixed in: it holds the
    transport)."""

    _transport: Transport

    def create_contact(self, body: Mapping[str, Any], *, retry_on_ambiguous: bool | None = None) -> JSONDict:
        """``POST /contacts``: create a user or a lead; returns the contact.

        ``retry_on_ambiguous`` says whether the create may be repeated after a 5xx, a read timeout or
        a connection reset, i.e. when it may already have succeeded. The default (``None``) decides
        by role: **users** are retried (a duplicate user is refused with a 409 that carries the id),
        **leads** are not (Intercom does not deduplicate leads, a repeat would create a second
        one). When not retried, such a failure raises ``IntercomServerError`` or
        ``IntercomConnectionError`` at once: the outcome is unknown, search before creating again.
        429 and failures to connect are always retried: the request was not processed.

        Raises ``IntercomConflictError`` (409) with ``existing_id`` and ``archived`` for an existing
        user, and ``IntercomValidationError`` for a refused value.
        """
        if retry_on_ambiguous is None:
            retry_on_ambiguous = body.get("role", "user") != "lead"
        return self._transport.call("POST", "/contacts", body=body, retry_ambiguous=retry_on_ambiguous)

    def update_contact(self, contact_id: str, body: Mapping[str, Any]) -> JSONDict:
        """``PUT /contacts/{contact_id}``: partial update; returns the contact.

        Raises ``IntercomNotFoundError`` (also for a contact merged away), ``IntercomConflictError`` when
        the new email/external_id belongs to another user.
        """
        return self._transport.call("PUT", "/contacts/{contact_id}", path={"contact_id": contact_id}, body=body)

    def get_contact(self, contact_id: str) -> JSONDict:
        """``GET /contacts/{contact_id}``. Raises ``IntercomNotFoundError``/``IntercomGoneError`` (merged)."""
        return self._transport.call("GET", "/contacts/{contact_id}", path={"contact_id": contact_id})

    def find_contact_by_external_id(self, external_id: str) -> JSONDict | None:
        """``GET /contacts/find_by_external_id/{external_id}``: the user, or ``None`` on 404.

        Users only (Intercom does not look up leads this way); not subject to search lag.
        """
        try:
            return self._transport.call(
                "GET",
                "/contacts/find_by_external_id/{external_id}",
                path={"external_id": external_id},
                expected=(404,),
            )
        except IntercomNotFoundError:
            return None

    def search_contacts(self, query: Mapping[str, Any], *, per_page: int = MAX_PER_PAGE) -> Iterator[JSONDict]:
        """``POST /contacts/search``: yield every matching contact, page after page.

        ``query`` is a single filter ``{field, operator, value}`` or a group
        ``{operator: "AND"|"OR", value: [filters]}``. Pages are followed through
        ``pages.next.starting_after``, sent back *in the body* (``pagination.starting_after``).
        Recently created contacts may be missing for a few minutes (Intercom's indexing lag).
        """
        pagination: JSONDict = {"per_page": check_per_page(per_page)}
        seen: set[str] = set()
        while True:
            page = self._transport.call("POST", "/contacts/search", body={"query": query, "pagination": pagination})
            yield from page.get("data") or []
            cursor = next_cursor(page, seen)
            if cursor is None:
                return
            pagination = {"per_page": per_page, "starting_after": cursor}

    def list_contacts(self, per_page: int = MAX_PER_PAGE) -> Iterator[JSONDict]:
        """``GET /contacts``: yield every contact (cursor pagination in the query string)."""
        params: JSONDict = {"per_page": check_per_page(per_page)}
        seen: set[str] = set()
        while True:
            page = self._transport.call("GET", "/contacts", params=params)
            yield from page.get("data") or []
            cursor = next_cursor(page, seen)
            if cursor is None:
                return
            params = {"per_page": per_page, "starting_after": cursor}

    def archive_contact(self, contact_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/archive``; returns ``{type, id, external_id, archived}``."""
        return self._transport.call("POST", "/contacts/{contact_id}/archive", path={"contact_id": contact_id})

    def delete_contact(self, contact_id: str) -> JSONDict:
        """``DELETE /contacts/{contact_id}``: gone for good (not archived); returns ``{type, id, external_id, deleted}``.

        Raises ``IntercomNotFoundError`` when no such contact exists (already deleted, or merged away)."""
        return self._transport.call(
            "DELETE", "/contacts/{contact_id}", path={"contact_id": contact_id}, expected=(404,)
        )

    def unarchive_contact(self, contact_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/unarchive`` (restores a contact behind an "archived" 409)."""
        return self._transport.call("POST", "/contacts/{contact_id}/unarchive", path={"contact_id": contact_id})

    def search_by_identifiers(
        self,
        emails: Iterable[str],
        external_ids: Iterable[str],
        *,
        phones: Iterable[str] = (),
        per_page: int = MAX_PER_PAGE,
        max_in_values: int = MAX_IN_VALUES,
        max_filters: int = MAX_FILTERS_PER_GROUP,
    ) -> list[JSONDict]:
        """Every contact whose email, external_id or phone is one of the given ones, each contact once.

        Emails are trimmed and lower-cased (compare case-insensitively on your side too). The values
        are split into ``IN`` filters of at most ``max_in_values`` values, combined in ``OR`` groups
        of at most ``max_filters`` filters, one search (all its pages) per group. One email can match
        several contacts (a lead and a user, duplicate leads): all are returned. Phones are searched as given
        (Intercom stores a phone as it was written).
        """
        wanted_emails = unique(e.strip().lower() for e in emails if e and e.strip())
        wanted_ids = unique(str(x) for x in external_ids if x is not None and str(x) != "")
        filters = [
            {"field": "email", "operator": "IN", "value": chunk} for chunk in batched(wanted_emails, max_in_values)
        ] + [{"field": "external_id", "operator": "IN", "value": chunk} for chunk in batched(wanted_ids, max_in_values)]
        wanted_phones = unique(str(p) for p in phones if p and str(p).strip())
        filters += [
            {"field": "phone", "operator": "IN", "value": chunk} for chunk in batched(wanted_phones, max_in_values)
        ]
        found: dict[str, JSONDict] = {}
        anonymous: list[JSONDict] = []
        for group in batched(filters, max_filters):
            query = group[0] if len(group) == 1 else {"operator": "OR", "value": group}
            for contact in self.search_contacts(query, per_page=per_page):
                contact_id = contact.get("id")
                if contact_id is None:
                    anonymous.append(contact)
                else:
                    found.setdefault(str(contact_id), contact)
        return [*found.values(), *anonymous]
