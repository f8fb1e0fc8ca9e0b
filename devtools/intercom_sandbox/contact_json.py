"""A contact as Intercom's API shows it (the ``contact`` schema of 2.14, every property present)."""

from __future__ import annotations

from collections.abc import Callable

from intercom_sandbox.models import EMBEDDED_LIMIT, WORKSPACE_ID, Contact, Json

_ACTIVITY = (
    "last_replied_at",
    "last_contacted_at",
    "last_email_opened_at",
    "last_email_clicked_at",
    "language_override",
    "browser",
    "browser_version",
    "browser_language",
    "os",
)
_DEVICES = tuple(
    f"{platform}_{name}"
    for platform, names in (
        ("android", ("app_name", "app_version", "device", "os_version", "sdk_version", "last_seen_at")),
        ("ios", ("app_name", "app_version", "device", "os_version", "sdk_version", "last_seen_at")),
    )
    for name in names
)
_REFERRAL = ("utm_campaign", "utm_content", "utm_medium", "utm_source", "utm_term", "referrer")
"""Properties the sandbox does not track: always null, as for a contact created through the API."""


def contact_json(contact: Contact, single: bool = False) -> Json:
    """The ``contact`` schema, every property present (as Intercom's own example shows it)."""
    out: Json = {
        **_profile(contact),
        **dict.fromkeys(_ACTIVITY),
        "location": {
            "type": "location",
            "country": None,
            "region": None,
            "city": None,
            "country_code": None,
            "continent_code": None,
        },
        **dict.fromkeys(_DEVICES),
        "custom_attributes": dict(contact.custom_attributes),
        **_lists(contact),
        **dict.fromkeys(_REFERRAL),
    }
    if single:
        out["enabled_push_messaging"] = None
    return out


def _profile(contact: Contact) -> Json:
    return {
        "type": "contact",
        "id": contact.id,
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
    }


def _lists(contact: Contact) -> Json:
    """The embedded lists: tags and companies (at most ``EMBEDDED_LIMIT`` shown), notes and subscriptions."""
    cid = contact.id
    tag_ids = list(contact.tags)
    company_ids = list(contact.companies)
    return {
        "tags": {
            "type": "list",
            "data": [{"type": "tag", "id": t, "url": f"/tags/{t}"} for t in tag_ids[:EMBEDDED_LIMIT]],
            "url": f"/contacts/{cid}/tags",
            "total_count": len(tag_ids),
            "has_more": len(tag_ids) > EMBEDDED_LIMIT,
        },
        "notes": _empty_list(f"/contacts/{cid}/notes"),
        "companies": {
            "type": "list",
            "data": [{"type": "company", "id": c, "url": f"/companies/{c}"} for c in company_ids[:EMBEDDED_LIMIT]],
            "url": f"/contacts/{cid}/companies",
            "total_count": len(company_ids),
            "has_more": len(company_ids) > EMBEDDED_LIMIT,
        },
        "opted_out_subscription_types": _empty_list(f"/contacts/{cid}/subscriptions"),
        "opted_in_subscription_types": _empty_list(f"/contacts/{cid}/subscriptions"),
    }


def _empty_list(url: str) -> Json:
    return {"type": "list", "data": [], "url": url, "total_count": 0, "has_more": False}


def contact_list(
    contacts: list[Contact], pages: Json, total: int, shown: Callable[[Contact], Json | None] | None = None
) -> Json:
    """A page of contacts; ``shown``: what search shows of a contact instead of its current values (None: those)."""
    return {
        "type": "list",
        "data": [(shown(c) if shown is not None else None) or contact_json(c) for c in contacts],
        "total_count": total,
        "pages": pages,
    }
