"""The upsert's pure rules: never re-subscribing someone (``_safe_update``) and one company upsert per company
and import (``CompanyCache``). Their effect on Intercom is in tests/integration/test_upsert.py."""

from __future__ import annotations

from typing import Any

import pytest

from intercom_importer.upsert import ChunkContext, CompanyCache
from intercom_importer.upsert.bodies import safe_update as _safe_update

pytestmark = pytest.mark.unit

BODY = {"email": "ada@example.com", "name": "Ada"}


def safe(unsubscribed: Any, existing: dict[str, Any] | None, *, allow_resubscribe: bool = False) -> dict[str, Any]:
    ctx = ChunkContext(existing="update", role="user", allow_resubscribe=allow_resubscribe)
    return _safe_update({**BODY, "unsubscribed_from_emails": unsubscribed}, existing, ctx)


@pytest.mark.parametrize("value", [False, None])
def test_resubscribing_value_is_dropped_for_a_contact_not_read(value: Any):
    assert safe(value, None) == BODY  # an id row: the contact was not read


@pytest.mark.parametrize("value", [False, None])
def test_resubscribing_value_is_dropped_for_an_unsubscribed_contact(value: Any):
    assert safe(value, {"id": "c1", "unsubscribed_from_emails": True}) == BODY


def test_resubscribing_value_is_dropped_for_a_contact_known_only_by_its_id():
    assert safe(False, {"id": "c1"}) == BODY  # the existing id a 409 gave


@pytest.mark.parametrize("value", [False, None])
def test_resubscribing_value_is_kept_for_a_contact_known_to_be_subscribed(value: Any):
    assert safe(value, {"id": "c1", "unsubscribed_from_emails": False}) == {**BODY, "unsubscribed_from_emails": value}


@pytest.mark.parametrize("value", [False, None])
def test_resubscribing_value_is_kept_when_the_mapping_allows_resubscribing(value: Any):
    existing = {"id": "c1", "unsubscribed_from_emails": True}

    assert safe(value, existing, allow_resubscribe=True) == {**BODY, "unsubscribed_from_emails": value}


def test_unsubscribing_value_is_always_kept():
    assert safe(True, None) == {**BODY, "unsubscribed_from_emails": True}


def test_safe_update_leaves_the_rows_body_unchanged():
    body = {**BODY, "unsubscribed_from_emails": False}

    _safe_update(body, None, ChunkContext(existing="update", role="user"))

    assert body == {**BODY, "unsubscribed_from_emails": False}


def test_company_is_created_once_per_scope():
    cache, made = CompanyCache(), []

    first = cache.get_or_create("job-1", "acme", lambda: made.append("acme") or "ic-1")
    again = cache.get_or_create("job-1", "acme", lambda: made.append("acme") or "ic-2")

    assert (first, again, made) == ("ic-1", "ic-1", ["acme"])


def test_company_is_created_again_in_another_scope():
    cache = CompanyCache()
    cache.get_or_create("job-1", "acme", lambda: "ic-1")

    assert cache.get_or_create("job-2", "acme", lambda: "ic-2") == "ic-2"


def test_company_whose_create_failed_is_created_by_the_next_caller():
    cache = CompanyCache()

    def refused() -> str:
        raise RuntimeError("Intercom is down")

    with pytest.raises(RuntimeError):
        cache.get_or_create("job-1", "acme", refused)

    assert cache.get_or_create("job-1", "acme", lambda: "ic-1") == "ic-1"
