"""The job record: ``Job.from_item``/``Job.to_dict`` keep every stored attribute, and ``JobStore`` reads typed
values (moto's in-process DynamoDB, no network)."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from typing import Any

import boto3
import pytest
from moto import mock_aws

from intercom_importer import jobs, observability
from intercom_importer.job_record import Job
from intercom_importer.report import unaccounted_rows
from intercom_importer.upsert.records import Outcome
from moto_server import create_jobs_table

pytestmark = pytest.mark.unit

# A finished import's record as ``jobs.plain`` gives it: every attribute the code knows, the table's keys and
# one a newer version might write.
FULL_ITEM: dict[str, Any] = {
    "pk": "JOB#job-1",
    "sk": "META",
    "job_id": "job-1",
    "created_at": "2026-03-14T09:30:00.000Z",
    "updated_at": "2026-03-14T09:41:07.512Z",
    "gsi1pk": "JOBS",
    "gsi1sk": "2026-03-14T09:30:00.000Z#job-1",
    "expires_at": 1_781_000_000,
    "chunks_total": 2,
    "chunks_done": 2,
    "created": 3,
    "updated": 1,
    "unchanged": 2,
    "skipped": 1,
    "failed": 1,
    "status": "completed_with_errors",
    "bucket": "icimport",
    "key": "incoming/acme/contacts.csv",
    "version_id": "v1",
    "etag": "abc",
    "size": 2048,
    "uploaded_by": "AWS:AROAEXAMPLE:acme",
    "source_ip": "203.0.113.7",
    "lease_until": 1_780_000_060,
    "lease_holder": "",
    "claimed_seq": 1,
    "validate_invocations": 2,
    "partner": "acme",
    "recipients": ["ops@acme.example"],
    "options": {"existing": "update", "role": "user", "tags": ["spring"], "dry_run": False, "mapping": None},
    "fixes_job": "",
    "mapping_source": "",
    "import_type": "people",
    "dry_run": False,
    "header": ["email", "seats"],
    "columns": [{"header": "seats", "target": "seats", "type": "integer", "custom": True}],
    "encoding": "utf-8",
    "delimiter": ",",
    "attribute_notes": ["Column 'x' is empty in every row"],
    "checkpoint_key": "work/job-1/checkpoints/0001.json",
    "checkpoint_seq": 1,
    "rows_read": 9,
    "bytes_read": 2048,
    "rows": 9,
    "valid": 8,
    "invalid": 1,
    "blank_lines": 2,
    "unrecognisable_rows": 1,
    "problem_kinds": {"email: is not a valid email address": 1},
    "problems_sample": [{"line": 3, "column": "email", "value": "a@", "message": "is not a valid email address"}],
    "invalid_key": "work/job-1/invalid.jsonl",
    "new_attributes": [{"name": "seats", "data_type": "integer", "options": None}],
    "companies_total": 0,
    "companies_key": "",
    "tag_ids": {"VIP": "17"},
    "prepare_calls": 1,
    "rejection": "",
    "failure": {},
    "handover": "done",
    "handover_outcome": "accepted",
    "execution_started": True,
    "chunks_queued": 2,
    "api_calls": 9,
    "abort": {"error": "IntercomForbiddenError", "message": "Missing scope", "status": 403},
    "task_token": "token-1",
    "reason": "",
    "error_file_key": "reports/job-1/errors.csv",
    "duration_seconds": 12.5,
    "reported_at": "2026-03-14T09:41:07.000Z",
    "estimated_api_calls": None,
    "estimated_seconds": None,
    "email_status": "sent",
    "email_message_id": "0100-abc",
    "email_error": None,
    "failure_detail": "",
    "finished_at": "2026-03-14T09:41:09.000Z",
    "undone_at": "2026-03-15T10:00:00.000Z",
    "undo_job_id": "job-1-undo",
    "undo_of": "",
    "written_by_a_newer_version": {"nested": [1, 2.5, "x"]},
}


def test_the_sample_item_holds_every_field_of_the_record():
    named = {f.name for f in dataclasses.fields(Job)} - {"extra", "attribute_names"}

    assert named <= set(FULL_ITEM)


def test_round_trip_keeps_every_attribute_in_its_stored_order():
    back = Job.from_item(FULL_ITEM).to_dict()

    assert back == FULL_ITEM
    assert list(back) == list(FULL_ITEM)
    assert json.dumps(back) == json.dumps(FULL_ITEM)


def test_attributes_the_record_does_not_name_are_kept_apart():
    job = Job.from_item(FULL_ITEM)

    assert job.extra == {
        "pk": "JOB#job-1",
        "sk": "META",
        "gsi1pk": "JOBS",
        "gsi1sk": "2026-03-14T09:30:00.000Z#job-1",
        "written_by_a_newer_version": {"nested": [1, 2.5, "x"]},
    }


def test_round_trip_of_a_sparse_record_adds_no_attribute():
    item = {"job_id": "job-2", "status": "validating", "rows_read": 0, "estimated_seconds": None}

    assert Job.from_item(item).to_dict() == item


def test_a_missing_attribute_reads_as_its_default():
    job = Job.from_item({"job_id": "job-2", "status": "validating"})

    assert (job.rows, job.chunks_total, job.dry_run, job.execution_started) == (0, 0, False, False)
    assert (job.import_type, job.encoding, job.uploaded_by, job.duration_seconds, job.finished_at) == (None,) * 5
    assert (job.options, job.failure, job.abort, job.problem_kinds) == ({}, {}, {}, {})
    assert (job.header, job.columns, job.recipients, job.problems_sample) == ((), (), (), ())
    assert (job.key, job.rejection, job.task_token, job.handover) == ("", "", "", "")


def test_lists_read_as_tuples_and_are_written_back_as_lists():
    job = Job.from_item(FULL_ITEM)

    assert job.header == ("email", "seats") and job.recipients == ("ops@acme.example",)
    assert job.to_dict()["header"] == ["email", "seats"]


def test_a_whole_number_duration_stays_an_int_as_stored():
    job = Job.from_item({"duration_seconds": 3})

    assert job.duration_seconds == 3 and job.to_dict() == {"duration_seconds": 3}


def test_a_field_set_after_reading_is_written_and_the_stored_order_kept():
    job = dataclasses.replace(Job.from_item({"job_id": "job-3", "status": "importing"}), status="completed", rows=5)

    assert list(job.to_dict().items()) == [("job_id", "job-3"), ("status", "completed"), ("rows", 5)]


def test_to_dict_gives_new_containers():
    job = Job.from_item(FULL_ITEM)

    job.to_dict()["options"]["tags"].append("changed")

    assert job.options["tags"] == ["spring"]


def test_source_and_error_file_are_s3_urls():
    job = Job.from_item(FULL_ITEM)

    assert job.source == "s3://icimport/incoming/acme/contacts.csv"
    assert job.error_file == "s3://icimport/reports/job-1/errors.csv"
    assert (Job().source, Job(bucket="b").error_file) == (None, None)


# --- read from the table -----------------------------------------------------------------------------


@pytest.fixture
def table():
    with mock_aws():
        resource = boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        yield create_jobs_table(resource, "jobs")


def _decimals(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [d for v in value.values() for d in _decimals(v)]
    if isinstance(value, list | tuple):
        return [d for v in value for d in _decimals(v)]
    return [value] if isinstance(value, Decimal) else []


def test_a_freshly_created_record_reads_with_its_defaults(table):
    store = jobs.JobStore(table)
    store.create("job-4", {"status": jobs.VALIDATING, "bucket": "icimport", "key": "incoming/a.csv"})

    job = store.get("job-4")

    assert (job.job_id, job.status, job.bucket, job.key) == ("job-4", jobs.VALIDATING, "icimport", "incoming/a.csv")
    assert (job.chunks_total, job.chunks_done, job.created, job.updated, job.skipped, job.failed) == (0,) * 6
    assert job.unchanged == 0 and job.to_dict()["unchanged"] == 0  # every counter is written, 0, with the record
    assert (job.rows, job.invalid, job.options, job.import_type, job.finished_at) == (0, 0, {}, None, None)
    assert job.created_at == job.updated_at
    assert job.extra == {"pk": "JOB#job-4", "sk": "META", "gsi1pk": "JOBS", "gsi1sk": f"{job.created_at}#job-4"}


def test_the_record_read_is_the_stored_item_without_decimals(table):
    store = jobs.JobStore(table)
    store.create("job-5", {"status": jobs.IMPORTING, "columns": [{"target": "seats", "options": None}]})
    store.record_chunk(
        "job-5", 1, {"created": 2, "failed": 1}, result_key=None, source="worker", extra={"api_calls": 4}
    )
    updated = store.update_and_get("job-5", {"duration_seconds": 1.25, "rows": 3})

    raw = table.get_item(Key={"pk": "JOB#job-5", "sk": "META"})["Item"]
    job = store.get("job-5")

    assert job.to_dict() == jobs.plain(raw) == updated.to_dict()
    assert _decimals(job.to_dict()) == []
    assert (job.created, job.failed, job.chunks_done, job.api_calls, job.rows) == (2, 1, 1, 4, 3)
    assert all(type(n) is int for n in (job.created, job.failed, job.chunks_done, job.api_calls, job.expires_at))
    assert type(job.duration_seconds) is float and job.duration_seconds == 1.25


def test_listings_give_records(table):
    store = jobs.JobStore(table)
    store.create("job-6", {"status": jobs.VALIDATING, "lease_until": 0})

    [listed] = store.history()
    [stale] = store.stale_validations("2000-01-01", now=10)

    assert listed == stale == store.get("job-6")
    assert listed.to_dict() == store.get("job-6").to_dict()


def test_row_counts_name_where_the_rows_ended():
    assert Job.from_item(FULL_ITEM).row_counts() == {
        "rows": 9,
        "created": 3,
        "updated": 1,
        "unchanged": 2,
        "skipped": 1,
        "failed": 1,
        "invalid": 1,
    }


def test_row_counts_are_the_chunk_outcomes_and_the_invalid_rows():
    """Every outcome a row can end a chunk with is a job counter, a metric and a row count (they add up to rows)."""
    assert {o.value for o in Outcome} == set(jobs.COUNTERS) == set(observability.CHUNK_ROW_OUTCOMES)
    assert list(Job().row_counts()) == ["rows", *jobs.COUNTERS, "invalid"]


def test_unchanged_rows_are_accounted_for():
    job = Job(rows=9, created=3, updated=1, unchanged=2, skipped=1, failed=1, invalid=1)

    assert unaccounted_rows(job) == 0
    assert unaccounted_rows(dataclasses.replace(job, unchanged=0)) == 2
