"""One realistic finished job per summary template, as ``render_email`` keyword arguments."""

from __future__ import annotations

from typing import Any

from intercom_importer import jobs
from intercom_importer.job_record import Job
from intercom_importer.summary import FailureGroups

LINK = (
    "https://icimport-data.s3.amazonaws.com/reports/job-3f9a1c2b7d/errors.csv"
    "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=604800&X-Amz-Signature=9c1e"
)
SECRET_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:intercom/import-token-Ab12Cd"  # noqa: S105 (an ARN, not a secret)


AUTH_ABORT_TEXT = (
    "not imported: Intercom refused the access token (401). Put a valid token in the Intercom token secret and "
    "upload the file again."
)


def _failed(rows: list[tuple[int, str, str]]) -> list[dict[str, Any]]:
    groups = FailureGroups()
    for line, column, message in rows:
        groups.add(line, column, message)
    return groups.groups()


_OPTIONS: dict[str, Any] = {
    "import_type": "people",
    "existing": "update",
    "role": "user",
    "invalid_rows": "skip_rows",
    "tags": ["acme", "spring-campaign"],
    "dry_run": False,
    "identity_trap": "attach",
    "mapping": {"columns": {"Customer No": "external_id", "Seats": {"type": "integer"}}},
}


def _job(**changes: Any) -> Job:
    record: dict[str, Any] = {
        "job_id": "job-3f9a1c2b7d5e8a4b6c01",
        "bucket": "icimport-data",
        "key": "incoming/acme/contacts-2026-03.csv",
        "partner": "acme",
        "import_type": "people",
        "options": _OPTIONS,
        "rows": 12480,
        "created": 9210,
        "updated": 2870,
        "unchanged": 400,  # Intercom already held every value of these rows
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
        "chunks_total": 125,
        "chunks_done": 125,
        "duration_seconds": 412.6,
        "reported_at": "2026-03-14T09:41:07.512Z",
        "error_file_key": "reports/job-3f9a1c2b7d5e8a4b6c01/errors.csv",
    }
    record.update(changes)
    return Job.from_item(record)


_PROBLEMS = {
    "problem_kinds": {
        "email: is not a valid email address": 23,
        "signed_up_at: is not a date that can be read": 9,
        "external_id: duplicates an earlier row's external_id": 2,
    },
    "problems_sample": [
        {
            "line": 8,
            "column": "email",
            "value": "ana@example",
            "message": "is not a valid email address: use the "
            "form name@example.com, with no spaces, invisible characters or trailing dot",
        },
        {
            "line": 41,
            "column": "email",
            "value": "bo b@example.com",
            "message": "is not a valid email address: use "
            "the form name@example.com, with no spaces, invisible characters or trailing dot",
        },
        {
            "line": 57,
            "column": "signed_up_at",
            "value": "31/02/2025",
            "message": "is not a date that can be read: "
            "use YYYY-MM-DD, an ISO 8601 date-time (2026-11-28T09:30:00Z), DD/MM/YYYY, or unix seconds",
        },
        {
            "line": 96,
            "column": "external_id",
            "value": "u-1001",
            "message": "duplicates an earlier row's external_id: the same external_id as line 14; a contact or "
            "company may appear once per file: merge the two rows",
        },
    ],
}

BASE: dict[str, Any] = {
    "link_expiry_seconds": 604800,
    "recipients": ["ops@example.com"],
    "rate_limit_per_minute": 1000,
    "token_secret": SECRET_ARN,
}

SAMPLES: dict[str, dict[str, Any]] = {
    "completed": {**BASE, "job": _job(), "status": jobs.COMPLETED, "reason": None, "error_link": ""},
    "completed_with_errors": {
        **BASE,
        "job": _job(created=9160, unchanged=413, failed=3, invalid=34, **_PROBLEMS),
        "status": jobs.COMPLETED_WITH_ERRORS,
        "reason": None,
        "error_link": LINK,
        "failed_groups": _failed(
            [
                (line, "email", f"Intercom refused the row: Email '{n}@spam.example' is blocked")
                for n, line in enumerate((212, 977, 4410))
            ]
        ),
    },
    "rejected": {
        **BASE,
        "job": _job(
            created=0,
            updated=0,
            unchanged=0,
            skipped=12446,
            invalid=34,
            options={**_OPTIONS, "invalid_rows": "reject_file"},
            **_PROBLEMS,
        ),
        "status": jobs.REJECTED,
        "reason": (
            "34 of 12480 rows are invalid and this import rejects the whole file when any row is invalid "
            "(invalid_rows=reject_file), so nothing was imported. Fix the rows listed in the error file and upload "
            "the file again, or upload with invalid_rows=skip_rows to import the valid rows."
        ),
        "error_link": LINK,
    },
    "failed_token": {
        **BASE,
        "job": _job(
            created=0,
            updated=0,
            unchanged=0,
            failed=12480,
            abort={"error": "IntercomAuthError", "message": "Unauthorized"},
        ),
        "status": jobs.FAILED,
        "reason": (
            "Intercom refused the access token (HTTP 401): the token is invalid, expired or revoked. Store a valid "
            "token in the Intercom token secret and upload the file again."
        ),
        "error_link": LINK,
        "failed_groups": _failed([(line, "", AUTH_ABORT_TEXT) for line in range(2, 12482)]),
    },
    "failed_outage": {
        **BASE,
        "job": _job(
            created=0,
            updated=0,
            unchanged=0,
            failed=12480,
            failure={"error": "IntercomServerError", "message": "Intercom answered 503 Service Unavailable"},
        ),
        "status": jobs.FAILED,
        "reason": "Intercom answered 503 Service Unavailable",
        "error_link": "",
    },
    "failed": {
        **BASE,
        "job": _job(
            created=0,
            updated=0,
            unchanged=0,
            rows=0,
            failure={"error": "Sandbox.Timedout", "message": "Task timed out after 900 seconds"},
        ),
        "status": jobs.FAILED,
        "reason": "The validator stopped (Task timed out after 900 seconds). Nothing was written to Intercom.",
        "error_link": "",
    },
    "incomplete": {
        **BASE,
        "job": _job(created=8000, updated=2100, unchanged=380, chunks_done=105),
        "status": jobs.INCOMPLETE,
        "reason": (
            "20 of 125 chunks did not finish before the job timeout; their rows are not counted as imported. "
            "The error file lists the rows that were reported."
        ),
        "error_link": "",
        "unfinished": [
            {"chunk": 106 + i, "rows": 100, "first_line": 10502 + 100 * i, "last_line": 10601 + 100 * i}
            for i in range(20)
        ],
    },
    "dry_run": {
        **BASE,
        "job": _job(
            dry_run=True,
            options={**_OPTIONS, "dry_run": True},
            created=9160,
            updated=2870,
            unchanged=416,
            invalid=34,
            api_calls=12612,
            prepare_calls=3,
            new_attributes=[{"name": "seats", "data_type": "integer"}],
            **_PROBLEMS,
        ),
        "status": jobs.COMPLETED_WITH_ERRORS,
        "reason": None,
        "error_link": LINK,
    },
}
