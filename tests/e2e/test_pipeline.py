"""The whole pipeline: upload a CSV to the local stack, assert Intercom (sandbox), the job, the error file and the email.

One stack (moto + real template + real handlers + real state machine) and one sandbox per module;
each test uploads under its own key, so jobs never mix.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
COMPANIES = (ROOT / "events" / "companies.csv").read_text()
TOKEN = "e2e-token"


sandbox, pipeline = pipeline_fixtures(
    TOKEN,
    parameters={"WorkerBatchSize": "2"},
    # short, so a failing chunk cycles to the dead-letter queue quickly, yet longer than a chunk takes
    visibility_timeout_override={"ChunkQueue": 8},
)


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox):
    sandbox.reset()
    sandbox.configure(token=TOKEN)
    yield


def _contacts(sandbox):
    return sandbox.state()["contacts"]


def test_people_file_lands_in_intercom_with_companies_and_one_email(pipeline, sandbox):
    job_id = pipeline.upload("incoming/people.csv", PEOPLE)
    job = pipeline.wait_done(job_id)

    assert job["status"] == "completed"
    assert counts(job) == {"rows": 6, "created": 6, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    contacts = _contacts(sandbox)
    by_email = {c["email"]: c for c in contacts if c.get("email")}
    assert set(by_email) == {"ada@example.com", "grace@example.com", "alan@example.com", "katherine@example.com"}
    assert by_email["ada@example.com"]["external_id"] == "u-1001"
    assert by_email["ada@example.com"]["signed_up_at"] == 1768435200
    assert by_email["katherine@example.com"]["unsubscribed_from_emails"] is True
    roles = sorted(c["role"] for c in contacts)
    assert roles == ["lead", "user", "user", "user", "user", "user"]
    state = sandbox.state()
    assert {c["company_id"] for c in state["companies"]} == {"acme", "bletchley"}
    emails = pipeline.emails_for(job_id)
    assert len(emails) == 1
    assert emails[0]["subject"].startswith("Import completed: people.csv")
    assert re.search(r"^Created: +6$", emails[0]["text"], re.MULTILINE)
    assert pipeline.execution(job_id)["status"] == "SUCCEEDED"


def test_people_attached_to_their_companies(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/attach.csv", PEOPLE))
    assert job["status"] == "completed"
    state = sandbox.state()
    company_ids = {c["id"]: c["company_id"] for c in state["companies"]}
    attached = {}
    for contact in state["contacts"]:
        for company in (contact.get("companies") or {}).get("data", []) or []:
            attached[contact.get("email")] = company_ids.get(company["id"])
    assert attached == {"ada@example.com": "acme", "grace@example.com": "acme", "alan@example.com": "bletchley"}


def test_second_import_updates_existing_users_and_skip_leaves_them(pipeline, sandbox):
    pipeline.wait_done(pipeline.upload("incoming/first.csv", PEOPLE))
    changed = PEOPLE.replace("Ada Lovelace", "Ada King")
    job = pipeline.wait_done(pipeline.upload("incoming/second.csv", changed))
    # the row without email and external_id is a new lead each time (nothing identifies it)
    assert counts(job) == {"rows": 6, "created": 1, "updated": 5, "skipped": 0, "failed": 0, "invalid": 0}
    assert any(c.get("name") == "Ada King" for c in _contacts(sandbox))

    skipped = pipeline.wait_done(
        pipeline.upload("incoming/third.csv", PEOPLE.replace("Ada King", "Ada Byron"), existing="skip")
    )
    assert counts(skipped)["skipped"] == 5
    assert not any(c.get("name") == "Ada Byron" for c in _contacts(sandbox))


def test_repeated_s3_event_starts_no_second_import(pipeline, sandbox):
    job_id = pipeline.upload("incoming/repeat.csv", PEOPLE)
    first = pipeline.wait_done(job_id)
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key="incoming/repeat.csv")
    event = json.loads((ROOT / "events" / "validate_s3_put.json").read_text())
    record = event["Records"][0]["s3"]
    record["bucket"]["name"] = pipeline.bucket
    record["object"].update(key="incoming/repeat.csv", versionId=head["VersionId"], eTag=head["ETag"].strip('"'))

    payload, error = pipeline.runtime.invoke("ValidateFunction", event)

    assert error is None
    assert payload["jobs"] == [{"job_id": job_id, "duplicate": True}]
    assert counts(pipeline.job(job_id)) == counts(first)
    assert len(pipeline.emails_for(job_id)) == 1
    assert len(_contacts(sandbox)) == 6


def test_redelivered_chunk_message_changes_no_count(pipeline, sandbox):
    job_id = pipeline.upload("incoming/redeliver.csv", PEOPLE)
    before = pipeline.wait_done(job_id)
    sqs = pipeline.runtime.client("sqs")
    sqs.send_message(QueueUrl=pipeline.outputs["ChunkQueueUrl"], MessageBody=pipeline.chunk_message(job_id, 1))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        attrs = sqs.get_queue_attributes(
            QueueUrl=pipeline.outputs["ChunkQueueUrl"],
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        if attrs["ApproximateNumberOfMessages"] == "0" and attrs["ApproximateNumberOfMessagesNotVisible"] == "0":
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the redelivered message was never consumed")
    assert counts(pipeline.job(job_id)) == counts(before)
    assert len(_contacts(sandbox)) == 6
    assert len(pipeline.emails_for(job_id)) == 1


def test_bad_row_is_reported_with_its_line_and_the_rest_imports_under_skip_rows(pipeline, sandbox):
    bad = PEOPLE + "not-an-email,u-2000,Broken Row,,2026-13-45,,,\n"
    job = pipeline.wait_done(pipeline.upload("incoming/bad-row.csv", bad, **{"invalid-rows": "skip_rows"}))

    assert job["status"] == "completed_with_errors"
    assert counts(job) == {"rows": 7, "created": 6, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    rows = pipeline.error_rows(job)
    assert len(rows) == 1
    assert rows[0]["error_line"] == "8"
    assert rows[0]["email"] == "not-an-email"
    assert "email" in rows[0]["error_column"] and "signed_up_at" in rows[0]["error_column"]
    email = pipeline.emails_for(job["job_id"])[0]
    assert "line 8" in email["text"]
    assert "Download the error file" in email["html"]
    assert len(_contacts(sandbox)) == 6


def test_rejected_file_writes_nothing_and_says_why(pipeline, sandbox):
    bad = PEOPLE + "not-an-email,u-2000,Broken Row,,,,,\n"
    job = pipeline.wait_done(pipeline.upload("incoming/rejected.csv", bad))

    assert job["status"] == "rejected"
    assert _contacts(sandbox) == []
    email = pipeline.emails_for(job["job_id"])
    assert len(email) == 1
    assert email[0]["subject"] == "Import rejected: nothing was imported: rejected.csv"
    assert "invalid_rows=reject_file" in email[0]["text"]
    assert "line 8" in email[0]["text"]


def test_file_that_is_not_csv_is_rejected_with_what_it_is(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/workbook.csv", b"PK\x03\x04" + b"\x00" * 200))
    assert job["status"] == "rejected"
    assert "Excel" in pipeline.emails_for(job["job_id"])[0]["text"]


def test_companies_file_creates_companies(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/companies.csv", COMPANIES, **{"import-type": "companies"}))
    assert job["status"] == "completed"
    assert counts(job)["created"] == 3
    companies = {c["company_id"]: c for c in sandbox.state()["companies"]}
    assert companies["acme"]["monthly_spend"] == 1999
    assert companies["initech"]["size"] == 12


def test_invalid_token_fails_fast_and_the_email_says_so(pipeline, sandbox):
    sandbox.configure(token="a-different-token")
    job = pipeline.wait_done(pipeline.upload("incoming/bad-token.csv", PEOPLE))

    assert job["status"] == "failed"
    assert counts(job)["failed"] == 6
    email = pipeline.emails_for(job["job_id"])
    assert len(email) == 1
    assert "access token" in email[0]["text"]
    stats = sandbox.stats()
    assert 1 <= stats["by_status"].get("401", 0) <= 3  # one chunk tries, the others are not sent to Intercom


def test_chunk_that_keeps_failing_ends_in_dlq_counted_as_failed(pipeline, sandbox):
    sandbox.add_fault(match={"method": "POST", "path": "/contacts/search"}, status=503, times=1000)
    job = pipeline.wait_done(pipeline.upload("incoming/outage.csv", PEOPLE), timeout=120)

    assert job["status"] == "completed_with_errors"
    assert counts(job)["failed"] == 6
    rows = pipeline.error_rows(job)
    assert {r["error_line"] for r in rows} == {"2", "3", "4", "5", "6", "7"}
    assert "failed" in rows[0]["error"]
    assert len(pipeline.emails_for(job["job_id"])) == 1


def _emf(pipeline, function: str, job_id: str) -> list[dict]:
    """The EMF documents a function printed for this job (its log is the execution environments' stdout)."""
    text, decoder, documents = pipeline.runtime.read_log(function), json.JSONDecoder(), []
    for match in re.finditer(r'\{"_aws":', text):
        try:
            document, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if job_id in document.get("job_ids", []):
            assert document["job_ids"] == [job_id], "sequential imports must not share a metrics document"
            documents.append(document)
    return documents


def _sums(documents: list[dict]) -> dict[str, float]:
    sums: dict[str, float] = {}
    for document in documents:
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[definition["Name"]]
            sums[definition["Name"]] = sums.get(definition["Name"], 0) + sum(
                value if isinstance(value, list) else [value]
            )
    return sums


def test_import_emits_row_metrics_equal_to_its_counts_and_mails_through_the_configuration_set(pipeline, sandbox):
    pipeline.wait_done(pipeline.upload("incoming/metrics-first.csv", PEOPLE))
    job = pipeline.wait_done(pipeline.upload("incoming/metrics-second.csv", PEOPLE.replace("Ada", "Ada B.")))
    job_id = job["job_id"]

    # the worker prints its metrics when its invocation returns, which may be just after the job ended
    worker = pipeline.runtime.wait_until(lambda: _emf(pipeline, "WorkerFunction", job_id), timeout=15)
    report = pipeline.runtime.wait_until(lambda: _emf(pipeline, "ReportFunction", job_id), timeout=15)
    rows = _sums(worker)
    assert {k: rows[f"Rows{k.capitalize()}"] for k in ("created", "updated", "skipped", "failed")} == {
        k: counts(job)[k] for k in ("created", "updated", "skipped", "failed")
    }
    assert rows["RowsUpdated"] == 5
    assert rows["IntercomApiCalls"] >= 1 + 6  # the chunk's search and one write per row
    final = _sums(report)
    assert final["JobsCompleted"] == 1 and final["JobsFailed"] == 0
    assert final["RowsInvalid"] == 0
    assert final["ImportDuration"] == pytest.approx(float(job["duration_seconds"]))
    directive = report[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == "IntercomImporter" and directive["Dimensions"] == [["service"]]
    [email] = pipeline.emails_for(job_id)
    assert email["configuration_set"] == pipeline.outputs["EmailConfigurationSetName"]
