"""summary.render_email, report.neutralise and report.final_status."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from intercom_importer import jobs
from intercom_importer.report import final_status, neutralise
from intercom_importer.summary import HEADLINES, render_email

pytestmark = pytest.mark.unit

LINK = "https://icimport.s3.amazonaws.com/reports/job-1/errors.csv?X-Amz-Signature=abc&X-Amz-Expires=604800"


def job(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "job_id": "job-1",
        "bucket": "icimport-test",
        "key": "incoming/contacts.csv",
        "import_type": "people",
        "options": {"existing": "update", "role": "user", "invalid_rows": "skip_rows"},
        "rows": 120,
        "created": 70,
        "updated": 40,
        "skipped": 3,
        "failed": 2,
        "invalid": 5,
        "duration_seconds": 125.4,
    }
    record.update(changes)
    return record


def render(record: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "status": jobs.COMPLETED_WITH_ERRORS,
        "reason": None,
        "first_errors": [],
        "error_link": "",
        "link_expiry_seconds": 604800,
        "recipients": ["ops@example.com"],
    }
    args.update(kw)
    return render_email(job() if record is None else record, **args)


# --- render_email --------------------------------------------------------------------------------


@pytest.mark.parametrize("status", jobs.TERMINAL)
def test_every_final_status_has_its_own_headline(status: str):
    headline, _colour = HEADLINES[status]

    email = render(status=status)

    assert email["subject"].startswith(f"{headline}: contacts.csv")
    assert email["text"].splitlines()[0] == headline
    assert f">{headline}</h2>" in email["html"]


def test_headlines_are_distinct():
    assert len({headline for headline, _ in HEADLINES.values()}) == len(jobs.TERMINAL)


def test_file_key_with_markup_is_escaped_in_html_and_raw_in_text():
    key = 'incoming/<script>alert("x")</script>.csv'

    email = render(job(key=key))

    assert "<script>" not in email["html"]
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in email["html"]
    assert f"s3://icimport-test/{key}" in email["text"]


def test_error_message_with_markup_is_escaped_in_html_and_raw_in_text():
    error = {"line": 4, "column": 'E"mail', "message": "'<b>x</b>' is not a valid email address"}

    email = render(first_errors=[error])

    assert "<b>x</b>" not in email["html"]
    assert "&#x27;&lt;b&gt;x&lt;/b&gt;&#x27; is not a valid email address" in email["html"]
    assert "E&quot;mail" in email["html"]
    assert "line 4, column E\"mail: '<b>x</b>' is not a valid email address" in email["text"]


def test_reason_with_markup_is_escaped_in_html_and_raw_in_text():
    reason = 'Intercom refused the import: <img src=x onerror="alert(1)">'

    email = render(status=jobs.FAILED, reason=reason)

    assert "<img" not in email["html"]
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in email["html"]
    assert reason in email["text"]


@pytest.mark.parametrize(
    ("label", "value"),
    [("Rows read", "120"), ("Created", "70"), ("Updated", "40"), ("Skipped", "3"), ("Failed", "2"), ("Invalid", "5")],
)
def test_counts_appear_in_text_and_html(label: str, value: str):
    email = render()

    assert any(line.startswith(f"{label}:") and line.endswith(f" {value}") for line in email["text"].splitlines())
    assert re.search(rf">{label}</td><td[^>]*>{value}</td>", email["html"])


def test_duration_appears_in_text_and_html():
    email = render(job(duration_seconds=3725))

    assert "Duration: 1 h 2 min" in email["text"]
    assert "Duration: 1 h 2 min" in email["html"]


def test_subject_counts_created_updated_and_errors():
    assert render()["subject"] == "Import completed with errors: contacts.csv (70 created, 40 updated, 7 with errors)"


def test_error_link_is_present_when_given():
    email = render(error_link=LINK)

    assert LINK in email["text"]
    assert f'href="{LINK.replace("&", "&amp;")}"' in email["html"]
    assert "valid 7 days" in email["text"]


def test_error_link_is_absent_when_not_given():
    email = render(error_link="")

    assert "href=" not in email["html"]
    assert "Download the error file" not in email["html"]
    assert "link valid" not in email["text"]


def test_recipients_are_passed_through():
    recipients = ("ops@example.com", "sales@example.com")

    assert render(recipients=recipients)["to"] == list(recipients)


# --- neutralise ----------------------------------------------------------------------------------


@pytest.mark.parametrize("cell", ["=SUM(A1:A2)", "+44 20", "-1", "@cmd", "\tx", "\rx"])
def test_neutralise_prefixes_cells_a_spreadsheet_would_execute(cell: str):
    assert neutralise(cell) == "'" + cell


@pytest.mark.parametrize("cell", ["", "ana@example.com", "42", "a=b", " =1", "'quoted"])
def test_neutralise_leaves_other_cells_unchanged(cell: str):
    assert neutralise(cell) == cell


# --- final_status --------------------------------------------------------------------------------


def test_rejected_job_stays_rejected_with_its_reason():
    status, reason = final_status({"status": jobs.REJECTED, "rejection": "The file is empty."}, {})

    assert (status, reason) == (jobs.REJECTED, "The file is empty.")


def test_failed_job_reports_its_failure_message():
    record = {"status": jobs.FAILED, "failure": {"error": "JobStoreUnavailableError", "message": "DynamoDB timed out"}}

    assert final_status(record, {}) == (jobs.FAILED, "DynamoDB timed out")


def test_abort_by_auth_error_tells_to_replace_the_token():
    status, reason = final_status(
        {"status": jobs.IMPORTING, "abort": {"error": "IntercomAuthError", "message": "Unauthorized"}}, {}
    )

    assert status == jobs.FAILED
    assert reason is not None
    assert "401" in reason
    assert "token" in reason


def test_abort_by_other_error_repeats_intercom_message():
    status, reason = final_status(
        {"status": jobs.IMPORTING, "abort": {"error": "IntercomForbiddenError", "message": "Missing scope"}}, {}
    )

    assert (status, reason) == (jobs.FAILED, "Intercom refused the import: Missing scope")


def test_incomplete_execution_counts_the_missing_chunks():
    status, reason = final_status(
        {"status": jobs.IMPORTING, "chunks_total": 10, "chunks_done": 7}, {"incomplete": True}
    )

    assert status == jobs.INCOMPLETE
    assert reason is not None
    assert reason.startswith("3 of 10 chunks did not finish")


def test_step_error_reports_the_lambda_error_message():
    cause = json.dumps({"errorType": "ReportWriteError", "errorMessage": "S3 refused the write"})

    status, reason = final_status({"status": jobs.IMPORTING}, {"error": {"Error": "ReportWriteError", "Cause": cause}})

    assert (status, reason) == (jobs.FAILED, "A step of the import failed (ReportWriteError): S3 refused the write")


def test_step_error_with_plain_cause_reports_it_verbatim():
    _, reason = final_status({"status": jobs.IMPORTING}, {"error": {"Error": "States.Timeout", "Cause": "timed out"}})

    assert reason == "A step of the import failed (States.Timeout): timed out"


@pytest.mark.parametrize(("failed", "invalid"), [(1, 0), (0, 1)])
def test_job_with_failed_or_invalid_rows_completed_with_errors(failed: int, invalid: int):
    record = {"status": jobs.IMPORTING, "failed": failed, "invalid": invalid}

    assert final_status(record, {}) == (jobs.COMPLETED_WITH_ERRORS, None)


def test_clean_job_completed():
    assert final_status({"status": jobs.IMPORTING, "failed": 0, "invalid": 0}, {}) == (jobs.COMPLETED, None)
