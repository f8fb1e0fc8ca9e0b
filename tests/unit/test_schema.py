"""schema.RowValidator, build_schema and parse_date: coercion, empty cells, and complete, fixable problems."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

import pytest
from jsonschema import Draft202012Validator

from intercom_importer.mapping import COMPANIES, PEOPLE, map_header
from intercom_importer.report import neutralise
from intercom_importer.schema import FORMULA_PREFIXES, MAX_TEXT, Problem, RowValidator, build_schema, parse_date

pytestmark = pytest.mark.unit

PEOPLE_HEADER = ["E-mail", "Signed up", "Unsubscribed", "Owner", "Role", "Score", "Full name"]
# Score is a custom (string) column; a "number" comes from the companies' "MRR".


def utc(*args: int) -> int:
    return calendar.timegm(datetime(*args, tzinfo=UTC).utctimetuple())


def validator(header: list[str] = PEOPLE_HEADER, import_type: str = PEOPLE, **kw) -> RowValidator:
    return RowValidator(map_header(header, import_type), import_type, **kw)


def check(cells: dict[str, str], header: list[str] = PEOPLE_HEADER, import_type: str = PEOPLE, **kw):
    """Validate one row given as header -> cell (missing headers are empty cells)."""
    row = [cells.get(h, "") for h in header]
    return validator(header, import_type, **kw).check(7, row, len(header))


def record_of(cells: dict[str, str], **kw) -> dict:
    record, problems = check(cells, **kw)
    assert problems == []
    assert record is not None
    return record


def problems_of(cells: dict[str, str], **kw) -> list[Problem]:
    record, problems = check(cells, **kw)
    assert record is None
    return problems


# --- coercion ------------------------------------------------------------------------------------


def test_valid_row_is_coerced_to_intercom_types():
    record = record_of(
        {
            "E-mail": "  Ana@Example.COM ",
            "Signed up": "2026-11-28",
            "Unsubscribed": "Yes",
            "Owner": "42",
            "Role": "Lead",
            "Score": "high",
            "Full name": "Ana Lima",
        }
    )

    assert record == {
        "email": "ana@example.com",
        "signed_up_at": utc(2026, 11, 28),
        "unsubscribed_from_emails": True,
        "owner_id": 42,
        "role": "lead",
        "Score": "high",
        "name": "Ana Lima",
    }


def test_empty_cells_are_left_out_of_the_record():
    record = record_of({"E-mail": "a@example.com", "Full name": "   "})

    assert record == {"email": "a@example.com"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-28", utc(2026, 11, 28)),
        ("2026-11-28T09:30:00Z", utc(2026, 11, 28, 9, 30)),
        ("2026-11-28T09:30:00z", utc(2026, 11, 28, 9, 30)),
        ("2026-11-28T09:30:00+02:00", utc(2026, 11, 28, 7, 30)),
        ("2026-11-28T09:30:00-05:00", utc(2026, 11, 28, 14, 30)),
        ("2026-11-28 09:30", utc(2026, 11, 28, 9, 30)),
        ("1795858200", 1795858200),
        ("1795858200123", 1795858200),
    ],
    ids=["date", "Z", "lower-z", "plus-offset", "minus-offset", "space", "unix-s", "unix-ms"],
)
def test_parse_date_returns_unix_seconds(text: str, expected: int):
    assert parse_date(text) == expected


def test_parse_date_reads_slashed_date_day_first():
    assert parse_date("03/04/2026", day_first=True) == utc(2026, 4, 3)


def test_parse_date_reads_slashed_date_month_first():
    assert parse_date("03/04/2026", day_first=False) == utc(2026, 3, 4)


def test_validator_day_first_false_reads_us_dates():
    record = record_of({"E-mail": "a@example.com", "Signed up": "12/31/2026"}, day_first=False)

    assert record["signed_up_at"] == utc(2026, 12, 31)


TRUE_CELLS = ["true", "TRUE", "yes", "Yes", "1", "Y", "y"]
FALSE_CELLS = ["false", "False", "no", "NO", "0", "N", "n"]


@pytest.mark.parametrize(("text", "expected"), [(t, True) for t in TRUE_CELLS] + [(f, False) for f in FALSE_CELLS])
def test_boolean_words_are_read_in_any_case(text: str, expected: bool):
    record = record_of({"E-mail": "a@example.com", "Unsubscribed": text})

    assert record["unsubscribed_from_emails"] is expected


def test_integer_keeps_its_sign():
    assert record_of({"E-mail": "a@example.com", "Owner": "-7"})["owner_id"] == -7


@pytest.mark.parametrize(("text", "expected"), [("19.99", 19.99), ("20", 20.0), (".5", 0.5), ("-3.25", -3.25)])
def test_number_is_coerced_to_float(text: str, expected: float):
    record, problems = check({"company_id": "c1", "MRR": text}, header=["company_id", "MRR"], import_type=COMPANIES)

    assert problems == []
    assert record == {"company_id": "c1", "monthly_spend": expected}


@pytest.mark.parametrize(("text", "expected"), [("'=1+1", "=1+1"), ("'+44 20 7946 0000", "+44 20 7946 0000")])
def test_neutralised_cell_loses_its_leading_apostrophe(text: str, expected: str):
    assert record_of({"E-mail": "a@example.com", "Score": text})["Score"] == expected


def test_apostrophe_before_ordinary_text_is_kept():
    assert record_of({"E-mail": "a@example.com", "Score": "'quoted"})["Score"] == "'quoted"


@pytest.mark.parametrize("prefix", FORMULA_PREFIXES)
def test_error_file_neutralisation_round_trips(prefix: str):
    original = f"{prefix}value"
    assert neutralise(original) != original

    reuploaded = record_of({"E-mail": "a@example.com", "Score": neutralise(original)})
    first = record_of({"E-mail": "a@example.com", "Score": original})

    assert reuploaded == first


# --- problems ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "email",
    ["ana@example.com.", "ana lima@example.com", "ana@", "ana@example", "@example.com", "ana@@example.com"],
    ids=["trailing-dot", "space", "no-domain", "no-tld", "no-local-part", "two-at"],
)
def test_invalid_email_is_reported_with_the_column_header(email: str):
    problems = problems_of({"E-mail": email})

    assert problems == [
        Problem(
            7,
            "E-mail",
            email,
            "is not a valid email address: use the form name@example.com, with no spaces, "
            "invisible characters or trailing dot",
        )
    ]


def test_email_with_zero_width_space_names_the_invisible_character():
    (problem,) = problems_of({"E-mail": "ana@example.com\u200b"})

    assert "invisible character" in problem.message
    assert problem.value == "ana@example.com\\u200b"


def test_reported_values_show_control_and_bidi_characters_as_escapes():
    (problem,) = problems_of({"E-mail": "a@example.com", "Signed up": "1/1/2026\n=cmd\u202e\x07"})

    assert problem.value == "1/1/2026\\n=cmd\\u202e\\u0007"
    assert problem.value.isprintable()


def test_impossible_slashed_date_is_not_a_real_calendar_date():
    (problem,) = problems_of({"E-mail": "a@example.com", "Signed up": "31/02/2026"})

    assert problem.column == "Signed up"
    assert problem.value == "31/02/2026"
    assert "not a real calendar date" in problem.message
    assert "DD/MM/YYYY" in problem.message


def test_impossible_iso_date_is_not_a_real_calendar_date():
    (problem,) = problems_of({"E-mail": "a@example.com", "Signed up": "2026-02-30"})

    assert "not a real calendar date" in problem.message


def test_unreadable_date_gives_the_accepted_formats():
    (problem,) = problems_of({"E-mail": "a@example.com", "Signed up": "next tuesday"})

    assert problem.message.startswith("is not a date that can be read: use YYYY-MM-DD")


def test_row_with_too_many_cells_gives_both_counts_and_a_fix():
    result = validator().check(9, ["a@example.com", "", "", "", "", "", "Lima", "Ana"], len(PEOPLE_HEADER))

    assert result == (
        None,
        [
            Problem(
                9,
                "",
                "",
                "has 8 cells but the header has 7 columns: a value probably contains the delimiter: put that "
                "value in double quotes",
            )
        ],
    )


def test_row_with_too_few_cells_gives_both_counts_and_a_fix():
    record, problems = validator().check(9, ["a@example.com", "2026-01-01"], len(PEOPLE_HEADER))

    assert record is None
    assert len(problems) == 1
    assert problems[0].message.startswith("has 2 cells but the header has 7 columns: add the missing cells")


def test_text_over_255_characters_is_reported_with_its_length():
    (problem,) = problems_of({"E-mail": "a@example.com", "Full name": "x" * (MAX_TEXT + 1)})

    assert problem.column == "Full name"
    assert problem.message.startswith(f"is {MAX_TEXT + 1} characters long, over the limit of {MAX_TEXT}")
    assert problem.value.endswith("…")


def test_text_of_exactly_255_characters_is_accepted():
    assert record_of({"E-mail": "a@example.com", "Full name": "x" * MAX_TEXT})["name"] == "x" * MAX_TEXT


def test_every_problem_of_a_row_is_reported_at_once_with_headers_and_fixes():
    problems = problems_of(
        {
            "E-mail": "not-an-email",
            "Signed up": "31/02/2026",  # passes the schema, fails as a calendar date
            "Unsubscribed": "maybe",
            "Owner": "4.5",
            "Role": "admin",
        }
    )

    by_column = {p.column: p.message for p in problems}
    assert set(by_column) == {"E-mail", "Signed up", "Unsubscribed", "Owner", "Role"}
    assert by_column["Role"].endswith("use 'user' or 'lead'")
    assert by_column["Owner"].endswith("use a whole number without separators, e.g. 42")
    assert by_column["Unsubscribed"].endswith("use true/false, yes/no or 1/0")
    assert "not a real calendar date" in by_column["Signed up"]
    assert all(p.line == 7 for p in problems)


IDENTITY_HEADER = ["E-mail", "User ID", "Role", "Full name"]


def test_user_role_without_email_or_external_id_is_a_problem_of_the_role_column():
    (problem,) = problems_of({"Role": " User ", "Full name": "Nobody"}, header=IDENTITY_HEADER)

    assert (problem.line, problem.column, problem.value) == (7, "Role", "User")
    # says plainly what is wrong (not "'user' is 'user' but ...", issue #15) and how to fix it
    assert problem.message.startswith("a user needs an email or external_id, and this row has neither: ")
    assert "fill in the email or external_id, or set the role to 'lead'" in problem.message
    assert problem.kind == "Role: a user needs an email or external_id, and this row has neither"


@pytest.mark.parametrize(
    "cells",
    [
        {"Role": "user", "E-mail": "a@example.com"},
        {"Role": "user", "User ID": "u-1"},
        {"Role": "lead", "Full name": "Visitor"},
        {"Full name": "Visitor"},  # no role: a lead
    ],
    ids=["user-with-email", "user-with-external-id", "lead-without-identifier", "no-role-without-identifier"],
)
def test_rows_that_can_be_their_role_are_valid(cells):
    assert record_of(cells, header=IDENTITY_HEADER)


def test_user_role_with_an_invalid_email_reports_the_email_only():
    (problem,) = problems_of({"Role": "user", "E-mail": "not-an-email"}, header=IDENTITY_HEADER)

    assert problem.column == "E-mail"


def test_empty_company_id_is_required_and_named_by_its_header():
    (problem,) = problems_of({"Name": "Acme"}, header=["ID", "Name"], import_type=COMPANIES)

    assert problem.column == "ID"
    assert "is required and empty: fill it in" in problem.message


# --- build_schema --------------------------------------------------------------------------------


def test_people_schema_is_a_valid_draft_2020_12_schema():
    schema = build_schema(map_header(PEOPLE_HEADER, PEOPLE), PEOPLE)

    Draft202012Validator.check_schema(schema)
    assert "required" not in schema


def test_companies_schema_is_valid_and_requires_company_id():
    header = ["company_id", "name", "plan", "size", "website", "industry", "monthly_spend", "remote_created_at"]
    schema = build_schema(map_header(header, COMPANIES), COMPANIES)

    Draft202012Validator.check_schema(schema)
    assert schema["required"] == ["company_id"]
    assert schema["additionalProperties"] is False
