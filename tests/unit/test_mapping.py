"""mapping.map_header and normalise: standard attributes, aliases, custom columns, header problems."""

from __future__ import annotations

import pytest

from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import COMPANIES, PEOPLE, Column, error_file_of, map_header, normalise

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


def test_people_company_columns_and_their_aliases_map_to_typed_company_attributes():
    header = [
        "email",
        "company_id",
        "Company",
        "Company Plan",
        "Company Employees",
        "Company URL",
        "company_industry",
        "Company MRR",
    ]

    columns = {c.header: (c.target, c.type, c.custom) for c in map_header(header, PEOPLE)}

    assert columns == {
        "email": ("email", "email", False),
        "company_id": ("company_id", "string", False),
        "Company": ("company_name", "string", False),
        "Company Plan": ("company_plan", "string", False),
        "Company Employees": ("company_size", "integer", False),
        "Company URL": ("company_website", "string", False),
        "company_industry": ("company_industry", "string", False),
        "Company MRR": ("company_monthly_spend", "number", False),
    }


@pytest.mark.parametrize("header", ["industry", "plan", "size", "website", "monthly_spend"])
def test_company_attribute_names_are_contact_custom_columns_in_a_people_file(header: str):
    (_, column) = map_header(["email", header], PEOPLE)

    assert (column.target, column.custom) == (header, True)


def test_people_company_attribute_column_without_company_id_is_rejected():
    message = rejection(["email", "company_plan"])

    assert "column 2 ('company_plan') sets the contact's company's 'plan'" in message
    assert "no 'company_id' column" in message


def test_a_company_name_without_company_id_is_rejected_not_dropped():
    # Intercom identifies a company by its company_id only: the names would otherwise be lost unseen
    message = rejection(["email", "Company"])

    assert "column 2 ('Company') sets the contact's company's 'name'" in message
    assert "add a company_id column, or ignore this column" in message


@pytest.mark.parametrize(
    ("header", "target"),
    [("company_plan", "plan"), ("company_website", "website"), ("company_industry", "industry"),
     ("company_monthly_spend", "monthly_spend"), ("company_size", "size")],
)  # fmt: skip
def test_companies_file_accepts_the_people_file_company_column_names(header: str, target: str):
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


@pytest.mark.parametrize(
    "extra", ["error_line", "error_column", "error", "Error Line", "import job-0123456789abcdef0123"]
)
def test_error_file_columns_are_ignored(extra: str):
    columns = map_header(["email", "name", extra], PEOPLE)

    assert [c.target for c in columns] == ["email", "name"]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (
            ["email", "error_line", "error_column", "error", "import job-0123456789abcdef0123"],
            (True, "job-0123456789abcdef0123"),
        ),
        (
            ["email", "Error_Line", "error_column", " error ", "Import job-0123456789abcdef0123"],
            (True, "job-0123456789abcdef0123"),
        ),
        (["email", "error_line", "error_column", "error"], (True, None)),  # written before it named its import
        (["email", "error", "import job-0123456789abcdef0123"], (False, None)),
        (["email", "name"], (False, None)),
        ([], (False, None)),
    ],
)
def test_an_error_files_header_names_its_import(header: list[str], expected: tuple[bool, str | None]):
    assert error_file_of(header) == expected


def test_every_header_problem_is_reported_in_one_message():
    message = rejection(["name", "", "a.b", "Full name"])

    assert "column 2 has no name" in message
    assert "column 3 ('a.b')" in message
    assert "column 4 ('Full name') and column 1" in message
    assert "no identifier column" in message


def test_unknown_import_type_is_rejected():
    assert "Unknown import type 'deals'" in rejection(["email"], "deals")


def clear(*names: str) -> dict:
    return {"columns": {name: {"empty": "clear"} for name in names}}


@pytest.mark.parametrize("column", ["size", "monthly_spend", "MRR", "remote_created_at", "company_id"])
def test_companies_empty_clear_on_a_column_intercom_cannot_erase_is_refused_with_the_fix(column: str):
    header = ["company_id", "name", column] if column != "company_id" else ["company_id", "name"]
    with pytest.raises(FileRejectedError) as caught:
        map_header(header, COMPANIES, clear(column))

    message = caught.value.message
    assert f"({column!r}) maps to '" in message
    assert 'remove "empty": "clear" from its mapping' in message


@pytest.mark.parametrize("column", ["email", "external_id", "id", "role", "company_id", "company_name"])
def test_people_empty_clear_on_an_identifier_or_company_column_is_refused(column: str):
    with pytest.raises(FileRejectedError, match='remove "empty": "clear"'):
        map_header(["email", "external_id", "id", "role", "company_id", "company_name"], PEOPLE, clear(column))


def test_empty_clear_is_kept_on_columns_intercom_can_erase():
    people = map_header(["email", "phone", "unsubscribed_from_emails", "Tier"], PEOPLE, clear("phone", "Tier"))
    companies = map_header(["company_id", "industry", "Seats"], COMPANIES, clear("industry", "Seats"))

    assert {c.target: c.empty for c in people} == {
        "email": "keep",
        "phone": "clear",
        "unsubscribed_from_emails": "keep",
        "Tier": "clear",
    }
    assert {c.target: c.empty for c in companies} == {"company_id": "keep", "industry": "clear", "Seats": "clear"}


def test_a_column_named_type_is_a_custom_attribute_not_the_role():
    # "Type" in a customer list is rarely Intercom's user/lead: only "role" or "contact type" set the role
    assert targets(["email", "Type", "Contact type"], PEOPLE) == {
        "email": "email",
        "Type": "Type",
        "Contact type": "role",
    }
