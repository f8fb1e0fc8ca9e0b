"""The undo's view of a contact's values (undo/values.py): compared as the import's diff compares them, and put
back in the types the 2.14 contract takes."""

from __future__ import annotations

from typing import Any

import pytest

from intercom_importer.undo.records import LeftAlone, Tally
from intercom_importer.undo.values import held, quoted, restore_value, same

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("name", "current", "wanted"),
    [
        ("email", "Ada@Example.COM", "ada@example.com"),
        ("custom", 10, 10.0),
        ("name", None, ""),
        ("avatar", {"type": "avatar", "image_url": "https://x/a.png"}, "https://x/a.png"),
        ("signed_up_at", 1767225600, 1767225600.0),
        ("unsubscribed_from_emails", False, None),
    ],
)
def test_values_intercom_shows_differently_are_the_same_value(name: str, current: Any, wanted: Any):
    assert same(name, current, wanted)


@pytest.mark.parametrize(
    ("name", "current", "wanted"),
    [("name", "Ada", "ada"), ("custom", True, 1), ("custom", 0, None), ("unsubscribed_from_emails", True, None)],
)
def test_different_values_are_different(name: str, current: Any, wanted: Any):
    assert not same(name, current, wanted)


def test_a_contact_shows_its_avatar_by_url_and_its_custom_attributes_apart():
    contact = {"avatar": {"type": "avatar", "image_url": "u"}, "name": "", "custom_attributes": {"plan": "pro"}}

    assert (held(contact, "avatar"), held(contact, "name"), held(contact, "plan", custom=True)) == ("u", None, "pro")


def test_an_empty_email_or_external_id_is_restored_as_empty_text_the_rest_as_null():
    assert (restore_value("email", None), restore_value("external_id", None), restore_value("name", None)) == (
        "",
        "",
        None,
    )


def test_reasons_quote_values_short_and_say_empty():
    assert (quoted(None), quoted(""), quoted(True), quoted(12), quoted("Ada")) == (
        "empty",
        "empty",
        "true",
        "12",
        "'Ada'",
    )
    assert len(quoted("x" * 500)) < 70


def test_a_tally_goes_to_storage_and_back_and_adds_up():
    tally = Tally(restored=3, archived=1, write_calls=2, api_calls=5)
    tally.leave(4, "c1", "name", "changed")

    back = Tally.from_json(tally.to_json())
    total = Tally.total([back, Tally(restored=1, left=[LeftAlone(9, "c2", None, "why")])])

    assert back == tally
    assert (total.restored, total.left_alone, total.counters()["left_alone"]) == (4, 2, 2)
