"""The company endpoints of the client: upsert by ``company_id``, find, attach and detach a contact, list."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from intercom_importer.errors import IntercomNotFoundError
from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.pages import check_per_page
from intercom_importer.intercom.transport import Transport


class CompaniesAPI:
    """Company methods of :class:`~intercom_importer.intercom.client.IntercomClient` (mixed in: it holds the
    transport)."""

    _transport: Transport

    def upsert_company(self, body: Mapping[str, Any]) -> JSONDict:
        """``POST /companies``: create or update the company with ``body["company_id"]``.

        Returns the company; its ``id`` (Intercom's) is what :meth:`attach_contact_to_company` needs.
        Retried after ambiguous failures only when ``company_id`` is set (then it is an upsert).
        In 2.14 the description types company ``custom_attributes`` values as strings.
        """
        return self._transport.call("POST", "/companies", body=body, retry_ambiguous=bool(body.get("company_id")))

    def find_company(self, company_id: str) -> JSONDict | None:
        """``GET /companies?company_id=...``: the company with your ``company_id``, or ``None`` (404).

        The 2.14 description types the answer as a ``company_list``; Intercom has also been seen to
        return a single ``company`` (intercom-ruby #612): both shapes are accepted.
        """
        try:
            found = self._transport.call("GET", "/companies", params={"company_id": company_id})
        except IntercomNotFoundError:
            return None
        if found.get("type") == "list":
            data = found.get("data") or []
            return data[0] if data else None
        return found

    def attach_contact_to_company(self, contact_id: str, company_intercom_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/companies {"id": company_intercom_id}``; returns the company.

        ``company_intercom_id`` is Intercom's ``id`` of the company, not your ``company_id``
        (that gives ``IntercomNotFoundError``, code ``company_not_found``).
        """
        return self._transport.call(
            "POST",
            "/contacts/{contact_id}/companies",
            path={"contact_id": contact_id},
            body={"id": company_intercom_id},
        )

    def detach_contact_from_company(self, contact_id: str, company_intercom_id: str) -> JSONDict:
        """``DELETE /contacts/{contact_id}/companies/{company_id}``; returns the company.

        ``company_intercom_id`` is Intercom's ``id`` of the company, as for :meth:`attach_contact_to_company`.
        Raises ``IntercomNotFoundError`` for an unknown contact or company. Repeating it is harmless.
        """
        return self._transport.call(
            "DELETE",
            "/contacts/{contact_id}/companies/{company_id}",
            path={"contact_id": contact_id, "company_id": company_intercom_id},
        )

    def list_companies(self, per_page: int = 50) -> Iterator[JSONDict]:
        """``POST /companies/list``: yield every company that has at least one contact.

        Page-number pagination; Intercom stops at 10,000 companies (use the scroll API beyond).
        """
        check_per_page(per_page)
        page_number = 1
        while True:
            page = self._transport.call("POST", "/companies/list", params={"page": page_number, "per_page": per_page})
            data = page.get("data") or []
            yield from data
            pages = page.get("pages") or {}
            total_pages = pages.get("total_pages") if isinstance(pages, dict) else None
            if not data or not isinstance(total_pages, int) or page_number >= total_pages:
                return
            page_number += 1
