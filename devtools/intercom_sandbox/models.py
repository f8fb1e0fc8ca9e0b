"""The sandbox workspace's records (contacts, companies, tags), its fixed identity and Intercom's limits."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

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
    # what search showed before each update, while the search update lag lasts: (replaced at, until, the json)
    shown: list[tuple[float, float, Json]] = field(default_factory=list, repr=False)

    def remember_shown(self, before: Json, now: float, lag: float) -> None:
        """The contact as search showed it, replaced ``now``: search keeps showing it for ``lag`` seconds."""
        self.shown = [s for s in self.shown if s[1] > now]  # versions search no longer shows
        self.shown.append((now, now + lag, before))

    def shown_as_of(self, moment: float) -> Json | None:
        """What search shows of the contact if its index holds the values of ``moment``: the first version
        replaced after it (None: the current one)."""
        return next((json for replaced, _, json in self.shown if replaced > moment), None)

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
