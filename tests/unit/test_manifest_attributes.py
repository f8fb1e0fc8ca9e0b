"""Manifest validation messages, custom attribute planning and type inference."""

from __future__ import annotations

import json

import pytest

from intercom_importer.attributes import CAP, finalise, plan_attributes
from intercom_importer.errors import FileRejectedError
from intercom_importer.manifest import parse_manifest
from intercom_importer.mapping import COMPANIES, PEOPLE, map_header
from intercom_importer.schema import TypeSniffer
from intercom_importer.seen import SeenKeys
from intercom_importer.validate.duplicates import identity_key

pytestmark = pytest.mark.unit


def _attr(name, data_type="string", *, custom=True, options=None):
    return {"name": name, "data_type": data_type, "custom": custom, "options": options or []}


def test_manifest_errors_name_the_path_and_the_allowed_values():
    with pytest.raises(FileRejectedError) as exc:
        parse_manifest(json.dumps({"existing": "merge", "mapping": {"columns": {"A": {"type": "int"}}}}))
    message = exc.value.message
    assert "existing" in message and "update, skip" in message
    assert "mapping/columns/A" in message


@pytest.mark.parametrize(
    ("column", "said"),
    [
        (
            {"type": "int"},
            'mapping/columns/A/type: "int" is not allowed: use one of string, integer, float, boolean, date',
        ),
        (
            {"typ": "integer"},
            "mapping/columns/A: unknown key typ: remove it or check its spelling; allowed keys: attribute",
        ),
        ({"empty": "erase"}, 'mapping/columns/A/empty: "erase" is not allowed: use one of keep, clear'),
        ({"options": ["a"]}, "mapping/columns/A/options: ['a'] is too short: list at least 2 values"),
        ({"attribute": ""}, "mapping/columns/A/attribute: '' should be non-empty: it must not be empty"),
        (5, 'give the attribute name as a string, or an object like {"attribute": "plan", "type": "string"}'),
    ],
)
def test_a_bad_column_entry_names_its_key_and_what_is_allowed(column, said):
    with pytest.raises(FileRejectedError) as exc:
        parse_manifest(json.dumps({"mapping": {"columns": {"A": column}}}))

    assert said in exc.value.message
    assert "is not valid under any of the given schemas" not in exc.value.message or column == 5


def test_manifest_unknown_key_is_named_with_the_allowed_keys():
    with pytest.raises(FileRejectedError) as exc:
        parse_manifest('{"mapping": {"colums": {}}}')
    assert "colums" in exc.value.message and "columns" in exc.value.message


def test_manifest_that_is_not_json_says_so():
    with pytest.raises(FileRejectedError, match="not valid JSON"):
        parse_manifest("{nope")


def test_mapping_names_a_column_missing_from_the_header():
    with pytest.raises(FileRejectedError, match="'Nope', which is not in the file's header"):
        map_header(["email"], PEOPLE, {"columns": {"Nope": "name"}})


def test_standard_attribute_cannot_be_given_a_type():
    with pytest.raises(FileRejectedError, match="whose type is fixed"):
        map_header(["email", "Name"], PEOPLE, {"columns": {"Name": {"type": "integer"}}})


def test_existing_attribute_gives_its_type_and_options_to_the_column():
    columns = map_header(["email", "tier"], PEOPLE)
    plan = plan_attributes(columns, PEOPLE, [_attr("tier", "string", options=[{"value": "a"}, {"value": "b"}])], [])
    tier = plan.columns[1]
    assert (tier.type, tier.options) == ("string", ("a", "b"))
    assert plan.create == []


def test_new_attribute_is_planned_for_creation():
    plan = plan_attributes(map_header(["email", "Seats"], PEOPLE), PEOPLE, [], [])
    assert [c.target for c in plan.create] == ["Seats"]


def test_name_used_by_the_other_model_is_refused():
    with pytest.raises(FileRejectedError, match="already a custom attribute of company data"):
        plan_attributes(map_header(["email", "Seats"], PEOPLE), PEOPLE, [], [_attr("Seats")])


def test_standard_name_is_refused():
    with pytest.raises(FileRejectedError, match="standard attribute 'browser'"):
        plan_attributes(map_header(["email", "browser"], PEOPLE), PEOPLE, [_attr("browser", custom=False)], [])


def test_company_standard_names_are_planned_as_new_contact_attributes():
    plan = plan_attributes(map_header(["email", "industry", "Plan", "size"], PEOPLE), PEOPLE, [], [])

    assert [c.target for c in plan.create] == ["industry", "Plan", "size"]


def test_company_standard_name_is_refused_as_a_company_custom_attribute():
    columns = map_header(["company_id", "Sector"], COMPANIES, {"columns": {"Sector": {"attribute": "user_count"}}})

    with pytest.raises(FileRejectedError, match="standard attribute 'user_count'"):
        plan_attributes(columns, COMPANIES, [], [])


def test_contact_standard_name_is_refused_as_a_contact_custom_attribute_even_if_the_listing_omits_it():
    with pytest.raises(FileRejectedError, match="standard attribute 'last_replied_at'"):
        plan_attributes(map_header(["email", "last_replied_at"], PEOPLE), PEOPLE, [], [])


def test_going_over_the_attribute_cap_is_refused_with_the_numbers():
    existing = [_attr(f"a{i}") for i in range(CAP - 1)]
    with pytest.raises(FileRejectedError, match=f"already has {CAP - 1} of Intercom's maximum {CAP}"):
        plan_attributes(map_header(["email", "x1", "x2"], PEOPLE), PEOPLE, existing, [])


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "22", "-3"], "integer"),
        (["1.5", "2", ".5"], "float"),
        (["yes", "No", "TRUE"], "boolean"),
        (["2026-01-01", "31/12/2026"], "date"),
        (["1", "x"], "string"),
        ([], "string"),
        (["02134", "90210"], "string"),  # zip codes keep their leading zeros
        (["0", "0.5", "10"], "float"),  # a zero, or a decimal below one, is still a number
        (["007"], "string"),
    ],
)
def test_type_is_inferred_from_every_value(values, expected):
    sniffer = TypeSniffer()
    for value in values:
        sniffer.add(value)
    assert sniffer.result() == expected


def test_finalise_replaces_inferred_types_only():
    columns = map_header(["email", "n"], PEOPLE)
    final = finalise(columns, {"n": "float"})
    assert final[1].type == "number" and final[0].type == "email"


def test_seen_keys_report_the_first_line_of_a_duplicate():
    with SeenKeys() as seen:
        assert seen.first_line("email\0a@x.com", 2) is None
        assert seen.first_line("email\0b@x.com", 3) is None
        assert seen.first_line("email\0a@x.com", 9) == 2


def test_duplicate_keys_fold_the_case_of_emails_only():
    assert identity_key("email", " Ana@Example.COM ") == identity_key("email", "ana@example.com")
    assert identity_key("external_id", "ABC") != identity_key("external_id", "abc")
    assert identity_key("company_id", "Acme") != identity_key("company_id", "acme")
    assert identity_key("external_id", " ABC ") == identity_key("external_id", "ABC") == "external_id\0ABC"


def test_an_existing_attribute_is_matched_whatever_the_case_and_written_under_its_own_name():
    plan = plan_attributes(map_header(["email", "seats"], PEOPLE), PEOPLE, [_attr("Seats", "integer")], [])

    assert plan.create == []
    assert [(c.header, c.target, c.type) for c in plan.columns if c.custom] == [("seats", "Seats", "integer")]
    with pytest.raises(FileRejectedError, match="'account tier' is already a custom attribute of company data"):
        plan_attributes(map_header(["email", "account tier"], PEOPLE), PEOPLE, [], [_attr("Account Tier")])
