"""Each handler invoked on its own, in its local execution environment, against moto and the sandbox over HTTP."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from intercom_importer.jobs import JobStore, job_id_for
from intercom_importer.partners import config_key, parse_partner, save_partner
from intercom_importer.worker import resume_if_complete
from moto_server import session as boto_session
from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, counts, default_stack_fixtures

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom, pytest.mark.xdist_group(DEFAULT_STACK)]

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = DEFAULT_STACK_TOKEN


sandbox, pipeline = default_stack_fixtures()  # one stack for the modules with the template's defaults


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


def _parked_execution(pipeline, name: str) -> tuple[str, str]:
    """An execution waiting on a task token, as the import's WaitForChunks state does, and its live token: a
    one-state machine hands the token to a queue (``sqs:sendMessage.waitForTaskToken``) instead of to Track."""
    runtime = pipeline.runtime
    sqs = runtime.client("sqs")
    queue_url = sqs.create_queue(QueueName=f"{name}-token")["QueueUrl"]
    state = {
        "Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
        "End": True,
    }
    machine = pipeline.sfn.create_state_machine(
        name=name,
        definition=json.dumps({"StartAt": "Park", "States": {"Park": state}}),
        roleArn=f"arn:aws:iam::{runtime.account_id}:role/{name}",
    )["stateMachineArn"]
    execution = pipeline.sfn.start_execution(stateMachineArn=machine)["executionArn"]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        for message in sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=1).get("Messages", []):
            return execution, json.loads(message["Body"])["token"]
    raise AssertionError(
        f"the execution never handed out its task token: {pipeline.sfn.describe_execution(executionArn=execution)}"
    )


def _execution_end(pipeline, execution: str) -> dict:
    def finished() -> dict | None:
        described = pipeline.sfn.describe_execution(executionArn=execution)
        return described if described["status"] != "RUNNING" else None

    return pipeline.runtime.wait_until(finished, timeout=20)


def test_track_handler_parks_the_token_and_resumes_at_once_when_already_complete(pipeline, load_event):
    # the last chunk was recorded before the state machine parked its token: no worker is left to resume it
    job_id = "job-track-complete"
    _job_store(pipeline).create(job_id, {"status": "importing", "chunks_total": 3, "chunks_done": 3})
    execution, token = _parked_execution(pipeline, "handler-track-complete")
    event = load_event("track_wait_for_chunks.json") | {"job_id": job_id, "task_token": token}

    payload, error = pipeline.runtime.invoke("TrackFunction", event)

    assert error is None
    assert payload == {"job_id": job_id, "parked": True, "resumed_immediately": True}
    assert pipeline.job(job_id)["task_token"] == token
    described = _execution_end(pipeline, execution)  # went on with what the last chunk's worker would send
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"chunks_done": 3})


def test_track_handler_parks_the_token_of_a_job_still_importing_for_its_last_worker(pipeline, load_event):
    job_id, store = "job-track-importing", _job_store(pipeline)
    store.create(job_id, {"status": "importing", "chunks_total": 3, "chunks_done": 2})
    execution, token = _parked_execution(pipeline, "handler-track-importing")
    event = load_event("track_wait_for_chunks.json") | {"job_id": job_id, "task_token": token}

    payload, error = pipeline.runtime.invoke("TrackFunction", event)

    assert error is None
    assert payload == {"job_id": job_id, "parked": True, "resumed_immediately": False}
    assert pipeline.job(job_id)["task_token"] == token  # where the worker recording chunk 3 finds it
    assert pipeline.sfn.describe_execution(executionArn=execution)["status"] == "RUNNING"
    store.update(job_id, {"chunks_done": 3})  # the last chunk recorded: its worker resumes with the parked token
    assert resume_if_complete(store, pipeline.sfn, job_id) is True
    described = _execution_end(pipeline, execution)
    assert (described["status"], json.loads(described["output"])) == ("SUCCEEDED", {"chunks_done": 3})


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


def _staged_job(pipeline, key: str) -> tuple[str, dict]:
    """An object outside incoming/ (no S3 notification: the test decides what happens to it) and its job id."""
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key=key, Body=PEOPLE.encode())
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=key)
    return job_id_for(pipeline.bucket, key, head["VersionId"]), head


def _job_store(pipeline) -> JobStore:
    ddb = boto_session().resource("dynamodb", endpoint_url=pipeline.runtime.endpoint_url)
    return JobStore(ddb.Table(pipeline.table))


def test_validator_records_who_uploaded_from_the_s3_event(pipeline, load_event):
    job_id, head = _staged_job(pipeline, "staging/uploaded-by.csv")
    event = load_event("validate_s3_put.json")
    record = event["Records"][0]
    record["s3"]["bucket"]["name"] = pipeline.bucket
    record["s3"]["object"].update(key="staging/uploaded-by.csv", versionId=head["VersionId"])

    payload, error = pipeline.runtime.invoke("ValidateFunction", event)

    assert error is None and payload["jobs"][0]["job_id"] == job_id
    job = pipeline.wait_done(job_id)
    assert (job["uploaded_by"], job["source_ip"]) == ("AWS:EXAMPLE", "127.0.0.1")  # the sample event's
    (email,) = pipeline.emails_for(job_id)
    assert re.search(r"^Uploaded by: +AWS:EXAMPLE \(from 127\.0\.0\.1\)$", email["text"], re.MULTILINE)


def test_upload_through_the_local_runtime_records_its_principal(pipeline):
    job = pipeline.wait_done(pipeline.upload("incoming/handler-uploaded-by.csv", PEOPLE))
    # the principal and address moto_hooks.s3_event puts in every local S3 event
    assert (job["uploaded_by"], job["source_ip"]) == ("AWS:AIDAJDPLRKLG7UEXAMPLE", "127.0.0.1")


def test_sweep_handler_ends_abandoned_validations_and_unfinished_starts_with_one_email_each(pipeline, load_event):
    store = _job_store(pipeline)
    abandoned, _ = _staged_job(pipeline, "staging/sweep-abandoned.csv")
    store.create(abandoned, {"status": "validating", "bucket": pipeline.bucket, "key": "staging/sweep-abandoned.csv"})
    store.update(abandoned, {"lease_until": 0})  # its invocation died long ago
    unstarted, _ = _staged_job(pipeline, "staging/sweep-unstarted.csv")
    store.create(  # rejected, but the invocation died before it started the job (and its lease expired)
        unstarted,
        {
            "status": "rejected",
            "rejection": "The file is an Excel workbook.",
            "bucket": pipeline.bucket,
            "key": "staging/sweep-unstarted.csv",
            "handover": "pending",
            "handover_outcome": "rejected",
            "lease_until": 0,
        },
    )

    payload, error = pipeline.runtime.invoke("SweepFunction", load_event("sweep_schedule.json"))
    again, error_again = pipeline.runtime.invoke("SweepFunction", load_event("sweep_schedule.json"))

    assert error is None and error_again is None
    assert abandoned in payload["failed"] and unstarted in payload["handed_over"]
    assert abandoned not in again["failed"] and unstarted not in again["handed_over"]
    assert pipeline.wait_done(abandoned)["status"] == "failed"
    assert pipeline.wait_done(unstarted)["status"] == "rejected"
    assert len(pipeline.emails_for(abandoned)) == 1 and len(pipeline.emails_for(unstarted)) == 1


def test_check_partners_handler_reports_late_and_invalid_partners(pipeline, load_event):
    late = parse_partner("handler-late", {"import_type": "people", "expect": {"every_hours": 1}})
    save_partner(pipeline.s3, pipeline.bucket, late)
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key=config_key("handler-broken"), Body=b'{"existing": "merge"}')
    pipeline.ddb.put_item(
        TableName=pipeline.table,
        Item={
            "pk": {"S": "PARTNER#handler-late"},
            "sk": {"S": "ACTIVITY"},
            "last_upload_at": {"N": str(time.time() - 48 * 3600)},
            "uploads": {"N": "1"},
        },
    )

    payload, error = pipeline.runtime.invoke("CheckPartnersFunction", load_event("check_partners_schedule.json"))

    assert error is None
    assert "handler-late" in payload["overdue"] and "handler-broken" in payload["invalid"]
    assert "partner upload overdue" in pipeline.runtime.read_log("CheckPartnersFunction")
