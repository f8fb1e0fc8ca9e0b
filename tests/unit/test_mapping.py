"""mapping.map_header and normalise: standard attributes, aliases, custom columns, header problems."""

from __future__ import annotations

import pytest

from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import COMPANIES, PEOPLE, Column, map_header, normalise

pytestmark = pytest.mark.unit


def targets(header: list[str], import_type: str = PEOPLE) -> dict[str, str]:
    return {c.header: c.target for c in map_header(header, import_type)}


def rejection(header: list[str], import_type: str = PEOPLE) -> str:
    with pytest.raises(FileRejectedError) as caught:
        map_header(header, import_type)
    return caught.value.message


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("  E-Mail Address ", "e_mail_address"), ("User ID", "user_id"), ("signed_up_at", "signed_up_at"), ("---", "")],
)
def test_normalise_folds_case_spaces_and_punctuation(raw: str, expected: str):
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    ("header", "target"),
    [
        ("E-mail", "email"),
        ("Full name", "name"),
        ("User ID", "external_id"),
        ("Signed up", "signed_up_at"),
        ("Phone Number", "phone"),
        ("EMAIL", "email"),
    ],
)
def test_people_alias_maps_to_standard_attribute(header: str, target: str):
    column = next(c for c in map_header(["id", header], PEOPLE) if c.header == header)

    assert column.target == target
    assert column.custom is False


def test_people_standard_columns_carry_their_types():
    columns = {c.target: c.type for c in map_header(["email", "Signed up", "Unsubscribed", "Owner", "Role"], PEOPLE)}

    assert columns == {
        "email": "email",
        "signed_up_at": "date",
        "unsubscribed_from_emails": "boolean",
        "owner_id": "integer",
        "role": "role",
    }


@pytest.mark.parametrize(
    ("header", "target"),
    [("Company", "name"), ("Employees", "size"), ("MRR", "monthly_spend"), ("Created at", "remote_created_at")],
)
def test_companies_alias_maps_to_standard_attribute(header: str, target: str):
    assert targets(["company_id", header], COMPANIES)[header] == target


def test_companies_id_column_is_the_company_id():
    assert targets(["ID", "Name"], COMPANIES) == {"ID": "company_id", "Name": "name"}


def test_unknown_column_becomes_custom_attribute_named_by_trimmed_header():
    columns = map_header(["email", "  Plan Tier "], PEOPLE)

    # its type is inferred from the values unless the mapping declares it
    assert columns[1] == Column(index=1, header="  Plan Tier ", target="Plan Tier", type="infer", custom=True)


def test_column_indexes_are_positions_in_the_file():
    columns = map_header(["email", "error", "name"], PEOPLE)

    assert [(c.index, c.target) for c in columns] == [(0, "email"), (2, "name")]


def test_column_round_trips_through_dict():
    column = map_header(["email", "Plan"], PEOPLE)[1]

    assert Column.from_dict(column.to_dict()) == column


def test_two_columns_mapping_to_one_attribute_are_rejected_naming_both():
    message = rejection(["name", "email", "E-mail"])

    assert "column 3 ('E-mail')" in message
    assert "column 2" in message
    assert "'email'" in message


def test_blank_header_cell_is_rejected_with_its_column_number():
    message = rejection(["email", "name", "  "])

    assert "column 3 has no name" in message


def test_people_file_without_identifier_column_is_rejected_with_the_fix():
    message = rejection(["name", "phone"], PEOPLE)

    assert "no identifier column" in message
    assert "'email'" in message
    assert "'external_id'" in message


@pytest.mark.parametrize("identifier", ["email", "external_id", "id", "User ID"])
def test_people_file_with_any_identifier_column_is_accepted(identifier: str):
    assert len(map_header([identifier, "name"], PEOPLE)) == 2


def test_companies_file_without_company_id_is_rejected():
    message = rejection(["name", "plan"], COMPANIES)

    assert "no 'company_id' column" in message


@pytest.mark.parametrize("bad", ["plan.tier", "price $", "a/b"])
def test_custom_name_with_forbidden_character_is_rejected(bad: str):
    message = rejection(["email", bad])

    assert f"column 2 ({bad!r})" in message
    assert "rename the column" in message


@pytest.mark.parametrize("extra", ["error_line", "error_column", "error", "Error Line"])
def test_error_file_columns_are_ignored(extra: str):
    columns = map_header(["email", "name", extra], PEOPLE)

    assert [c.target for c in columns] == ["email", "name"]


def test_every_header_problem_is_reported_in_one_message():
    message = rejection(["name", "", "a.b", "Full name"])

    assert "column 2 has no name" in message
    assert "column 3 ('a.b')" in message
    assert "column 4 ('Full name') and column 1" in message
    assert "no identifier column" in message


def test_unknown_import_type_is_rejected():
    assert "Unknown import type 'deals'" in rejection(["email"], "deals")
