"""The bad-input corpus (tests/corpus/) through the validator's reading, mapping and row checks.

Each case asserts the message the user gets: what is wrong, where (line, column) and how to fix it, or
that the file is read correctly. ``validate`` combines the pieces as the validator does
(``CsvStream`` -> import type -> ``map_header`` -> ``RowValidator.check`` per row), without S3, the job
store or Intercom. In-file duplicates and Intercom's attribute cap are checked elsewhere (``intercom_importer.validate``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from corpus.make_corpus import CASES, large_cases
from intercom_importer.csv_reader import BLOCK, CsvStream, Dialect
from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import map_header
from intercom_importer.schema import Problem, RowValidator
from intercom_importer.validate.header import guess_import_type

pytestmark = pytest.mark.unit

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
LARGE = large_cases()
EMAIL_FIX = "use the form name@example.com, with no spaces, invisible characters or trailing dot"
DATE_FIX = "use YYYY-MM-DD, an ISO 8601 date-time (2026-11-28T09:30:00Z), DD/MM/YYYY, or unix seconds"


@dataclass
class Checked:
    line: int
    cells: list[str]
    record: dict[str, Any] | None
    problems: list[Problem]


@dataclass
class Outcome:
    rejection: str | None = None
    dialect: Dialect | None = None
    header: list[str] = field(default_factory=list)
    import_type: str = ""
    rows: list[Checked] = field(default_factory=list)
    blank_lines: int = 0

    def row(self, line: int) -> Checked:
        [row] = [r for r in self.rows if r.line == line]
        return row

    def problem(self, line: int) -> Problem:
        [problem] = self.row(line).problems
        return problem


def validate(data: bytes, import_type: str | None = None) -> Outcome:
    """Read, map and check every row the way the validator does; a rejection is the user's message."""
    try:
        stream = CsvStream(io.BytesIO(data))
        kind = import_type or guess_import_type(stream.header)
        columns = map_header(stream.header, kind)
        validator = RowValidator(columns, kind)
        rows = [Checked(r.line, r.cells, *validator.check(r.line, r.cells, len(stream.header))) for r in stream]
    except FileRejectedError as exc:
        return Outcome(rejection=exc.message)
    return Outcome(
        dialect=stream.dialect, header=stream.header, import_type=kind, rows=rows, blank_lines=stream.blank_lines
    )


def corpus(name: str) -> bytes:
    return (CORPUS / name).read_bytes()


def rejection(name: str) -> str:
    outcome = validate(LARGE[name] if name in LARGE else corpus(name))
    assert outcome.rejection is not None, f"{name} was accepted: {outcome.rows}"
    return outcome.rejection


# ------------------------------------------------------------------------------------- the corpus
def test_committed_corpus_matches_its_generator():
    stale = [name for name, data in CASES.items() if corpus(name) != data]

    assert not stale, "run python tests/corpus/make_corpus.py"


def test_committed_corpus_stays_small():
    assert sum(p.stat().st_size for p in CORPUS.iterdir() if p.is_file()) < 64 * 1024


@pytest.mark.parametrize("name", sorted({*CASES, *LARGE}))
def test_no_case_ends_in_a_traceback(name):
    data = LARGE[name] if name in LARGE else corpus(name)

    outcome = validate(data)  # anything but FileRejectedError would escape here and fail the test

    messages = [outcome.rejection] if outcome.rejection else [p.message for r in outcome.rows for p in r.problems]
    for message in messages:
        assert "Traceback" not in message
        assert message[:1].isupper() or message.startswith(("is ", "has ")), message


# ------------------------------------------------------------------------------ file-level problems
def test_empty_file_is_rejected_saying_it_is_empty():
    assert rejection("empty.csv") == "The file is empty. Upload a CSV file with a header row and data rows."


def test_header_only_file_is_rejected_saying_there_are_no_data_rows():
    message = rejection("header_only.csv")

    assert message.startswith("The file has a header row but no data rows, so there is nothing to import.")
    assert "Add one row per contact or company under the header" in message


def test_header_followed_only_by_blank_lines_is_rejected_saying_there_are_no_data_rows():
    assert rejection("header_and_blank_lines.csv").startswith(
        "The file has a header row but no data rows, so there is nothing to import."
    )


def test_blank_line_before_the_header_is_taken_as_the_header_and_rejected_naming_its_empty_columns():
    message = rejection("blank_line_before_header.csv")

    assert message.startswith("The header row cannot be imported: column 1 has no name: give every column a header")


def test_file_without_header_row_is_rejected_saying_the_first_line_looks_like_data():
    message = rejection("no_header_row.csv")

    assert message.startswith("Line 1 looks like data, not a header row: 'alice@example.com' is an email address.")
    assert "The first line must name the columns, for example: email,name,external_id" in message


def test_missing_identifier_column_is_rejected_naming_the_columns_that_would_do():
    message = rejection("missing_identifier.csv")

    assert message.startswith("The header row cannot be imported: no identifier column")
    assert "needs an 'email' or 'external_id' (or 'user_id') column" in message


def test_duplicate_headers_are_rejected_naming_both_columns_of_each_pair():
    message = rejection("duplicate_headers.csv")

    assert "column 3 ('full name') and column 2 ('Name') both map to 'name': keep one of them" in message
    assert "column 5 ('plan') and column 4 ('plan') both map to 'plan'" in message


def test_blank_header_is_rejected_naming_its_position():
    message = rejection("blank_header.csv")

    assert "column 2 has no name: give every column a header or delete the empty column" in message


def test_unbalanced_quote_is_rejected_at_the_line_where_it_opens():
    message = rejection("unbalanced_quote.csv")

    assert message.startswith("Line 2: a quoted value is never closed (unbalanced double quote)")
    assert 'Close the quote or remove the stray " character.' in message


def test_nul_byte_is_rejected_with_its_line():
    message = rejection("nul_bytes.csv")

    assert message.startswith("Line 2: the file contains NUL bytes, so it is not a plain-text CSV")
    assert "Re-export it from the source as CSV UTF-8." in message


def test_nul_byte_after_the_first_block_is_rejected_with_its_line():
    assert rejection("nul_after_first_block.csv").startswith("Line 3002: contains a NUL byte")


def test_excel_workbook_renamed_csv_is_rejected_saying_what_it_is():
    message = rejection("excel_workbook.csv")

    assert message.startswith("This file is a ZIP archive (an Excel .xlsx/.xlsm workbook or another Office file)")
    assert "save or export it as 'CSV UTF-8 (comma delimited)'" in message


def test_image_renamed_csv_is_rejected_saying_what_it_is():
    message = rejection("image.csv")

    assert message.startswith("This file is a PNG image, not a CSV text file.")


# ------------------------------------------------------------------------- encodings and dialects
def test_utf8_bom_is_not_part_of_the_first_column_name():
    outcome = validate(corpus("utf8_bom.csv"))

    assert outcome.dialect.encoding_label == "UTF-8 with BOM"
    assert outcome.header == ["email", "name"]
    assert outcome.row(2).record == {"email": "zoe@example.com", "name": "Zoë Ågren"}


def test_utf16_excel_unicode_text_is_decoded_and_tab_separated():
    outcome = validate(corpus("utf16_excel_unicode_text.csv"))

    assert outcome.dialect.encoding_label == "UTF-16 (Excel 'Unicode text')"
    assert outcome.dialect.delimiter == "\t"
    assert outcome.row(2).record == {"email": "rene@example.com", "name": "René Ørsted", "city": "København"}


def test_windows_1252_accents_are_decoded_without_mojibake():
    outcome = validate(corpus("windows1252_accents.csv"))
    record = outcome.row(2).record

    assert outcome.dialect.encoding == "cp1252"
    assert record["name"] == "François Müller \u2013 Café"
    assert record["city"] == "Besançon"
    assert not any(mark in str(record) for mark in ("Ã", "â€", "\ufffd"))


def test_windows_1252_accent_after_the_first_block_is_decoded_as_windows_1252():
    # The first 64 KiB are plain ASCII, so nothing tells UTF-8 from Windows-1252 yet; a later byte that
    # UTF-8 refuses is read as Windows-1252 instead of rejecting the file or producing mojibake.
    assert len(LARGE["windows1252_after_first_block.csv"]) > BLOCK

    outcome = validate(LARGE["windows1252_after_first_block.csv"])

    assert outcome.rejection is None
    text = str([r.cells for r in outcome.rows])
    assert not any(mark in text for mark in ("Ã", "â€", "\ufffd"))
    assert any(accent in text for accent in ("é", "ë", "ü"))


@pytest.mark.parametrize(
    ("name", "delimiter", "person"), [("semicolon.csv", ";", "Martin, Alice"), ("tab.csv", "\t", "Alice, Martin")]
)
def test_semicolon_and_tab_delimiters_are_sniffed_and_commas_stay_in_values(name, delimiter, person):
    outcome = validate(corpus(name))

    assert outcome.dialect.delimiter == delimiter
    assert outcome.header == ["email", "name", "plan"]
    assert outcome.row(2).record["name"] == person


def test_excel_sep_line_sets_the_delimiter_and_is_not_the_header():
    outcome = validate(corpus("excel_sep_line.csv"))

    assert outcome.dialect.delimiter == ";"
    assert outcome.dialect.skipped_lines == 1
    assert outcome.header == ["email", "name"]
    assert outcome.row(3).record == {"email": "alice@example.com", "name": "Alice"}


def test_crlf_line_endings_leave_no_carriage_return_in_cells():
    outcome = validate(corpus("crlf.csv"))

    assert [r.line for r in outcome.rows] == [2, 3]
    assert outcome.header == ["email", "name", "plan"]
    assert not any("\r" in cell for r in outcome.rows for cell in r.cells)


def test_quoted_newlines_and_doubled_quotes_are_one_value_and_lines_stay_physical():
    outcome = validate(corpus("quoted_newlines_and_quotes.csv"))
    alice = outcome.row(2).record

    assert [r.line for r in outcome.rows] == [2, 4]  # Bob's row starts on physical line 4
    assert alice["name"] == 'Alice "Al" Martin'
    assert alice["notes"].splitlines() == ["first line", "second line"]


def test_blank_lines_of_a_spreadsheet_export_are_not_rows_and_later_rows_keep_their_lines():
    outcome = validate(corpus("blank_lines.csv"))

    assert [(r.line, r.cells[0], r.problems) for r in outcome.rows] == [
        (2, "ada@example.com", []),
        (4, "grace@example.com", []),
        (8, "alan@example.com", []),
    ]
    assert outcome.blank_lines == 6


# ------------------------------------------------------------------------------------ row problems
def test_rows_with_too_many_or_too_few_cells_are_reported_with_the_likely_cause():
    outcome = validate(corpus("ragged_rows.csv"))

    too_many, too_few = outcome.problem(2), outcome.problem(3)

    assert too_many.message == (
        "has 4 cells but the header has 3 columns: a value probably contains the delimiter: "
        "put that value in double quotes"
    )
    assert too_few.message == (
        "has 2 cells but the header has 3 columns: add the missing cells (empty cells are fine) so every "
        "row has one per column"
    )
    assert outcome.row(4).problems == []


@pytest.mark.parametrize(
    ("line", "value"),
    [(2, "alice@example.com."), (3, "bob stone@example.com"), (4, "carol@"), (5, "dave.example.com")],
    ids=["trailing dot", "space inside", "missing domain", "no at sign"],
)
def test_invalid_email_is_reported_with_line_column_value_and_the_expected_form(line, value):
    problem = validate(corpus("invalid_emails.csv")).problem(line)

    assert (problem.line, problem.column, problem.value) == (line, "email", value)
    assert problem.message == f"is not a valid email address: {EMAIL_FIX}"


def test_zero_width_character_in_email_is_made_visible_and_named():
    problem = validate(corpus("invalid_emails.csv")).problem(6)

    assert problem.value == "er\\u200bin@example.com"
    assert problem.message == (
        f"is not a valid email address: it contains an invisible character (zero-width space or BOM): {EMAIL_FIX}"
    )


def test_valid_email_next_to_invalid_ones_is_accepted():
    assert validate(corpus("invalid_emails.csv")).row(7).record == {"email": "frank@example.com", "name": "valid"}


def test_emails_differing_only_in_case_or_surrounding_spaces_are_trimmed_and_lower_cased():
    outcome = validate(corpus("email_case_and_spaces.csv"))

    assert [r.problems for r in outcome.rows] == [[], [], []]
    assert {r.record["email"] for r in outcome.rows} == {"alice@example.com"}


def test_cell_of_200_kb_is_read_whole_and_reported_as_too_long():
    outcome = validate(LARGE["cell_200kb.csv"])
    problem = outcome.problem(2)

    assert len(outcome.row(2).cells[2]) == 200 * 1024  # the reader keeps it whole
    assert (problem.column, problem.message) == (
        "notes",
        "is 204800 characters long, over the limit of 255: shorten it to at most 255 characters",
    )
    assert len(problem.value) <= 80  # the report shows a prefix, not 200 KB


def test_standard_text_attribute_over_255_characters_is_reported_as_too_long():
    problem = validate(LARGE["cell_200kb.csv"]).problem(3)

    assert (problem.line, problem.column) == (3, "name")
    assert problem.message == "is 300 characters long, over the limit of 255: shorten it to at most 255 characters"


def test_hundreds_of_columns_are_read_and_mapped_without_error():
    # Intercom's cap on custom attributes is enforced by the attribute plan (``validate.opening``), not here.
    outcome = validate(LARGE["columns_300.csv"])

    assert outcome.rejection is None
    assert len(outcome.header) == 301
    assert outcome.row(2).problems == []
    assert outcome.row(2).record["custom 299"] == "299"


def test_html_and_spreadsheet_formulas_are_kept_verbatim_as_data():
    outcome = validate(corpus("html_and_formulas.csv"))

    assert outcome.row(2).record == {
        "email": "alice@example.com",
        "name": "<b>Alice</b><script>alert(1)</script>",
        "phone": "+44 20 7946 0000",
        "notes": '=HYPERLINK("http://x.test","x")',
    }
    assert outcome.row(3).record == {"email": "bob@example.com", "name": "@SUM(A1:A2)", "phone": "-1", "notes": "+1+1"}


def test_formula_neutralised_by_our_error_file_gets_its_apostrophe_removed():
    assert validate(corpus("html_and_formulas.csv")).row(4).record["notes"] == "=1+1"


@pytest.mark.parametrize(
    ("line", "value", "what"),
    [
        (2, "31/02/2024", "is not a real calendar date when read as DD/MM/YYYY"),
        (3, "2024-13-01", "is not a real calendar date"),
        (4, "next tuesday", "is not a date that can be read"),
        (5, "03/04/24", "is not a date that can be read"),
    ],
    ids=["31 February", "month 13", "words", "two-digit year"],
)
def test_date_that_does_not_parse_is_reported_with_the_accepted_forms(line, value, what):
    problem = validate(corpus("bad_dates.csv")).problem(line)

    assert (problem.column, problem.value) == ("signed_up_at", value)
    assert problem.message == f"{what}: {DATE_FIX}"


def test_leap_day_is_a_real_date():
    assert validate(corpus("bad_dates.csv")).row(6).record["signed_up_at"] == 1709164800
