"""Each handler invoked on its own, in its local execution environment, against moto and the sandbox over HTTP."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from intercom_importer.jobs import job_id_for
from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = "handler-token"


sandbox, pipeline = pipeline_fixtures(TOKEN)


def _sqs_event(load_event, name: str, body: str) -> dict:
    event = load_event(name)
    event["Records"][0]["body"] = body
    return event


def test_worker_drops_a_message_it_did_not_write_instead_of_retrying_it(pipeline, load_event):
    event = _sqs_event(load_event, "worker_sqs_chunk.json", "not json")
    payload, error = pipeline.runtime.invoke("WorkerFunction", event)
    assert error is None
    assert payload == {"batchItemFailures": []}
    assert "unreadable chunk message dropped" in pipeline.runtime.read_log("WorkerFunction")


def test_worker_reports_a_failing_chunk_as_a_batch_item_failure(pipeline, load_event):
    body = json.dumps({"v": 1, "job_id": "job-missing", "chunk": 1, "key": "work/job-missing/chunks/000001.json"})
    ok = pipeline.chunk_message("job-also-missing", 1)
    event = _sqs_event(load_event, "worker_sqs_chunk.json", body)
    second = dict(event["Records"][0], messageId="second", body=ok)
    event["Records"].append(second)
    _payload, error = pipeline.runtime.invoke("WorkerFunction", event)
    # both fail (no such job): Powertools raises when every record fails, so the whole batch is retried
    assert error is not None and "All records failed processing" in error["errorMessage"]


def test_worker_ignores_a_chunk_that_is_already_recorded(pipeline, sandbox, load_event):
    job_id = pipeline.upload("incoming/handler-worker.csv", PEOPLE)
    before = pipeline.wait_done(job_id)
    calls_before = sandbox.stats()["total_requests"]
    event = _sqs_event(load_event, "worker_sqs_chunk.json", pipeline.chunk_message(job_id, 1))

    payload, error = pipeline.runtime.invoke("WorkerFunction", event)

    assert error is None and payload == {"batchItemFailures": []}
    assert counts(pipeline.job(job_id)) == counts(before)
    assert sandbox.stats()["total_requests"] == calls_before  # Intercom was not called again


def test_dead_letter_handler_counts_an_unrecorded_chunk_as_failed_once(pipeline, load_event):
    job_id = pipeline.upload("incoming/handler-dlq.csv", PEOPLE)
    pipeline.wait_done(job_id)
    # A job whose only chunk was never recorded: reuse the chunk object under a fresh job record.
    store_key = {"pk": {"S": "JOB#job-dlq-test"}, "sk": {"S": "META"}}
    item = pipeline.ddb.get_item(TableName=pipeline.table, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "META"}})[
        "Item"
    ]
    item.update(store_key, job_id={"S": "job-dlq-test"}, chunks_done={"N": "0"}, created={"N": "0"})
    item.pop("task_token", None)
    pipeline.ddb.put_item(TableName=pipeline.table, Item=item)
    body = json.dumps({"v": 1, "job_id": "job-dlq-test", "chunk": 1, "key": f"work/{job_id}/chunks/000001.json"})
    event = _sqs_event(load_event, "dead_letter_sqs_chunk.json", body)

    for _ in range(2):  # delivered twice: counted once
        payload, error = pipeline.runtime.invoke("DeadLetterFunction", event)
        assert error is None and payload == {"batchItemFailures": []}

    job = pipeline.job("job-dlq-test")
    assert job["failed"] == 6 and job["chunks_done"] == 1


def test_track_handler_parks_the_token_and_resumes_at_once_when_already_complete(pipeline, load_event):
    job_id = pipeline.upload("incoming/handler-track.csv", PEOPLE)
    pipeline.wait_done(job_id)
    event = load_event("track_wait_for_chunks.json") | {"job_id": job_id, "task_token": "not-a-live-token"}

    payload, error = pipeline.runtime.invoke("TrackFunction", event)

    assert error is None
    assert payload["parked"] is True
    assert pipeline.job(job_id)["task_token"] == "not-a-live-token"


def test_report_handler_builds_the_email_for_a_finished_job(pipeline, load_event):
    job_id = pipeline.upload("incoming/handler-report.csv", PEOPLE)
    pipeline.wait_done(job_id)
    event = load_event("report_build.json")
    event["job_id"] = job_id
    event["execution_input"]["job_id"] = job_id

    payload, error = pipeline.runtime.invoke("ReportFunction", event)

    assert error is None
    assert payload["status"] == "completed"
    assert payload["email"]["to"] == ["ops@example.com"]
    assert job_id in payload["email"]["text"]
    tags = pipeline.s3.get_object_tagging(Bucket=pipeline.bucket, Key="incoming/handler-report.csv")["TagSet"]
    assert {"Key": "importer-status", "Value": "processed"} in tags


def test_validator_ignores_sidecar_manifests(pipeline, load_event):
    event = load_event("validate_s3_put.json")
    event["Records"][0]["s3"]["bucket"]["name"] = pipeline.bucket
    event["Records"][0]["s3"]["object"]["key"] = "incoming/people.csv.json"
    payload, error = pipeline.runtime.invoke("ValidateFunction", event)
    assert error is None and payload == {"jobs": []}


def test_validator_decodes_url_encoded_keys(pipeline):
    job_id = pipeline.upload("incoming/march été+plus.csv", PEOPLE)
    job = pipeline.wait_done(job_id)
    assert job["key"] == "incoming/march été+plus.csv"
    assert job["status"] == "completed"


def test_validator_failure_after_retries_still_ends_in_one_email(pipeline, load_event):
    # Lambda's on-failure destination record for an upload the validator never finished (it timed out).
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key="staging/huge.csv", Body=b"email\na@example.com\n")
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key="staging/huge.csv")
    event = load_event("validate_failed_destination.json")
    destination = json.loads(event["Records"][0]["body"])
    record = destination["requestPayload"]["Records"][0]["s3"]
    record["bucket"]["name"] = pipeline.bucket
    record["object"].update(key="staging/huge.csv", versionId=head["VersionId"])
    event["Records"][0]["body"] = json.dumps(destination)

    for _ in range(2):  # the same failure delivered twice: one job, one email
        payload, error = pipeline.runtime.invoke("ValidateFailedFunction", event)
        assert error is None and payload == {"batchItemFailures": []}

    job_id = job_id_for(pipeline.bucket, "staging/huge.csv", head["VersionId"])
    job = pipeline.wait_done(job_id)
    assert job["status"] == "failed"
    emails = pipeline.emails_for(job_id)
    assert len(emails) == 1
    assert "Task timed out" in emails[0]["text"] and "Nothing was written" in emails[0]["text"]


def test_validator_failure_waits_while_a_live_lease_holds_the_job(pipeline, load_event):
    # the failed invocation's lease is still live (or another invocation holds the job): not failed yet,
    # the record is reported back so SQS delivers it again once the lease has expired
    key = "staging/held.csv"
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key=key, Body=b"email\na@example.com\n")
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=key)
    job_id = job_id_for(pipeline.bucket, key, head["VersionId"])
    lease = {"N": str(int(time.time()) + 600)}
    pipeline.ddb.put_item(
        TableName=pipeline.table,
        Item={
            "pk": {"S": f"JOB#{job_id}"},
            "sk": {"S": "META"},
            "job_id": {"S": job_id},
            "status": {"S": "validating"},
            "lease_until": lease,
        },
    )
    event = load_event("validate_failed_destination.json")
    destination = json.loads(event["Records"][0]["body"])
    record = destination["requestPayload"]["Records"][0]["s3"]
    record["bucket"]["name"] = pipeline.bucket
    record["object"].update(key=key, versionId=head["VersionId"])
    event["Records"][0]["body"] = json.dumps(destination)

    payload, error = pipeline.runtime.invoke("ValidateFailedFunction", event)

    assert error is None
    assert payload == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert pipeline.job(job_id)["status"] == "validating"
