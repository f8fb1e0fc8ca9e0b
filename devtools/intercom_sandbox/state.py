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
"""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from intercom_sandbox.attributes import DataAttributes
from intercom_sandbox.errors import (
    ApiError,
    bad_parameter,
    company_not_found,
    contact_not_found,
    invalid,
    resource_not_found,
    type_mismatch,
    user_not_found,
)
from intercom_sandbox.search import compile_query, index_candidates

WORKSPACE_ID = "sandbox1"
APP_NAME = "Intercom Sandbox"
ADMIN_ID = "1000001"
MAX_PER_PAGE = 150
DEFAULT_PER_PAGE = 50
DEFAULT_COMPANY_PER_PAGE = 15
ALL_COMPANIES_PER_PAGE = 15  # POST /companies/list: "Defaults to 15"
EMBEDDED_LIMIT = 10
MAX_COMPANIES_PER_CONTACT = 1000
MAX_MONTHLY_SPEND = 2_147_483_647
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+$")
_CONTACT_ROLES = ("user", "lead")

Clock = Callable[[], float]
Json = dict[str, Any]


def new_object_id(now: float) -> str:
    """A 24-hex id shaped like Intercom's (a MongoDB ObjectId: 4-byte time, 8 random bytes)."""
    return f"{int(now) & 0xFFFFFFFF:08x}{os.urandom(8).hex()}"


@dataclass
class Contact:
    id: str
    seq: int
    role: str
    created_at: int
    created_clock: float
    updated_at: int
    external_id: str | None = None
    email: str | None = None
    phone: str | None = None
    name: str | None = None
    avatar: str | None = None
    owner_id: int | None = None
    signed_up_at: int | None = None
    last_seen_at: int | None = None
    unsubscribed_from_emails: bool = False
    custom_attributes: Json = field(default_factory=dict)
    archived: bool = False
    tags: dict[str, int] = field(default_factory=dict)  # tag id -> applied_at, in applied order
    companies: dict[str, None] = field(default_factory=dict)  # company ids, in attached order

    @property
    def email_domain(self) -> str | None:
        return self.email.rsplit("@", 1)[-1].lower() if self.email and "@" in self.email else None

    def search_value(self, name: str) -> Any:
        """The value ``POST /contacts/search`` compares for field ``name``."""
        if name.startswith("custom_attributes."):
            return self.custom_attributes.get(name.removeprefix("custom_attributes."))
        if name == "tag_id":
            return self.tags.keys()
        if name == "segment_id":
            return ()
        if name == "email_domain":
            return self.email_domain
        if name in ("tags", "companies", "custom_attributes"):
            return None
        return getattr(self, name, None)

    def reference(self, **extra: Any) -> Json:
        return {"type": "contact", "id": self.id, "external_id": self.external_id, **extra}


@dataclass
class Company:
    id: str
    seq: int
    company_id: str
    created_at: int
    updated_at: int
    name: str | None = None
    plan: str | None = None
    size: int | None = None
    website: str | None = None
    industry: str | None = None
    monthly_spend: int = 0
    remote_created_at: int | None = None
    custom_attributes: Json = field(default_factory=dict)
    tags: dict[str, None] = field(default_factory=dict)
    contacts: dict[str, None] = field(default_factory=dict)  # attached contact ids


@dataclass
class Tag:
    id: str
    name: str

    def basic(self) -> Json:
        return {"type": "tag", "id": self.id, "name": self.name}


@dataclass(frozen=True)
class _Field:
    """A writable body field: accepted JSON types, whether null is allowed, and the stored type."""

    types: tuple[type, ...]
    nullable: bool


_CONTACT_FIELDS: dict[str, _Field] = {
    "role": _Field((str,), False),
    "external_id": _Field((str,), True),
    "email": _Field((str,), True),
    "phone": _Field((str,), True),
    "name": _Field((str,), True),
    "avatar": _Field((str,), True),
    "signed_up_at": _Field((int,), True),
    "last_seen_at": _Field((int,), True),
    "owner_id": _Field((int,), True),
    "unsubscribed_from_emails": _Field((bool,), True),
    "custom_attributes": _Field((dict,), True),
}
_COMPANY_FIELDS: dict[str, _Field] = {
    "company_id": _Field((str,), False),
    "name": _Field((str,), True),
    "plan": _Field((str,), True),
    "size": _Field((int,), True),
    "website": _Field((str,), True),
    "industry": _Field((str,), True),
    "custom_attributes": _Field((dict,), True),
    "remote_created_at": _Field((int,), True),
    "monthly_spend": _Field((int, float), True),
}
_TYPE_WORDS = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", float: "a number"}


def _check_fields(body: Json, fields: dict[str, _Field]) -> None:
    """Unknown key -> ``400 bad_request "bad '<key>' parameter"``; wrong JSON type -> ``type_mismatch``."""
    for key, value in body.items():
        spec = fields.get(key)
        if spec is None:
            raise bad_parameter(key)
        if value is None:
            if not spec.nullable:
                raise type_mismatch(f"{key} can't be null", key)
            continue
        ok = isinstance(value, spec.types) and not (isinstance(value, bool) and bool not in spec.types)
        if not ok:
            raise type_mismatch(f"{key} must be {_TYPE_WORDS[spec.types[0]]}", key)


def _object(body: object) -> Json:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def _encode_cursor(seq: int, item_id: str, page: int) -> str:
    raw = json.dumps([seq, item_id, page], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    """(sequence number of the last item seen, page number of the next page)."""
    try:
        seq, _item_id, page = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeEncodeError) as exc:
        raise invalid("starting_after is not a valid cursor", "starting_after") from exc
    if not isinstance(seq, int) or not isinstance(page, int):
        raise invalid("starting_after is not a valid cursor", "starting_after")
    return seq, page


def parse_per_page(value: object, default: int = DEFAULT_PER_PAGE) -> int:
    """``per_page`` from a body (int) or a query string (str); 1..150."""
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PER_PAGE:
        raise invalid(f"per_page must be an integer between 1 and {MAX_PER_PAGE}", "per_page")
    return value


def _parse_page(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, str) and value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise invalid("page must be a positive integer", "page")


def _cursor_page(items: list[Any], per_page: int, starting_after: str | None) -> tuple[list[Any], Json]:
    """Cursor pagination over ``items`` (ordered by ``seq``), returning the page and ``pages``."""
    page, start = 1, 0
    if starting_after:
        last_seq, page = _decode_cursor(starting_after)
        start = bisect.bisect_right(items, last_seq, key=lambda item: item.seq)
    chunk = items[start : start + per_page]
    pages: Json = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(len(items) / per_page),
    }
    if start + per_page < len(items):
        last = chunk[-1]
        pages["next"] = {"per_page": per_page, "starting_after": _encode_cursor(last.seq, last.id, page + 1)}
    return chunk, pages


class Workspace:
    """One Intercom workspace, in memory, safe to share between request threads."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._created_at = int(clock())
        self._clear()

    def _clear(self) -> None:
        self._seq = 0
        self._contacts: dict[str, Contact] = {}
        self._by_email: dict[str, set[str]] = {}
        self._by_external_id: dict[str, set[str]] = {}
        self._companies: dict[str, Company] = {}
        self._by_company_id: dict[str, str] = {}
        self._tags: dict[str, Tag] = {}
        self._tag_by_name: dict[str, str] = {}
        self._next_tag_id = 100
        self._plans: dict[str, str] = {}
        self.attributes = DataAttributes()

    def reset(self) -> None:
        """Forget everything (``POST /__sandbox/reset``)."""
        with self._lock:
            self._clear()

    def _now(self) -> tuple[float, int]:
        now = self._clock()
        return now, int(now)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # ------------------------------------------------------------------ contacts

    def create_contact(self, body: object, *, email_conflicts: bool = True) -> Json:
        """``POST /contacts``. ``email_conflicts=False``: a user create that sends an external_id conflicts
        only on it (Intercom matches by e-mail only when no external_id is sent; ``SandboxConfig.email_conflicts``)."""
        data = _object(body)
        with self._lock:
            _check_fields(data, _CONTACT_FIELDS)
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
            return self._contact_json(contact, single=True)

    def update_contact(self, contact_id: str, body: object) -> Json:
        """``PUT /contacts/{contact_id}``: partial update; ``custom_attributes`` merged per key."""
        data = _object(body)
        with self._lock:
            contact = self._live_contact(contact_id, contact_not_found)
            _check_fields(data, _CONTACT_FIELDS)
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
            return self._contact_json(contact, single=True)

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

    def _live_contact(self, contact_id: str, missing: Callable[[], ApiError]) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.archived:
            raise missing()
        return contact

    def get_contact(self, contact_id: str) -> Json:
        """``GET /contacts/{contact_id}``."""
        with self._lock:
            return self._contact_json(self._live_contact(contact_id, contact_not_found), single=True)

    def find_by_external_id(self, external_id: str) -> Json:
        """``GET /contacts/find_by_external_id/{external_id}``: users only."""
        with self._lock:
            for contact_id in sorted(self._by_external_id.get(external_id, ())):
                contact = self._contacts[contact_id]
                if contact.role == "user" and not contact.archived:
                    return self._contact_json(contact, single=True)
            raise contact_not_found()

    def list_contacts(self, query: dict[str, str]) -> Json:
        """``GET /contacts`` with ``per_page`` and ``starting_after`` in the query string."""
        per_page = parse_per_page(query.get("per_page"))
        with self._lock:
            live = [c for c in self._contacts.values() if not c.archived]
            chunk, pages = _cursor_page(live, per_page, query.get("starting_after"))
            return self._contact_list(chunk, pages, len(live))

    def search_contacts(self, body: object, lag_seconds: float = 0.0) -> Json:
        """``POST /contacts/search``; pagination is read from the body only (as Intercom does)."""
        data = _object(body)
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
            chunk, pages = _cursor_page(matches, per_page, starting_after)
            return self._contact_list(chunk, pages, len(matches))

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

    def _contact_list(self, contacts: list[Contact], pages: Json, total: int) -> Json:
        return {
            "type": "list",
            "data": [self._contact_json(c) for c in contacts],
            "total_count": total,
            "pages": pages,
        }

    def _contact_json(self, contact: Contact, single: bool = False) -> Json:
        """The ``contact`` schema, every property present (as Intercom's own example shows it)."""
        cid = contact.id
        tag_ids = list(contact.tags)
        company_ids = list(contact.companies)
        out: Json = {
            "type": "contact",
            "id": cid,
            "workspace_id": WORKSPACE_ID,
            "external_id": contact.external_id,
            "role": contact.role,
            "email": contact.email or "",
            "email_domain": contact.email_domain or "",
            "phone": contact.phone,
            "name": contact.name,
            "avatar": {"type": "avatar", "image_url": contact.avatar} if contact.avatar else None,
            "owner_id": contact.owner_id,
            "social_profiles": {"type": "list", "data": []},
            "has_hard_bounced": False,
            "marked_email_as_spam": False,
            "unsubscribed_from_emails": contact.unsubscribed_from_emails,
            "created_at": contact.created_at,
            "updated_at": contact.updated_at,
            "signed_up_at": contact.signed_up_at,
            "last_seen_at": contact.last_seen_at,
            "last_replied_at": None,
            "last_contacted_at": None,
            "last_email_opened_at": None,
            "last_email_clicked_at": None,
            "language_override": None,
            "browser": None,
            "browser_version": None,
            "browser_language": None,
            "os": None,
            "location": {
                "type": "location",
                "country": None,
                "region": None,
                "city": None,
                "country_code": None,
                "continent_code": None,
            },
            "android_app_name": None,
            "android_app_version": None,
            "android_device": None,
            "android_os_version": None,
            "android_sdk_version": None,
            "android_last_seen_at": None,
            "ios_app_name": None,
            "ios_app_version": None,
            "ios_device": None,
            "ios_os_version": None,
            "ios_sdk_version": None,
            "ios_last_seen_at": None,
            "custom_attributes": dict(contact.custom_attributes),
            "tags": {
                "type": "list",
                "data": [{"type": "tag", "id": t, "url": f"/tags/{t}"} for t in tag_ids[:EMBEDDED_LIMIT]],
                "url": f"/contacts/{cid}/tags",
                "total_count": len(tag_ids),
                "has_more": len(tag_ids) > EMBEDDED_LIMIT,
            },
            "notes": {
                "type": "list",
                "data": [],
                "url": f"/contacts/{cid}/notes",
                "total_count": 0,
                "has_more": False,
            },
            "companies": {
                "type": "list",
                "data": [{"type": "company", "id": c, "url": f"/companies/{c}"} for c in company_ids[:EMBEDDED_LIMIT]],
                "url": f"/contacts/{cid}/companies",
                "total_count": len(company_ids),
                "has_more": len(company_ids) > EMBEDDED_LIMIT,
            },
            "opted_out_subscription_types": {
                "type": "list",
                "data": [],
                "url": f"/contacts/{cid}/subscriptions",
                "total_count": 0,
                "has_more": False,
            },
            "opted_in_subscription_types": {
                "type": "list",
                "data": [],
                "url": f"/contacts/{cid}/subscriptions",
                "total_count": 0,
                "has_more": False,
            },
            "utm_campaign": None,
            "utm_content": None,
            "utm_medium": None,
            "utm_source": None,
            "utm_term": None,
            "referrer": None,
        }
        if single:
            out["enabled_push_messaging"] = None
        return out

    # ------------------------------------------------------------------ companies

    def upsert_company(self, body: object) -> Json:
        """``POST /companies``: create, or update the company with this ``company_id``."""
        data = _object(body)
        with self._lock:
            _check_fields(data, _COMPANY_FIELDS)
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
            page = _parse_page(query.get("page"))
            return self._company_list(list(self._companies.values()), page=page, per_page=per_page)

    def list_all_companies(self, query: dict[str, str]) -> Json:
        """``POST /companies/list``: a page of the companies that have at least one (unarchived) contact,
        most recently updated first (Intercom sorts by ``last_request_at``, which the sandbox does not
        track) unless ``order=asc``; 15 per page by default."""
        with self._lock:
            per_page = parse_per_page(query.get("per_page"), ALL_COMPANIES_PER_PAGE)
            page = _parse_page(query.get("page"))
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

    def _company(self, intercom_id: object) -> Company:
        company = self._companies.get(intercom_id) if isinstance(intercom_id, str) else None
        if company is None:
            raise company_not_found()
        return company

    def list_company_contacts(self, company_id: str, query: dict[str, str]) -> Json:
        """``GET /companies/{company_id}/contacts``."""
        per_page = parse_per_page(query.get("per_page"))
        with self._lock:
            company = self._company(company_id)
            contacts = [self._contacts[i] for i in company.contacts if not self._contacts[i].archived]
            chunk, pages = _cursor_page(contacts, per_page, query.get("starting_after"))
            return self._contact_list(chunk, pages, len(contacts))

    def attach_company(self, contact_id: str, body: object) -> Json:
        """``POST /contacts/{contact_id}/companies`` with ``{"id": <Intercom company id>}``; idempotent."""
        data = _object(body)
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
        page = _parse_page(query.get("page"))
        with self._lock:
            contact = self._live_contact(contact_id, user_not_found)
            companies = [self._companies[i] for i in contact.companies]
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
        data = _object(body)
        with self._lock:
            attr = self.attributes.create(data, now=self._now()[1], admin_id=ADMIN_ID, cap=cap)
            return attr.to_json()

    # ------------------------------------------------------------------ tags

    def create_tag(self, body: object) -> Json:
        """``POST /tags``: find-or-create by name (case-insensitive), rename with ``id``, or tag many
        ``users`` / ``companies`` at once. Every target is checked before anything is written."""
        data = _object(body)
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
        data = _object(body)
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
                "contacts": [{**self._contact_json(c), "archived": c.archived} for c in self._contacts.values()],
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
