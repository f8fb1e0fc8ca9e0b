"""summary.render_email, report.neutralise and report.final_status."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from intercom_importer import jobs
from intercom_importer.job_record import Job
from intercom_importer.report import final_status, neutralise
from intercom_importer.schema import Problem, problem_kind
from intercom_importer.summary import (
    FAILED_ROW_FIX,
    TEMPLATES,
    FailureGroups,
    render_email,
    template_for,
)

pytestmark = pytest.mark.unit

LINK = "https://icimport.s3.amazonaws.com/reports/job-1/errors.csv?X-Amz-Signature=abc&X-Amz-Expires=604800"
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:intercom/import-token-Ab12Cd"


def job(**changes: Any) -> Job:
    record: dict[str, Any] = {
        "job_id": "job-1",
        "bucket": "icimport-test",
        "key": "incoming/contacts.csv",
        "import_type": "people",
        "options": {
            "existing": "update",
            "role": "user",
            "invalid_rows": "skip_rows",
            "tags": ["spring", "vip"],
            "identity_trap": "report",
        },
        "rows": 120,
        "created": 70,
        "updated": 40,
        "skipped": 3,
        "failed": 2,
        "invalid": 5,
        "duration_seconds": 125.4,
        "reported_at": "2026-03-14T09:41:07.512Z",
        "problem_kinds": {"email: is not a valid email address": 4, "signed_up_at: is not a date that can be read": 1},
        "problems_sample": [
            {"line": 9, "column": "email", "value": "ana@", "message": "is not a valid email address: use name@x.com"},
            {"line": 4, "column": "email", "value": "bo b", "message": "is not a valid email address: use name@x.com"},
            {
                "line": 30,
                "column": "signed_up_at",
                "value": "31/02",
                "message": "is not a date that can be read: use YYYY-MM-DD",
            },
        ],
    }
    record.update(changes)
    return Job.from_item(record)


def render(record: Job | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "status": jobs.COMPLETED_WITH_ERRORS,
        "reason": None,
        "error_link": "",
        "link_expiry_seconds": 604800,
        "recipients": ["ops@example.com"],
        "rate_limit_per_minute": 1000,
        "token_secret": SECRET_ARN,
    }
    args.update(kw)
    return render_email(job() if record is None else record, **args)


def clean() -> Job:
    return job(failed=0, invalid=0, updated=36, unchanged=4, skipped=10, problem_kinds={}, problems_sample=[])


def text_line(email: dict[str, Any], start: str) -> str:
    [line] = [line for line in email["text"].splitlines() if line.startswith(start)]
    return line


# one finished job per template: (template, job record, status, reason)
CASES = {
    "completed": (clean(), jobs.COMPLETED, None),
    "completed_with_errors": (job(), jobs.COMPLETED_WITH_ERRORS, None),
    "rejected": (
        job(created=0, updated=0, failed=0, skipped=115),
        jobs.REJECTED,
        "5 of 120 rows are invalid and this import rejects the whole file (invalid_rows=reject_file).",
    ),
    "failed_token": (
        job(created=0, updated=0, failed=115, abort={"error": "IntercomAuthError", "message": "Unauthorized"}),
        jobs.FAILED,
        "Intercom refused the access token (HTTP 401).",
    ),
    "failed_outage": (
        job(failure={"error": "IntercomServerError", "message": "503 from Intercom"}),
        jobs.FAILED,
        "503 from Intercom",
    ),
    "failed": (
        job(rows=0, created=0, updated=0, skipped=0, failed=0, invalid=0, failure={"error": "Crash", "message": "x"}),
        jobs.FAILED,
        "The validator failed unexpectedly.",
    ),
    "incomplete": (
        job(
            chunks_total=4,
            chunks_done=2,
            failed=0,
            invalid=0,
            skipped=0,
            problem_kinds={},
            rows=400,
            created=150,
            updated=50,
        ),
        jobs.INCOMPLETE,
        "2 of 4 chunks did not finish before the job timeout.",
    ),
    "dry_run": (job(dry_run=True, api_calls=118, prepare_calls=2), jobs.COMPLETED_WITH_ERRORS, None),
}


def render_case(name: str, **kw: Any) -> dict[str, Any]:
    record, status, reason = CASES[name]
    return render(record, status=status, reason=reason, **kw)


# --- templates -----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_each_outcome_picks_its_own_template(name: str):
    record, status, _ = CASES[name]

    assert template_for(record, status).name == name


@pytest.mark.parametrize("name", list(CASES))
def test_template_headline_leads_subject_text_and_html(name: str):
    headline = TEMPLATES[name].headline

    email = render_case(name)

    assert email["subject"].startswith(f"{headline}: contacts.csv")
    assert email["text"].splitlines()[0] == headline
    assert f">{headline}</h1>" in email["html"]


@pytest.mark.parametrize("name", list(CASES))
def test_template_colour_fills_the_headline_band(name: str):
    colour = TEMPLATES[name].colour

    html = render_case(name)["html"]

    assert f'<td bgcolor="{colour}" style="background-color:{colour};' in html


def test_templates_differ_in_headline_and_band_colour_per_status():
    by_status = [TEMPLATES[n] for n in ("completed", "completed_with_errors", "rejected", "failed", "incomplete")]

    assert len({t.headline for t in TEMPLATES.values()}) == len(TEMPLATES)
    assert len({t.colour for t in [*by_status, TEMPLATES["dry_run"]]}) == 6


@pytest.mark.parametrize("status", jobs.TERMINAL)
def test_every_final_status_has_a_headline(status: str):
    template = TEMPLATES[status]

    assert template.headline and template.colour.startswith("#")


@pytest.mark.parametrize("name", list(CASES))
def test_job_id_and_status_command_appear_in_text_and_html(name: str):
    email = render_case(name)

    assert "Job id: job-1" in email["text"]
    assert "intercom-import status job-1" in email["text"]
    assert "intercom-import status job-1" in email["html"]


# --- counts, timing, settings --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("Rows read", "120"),
        ("Created", "70"),
        ("Updated", "36"),
        ("Unchanged", "4"),
        ("Skipped", "3"),
        ("Failed", "2"),
        ("Invalid", "5"),
    ],
)
def test_counts_appear_in_text_and_html(label: str, value: str):
    email = render(job(updated=36, unchanged=4))

    assert re.fullmatch(rf"{label}: +{value}", text_line(email, f"{label}:"))
    assert re.search(rf">{label}</div><div[^>]*>{value}</div>", email["html"])


def test_counts_are_listed_in_order_rows_first_then_the_outcomes_that_add_up_to_them():
    email = render(job(updated=36, unchanged=4))

    labels = ["Rows read", "Created", "Updated", "Unchanged", "Skipped", "Failed", "Invalid"]
    counts = email["text"].split("\nCounts\n", 1)[1].splitlines()[: len(labels)]
    assert [line.split(":")[0] for line in counts] == labels
    html_labels = re.findall(r"color:#59636e\">([A-Za-z ]+)</div><div", email["html"])
    assert html_labels == labels


def test_rows_read_spans_the_counts_grid_and_the_outcomes_sit_three_a_row():
    html = render()["html"]

    grid = html.split(">Counts</h2>", 1)[1].split("</table>", 1)[0]
    rows = re.findall(r"<tr>(.*?)</tr>", grid)
    assert [len(re.findall(r"<td ", row)) for row in rows] == [1, 3, 3]
    assert rows[0].startswith('<td colspan="3" width="100%"') and ">Rows read</div>" in rows[0]


def test_count_values_line_up_in_the_text_of_a_dry_run():
    email = render(job(dry_run=True, updated=36, unchanged=4))

    lines = email["text"].split("\nCounts\n", 1)[1].splitlines()[:7]
    assert lines[3] == "Would leave unchanged:  4"
    assert {len(line) - len(line.split()[-1]) for line in lines} == {len("Would leave unchanged:  ")}


def test_counts_have_thousands_separators():
    email = render(job(rows=12480, created=9160))

    assert text_line(email, "Created:").endswith(" 9,160")
    assert ">9,160</div>" in email["html"]


def test_nonzero_failed_and_invalid_counts_are_red():
    html = render()["html"]

    assert re.search(r"color:#cf222e\">2</div>", html)
    assert re.search(r"color:#cf222e\">5</div>", html)


def test_duration_and_rows_per_minute_appear_in_text_and_html():
    email = render(job(duration_seconds=3600, rows=12000))

    assert "Duration 1 h 0 min · 200 rows/minute" in email["text"]
    assert "Duration 1 h 0 min · 200 rows/minute" in email["html"]


def test_rows_per_minute_is_left_out_without_a_duration():
    email = render(job(duration_seconds=0))

    assert "rows/minute" not in email["text"]


def test_blank_lines_are_one_quiet_line_under_the_counts_in_text_and_html():
    email = render(job(blank_lines=3))

    assert text_line(email, "Duration") == "Duration 2 min 5 s · 57 rows/minute"
    assert "Duration 2 min 5 s · 57 rows/minute\n3 blank lines were ignored.\n" in email["text"]
    assert "Duration 2 min 5 s · 57 rows/minute<br>3 blank lines were ignored.</p>" in email["html"]


def test_one_blank_line_is_told_in_the_singular():
    email = render(job(blank_lines=1))

    assert email["text"].count("1 blank line was ignored.") == email["html"].count("1 blank line was ignored.") == 1


def test_blank_lines_are_not_mentioned_when_the_file_has_none():
    email = render(job(blank_lines=0))

    assert "blank line" not in email["text"] and "blank line" not in email["html"]
    assert email == render()


UNRECOGNISABLE = (
    "12 rows have no email, external_id, or phone with a name: nothing can recognise them, so every import of this "
    "file creates new contacts for them. Add an email or external_id (or a phone and a name) to update them instead."
)


def test_rows_nothing_can_recognise_are_one_note_in_text_and_html():
    email = render(job(unrecognisable_rows=12))

    assert email["text"].count(f"\n- {UNRECOGNISABLE}\n") == 1
    assert email["html"].count(f">{UNRECOGNISABLE}</td>") == 1


def test_one_row_nothing_can_recognise_is_told_in_the_singular():
    email = render(job(unrecognisable_rows=1))

    note = "1 row has no email, external_id, or phone with a name: nothing can recognise it, so every import of"
    assert email["text"].count(note) == email["html"].count(note) == 1
    assert (
        "creates a new contact for it. Add an email or external_id (or a phone and a name) to update it instead."
        in (email["text"])
    )


def test_rows_nothing_can_recognise_are_not_mentioned_when_the_file_has_none():
    email = render(job(unrecognisable_rows=0))

    assert "recognise" not in email["text"] and "recognise" not in email["html"]
    assert email == render()


def test_rows_nothing_can_recognise_are_not_mentioned_when_the_file_was_rejected():
    email = render(job(unrecognisable_rows=12, created=0, updated=0, skipped=115), status=jobs.REJECTED)

    assert "recognise" not in email["text"] and "recognise" not in email["html"]


@pytest.mark.parametrize(
    ("label", "value"),
    [
        ("Import type", "people"),
        ("Existing records", "update"),
        ("Role of new contacts", "user"),
        ("Tags", "spring, vip"),
        ("Invalid rows", "skip_rows"),
        ("Dry run", "no"),
        ("Identity trap", "report"),
        ("Column mapping", "automatic (column names)"),
    ],
)
def test_settings_used_appear_in_text_and_html(label: str, value: str):
    email = render()

    assert re.fullmatch(rf"{re.escape(label)}: +{re.escape(value)}", text_line(email, f"{label}:"))
    assert re.search(rf">{re.escape(label)}</td><td[^>]*>{re.escape(value)}</td>", email["html"])


def test_partner_appears_in_subject_settings_and_band_when_the_job_has_one():
    email = render(job(partner="acme", key="incoming/acme/contacts.csv"))

    assert email["subject"].startswith("Import completed with errors: contacts.csv from acme (")
    assert re.search(r"^Partner: +acme$", email["text"], re.MULTILINE)
    assert "contacts.csv &middot; partner acme" in email["html"]


def test_partner_is_absent_when_the_job_has_none():
    email = render()

    assert "Partner" not in email["text"]
    assert "partner" not in email["html"]


def test_uploader_and_source_ip_appear_in_the_settings_when_recorded():
    email = render(job(uploaded_by="AWS:AROAEXAMPLE:partner-acme", source_ip="203.0.113.7"))

    assert re.search(r"^Uploaded by: +AWS:AROAEXAMPLE:partner-acme \(from 203\.0\.113\.7\)$", email["text"], re.M)
    assert re.search(
        r">Uploaded by</td><td[^>]*>AWS:AROAEXAMPLE:partner-acme \(from 203\.0\.113\.7\)</td>", email["html"]
    )


def test_uploader_is_absent_when_the_job_does_not_record_it():
    assert "Uploaded by" not in render()["text"]


def test_custom_mapping_counts_its_columns_and_names_its_source():
    options = {**job().options, "mapping": {"columns": {"Customer No": "external_id", "Seats": {"type": "integer"}}}}

    assert "custom, 2 columns mapped (manifest)" in render(job(options=options))["text"]
    assert "(partner settings or manifest)" in render(job(options=options, partner="acme"))["text"]
    assert "from the partner's mapping v3" in render(job(mapping_source="from the partner's mapping v3"))["text"]


def test_role_is_not_shown_for_companies():
    assert "Role of new contacts" not in render(job(import_type="companies"))["text"]


def test_settings_are_left_out_when_the_file_was_rejected_before_they_were_read():
    email = render(job(options={}, rows=0), status=jobs.REJECTED, reason="The file is an Excel workbook.")

    assert "Settings" not in email["text"]
    assert "Settings used" not in email["html"]


# --- problems ------------------------------------------------------------------------------------


def test_problems_are_grouped_by_kind_with_count_lines_and_fix():
    email = render()

    text = email["text"]
    assert "- email: is not a valid email address: 4 rows, lines 4, 9 …" in text
    assert "  Example: bo b" in text or "  Example: ana@" in text
    assert "  Fix: use name@x.com" in text
    assert "- signed_up_at: is not a date that can be read: 1 row, line 30" in text
    assert "  Fix: use YYYY-MM-DD" in text
    assert "<strong>email: is not a valid email address</strong>" in email["html"]
    assert "Fix: use YYYY-MM-DD" in email["html"]


def test_problems_are_ordered_most_common_first():
    text = render(failed_groups=[{"kind": "Intercom refused the row: x", "count": 2, "lines": [7, 8], "fix": ""}])[
        "text"
    ]

    assert text.index("4 rows") < text.index("2 rows, lines 7, 8") < text.index("1 row, line 30")


def test_only_the_top_kinds_are_listed_and_the_rest_counted():
    kinds = {f"c{i}: is wrong": 10 - i for i in range(8)}

    email = render(job(problem_kinds=kinds, problems_sample=[]))

    assert "c4: is wrong" in email["text"] and "c5: is wrong" not in email["text"]
    assert "- and 3 more kinds of problem: see the error file" in email["text"]


def test_problem_kind_is_the_column_and_what_is_wrong_without_the_fix():
    problem = Problem(3, "Email", "x", "is not a valid email address: use the form name@example.com")

    assert problem.kind == problem_kind("Email", problem.message) == "Email: is not a valid email address"


def test_failure_groups_group_rows_by_message_without_the_values():
    groups = FailureGroups()
    groups.add(5, "email", "Intercom refused the row: Email 'a@spam.example' is blocked")
    groups.add(9, "email", "Intercom refused the row: Email 'b@spam.example' is blocked")
    groups.add(7, "", "not imported: the chunk failed 5 times (timeout). Upload these rows again to retry them.")

    [blocked, chunk] = groups.groups()

    assert blocked == {
        "kind": "email: Intercom refused the row: Email '…' is blocked",
        "count": 2,
        "lines": [5, 9],
        "fix": FAILED_ROW_FIX,
        "example": "",
    }
    assert chunk["count"] == 1 and chunk["lines"] == [7] and chunk["fix"] == ""


def test_failure_groups_ignore_request_ids_and_retries_of_the_same_refusal():
    groups = FailureGroups()
    refused = (
        "Intercom refused the row: Intercom could not process the request: Custom attribute 'seats' must be an integer"
    )
    groups.add(
        3, "custom_attributes.seats", f"{refused} [HTTP 400, code type_mismatch, request_id r-1, POST /companies]"
    )
    groups.add(
        2, "custom_attributes.seats", f"{refused} [HTTP 400, code type_mismatch, request_id r-2, POST /companies]"
    )
    groups.add(
        4, "custom_attributes.seats", f"{refused} [HTTP 400, code type_mismatch, POST /companies, after 2 retries]"
    )

    [group] = groups.groups()

    assert group["count"] == 3 and group["lines"] == [2, 3, 4]
    assert group["kind"].startswith("custom_attributes.seats: ")
    assert group["kind"].endswith("[HTTP 400, code type_mismatch, POST /companies]")


def test_failure_groups_keep_few_lines_and_bounded_kinds():
    groups = FailureGroups(max_kinds=2)
    for line in range(1, 21):
        groups.add(line, "", f"Intercom refused the row: problem number{line % 4}")

    result = groups.groups()

    assert len(result) == 3  # two kinds, then everything else under one
    assert sum(g["count"] for g in result) == 20
    assert all(len(g["lines"]) <= 6 for g in result)


# --- error file link -----------------------------------------------------------------------------


def test_error_link_and_its_expiry_are_present_when_given():
    email = render(job(error_file_key="reports/job-1/errors.csv"), error_link=LINK)

    assert LINK in email["text"]
    assert f'href="{LINK.replace("&", "&amp;")}"' in email["html"]
    expiry = "The link works until 2026-03-21 09:41 UTC (7 days after the report) at the latest."
    assert expiry in email["text"]
    assert expiry in email["html"]
    assert "The file itself stays at s3://icimport-test/reports/job-1/errors.csv" in email["text"]


def test_link_expiry_in_hours_when_shorter_than_a_day():
    email = render(error_link=LINK, link_expiry_seconds=43200)

    assert "until 2026-03-14 21:41 UTC (12 hours after the report) at the latest" in email["text"]


def test_error_link_is_absent_when_not_given():
    email = render(error_link="")

    assert "href=" not in email["html"]
    assert "Download the error file" not in email["html"]
    assert "The link works" not in email["text"]


# --- per-template content ------------------------------------------------------------------------


def test_completed_says_everything_was_imported_and_asks_nothing():
    email = render_case("completed")

    assert "All 120 rows were imported into Intercom: 70 created, 36 updated, 4 unchanged, 10 skipped." in email["text"]
    assert "What to do" not in email["text"]
    assert email["subject"] == "Import completed: contacts.csv (70 created, 36 updated, 0 with errors)"


def test_completed_with_errors_says_how_many_rows_were_not_imported_and_how_to_fix():
    email = render_case("completed_with_errors", error_link=LINK)

    assert (
        "113 of 120 rows were imported or skipped as asked (70 created, 40 updated, 0 unchanged, 3 skipped); "
        "7 were not (5 invalid, 2 failed in Intercom)." in email["text"]
    )
    assert "upload the error file itself" in email["text"]
    assert email["subject"] == "Import completed with errors: contacts.csv (70 created, 40 updated, 7 with errors)"


def test_unchanged_rows_count_as_imported_as_asked():
    email = render(job(updated=36, unchanged=4), status=jobs.COMPLETED_WITH_ERRORS)

    assert (
        "113 of 120 rows were imported or skipped as asked (70 created, 36 updated, 4 unchanged, 3 skipped);"
        in (email["text"])
    )


def test_rejected_shows_the_reason_the_fix_and_the_invalid_rows():
    email = render_case("rejected", error_link=LINK)

    assert "Reason: 5 of 120 rows are invalid" in email["text"]
    assert "Fix the file as described in the reason, then upload the file again." in email["text"]
    assert "lines 4, 9" in email["text"]
    assert email["subject"] == "Import rejected: nothing was imported: contacts.csv"


def test_rejected_before_reading_rows_shows_no_counts():
    email = render(
        job(rows=0, created=0, updated=0, skipped=0, failed=0, invalid=0, problem_kinds={}),
        status=jobs.REJECTED,
        reason="The file is an Excel workbook, not a CSV.",
    )

    assert "Counts" not in email["text"]
    assert "Rows read" not in email["html"]
    assert "Reason: The file is an Excel workbook, not a CSV." in email["text"]


def test_failed_token_names_the_secret_to_update():
    email = render_case("failed_token")

    assert "The Intercom token is invalid or revoked" in email["text"]
    assert "Update the secret intercom/import-token with a valid Intercom access token:" in email["text"]
    assert "aws secretsmanager put-secret-value --secret-id intercom/import-token" in email["text"]
    assert "--secret-id intercom/import-token --secret-string" in email["html"]
    assert email["subject"] == "Import failed: Intercom refused the access token: contacts.csv"


def test_failed_token_also_covers_a_401_during_validation():
    record = job(failure={"error": "IntercomAuthError", "message": "refused"})

    assert template_for(record, jobs.FAILED).name == "failed_token"


def test_failed_outage_says_intercom_was_unavailable_and_to_retry_later():
    email = render_case("failed_outage")

    assert "Intercom did not answer" in email["text"]
    assert "When Intercom is back, upload the file again." in email["text"]
    assert "Reason: 503 from Intercom" in email["text"]


def test_failed_other_shows_the_reason_and_the_status_command():
    email = render_case("failed")

    assert "Reason: The validator failed unexpectedly." in email["text"]
    assert "See the reason and the job's details:" in email["text"]
    assert "Counts" not in email["text"]


def test_incomplete_lists_the_chunks_that_did_not_finish():
    unfinished = [
        {"chunk": 3, "rows": 100, "first_line": 202, "last_line": 301},
        *({"chunk": i} for i in range(4, 16)),
    ]

    email = render_case("incomplete", unfinished=unfinished)

    assert "2 of 4 chunks were not done before the job timeout, and 200 rows are not counted" in email["text"]
    assert "- chunk 3: lines 202 to 301 (100 rows)" in email["text"]
    assert "- chunk 4" in email["text"]
    assert "- and 3 more chunks" in email["text"]
    assert ">chunk 3: lines 202 to 301 (100 rows)</td>" in email["html"]


def test_dry_run_shows_would_counts_and_the_estimate():
    email = render_case("dry_run")

    assert re.fullmatch(r"Would create: +70", text_line(email, "Would create:"))
    assert re.fullmatch(r"Would update: +40", text_line(email, "Would update:"))
    assert re.fullmatch(r"Would leave unchanged: +0", text_line(email, "Would leave unchanged:"))
    assert "A real import would change 110 records (create 70, update 40) and leave 0 unchanged." in email["text"]
    assert "about 120 Intercom API calls, taking at least 7 s at the rate limit of 1,000 calls" in email["text"]
    assert "upload the file again without dry_run" in email["html"]
    assert email["subject"].endswith("(70 would be created, 40 would be updated, 7 with errors)")


@pytest.mark.parametrize(
    ("unchanged", "sentence"),
    [
        (4, "would change 106 records (create 70, update 36) and leave 4 unchanged: Intercom already holds every "
         "value of those rows."),
        (1, "would change 109 records (create 70, update 39) and leave 1 unchanged: Intercom already holds every "
         "value of that row."),
    ],
)  # fmt: skip
def test_dry_run_says_how_many_rows_would_change_and_how_many_would_stay_unchanged(unchanged: int, sentence: str):
    email = render(job(dry_run=True, updated=40 - unchanged, unchanged=unchanged))

    assert f"A real import {sentence}" in email["text"]
    assert f"A real import {sentence}" in email["html"]
    assert re.fullmatch(rf"Would leave unchanged: +{unchanged}", text_line(email, "Would leave unchanged:"))
    assert re.search(rf">Would leave unchanged</div><div[^>]*>{unchanged}</div>", email["html"])


def test_an_incomplete_import_counts_its_unchanged_rows_as_counted():
    record, status, reason = CASES["incomplete"]

    email = render(dataclasses.replace(record, updated=30, unchanged=20), status=status, reason=reason)

    assert "and 200 rows are not counted" in email["text"]


def test_dry_run_lists_custom_attributes_that_would_be_created():
    record = job(dry_run=True, new_attributes=[{"name": "seats", "data_type": "integer"}])

    assert "Custom attributes that would be created: seats (integer)" in render(record)["text"]


def test_recipients_are_passed_through():
    recipients = ("ops@example.com", "sales@example.com")

    assert render(recipients=recipients)["to"] == list(recipients)


# --- HTML safety and structure -------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CASES))
def test_html_has_no_scripts_styles_or_external_references(name: str):
    html = render_case(name, error_link=LINK)["html"]

    lowered = html.lower()
    for banned in ("<script", "<style", "<link", "<img", "<iframe", "src=", "url(", "@import", "javascript:"):
        assert banned not in lowered
    assert re.findall(r'href="([^"]*)"', html) == [LINK.replace("&", "&amp;")]


@pytest.mark.parametrize("name", list(CASES))
def test_html_is_a_600px_table_layout(name: str):
    html = render_case(name)["html"]

    assert html.startswith("<!DOCTYPE html>")
    assert 'width="600"' in html and "max-width:600px" in html
    assert "<div" not in html.replace('<div style="display:none', "").split("<table", 1)[0]


def test_file_key_with_markup_is_escaped_in_html_and_raw_in_text():
    key = 'incoming/<script>alert("x")</script>.csv'

    email = render(job(key=key))

    assert "<script>" not in email["html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in email["html"]
    assert f"s3://icimport-test/{key}" in email["text"]


def test_problem_with_markup_is_escaped_in_html_and_raw_in_text():
    sample = [{"line": 4, "column": 'E"mail', "value": "<b>x</b>", "message": "'<b>x</b>' is bad: fix <i>it</i>"}]

    email = render(job(problem_kinds={"E\"mail: '<b>x</b>' is bad": 1}, problems_sample=sample))

    assert "<b>x</b>" not in email["html"] and "<i>" not in email["html"]
    assert "E&quot;mail: &#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is bad" in email["html"]
    assert "Fix: fix &lt;i&gt;it&lt;/i&gt;" in email["html"]
    assert "- E\"mail: '<b>x</b>' is bad: 1 row, line 4" in email["text"]


def test_failure_group_with_markup_is_escaped_in_html():
    groups = FailureGroups()
    groups.add(3, "", "Intercom refused the row: <img src=x onerror=alert(1)>")

    html = render(failed_groups=groups.groups())["html"]

    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html


def test_reason_with_markup_is_escaped_in_html_and_raw_in_text():
    reason = 'Intercom refused the import: <img src=x onerror="alert(1)">'

    email = render(status=jobs.FAILED, reason=reason)

    assert "<img" not in email["html"]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in email["html"]
    assert reason in email["text"]


def test_settings_and_partner_with_markup_are_escaped():
    options = {**job().options, "tags": ["<b>vip</b>"]}

    html = render(job(options=options, partner="<i>acme</i>"))["html"]

    assert "<b>vip</b>" not in html and "<i>acme</i>" not in html
    assert "&lt;b&gt;vip&lt;/b&gt;" in html and "&lt;i&gt;acme&lt;/i&gt;" in html


def test_link_with_quotes_cannot_break_out_of_the_href():
    link = 'https://x.example/e.csv?a="><script>alert(1)</script>'

    html = render(error_link=link)["html"]

    assert "<script>" not in html
    assert 'href="https://x.example/e.csv?a=&quot;&gt;&lt;script&gt;' in html


def test_subject_is_one_line_even_when_the_key_holds_a_newline():
    email = render(job(key="incoming/evil\r\nBcc: x@example.com.csv"))

    assert "\n" not in email["subject"] and "\r" not in email["subject"]


# --- neutralise ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=SUM(A1:A2)", "+44 20", "-1", "@cmd", "\tx", "\rx"])
def test_neutralise_prefixes_cells_a_spreadsheet_would_execute(cell: str):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "ana@example.com", "42", "a=b", " =1", "'quoted"])
def test_neutralise_leaves_other_cells_unchanged(cell: str):
    assert neutralise(cell) == cell


# --- final_status --------------------------------------------------------------------------------


def test_rejected_job_stays_rejected_with_its_reason():
    status, reason = final_status(Job(status=jobs.REJECTED, rejection="The file is empty."), {})

    assert (status, reason) == (jobs.REJECTED, "The file is empty.")


def test_failed_job_reports_its_failure_message():
    record = Job(status=jobs.FAILED, failure={"error": "JobStoreUnavailableError", "message": "DynamoDB timed out"})

    assert final_status(record, {}) == (jobs.FAILED, "DynamoDB timed out")


def test_abort_by_auth_error_tells_to_replace_the_token():
    status, reason = final_status(
        Job(status=jobs.IMPORTING, abort={"error": "IntercomAuthError", "message": "Unauthorized"}), {}
    )

    assert status == jobs.FAILED
    assert reason is not None
    assert "401" in reason
    assert "token" in reason


def test_abort_by_other_error_repeats_intercom_message():
    status, reason = final_status(
        Job(status=jobs.IMPORTING, abort={"error": "IntercomForbiddenError", "message": "Missing scope"}), {}
    )

    assert (status, reason) == (jobs.FAILED, "Intercom refused the import: Missing scope")


def test_incomplete_execution_counts_the_missing_chunks():
    status, reason = final_status(Job(status=jobs.IMPORTING, chunks_total=10, chunks_done=7), {"incomplete": True})

    assert status == jobs.INCOMPLETE
    assert reason is not None
    assert reason.startswith("3 of 10 chunks did not finish")


def test_step_error_reports_the_lambda_error_message():
    cause = json.dumps({"errorType": "ReportWriteError", "errorMessage": "S3 refused the write"})

    status, reason = final_status(Job(status=jobs.IMPORTING), {"error": {"Error": "ReportWriteError", "Cause": cause}})

    assert (status, reason) == (jobs.FAILED, "A step of the import failed (ReportWriteError): S3 refused the write")


def test_step_error_with_plain_cause_reports_it_verbatim():
    _, reason = final_status(Job(status=jobs.IMPORTING), {"error": {"Error": "States.Timeout", "Cause": "timed out"}})

    assert reason == "A step of the import failed (States.Timeout): timed out"


@pytest.mark.parametrize(("failed", "invalid"), [(1, 0), (0, 1)])
def test_job_with_failed_or_invalid_rows_completed_with_errors(failed: int, invalid: int):
    record = Job(status=jobs.IMPORTING, failed=failed, invalid=invalid)

    assert final_status(record, {}) == (jobs.COMPLETED_WITH_ERRORS, None)


def test_clean_job_completed():
    assert final_status(Job(status=jobs.IMPORTING, failed=0, invalid=0), {}) == (jobs.COMPLETED, None)


def test_the_largest_email_fits_the_state_machines_payload_limit():
    """The email travels through the state machine (SendSummaryEmail reads it from the report's result),
    whose payloads stop at 256 KiB; a bigger one would fail with States.DataLimitExceeded, which no Catch
    takes. Everything an email lists is bounded: the worst case stays well under."""
    from intercom_importer.summary import FailureGroups
    from intercom_importer.validate.row_loop import MAX_PROBLEM_KINDS, SAMPLE_PROBLEMS

    long = "x" * 400
    kinds = {f"Column {i} {long}: is not valid"[:300]: 1000 + i for i in range(MAX_PROBLEM_KINDS)}
    kinds["other problems (see the error file)"] = 10**6
    sample = [
        {"line": i, "column": f"Column {i} {long}", "value": "v" * 80, "message": f"is not valid: {long}"}
        for i in range(SAMPLE_PROBLEMS)
    ]
    groups = FailureGroups()
    for i in range(5000):
        groups.add(i, f"custom_attributes.c{i % 150}", f"Intercom refused the row: {long} {i % 150}")
    record = job(
        key="incoming/" + "k" * 1000 + ".csv",
        problem_kinds=kinds,
        problems_sample=sample,
        failed=10**6,
        invalid=10**6,
        mapping_source=long,
        attribute_notes=[long] * 50,
        new_attributes=[{"name": f"Attr {i} {long}"[:190], "data_type": "string"} for i in range(250)],
        partner="p" * 64,
        uploaded_by=long,
        source_ip="2001:db8::1",
        chunks_total=10**5,
        chunks_done=1,
    )
    unfinished = [{"chunk": i, "rows": 1000, "first_line": i * 1000, "last_line": i * 1000 + 999} for i in range(10)]

    email = render(
        record,
        status=jobs.INCOMPLETE,
        reason=long * 5,
        failed_groups=groups.groups(),
        unfinished=unfinished,
        error_link=LINK + "&" + "q" * 2000,
    )

    assert len(json.dumps(email).encode()) < 128 * 1024
    assert "and 220 more (`intercom-import status` lists them all)" in email["text"]
