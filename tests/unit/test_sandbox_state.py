"""Workspace rules of the Intercom sandbox: contacts, companies, tags, data attributes (no HTTP)."""

from __future__ import annotations

import re
from typing import Any

import pytest

from intercom_sandbox.errors import ApiError
from intercom_sandbox.state import Workspace
from sandbox_fixtures import FakeClock

pytestmark = pytest.mark.unit


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ws(clock: FakeClock) -> Workspace:
    workspace = Workspace(clock)
    workspace.create_data_attribute({"name": "plan", "model": "contact", "data_type": "string"})
    workspace.create_data_attribute({"name": "seats", "model": "contact", "data_type": "integer"})
    return workspace


def raises(status: int, code: str, match: str = "") -> Any:
    """pytest.raises for an ApiError with this status and code (and a message matching ``match``)."""
    return pytest.raises(ApiError, match=f"^{status} {code}: .*{match}")


# ---------------------------------------------------------------- create / uniqueness


def test_create_user_defaults_role_and_returns_full_contact(ws: Workspace, clock: FakeClock) -> None:
    contact = ws.create_contact({"email": "Ann@Example.com", "name": "Ann"})

    assert re.fullmatch(r"[0-9a-f]{24}", contact["id"])
    assert contact["role"] == "user"
    assert contact["email_domain"] == "example.com"
    assert contact["created_at"] == int(clock.now)
    assert contact["tags"] == {
        "type": "list",
        "data": [],
        "url": f"/contacts/{contact['id']}/tags",
        "total_count": 0,
        "has_more": False,
    }


def test_duplicate_user_email_conflicts_case_insensitively_with_existing_id(ws: Workspace) -> None:
    first = ws.create_contact({"email": "ann@example.com"})

    with raises(409, "conflict") as caught:
        ws.create_contact({"email": "ANN@example.COM", "external_id": "new-id"})

    assert caught.value.message == f"A contact matching those details already exists with id={first['id']}"


def test_user_create_with_an_external_id_ignores_the_email_when_matching_as_documented(ws: Workspace) -> None:
    first = ws.create_contact({"email": "ann@example.com"})

    second = ws.create_contact({"email": "ann@example.com", "external_id": "new-id"}, email_conflicts=False)

    assert second["id"] != first["id"] and second["external_id"] == "new-id"
    assert sorted(c["email"] for c in ws.dump()["contacts"]) == ["ann@example.com", "ann@example.com"]


def test_user_create_without_an_external_id_still_conflicts_on_the_email_as_documented(ws: Workspace) -> None:
    first = ws.create_contact({"email": "ann@example.com", "external_id": "u-1"})

    with raises(409, "conflict", f"id={first['id']}$"):
        ws.create_contact({"email": "ANN@example.com"}, email_conflicts=False)
    with raises(409, "conflict", f"id={first['id']}$"):
        ws.create_contact({"email": "other@example.com", "external_id": "u-1"}, email_conflicts=False)


def test_duplicate_user_external_id_conflicts(ws: Workspace) -> None:
    first = ws.create_contact({"external_id": "u-1"})

    with raises(409, "conflict", f"id={first['id']}$"):
        ws.create_contact({"external_id": "u-1", "email": "other@example.com"})


def test_duplicate_of_archived_user_says_archived(ws: Workspace) -> None:
    first = ws.create_contact({"email": "ann@example.com"})
    ws.archive_contact(first["id"])

    with raises(409, "conflict") as caught:
        ws.create_contact({"email": "ann@example.com"})

    assert caught.value.message == (f"An archived contact matching those details already exists with id={first['id']}")


def test_lead_with_existing_email_creates_another_lead(ws: Workspace) -> None:
    user = ws.create_contact({"email": "ann@example.com"})
    lead_1 = ws.create_contact({"role": "lead", "email": "ann@example.com"})
    lead_2 = ws.create_contact({"role": "lead", "email": "ann@example.com"})

    assert len({user["id"], lead_1["id"], lead_2["id"]}) == 3
    assert lead_2["role"] == "lead"


def test_user_needs_email_or_external_id(ws: Workspace) -> None:
    with raises(400, "parameter_invalid"):
        ws.create_contact({"name": "Nobody"})


def test_lead_needs_neither_email_nor_external_id(ws: Workspace) -> None:
    assert ws.create_contact({"role": "lead"})["role"] == "lead"


def test_unknown_top_level_field_is_bad_request(ws: Workspace) -> None:
    with raises(400, "bad_request", "bad 'user_id' parameter"):
        ws.create_contact({"email": "a@example.com", "user_id": "x"})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": 5}, "email"),
        ({"email": "a@example.com", "signed_up_at": "2024-01-01"}, "signed_up_at"),
        ({"email": "a@example.com", "owner_id": True}, "owner_id"),
        ({"email": "a@example.com", "custom_attributes": []}, "custom_attributes"),
    ],
)
def test_wrong_json_type_of_standard_field_is_type_mismatch(ws: Workspace, body: dict, field: str) -> None:
    with raises(400, "type_mismatch") as caught:
        ws.create_contact(body)
    assert caught.value.field == field


def test_invalid_role_is_rejected(ws: Workspace) -> None:
    with raises(400, "parameter_invalid", "role"):
        ws.create_contact({"email": "a@example.com", "role": "visitor"})


def test_malformed_email_is_rejected(ws: Workspace) -> None:
    with raises(400, "parameter_invalid", "not a valid email"):
        ws.create_contact({"email": "not-an-email"})


def test_owner_must_be_a_workspace_admin(ws: Workspace) -> None:
    with raises(400, "parameter_invalid", "not a member of the workspace"):
        ws.create_contact({"email": "a@example.com", "owner_id": 42})
    assert ws.create_contact({"email": "b@example.com", "owner_id": int(ws.me()["id"])})["owner_id"]


def test_unknown_custom_attribute_does_not_exist(ws: Workspace) -> None:
    with raises(400, "parameter_invalid") as caught:
        ws.create_contact({"email": "a@example.com", "custom_attributes": {"tier": "gold"}})
    assert caught.value.message == "Custom attribute 'tier' does not exist"


@pytest.mark.parametrize(
    ("data_type", "bad", "good"),
    [
        ("string", 5, "five"),
        ("integer", "5", 5),
        ("integer", 5.5, 5),
        ("integer", True, 1),
        ("float", "1.5", 1.5),
        ("boolean", "true", True),
        ("date", "2024-01-01", 1_704_067_200),
        ("datetime", 1.5, 1_704_067_200),
    ],
)
def test_custom_attribute_value_must_match_data_type(
    clock: FakeClock, data_type: str, bad: object, good: object
) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute({"name": "attr", "model": "contact", "data_type": data_type})

    with raises(400, "type_mismatch", "'attr'"):
        ws.create_contact({"email": "a@example.com", "custom_attributes": {"attr": bad}})
    contact = ws.create_contact({"email": "a@example.com", "custom_attributes": {"attr": good}})
    assert contact["custom_attributes"] == {"attr": good}


def test_list_attribute_value_must_be_one_of_the_options(clock: FakeClock) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute(
        {"name": "size", "model": "contact", "data_type": "options", "options": [{"value": "S"}, {"value": "M"}]}
    )

    with raises(400, "parameter_invalid", "one of the options"):
        ws.create_contact({"email": "a@example.com", "custom_attributes": {"size": "XL"}})
    assert ws.create_contact({"email": "a@example.com", "custom_attributes": {"size": "M"}})


def test_company_custom_attribute_is_not_a_contact_attribute(ws: Workspace) -> None:
    ws.create_data_attribute({"name": "arr", "model": "company", "data_type": "integer"})

    with raises(400, "parameter_invalid", "Custom attribute 'arr' does not exist"):
        ws.create_contact({"email": "a@example.com", "custom_attributes": {"arr": 5}})


# ---------------------------------------------------------------- update


def test_update_merges_custom_attributes_per_key_and_null_clears(ws: Workspace, clock: FakeClock) -> None:
    contact = ws.create_contact({"email": "a@example.com", "custom_attributes": {"plan": "pro", "seats": 3}})
    clock.advance(60)

    updated = ws.update_contact(contact["id"], {"custom_attributes": {"seats": 5}, "name": "Ann"})
    assert updated["custom_attributes"] == {"plan": "pro", "seats": 5}
    assert updated["name"] == "Ann"
    assert updated["email"] == "a@example.com"
    assert updated["updated_at"] == contact["updated_at"] + 60

    cleared = ws.update_contact(contact["id"], {"custom_attributes": {"plan": None}})
    assert cleared["custom_attributes"] == {"seats": 5}


def test_update_user_to_lead_is_refused(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})

    with raises(400, "client_error", "Contact with user role can't be converted to a lead"):
        ws.update_contact(user["id"], {"role": "lead"})


def test_update_lead_to_user_is_allowed(ws: Workspace) -> None:
    lead = ws.create_contact({"role": "lead", "email": "a@example.com"})

    assert ws.update_contact(lead["id"], {"role": "user"})["role"] == "user"
    # The converted lead is now subject to the uniqueness check.
    with raises(409, "conflict", f"id={lead['id']}"):
        ws.create_contact({"email": "a@example.com"})


def test_converting_lead_onto_existing_users_email_conflicts(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})
    lead = ws.create_contact({"role": "lead", "email": "a@example.com"})

    with raises(409, "conflict", f"id={user['id']}"):
        ws.update_contact(lead["id"], {"role": "user"})


def test_update_onto_another_users_external_id_conflicts(ws: Workspace) -> None:
    first = ws.create_contact({"external_id": "u-1"})
    second = ws.create_contact({"external_id": "u-2"})

    with raises(409, "conflict", f"id={first['id']}"):
        ws.update_contact(second["id"], {"external_id": "u-1"})
    assert ws.update_contact(first["id"], {"external_id": "u-1"})["external_id"] == "u-1"


def test_update_unknown_contact_is_not_found(ws: Workspace) -> None:
    with raises(404, "not_found", "Contact Not Found"):
        ws.update_contact("0" * 24, {"name": "x"})


def test_changing_email_frees_the_old_one(ws: Workspace) -> None:
    user = ws.create_contact({"email": "old@example.com"})
    ws.update_contact(user["id"], {"email": "new@example.com"})

    assert ws.create_contact({"email": "old@example.com"})["id"] != user["id"]


# ---------------------------------------------------------------- read, archive, delete


def test_find_by_external_id_finds_users_only(ws: Workspace) -> None:
    ws.create_contact({"role": "lead", "external_id": "lead-1"})
    user = ws.create_contact({"external_id": "user-1"})

    assert ws.find_by_external_id("user-1")["id"] == user["id"]
    with raises(404, "not_found"):
        ws.find_by_external_id("lead-1")


def test_get_unknown_contact_is_not_found(ws: Workspace) -> None:
    with raises(404, "not_found", "Contact Not Found"):
        ws.get_contact("nope")


def test_archived_contact_is_hidden_until_unarchived(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})

    assert ws.archive_contact(user["id"]) == {
        "type": "contact",
        "id": user["id"],
        "external_id": None,
        "archived": True,
    }
    with raises(404, "not_found"):
        ws.get_contact(user["id"])
    assert ws.list_contacts({})["total_count"] == 0

    assert ws.unarchive_contact(user["id"])["archived"] is False
    assert ws.get_contact(user["id"])["id"] == user["id"]


def test_delete_removes_contact_and_frees_its_email(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})

    assert ws.delete_contact(user["id"])["deleted"] is True
    with raises(404, "not_found"):
        ws.get_contact(user["id"])
    assert ws.create_contact({"email": "a@example.com"})


def test_list_contacts_paginates_with_cursor(ws: Workspace) -> None:
    ids = [ws.create_contact({"external_id": f"u{i}"})["id"] for i in range(5)]

    first = ws.list_contacts({"per_page": "2"})
    assert [c["id"] for c in first["data"]] == ids[:2]
    assert first["total_count"] == 5
    assert first["pages"]["total_pages"] == 3
    cursor = first["pages"]["next"]["starting_after"]
    second = ws.list_contacts({"per_page": "2", "starting_after": cursor})
    assert [c["id"] for c in second["data"]] == ids[2:4]
    assert second["pages"]["page"] == 2
    third = ws.list_contacts({"per_page": "2", "starting_after": second["pages"]["next"]["starting_after"]})
    assert [c["id"] for c in third["data"]] == ids[4:]
    assert "next" not in third["pages"]


@pytest.mark.parametrize("per_page", ["0", "151", "ten"])
def test_list_per_page_outside_1_to_150_is_rejected(ws: Workspace, per_page: str) -> None:
    with raises(400, "parameter_invalid", "per_page"):
        ws.list_contacts({"per_page": per_page})


# ---------------------------------------------------------------- companies


def test_company_upsert_by_company_id_truncates_monthly_spend(ws: Workspace) -> None:
    created = ws.upsert_company({"company_id": "c-1", "name": "Acme", "monthly_spend": 155.98})
    updated = ws.upsert_company({"company_id": "c-1", "plan": "pro"})

    assert created["monthly_spend"] == 155
    assert updated["id"] == created["id"]
    assert updated["name"] == "Acme"
    assert updated["plan"] == {"type": "plan", "id": "1", "name": "pro"}
    assert ws.list_companies({})["total_count"] == 1


def test_company_unknown_key_is_bad_request(ws: Workspace) -> None:
    with raises(400, "bad_request", "bad 'test' parameter"):
        ws.upsert_company({"test": "invalid"})


def test_company_custom_attributes_are_checked_against_company_model(ws: Workspace) -> None:
    with raises(400, "parameter_invalid", "Custom attribute 'plan' does not exist"):
        ws.upsert_company({"company_id": "c-1", "custom_attributes": {"plan": "x"}})


@pytest.mark.parametrize(
    ("data_type", "text", "stored"),
    [
        ("integer", "42", 42),
        ("integer", "-7", -7),
        ("float", "99.5", 99.5),
        ("float", "10", 10.0),
        ("float", "1e+16", 1e16),
        ("boolean", "true", True),
        ("boolean", "false", False),
        ("date", "1796083200", 1796083200),
        ("string", "true", "true"),
    ],
)
def test_company_custom_attribute_text_is_stored_as_the_attribute_type(
    clock: FakeClock, data_type: str, text: str, stored: object
) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute({"name": "attr", "model": "company", "data_type": data_type})

    company = ws.upsert_company({"company_id": "c-1", "custom_attributes": {"attr": text}})

    assert company["custom_attributes"] == {"attr": stored}
    assert type(company["custom_attributes"]["attr"]) is type(stored)


@pytest.mark.parametrize(
    ("data_type", "text"),
    [("integer", "42.0"), ("integer", "many"), ("float", "1,5"), ("boolean", "yes"), ("date", "2026-12-01")],
)
def test_company_custom_attribute_text_not_in_the_type_form_is_type_mismatch(
    clock: FakeClock, data_type: str, text: str
) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute({"name": "attr", "model": "company", "data_type": data_type})

    with raises(400, "type_mismatch", "'attr' must be"):
        ws.upsert_company({"company_id": "c-1", "custom_attributes": {"attr": text}})


@pytest.mark.parametrize("data_type", ["integer", "float", "boolean", "date", "string"])
def test_company_custom_attribute_empty_text_clears_the_value(clock: FakeClock, data_type: str) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute({"name": "attr", "model": "company", "data_type": data_type})
    ws.create_data_attribute({"name": "other", "model": "company", "data_type": "string"})
    value = {"integer": "1", "float": "1.5", "boolean": "true", "date": "1796083200", "string": "x"}[data_type]
    ws.upsert_company({"company_id": "c-1", "custom_attributes": {"attr": value, "other": "kept"}})

    company = ws.upsert_company({"company_id": "c-1", "custom_attributes": {"attr": ""}})

    assert company["custom_attributes"] == {"other": "kept"}


def test_contact_custom_attribute_text_for_a_typed_attribute_stays_a_type_mismatch(ws: Workspace) -> None:
    with raises(400, "type_mismatch", "'seats'"):
        ws.create_contact({"email": "a@example.com", "custom_attributes": {"seats": "42"}})


def test_company_retrieve_by_company_id_or_404(ws: Workspace) -> None:
    company = ws.upsert_company({"company_id": "c-1"})

    assert ws.list_companies({"company_id": "c-1"})["data"][0]["id"] == company["id"]
    with raises(404, "company_not_found"):
        ws.list_companies({"company_id": "c-2"})
    with raises(404, "company_not_found"):
        ws.get_company("c-1")  # the path takes the Intercom id, not company_id


def test_attach_with_company_id_instead_of_intercom_id_is_company_not_found(ws: Workspace) -> None:
    ws.upsert_company({"company_id": "c-1"})
    user = ws.create_contact({"email": "a@example.com"})

    with raises(404, "company_not_found", "Company Not Found"):
        ws.attach_company(user["id"], {"id": "c-1"})


def test_attach_is_idempotent_and_counts_users(ws: Workspace) -> None:
    company = ws.upsert_company({"company_id": "c-1"})
    user = ws.create_contact({"email": "a@example.com"})

    ws.attach_company(user["id"], {"id": company["id"]})
    again = ws.attach_company(user["id"], {"id": company["id"]})

    assert again["user_count"] == 1
    assert ws.get_contact(user["id"])["companies"]["total_count"] == 1
    assert [c["id"] for c in ws.list_contact_companies(user["id"], {})["data"]] == [company["id"]]
    assert [c["id"] for c in ws.list_company_contacts(company["id"], {})["data"]] == [user["id"]]


def test_attach_without_company_id_is_parameter_not_found(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})
    with raises(400, "parameter_not_found", "company not specified"):
        ws.attach_company(user["id"], {})


def test_embedded_companies_show_at_most_ten_with_has_more(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})
    for i in range(12):
        company = ws.upsert_company({"company_id": f"c-{i}"})
        ws.attach_company(user["id"], {"id": company["id"]})

    embedded = ws.get_contact(user["id"])["companies"]
    assert len(embedded["data"]) == 10
    assert embedded["total_count"] == 12
    assert embedded["has_more"] is True


# ---------------------------------------------------------------- tags


def test_tag_names_are_case_insensitive(ws: Workspace) -> None:
    first = ws.create_tag({"name": "Imported 2026"})
    again = ws.create_tag({"name": "imported 2026"})

    assert again == first
    assert ws.list_tags()["data"] == [first]


def test_tag_many_users_in_one_call(ws: Workspace) -> None:
    ids = [ws.create_contact({"external_id": f"u{i}"})["id"] for i in range(3)]

    tag = ws.create_tag({"name": "vip", "users": [{"id": i} for i in ids]})

    for contact_id in ids:
        assert [t["id"] for t in ws.list_contact_tags(contact_id)["data"]] == [tag["id"]]


def test_tag_many_with_unknown_user_is_404_and_writes_nothing(ws: Workspace) -> None:
    known = ws.create_contact({"external_id": "u1"})["id"]

    with raises(404, "not_found", "User Not Found"):
        ws.create_tag({"name": "vip", "users": [{"id": known}, {"id": "missing"}]})
    assert ws.list_tags()["data"] == []
    assert ws.list_contact_tags(known)["data"] == []


def test_tag_contact_needs_existing_tag(ws: Workspace) -> None:
    user = ws.create_contact({"email": "a@example.com"})
    tag = ws.create_tag({"name": "vip"})

    applied = ws.tag_contact(user["id"], {"id": tag["id"]})
    assert applied["name"] == "vip"
    assert applied["applied_by"]["type"] == "admin"
    with raises(404, "not_found", "Resource Not Found"):
        ws.tag_contact(user["id"], {"id": "999999"})


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "x", "test": 1}, {"name": "x", "users": {}}])
def test_invalid_tag_parameters(ws: Workspace, body: dict) -> None:
    with raises(400, "parameter_invalid", "invalid tag parameters"):
        ws.create_tag(body)


# ---------------------------------------------------------------- data attributes


@pytest.mark.parametrize(
    "name",
    [
        "plan.name",
        "price$",
        "a~b",
        "a`b",
        "a!b",
        "a@b",
        "a#b",
        "a%b",
        "a^b",
        "a&b",
        "a*b",
        "a'b",
        "a{b",
        "a}b",
        "a|b",
        "a\\b",
        "a\x00b",
        "   ",
    ],
)
def test_attribute_name_with_forbidden_characters_is_refused(ws: Workspace, name: str) -> None:
    with raises(400, "parameter_invalid") as caught:
        ws.create_data_attribute({"name": name, "model": "contact", "data_type": "string"})
    assert caught.value.message == (
        "Your name for this attribute must only contain alphanumeric characters, currency symbols, and hyphens"
    )


@pytest.mark.parametrize("name", ["Mithril Shirt", "paid_subscriber", "price-€", "Größe", "seats2"])
def test_attribute_name_with_letters_digits_spaces_underscores_hyphens_is_accepted(ws: Workspace, name: str) -> None:
    attr = ws.create_data_attribute({"name": name, "model": "company", "data_type": "string"})
    assert attr["full_name"] == f"custom_attributes.{name}"
    assert attr["custom"] is True


def test_attribute_name_in_other_model_is_refused_with_intercoms_message(ws: Workspace) -> None:
    ws.create_data_attribute({"name": "The One Ring", "model": "company", "data_type": "string"})

    with raises(400, "parameter_invalid") as to_people:
        ws.create_data_attribute({"name": "The One Ring", "model": "contact", "data_type": "integer"})
    with raises(400, "parameter_invalid") as to_company:
        ws.create_data_attribute({"name": "plan", "model": "company", "data_type": "string"})

    assert to_people.value.message == (
        "You already have 'The One Ring' in your company data. To save this as new people data, use a different name."
    )
    assert to_company.value.message == (
        "You already have 'plan' in your people data. To save this as new company data, use a different name."
    )


def test_attribute_name_existing_in_same_model_is_refused(ws: Workspace) -> None:
    with raises(400, "parameter_invalid", "You already have 'Plan' in your people data"):
        ws.create_data_attribute({"name": "Plan", "model": "contact", "data_type": "string"})


@pytest.mark.parametrize(("name", "model"), [("email", "contact"), ("monthly_spend", "company"), ("name", "contact")])
def test_standard_attribute_names_are_refused(ws: Workspace, name: str, model: str) -> None:
    with raises(400, "parameter_invalid", "You already have"):
        ws.create_data_attribute({"name": name, "model": model, "data_type": "string"})


def test_attribute_cap_counts_custom_attributes_of_both_models(clock: FakeClock) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute({"name": "a1", "model": "contact", "data_type": "string"}, cap=2)
    ws.create_data_attribute({"name": "a2", "model": "company", "data_type": "string"}, cap=2)

    with raises(400, "parameter_invalid", "limit of 2 custom data attributes"):
        ws.create_data_attribute({"name": "a3", "model": "contact", "data_type": "string"}, cap=2)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "x", "model": "user", "data_type": "string"}, "model field must be either contact or company"),
        ({"name": "x", "model": "contact", "data_type": "mithril"}, "Data Type isn't an option"),
        ({"name": "x", "model": "contact", "data_type": "options", "options": [{"value": "1-10"}]}, "two options"),
        ({"name": "x", "model": "contact", "data_type": "options"}, "Options"),
    ],
)
def test_invalid_attribute_definitions_are_refused(ws: Workspace, body: dict, message: str) -> None:
    with raises(400, "parameter_invalid", message):
        ws.create_data_attribute(body)


def test_listing_reports_types_within_the_2_14_enum(clock: FakeClock) -> None:
    ws = Workspace(clock)
    ws.create_data_attribute(
        {"name": "size", "model": "contact", "data_type": "options", "options": [{"value": "S"}, {"value": "M"}]}
    )
    ws.create_data_attribute({"name": "renewal", "model": "contact", "data_type": "datetime"})

    listed = {a["name"]: a for a in ws.list_data_attributes({"model": "contact"})["data"] if a["custom"]}
    assert listed["size"]["data_type"] == "string"
    assert listed["size"]["options"] == ["S", "M"]
    assert listed["renewal"]["data_type"] == "date"


def test_listing_by_model_includes_standard_attributes(ws: Workspace) -> None:
    company = ws.list_data_attributes({"model": "company"})["data"]
    contact = ws.list_data_attributes({"model": "contact"})["data"]

    assert {"name", "company_id", "monthly_spend"} <= {a["name"] for a in company if not a["custom"]}
    assert {a["model"] for a in company} == {"company"}
    assert {"plan", "seats"} == {a["name"] for a in contact if a["custom"]}
    assert {"email", "external_id"} <= {a["name"] for a in contact if not a["custom"]}


def test_reset_forgets_everything(ws: Workspace) -> None:
    ws.create_contact({"email": "a@example.com"})
    ws.reset()

    dump = ws.dump()
    assert dump["contacts"] == []
    assert dump["data_attributes"] == []
    assert ws.create_contact({"email": "a@example.com"})
