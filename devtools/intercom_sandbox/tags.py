"""Tags: find-or-create by name, rename, tag many contacts or companies at once, tag and untag one contact."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from intercom_sandbox.errors import ApiError, invalid, resource_not_found, user_not_found
from intercom_sandbox.models import ADMIN_ID, Company, Contact, Json, Tag
from intercom_sandbox.parsing import json_object
from intercom_sandbox.store import WorkspaceStore


class TagRules(WorkspaceStore):
    """Intercom's rules for tags (see ``state.py``)."""

    def create_tag(self, body: object) -> Json:
        """``POST /tags``: find-or-create by name (case-insensitive), rename with ``id``, or tag many
        ``users`` / ``companies`` at once. Every target is checked before anything is written."""
        data = json_object(body)
        with self._lock:
            name = data.get("name")
            extra = set(data) - {"name", "id", "users", "companies"}
            if not isinstance(name, str) or not name.strip() or extra or ("users" in data and "companies" in data):
                raise invalid("invalid tag parameters")
            contacts = self._tag_targets(data.get("users"), self._live_user_target)
            companies = self._tag_targets(data.get("companies"), self._company_target)
            if "id" in data:
                tag = self._tags.get(str(data["id"]))
                if tag is None:
                    raise resource_not_found()
                del self._tag_by_name[tag.name.lower()]
                tag.name = name
                self._tag_by_name[name.lower()] = tag.id
            else:
                tag = self._find_or_create_tag(name)
            applied_at = self._now()[1]
            for contact in contacts:
                contact.tags.setdefault(tag.id, applied_at)
            for company, untag in companies:
                if untag:
                    company.tags.pop(tag.id, None)
                else:
                    company.tags[tag.id] = None
            return tag.basic()

    def _tag_targets(self, items: object, resolve: Callable[[Json], Any]) -> list[Any]:
        if items is None:
            return []
        if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
            raise invalid("invalid tag parameters")
        return [resolve(i) for i in items]

    def _live_user_target(self, item: Json) -> Contact:
        return self._live_contact(str(item.get("id")), user_not_found)

    def _company_target(self, item: Json) -> tuple[Company, bool]:
        if "id" in item:
            company = self._company(item["id"])
        else:
            intercom_id = self._by_company_id.get(str(item.get("company_id")))
            company = self._company(intercom_id)
        return company, bool(item.get("untag"))

    def _find_or_create_tag(self, name: str) -> Tag:
        tag_id = self._tag_by_name.get(name.lower())
        if tag_id is not None:
            return self._tags[tag_id]
        tag = Tag(id=str(self._next_tag_id), name=name)
        self._next_tag_id += 1
        self._tags[tag.id] = tag
        self._tag_by_name[name.lower()] = tag.id
        return tag

    def list_tags(self) -> Json:
        """``GET /tags``."""
        with self._lock:
            return {"type": "list", "data": [t.basic() for t in self._tags.values()]}

    def tag_contact(self, contact_id: str, body: object) -> Json:
        """``POST /contacts/{contact_id}/tags`` with ``{"id": <tag id>}``; idempotent."""
        data = json_object(body)
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            if data.get("id") in (None, ""):
                raise ApiError(400, "parameter_not_found", "tag not specified")
            tag = self._tags.get(str(data["id"]))
            if tag is None:
                raise resource_not_found()
            contact.tags.setdefault(tag.id, self._now()[1])
            return self._applied_tag(tag, contact.tags[tag.id])

    def untag_contact(self, contact_id: str, tag_id: str) -> Json:
        """``DELETE /contacts/{contact_id}/tags/{tag_id}``."""
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            tag = self._tags.get(tag_id)
            if tag is None or tag.id not in contact.tags:
                raise resource_not_found()
            applied_at = contact.tags.pop(tag.id)
            return self._applied_tag(tag, applied_at)

    def list_contact_tags(self, contact_id: str) -> Json:
        """``GET /contacts/{contact_id}/tags``."""
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            return {
                "type": "list",
                "data": [self._applied_tag(self._tags[t], at) for t, at in contact.tags.items()],
            }

    @staticmethod
    def _applied_tag(tag: Tag, applied_at: int) -> Json:
        return {**tag.basic(), "applied_at": applied_at, "applied_by": {"type": "admin", "id": ADMIN_ID}}
