"""The in-memory Intercom workspace: contacts, companies, tags, data attributes and their links.

Every public method of :class:`Workspace` takes the parsed request (path parameters, query, JSON body),
applies Intercom's rules under one lock, and returns the JSON body of a 200 answer or raises
:class:`~intercom_sandbox.errors.ApiError`. Nothing here knows about HTTP, so the rules are unit-tested
directly with an injectable clock.

Faithful to Intercom (2.14 shapes, behaviour from ``/work/shared/docs/intercom-api.md``):
- users are unique on e-mail (case-insensitive) and on ``external_id``; a duplicate create (or an update
  onto another user's keys) gives ``409 conflict "A contact matching those details already exists with
  id=<id>"``, or "An archived contact ..." when the holder is archived; leads are never checked;
- a user needs an e-mail or an ``external_id``; a user can't become a lead; ``PUT`` is a partial update
  and merges ``custom_attributes`` per key;
- ``find_by_external_id`` finds users only; search hides contacts younger than the search lag;
- companies are upserted on ``company_id``, ``monthly_spend`` is truncated to an integer, unknown keys
  give ``400 bad_request "bad '<key>' parameter"``; attaching needs the Intercom company ``id``; company
  custom attributes also take the canonical text of their type, as the 2.14 string typing of
  ``create_or_update_company_request.custom_attributes`` requires (see ``attributes.py``);
- tag names are case-insensitive; ``POST /tags`` with ``users`` tags many contacts at once;
- embedded ``tags``/``companies`` lists on a contact show at most 10 entries with ``has_more``.

Differences (sandbox choices, see README): archived contacts are invisible to get/update/list/search
until unarchived; ``GET /companies`` lists companies that have no users (Intercom hides them); unknown
top-level contact fields are refused like company ones; e-mails need the shape ``local@domain``;
per_page above 150 is refused instead of capped; there is no merge, notes, segments or scroll.

The parts: ``models.py`` (the records), ``parsing.py`` (request fields and paging), ``store.py`` (the
storage and its lock), ``contacts.py``, ``contact_json.py``, ``companies.py``, ``tags.py`` (the rules of each
subject) and this module's :class:`Workspace`, which joins them with data attributes and ``/me``.
"""

from __future__ import annotations

from intercom_sandbox.companies import CompanyRules
from intercom_sandbox.contact_json import contact_json
from intercom_sandbox.contacts import ContactRules
from intercom_sandbox.errors import invalid
from intercom_sandbox.models import (
    ADMIN_ID,
    APP_NAME,
    MAX_PER_PAGE,
    WORKSPACE_ID,
    Company,
    Contact,
    Json,
    Tag,
    new_object_id,
)
from intercom_sandbox.parsing import json_object, parse_per_page
from intercom_sandbox.tags import TagRules

__all__ = ["MAX_PER_PAGE", "Company", "Contact", "Json", "Tag", "Workspace", "new_object_id", "parse_per_page"]


class Workspace(ContactRules, CompanyRules, TagRules):
    """One Intercom workspace, in memory, safe to share between request threads."""

    # ------------------------------------------------------------------ data attributes

    def list_data_attributes(self, query: dict[str, str]) -> Json:
        """``GET /data_attributes?model=contact|company`` (``conversation``: empty list here)."""
        model = query.get("model")
        if model not in (None, "contact", "company", "conversation"):
            raise invalid("The Data Attribute model field must be either contact, company or conversation")
        include_archived = query.get("include_archived", "false").lower() == "true"
        with self._lock:
            attrs = [] if model == "conversation" else self.attributes.listed(model, include_archived)
            return {"type": "list", "data": [a.to_json() for a in attrs]}

    def create_data_attribute(self, body: object, cap: int = 250) -> Json:
        """``POST /data_attributes``."""
        data = json_object(body)
        with self._lock:
            attr = self.attributes.create(data, now=self._now()[1], admin_id=ADMIN_ID, cap=cap)
            return attr.to_json()

    # ------------------------------------------------------------------ admin

    def me(self) -> Json:
        """``GET /me``: the token's admin and its app (region US, time zone UTC)."""
        return {
            "type": "admin",
            "id": ADMIN_ID,
            "email": "admin@sandbox.invalid",
            "name": "Sandbox Admin",
            "job_title": "Developer",
            "away_mode_enabled": False,
            "away_mode_reassign": False,
            "has_inbox_seat": True,
            "team_ids": [],
            "email_verified": True,
            "avatar": {"type": "avatar", "image_url": None},
            "app": {
                "type": "app",
                "id_code": WORKSPACE_ID,
                "name": APP_NAME,
                "created_at": self._created_at,
                "secure": False,
                "identity_verification": False,
                "timezone": "Etc/UTC",
                "region": "US",
            },
        }

    def dump(self) -> Json:
        """Everything, for ``GET /__sandbox/state``: archived contacts included and flagged."""
        with self._lock:
            return {
                "contacts": [{**contact_json(c), "archived": c.archived} for c in self._contacts.values()],
                "companies": [self._company_json(c) for c in self._companies.values()],
                "attachments": [
                    {"contact_id": c.id, "company_id": company_id}
                    for c in self._contacts.values()
                    for company_id in c.companies
                ],
                "tags": [t.basic() for t in self._tags.values()],
                "contact_tags": [
                    {"contact_id": c.id, "tag_id": t, "applied_at": at}
                    for c in self._contacts.values()
                    for t, at in c.tags.items()
                ],
                "company_tags": [{"company_id": c.id, "tag_id": t} for c in self._companies.values() for t in c.tags],
                "data_attributes": self.attributes.state_json(),
            }
