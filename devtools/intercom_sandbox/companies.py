"""Companies: upsert on ``company_id``, list, retrieve, and attach to or detach from contacts."""

from __future__ import annotations

import math

from intercom_sandbox.contact_json import contact_list
from intercom_sandbox.errors import ApiError, company_not_found, invalid, user_not_found
from intercom_sandbox.models import (
    ALL_COMPANIES_PER_PAGE,
    DEFAULT_COMPANY_PER_PAGE,
    MAX_COMPANIES_PER_CONTACT,
    MAX_MONTHLY_SPEND,
    WORKSPACE_ID,
    Company,
    Json,
    new_object_id,
)
from intercom_sandbox.parsing import COMPANY_FIELDS, check_fields, cursor_page, json_object, parse_page, parse_per_page
from intercom_sandbox.store import WorkspaceStore


class CompanyRules(WorkspaceStore):
    """Intercom's rules for companies (see ``state.py``)."""

    def upsert_company(self, body: object) -> Json:
        """``POST /companies``: create, or update the company with this ``company_id``."""
        data = json_object(body)
        with self._lock:
            check_fields(data, COMPANY_FIELDS)
            company_id = data.get("company_id")
            if not company_id:
                raise invalid("company_id is required", "company_id")
            values = dict(data)
            if "custom_attributes" in values:
                values["custom_attributes"] = self.attributes.check_values("company", values["custom_attributes"])
            if values.get("monthly_spend") is not None:
                spend = int(values["monthly_spend"])  # Intercom truncates 155.98 to 155
                if not 0 <= spend <= MAX_MONTHLY_SPEND:
                    raise invalid(f"monthly_spend must be between 0 and {MAX_MONTHLY_SPEND}", "monthly_spend")
                values["monthly_spend"] = spend
            elif "monthly_spend" in values:
                values["monthly_spend"] = 0
            now, now_s = self._now()
            existing = self._by_company_id.get(company_id)
            if existing is None:
                company = Company(
                    id=new_object_id(now),
                    seq=self._next_seq(),
                    company_id=company_id,
                    created_at=now_s,
                    updated_at=now_s,
                )
                self._companies[company.id] = company
                self._by_company_id[company_id] = company.id
            else:
                company = self._companies[existing]
                company.updated_at = now_s
            for key, value in values.items():
                if key == "custom_attributes":
                    for attr_name, attr_value in value.items():
                        if attr_value is None:
                            company.custom_attributes.pop(attr_name, None)
                        else:
                            company.custom_attributes[attr_name] = attr_value
                elif key != "company_id":
                    setattr(company, key, value)
            return self._company_json(company)

    def list_companies(self, query: dict[str, str]) -> Json:
        """``GET /companies``: ``?company_id=`` / ``?name=`` retrieve, otherwise a page of all companies."""
        with self._lock:
            if "company_id" in query or "name" in query:
                matches = [
                    c
                    for c in self._companies.values()
                    if ("company_id" not in query or c.company_id == query["company_id"])
                    and ("name" not in query or c.name == query["name"])
                ]
                if not matches:
                    raise company_not_found()
                return self._company_list(matches, page=1, per_page=DEFAULT_COMPANY_PER_PAGE)
            per_page = parse_per_page(query.get("per_page"), DEFAULT_COMPANY_PER_PAGE)
            page = parse_page(query.get("page"))
            return self._company_list(list(self._companies.values()), page=page, per_page=per_page)

    def list_all_companies(self, query: dict[str, str]) -> Json:
        """``POST /companies/list``: a page of the companies that have at least one (unarchived) contact,
        most recently updated first (Intercom sorts by ``last_request_at``, which the sandbox does not
        track) unless ``order=asc``; 15 per page by default."""
        with self._lock:
            per_page = parse_per_page(query.get("per_page"), ALL_COMPANIES_PER_PAGE)
            page = parse_page(query.get("page"))
            listed = [c for c in self._companies.values() if any(not self._contacts[i].archived for i in c.contacts)]
            # the description documents no 400 here: any order but asc is the default, desc
            listed.sort(key=lambda c: (c.updated_at, c.seq), reverse=query.get("order") != "asc")
            return self._company_list(listed, page=page, per_page=per_page)

    def _company_list(self, companies: list[Company], page: int, per_page: int) -> Json:
        chunk = companies[(page - 1) * per_page : page * per_page]
        return {
            "type": "list",
            "data": [self._company_json(c) for c in chunk],
            "pages": {
                "type": "pages",
                "next": None,
                "page": page,
                "per_page": per_page,
                "total_pages": math.ceil(len(companies) / per_page),
            },
            "total_count": len(companies),
        }

    def get_company(self, company_id: str) -> Json:
        """``GET /companies/{company_id}`` (the Intercom id, despite the parameter name)."""
        with self._lock:
            return self._company_json(self._company(company_id))

    def list_company_contacts(self, company_id: str, query: dict[str, str]) -> Json:
        """``GET /companies/{company_id}/contacts``."""
        per_page = parse_per_page(query.get("per_page"))
        with self._lock:
            company = self._company(company_id)
            contacts = [self._contacts[i] for i in company.contacts if not self._contacts[i].archived]
            chunk, pages = cursor_page(contacts, per_page, query.get("starting_after"))
            return contact_list(chunk, pages, len(contacts))

    def attach_company(self, contact_id: str, body: object) -> Json:
        """``POST /contacts/{contact_id}/companies`` with ``{"id": <Intercom company id>}``; idempotent."""
        data = json_object(body)
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            company_ref = data.get("id")
            if company_ref in (None, ""):
                raise ApiError(400, "parameter_not_found", "company not specified")
            company = self._company(company_ref)
            if company.id not in contact.companies:
                if len(contact.companies) >= MAX_COMPANIES_PER_CONTACT:
                    raise ApiError(
                        400,
                        "contact_company_limit_exceeded",
                        f"Contact has reached the maximum of {MAX_COMPANIES_PER_CONTACT} company associations",
                    )
                contact.companies[company.id] = None
                company.contacts[contact.id] = None
            return self._company_json(company)

    def detach_company(self, contact_id: str, company_id: str) -> Json:
        """``DELETE /contacts/{contact_id}/companies/{company_id}``."""
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            company = self._company(company_id)
            contact.companies.pop(company.id, None)
            company.contacts.pop(contact.id, None)
            return self._company_json(company)

    def list_contact_companies(self, contact_id: str, query: dict[str, str]) -> Json:
        """``GET /contacts/{contact_id}/companies`` (page-based, ``data`` as in the spec's example)."""
        per_page = parse_per_page(query.get("per_page"))
        page = parse_page(query.get("page"))
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            return self._company_list([self._companies[i] for i in contact.companies], page=page, per_page=per_page)

    def _company_json(self, company: Company) -> Json:
        """The ``company`` schema; unset optional fields are left out, as in Intercom's examples."""
        out: Json = {"type": "company", "company_id": company.company_id, "id": company.id}
        out["app_id"] = WORKSPACE_ID
        if company.name is not None:
            out["name"] = company.name
        if company.remote_created_at is not None:
            out["remote_created_at"] = company.remote_created_at
        out.update(
            created_at=company.created_at,
            updated_at=company.updated_at,
            monthly_spend=company.monthly_spend,
            session_count=0,
            user_count=sum(1 for i in company.contacts if not self._contacts[i].archived),
        )
        for key in ("size", "website", "industry"):
            value = getattr(company, key)
            if value is not None:
                out[key] = value
        out["tags"] = {"type": "tag.list", "tags": [self._tags[t].basic() for t in company.tags]}
        out["segments"] = {"type": "segment.list", "segments": []}
        if company.plan:
            plan_id = self._plans.setdefault(company.plan, str(len(self._plans) + 1))
            out["plan"] = {"type": "plan", "id": plan_id, "name": company.plan}
        else:
            out["plan"] = {}
        out["custom_attributes"] = dict(company.custom_attributes)
        return out
