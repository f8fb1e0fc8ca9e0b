"""Event sources of the local runtime: S3 -> Lambda (async, retries, key encoding), SQS -> Lambda
(batching, partial batch failures, redelivery, DLQ, MaximumConcurrency)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote_plus

import pytest

from local_runtime import InvocationOutcome, LocalRuntime
from local_runtime.event_sources import sqs_record, successful_messages
from runtime_fixtures import (
    FIXTURE_TEMPLATE,
    function_logs,
    max_concurrency,
    queue_depth,
    runtime_fixture,
    send_json_messages,
    wait_for_invocations,
)

pytestmark = pytest.mark.integration

runtime = runtime_fixture(
    FIXTURE_TEMPLATE,
    stack_name="fixture-sources",
    parameters={"Stage": "sources", "SlowConcurrency": 3},
    async_retry_delays=(0.2, 0.4),
    # handlers that wait at a gate or barrier their test opens never time out while the test runs
    timeout_override={"UploadFunction": 60, "SlowFunction": 60},
)


def _item(runtime: LocalRuntime, pk: str) -> dict[str, Any] | None:
    table = runtime.client("dynamodb")
    from boto3.dynamodb.types import TypeDeserializer

    raw = table.get_item(TableName=runtime.outputs["TableName"], Key={"pk": {"S": pk}}, ConsistentRead=True)
    if "Item" not in raw:
        return None
    deserializer = TypeDeserializer()
    return {k: deserializer.deserialize(v) for k, v in raw["Item"].items()}


def _wait_item(runtime: LocalRuntime, pk: str, check=lambda item: True, timeout: float = 20.0) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        item = _item(runtime, pk)
        return item if item is not None and check(item) else None

    return runtime.wait_until(ready, timeout, interval=0.1, message=f"{pk} not ready\n{function_logs(runtime)}")


def _quiet(runtime: LocalRuntime) -> int:
    """Waits for the previous test's invocations to finish (its handler's side effects can be visible
    before the runtime records the invocation); returns the UploadFunction invocation count."""
    assert runtime.wait_until(lambda: runtime.idle(include_executions=False), 20)
    return len(runtime.invocations("UploadFunction"))


def _ids(prefix: str, count: int) -> list[str]:
    run = uuid.uuid4().hex[:8]
    return [f"{prefix}-{run}-{index}" for index in range(count)]


# ------------------------------------------------------------------------------------------ S3
def test_s3_put_invokes_function_with_aws_encoded_key_and_object_details(runtime: LocalRuntime) -> None:
    key = "incoming/a b+c/é.csv"

    put = runtime.client("s3").put_object(Bucket=runtime.outputs["BucketName"], Key=key, Body=b"id\n1\n")

    item = _wait_item(runtime, f"S3#{key}")
    record = item["record"]
    assert item["raw_key"] == quote_plus(key) == "incoming%2Fa+b%2Bc%2F%C3%A9.csv"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == runtime.outputs["BucketName"]
    obj = record["s3"]["object"]
    assert obj["versionId"] == put["VersionId"]
    assert obj["eTag"] == put["ETag"].strip('"')
    assert obj["size"] == 5
    assert int(obj["sequencer"], 16) > 0
    assert record["s3"]["configurationId"]


def test_s3_upload_returns_before_the_handler_finishes(runtime: LocalRuntime) -> None:
    key = f"incoming/gated-{uuid.uuid4().hex[:6]}.csv"  # its handler waits until the test puts GATE#<key>
    before = _quiet(runtime)

    runtime.client("s3").put_object(Bucket=runtime.outputs["BucketName"], Key=key, Body=b"x")

    assert len(runtime.invocations("UploadFunction")) == before  # not finished when PutObject returned
    assert not runtime.idle(include_executions=False)
    runtime.client("dynamodb").put_item(TableName=runtime.outputs["TableName"], Item={"pk": {"S": f"GATE#{key}"}})
    records = wait_for_invocations(runtime, "UploadFunction", before + 1, timeout=30)
    assert records[-1].ok


def test_s3_filter_rules_skip_other_prefixes_and_suffixes(runtime: LocalRuntime) -> None:
    s3, bucket = runtime.client("s3"), runtime.outputs["BucketName"]
    before = _quiet(runtime)

    s3.put_object(Bucket=bucket, Key="incoming/notes.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="elsewhere/data.csv", Body=b"x")

    # Notifications are dispatched inside PutObject: nothing pending now means nothing will run.
    assert runtime.wait_until(lambda: runtime.idle(include_executions=False), 10)
    assert len(runtime.invocations("UploadFunction")) == before


def test_s3_async_invocation_is_retried_twice_with_the_same_request_id(runtime: LocalRuntime) -> None:
    key = f"incoming/fail-always-{uuid.uuid4().hex[:6]}.csv"

    runtime.client("s3").put_object(Bucket=runtime.outputs["BucketName"], Key=key, Body=b"x")

    item = _wait_item(runtime, f"S3#{key}", lambda i: i["attempts"] == 3)
    runtime.wait_until(
        lambda: any(f.event["Records"][0]["s3"]["object"]["key"] == quote_plus(key) for f in runtime.async_failures), 10
    )
    records = [r for r in runtime.invocations("UploadFunction", source="s3") if r.request_id in item["request_ids"]]
    assert [r.attempt for r in records] == [0, 1, 2]
    assert len(set(item["request_ids"])) == 1
    assert all(r.error_type == "RuntimeError" for r in records)
    assert records[1].started_at - records[0].ended_at >= 0.2
    assert records[2].started_at - records[1].ended_at >= 0.4
    assert _item(runtime, f"S3#{key}")["attempts"] == 3  # given up: no fourth attempt


def test_s3_async_invocation_succeeds_on_retry(runtime: LocalRuntime) -> None:
    key = f"incoming/fail-once-{uuid.uuid4().hex[:6]}.csv"

    runtime.client("s3").put_object(Bucket=runtime.outputs["BucketName"], Key=key, Body=b"x")

    item = _wait_item(runtime, f"S3#{key}", lambda i: i["attempts"] == 2)
    runtime.wait_until(lambda: runtime.idle(include_executions=False), 10)
    records = [r for r in runtime.invocations("UploadFunction") if r.request_id in item["request_ids"]]
    assert [(r.attempt, r.ok) for r in records] == [(0, False), (1, True)]
    assert item["attempts"] == 2


# ----------------------------------------------------------------------------------------- SQS
def _batch_sizes(runtime: LocalRuntime, ids: list[str]) -> list[int]:
    items = runtime.client("dynamodb").scan(TableName=runtime.outputs["TableName"])["Items"]
    return sorted(
        (
            len(item["ids"]["L"])
            for item in items
            if item["pk"]["S"].startswith("BATCH#") and item["ids"]["L"][0]["S"] in ids
        ),
        reverse=True,
    )


def _redeliver_once_handled(runtime: LocalRuntime, message_id: str, deliveries: int) -> None:
    """What SQS does when a delivery's visibility timeout runs out, made explicit: once the invocation that got
    the message's ``deliveries``-th delivery has ended (and the poller kept it), the message is made visible
    again and the poller receives it again. The queue's own timeout (60 s, the template's) never runs out in a
    test, so how fast a loaded machine handles a batch decides nothing."""

    def handled() -> dict[str, Any] | None:
        item = _item(runtime, f"MSG#{message_id}")
        if item is None or item["receives"] != deliveries:
            return None
        batches = runtime.client("dynamodb").scan(TableName=runtime.outputs["TableName"])["Items"]
        request_ids = {
            b["pk"]["S"].removeprefix("BATCH#")
            for b in batches
            if b["pk"]["S"].startswith("BATCH#") and {"S": message_id} in b["ids"]["L"]
        }
        ended = [r for r in runtime.invocations("BatchFunction", source="sqs") if r.request_id in request_ids]
        return item if len(ended) == deliveries else None

    item = runtime.wait_until(handled, 20, interval=0.05, message=f"delivery {deliveries} of {message_id} not handled")
    runtime.client("sqs").change_message_visibility(
        QueueUrl=runtime.queue_url("WorkQueue"), ReceiptHandle=item["last_record"]["receiptHandle"], VisibilityTimeout=0
    )


def _set_mapping(runtime: LocalRuntime, function: str, queue: str, enabled: bool) -> None:
    [poller] = [
        p for p in runtime.pollers if p.mapping.function_logical_id == function and queue in p.mapping.queue_arn
    ]
    runtime.client("lambda").update_event_source_mapping(UUID=poller.mapping.uuid, Enabled=enabled)
    runtime.wait_until(lambda: poller.paused.is_set() != enabled, 10, message="poller did not follow the mapping state")


def test_sqs_batches_are_filled_up_to_batch_size(runtime: LocalRuntime) -> None:
    ids = _ids("batch", 7)
    queue = runtime.physical_id("WorkQueue").rsplit("/", 1)[1]
    _set_mapping(runtime, "BatchFunction", queue, enabled=False)
    try:
        send_json_messages(runtime, "WorkQueue", [{"id": i} for i in ids])
    finally:
        _set_mapping(runtime, "BatchFunction", queue, enabled=True)

    for message_id in ids:
        _wait_item(runtime, f"MSG#{message_id}", lambda i: i.get("succeeded"))
    assert _batch_sizes(runtime, ids) == [3, 3, 1]
    assert all(r.records <= 3 for r in runtime.invocations("BatchFunction", source="sqs"))


def test_disabled_mapping_leaves_messages_in_the_queue(runtime: LocalRuntime) -> None:
    [message_id] = _ids("disabled", 1)
    queue = runtime.physical_id("WorkQueue").rsplit("/", 1)[1]
    _set_mapping(runtime, "BatchFunction", queue, enabled=False)
    try:
        send_json_messages(runtime, "WorkQueue", [{"id": message_id}])
        time.sleep(0.5)  # the paused receiver makes no receive call at all
        assert queue_depth(runtime, "WorkQueue") == 1
        assert _item(runtime, f"MSG#{message_id}") is None
    finally:
        _set_mapping(runtime, "BatchFunction", queue, enabled=True)

    _wait_item(runtime, f"MSG#{message_id}", lambda i: i.get("succeeded"))


def test_sqs_event_has_lambda_record_shape(runtime: LocalRuntime) -> None:
    [message_id] = _ids("shape", 1)
    runtime.client("sqs").send_message(
        QueueUrl=runtime.queue_url("WorkQueue"),
        MessageBody=json.dumps({"id": message_id}),
        MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}},
    )

    record = _wait_item(runtime, f"MSG#{message_id}", lambda i: i.get("succeeded"))["last_record"]

    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(runtime.physical_id("WorkQueue").rsplit("/", 1)[1])
    assert record["awsRegion"] == "us-east-1"
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp"} <= set(record["attributes"])
    assert record["messageAttributes"]["kind"] == {
        "stringValue": "test",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert record["md5OfBody"] and record["receiptHandle"] and record["messageId"]


def test_sqs_partial_batch_failure_redelivers_only_failed_messages(runtime: LocalRuntime) -> None:
    ok_1, failing, ok_2 = _ids("partial", 3)

    send_json_messages(runtime, "WorkQueue", [{"id": ok_1}, {"id": failing, "fail_times": 1}, {"id": ok_2}])
    _redeliver_once_handled(runtime, failing, deliveries=1)  # kept by the poller: it can come back

    failed = _wait_item(runtime, f"MSG#{failing}", lambda i: i.get("succeeded"))
    assert failed["receives"] == 2
    assert failed["last_record"]["attributes"]["ApproximateReceiveCount"] == "2"
    assert _item(runtime, f"MSG#{ok_1}")["receives"] == 1
    assert _item(runtime, f"MSG#{ok_2}")["receives"] == 1


def test_sqs_handler_error_keeps_the_batch_for_redelivery(runtime: LocalRuntime) -> None:
    [message_id] = _ids("raise", 1)

    send_json_messages(runtime, "WorkQueue", [{"id": message_id, "raise_times": 1}])
    _redeliver_once_handled(runtime, message_id, deliveries=1)  # kept by the poller: it can come back

    item = _wait_item(runtime, f"MSG#{message_id}", lambda i: i.get("succeeded"))
    assert item["receives"] == 2
    assert any(r.error_type == "RuntimeError" for r in runtime.invocations("BatchFunction", source="sqs"))


def test_sqs_message_moves_to_dlq_after_max_receive_count(runtime: LocalRuntime) -> None:
    [message_id] = _ids("poison", 1)

    send_json_messages(runtime, "WorkQueue", [{"id": message_id, "fail_times": 99}])
    for delivery in (1, 2, 3):  # maxReceiveCount: 3; the receive after the third moves it to the DLQ
        _redeliver_once_handled(runtime, message_id, deliveries=delivery)

    sqs = runtime.client("sqs")
    dlq = runtime.queue_url("WorkDeadLetterQueue")

    def dead_lettered() -> list[dict[str, Any]]:
        messages = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        return [m for m in messages if json.loads(m["Body"])["id"] == message_id]

    assert runtime.wait_until(dead_lettered, 20, interval=0.1)
    assert _item(runtime, f"MSG#{message_id}")["receives"] == 3
    assert not _item(runtime, f"MSG#{message_id}").get("succeeded")


def test_sqs_maximum_concurrency_caps_parallel_invocations(runtime: LocalRuntime) -> None:
    ids = _ids("slow", 6)
    [barrier] = _ids("barrier", 1)

    # each handler waits until 3 are running: the cap is reached, and a 4th would pass the barrier too
    send_json_messages(runtime, "SlowQueue", [{"id": i, "barrier": barrier, "parties": 3} for i in ids])

    for message_id in ids:
        _wait_item(runtime, f"MSG#{message_id}", lambda i: i.get("succeeded"))
    runtime.wait_until(lambda: queue_depth(runtime, "SlowQueue") == 0, 10)
    records = runtime.invocations("SlowFunction", source="sqs")
    assert len(records) == 6
    assert max_concurrency(records) == 3  # ScalingConfig.MaximumConcurrency: !Ref SlowConcurrency
    assert all(r.records == 1 for r in records)


def test_pollers_follow_the_mappings_lambda_holds(runtime: LocalRuntime) -> None:
    work = next(p for p in runtime.pollers if p.mapping.logical_id == "BatchFunctionWork")
    window = next(p for p in runtime.pollers if p.mapping.logical_id == "BatchFunctionWindow")
    slow = next(p for p in runtime.pollers if p.mapping.logical_id == "SlowFunctionSlow")

    assert len(runtime.pollers) == 3
    assert (work.mapping.batch_size, work.concurrency, work.mapping.maximum_batching_window) == (3, 2, 0)
    assert work.mapping.report_batch_item_failures
    assert (window.mapping.batch_size, window.mapping.maximum_batching_window) == (5, 1)
    assert not window.mapping.report_batch_item_failures
    assert slow.concurrency == 3


# ------------------------------------------------------------------- partial batch response rules
_MESSAGES = [{"MessageId": f"m{i}", "ReceiptHandle": f"r{i}"} for i in range(3)]


def _outcome(payload: Any = None, error: dict | None = None, raw: str | None = None) -> InvocationOutcome:
    text = raw if raw is not None else (None if payload is None else json.dumps(payload))
    return InvocationOutcome("req", text, error, 0.0)


@pytest.mark.parametrize(
    ("outcome", "report", "deleted"),
    [
        (_outcome({"batchItemFailures": [{"itemIdentifier": "m1"}]}), True, ["m0", "m2"]),
        (_outcome({"batchItemFailures": []}), True, ["m0", "m1", "m2"]),
        (_outcome(None), True, ["m0", "m1", "m2"]),
        (_outcome({"batchItemFailures": [{"itemIdentifier": "unknown"}]}), True, []),
        (_outcome({"batchItemFailures": [{"itemIdentifier": ""}]}), True, []),
        (_outcome({"batchItemFailures": [{"id": "m1"}]}), True, []),
        (_outcome(raw="not json"), True, []),
        (_outcome(error={"errorType": "Boom"}), True, []),
        (_outcome(error={"errorType": "Boom"}), False, []),
        (_outcome({"batchItemFailures": [{"itemIdentifier": "m1"}]}), False, ["m0", "m1", "m2"]),
    ],
    ids=[
        "listed-failure-kept",
        "empty-list",
        "null-response",
        "unknown-id-fails-batch",
        "empty-id-fails-batch",
        "bad-key-fails-batch",
        "invalid-json-fails-batch",
        "error-keeps-batch",
        "error-without-reporting",
        "failures-ignored-without-reporting",
    ],
)
def test_partial_batch_response_rules(outcome: InvocationOutcome, report: bool, deleted: list[str]) -> None:
    assert [m["MessageId"] for m in successful_messages(_MESSAGES, outcome, report)] == deleted


def test_sqs_record_encodes_binary_attributes_in_base64() -> None:
    message = {
        "MessageId": "m",
        "ReceiptHandle": "r",
        "Body": "b",
        "MD5OfBody": "x",
        "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1", "Policy": "not-for-lambda"},
        "MessageAttributes": {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}},
    }

    record = sqs_record(message, "arn:aws:sqs:us-east-1:123456789012:q", "us-east-1")

    assert record["attributes"] == {"ApproximateReceiveCount": "2", "SentTimestamp": "1"}
    assert record["messageAttributes"]["blob"]["binaryValue"] == "AAE="
