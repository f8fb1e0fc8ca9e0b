"""Event sources with Lambda's semantics: asynchronous invocations with retries, and SQS pollers."""

from __future__ import annotations

import base64
import json
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .environment import InvocationOutcome
from .fair_share import FairShare
from .stack import EventSourceMapping

LOG = logging.getLogger(__name__)

# execute(function_logical_id, event, source, request_id, attempt) -> outcome
Execute = Callable[[str, Any, str, "str | None", int], InvocationOutcome]


@dataclass(frozen=True)
class AsyncFailure:
    """An asynchronous event that still failed after Lambda's retries (AWS would drop it or send it
    to an on-failure destination)."""

    function: str
    source: str
    request_id: str
    attempts: int
    error: dict[str, Any] | None
    event: Any


class AsyncInvoker:
    """``InvocationType=Event`` semantics: accepted at once, run in the background, retried on error.

    AWS retries a failed asynchronous invocation twice, about 1 and 2 minutes later, with the same
    request id; ``retry_delays`` scales those delays down for local use.
    """

    def __init__(self, execute: Execute, retry_delays: Sequence[float], stop: threading.Event) -> None:
        self._execute = execute
        self.retry_delays = tuple(retry_delays)
        self._stop = stop
        self._lock = threading.Lock()
        self._threads: set[threading.Thread] = set()
        self.failures: list[AsyncFailure] = []

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._threads)

    def submit(self, function: str, event: Any, source: str) -> str:
        request_id = str(uuid.uuid4())
        thread = threading.Thread(
            target=self._run, args=(function, event, source, request_id), name=f"async-{function}", daemon=True
        )
        with self._lock:
            self._threads.add(thread)
        thread.start()
        return request_id

    def _run(self, function: str, event: Any, source: str, request_id: str) -> None:
        try:
            attempts = 1 + len(self.retry_delays)
            outcome = None
            for attempt in range(attempts):
                outcome = self._execute(function, event, source, request_id, attempt)
                if not outcome.errored:
                    return
                if attempt + 1 < attempts and self._stop.wait(self.retry_delays[attempt]):
                    return
            with self._lock:
                self.failures.append(
                    AsyncFailure(function, source, request_id, attempts, outcome.error if outcome else None, event)
                )
        except Exception:
            if not self._stop.is_set():
                LOG.exception("asynchronous invocation of %s failed", function)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in list(self._threads):
            thread.join(max(deadline - time.monotonic(), 0))


_SQS_RECORD_ATTRIBUTES = (
    "ApproximateReceiveCount",
    "SentTimestamp",
    "SenderId",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)


def sqs_record(message: dict[str, Any], queue_arn: str, region: str) -> dict[str, Any]:
    """One ReceiveMessage message as Lambda's SQS event record."""
    attributes = message.get("Attributes", {})
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        converted: dict[str, Any] = {}
        if "StringValue" in value:
            converted["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            converted["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode("ascii")
        converted["stringListValues"] = list(value.get("StringListValues", []))
        converted["binaryListValues"] = [
            base64.b64encode(item).decode("ascii") for item in value.get("BinaryListValues", [])
        ]
        converted["dataType"] = value["DataType"]
        message_attributes[name] = converted
    record: dict[str, Any] = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {key: attributes[key] for key in _SQS_RECORD_ATTRIBUTES if key in attributes},
        "messageAttributes": message_attributes,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    record.update(
        {
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": queue_arn,
            "awsRegion": region,
        }
    )
    return record


def successful_messages(
    messages: list[dict[str, Any]], outcome: InvocationOutcome, report_batch_item_failures: bool
) -> list[dict[str, Any]]:
    """Which messages Lambda deletes after an invocation (AWS's rules for partial batch responses).

    A function error keeps the whole batch. With ``ReportBatchItemFailures``: a null/empty response
    or an empty ``batchItemFailures`` is a full success; invalid JSON, or an item identifier that is
    empty, missing or not in the batch, fails the whole batch; otherwise every message not listed
    is deleted.
    """
    if outcome.errored:
        return []
    if not report_batch_item_failures or outcome.payload is None:
        return list(messages)
    try:
        response = json.loads(outcome.payload)
    except ValueError:
        return []
    if not isinstance(response, dict):
        return list(messages)
    failures = response.get("batchItemFailures")
    if not failures:
        return list(messages)
    ids = {m["MessageId"] for m in messages}
    failed = set()
    for item in failures:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if not identifier or identifier not in ids:
            return []
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


class SqsPoller:
    """Lambda's SQS poller for one event source mapping.

    One receiver long-polls the queue and gathers batches of up to BatchSize messages (waiting up to
    MaximumBatchingWindowInSeconds for more); ``concurrency`` workers (ScalingConfig.MaximumConcurrency,
    or the runtime default) invoke the function synchronously, one batch each, and delete what
    succeeded. The receiver takes messages only when a worker is free, so none sits in flight
    waiting for capacity. What is not deleted comes back after the queue's visibility timeout, and
    moto moves it to the DLQ after maxReceiveCount receives. Disabling the mapping
    (UpdateEventSourceMapping Enabled=false) pauses polling, as on AWS; messages a long poll returns after the
    mapping was disabled are given back to the queue, not invoked.

    Message groups share the workers as on an SQS fair queue (``fair_share.py``): when a worker is free the
    receiver also receives ahead, up to ``lookahead`` messages, holds them, and builds the batch from the groups
    with the fewest messages in flight. When it holds none, the batch goes out as soon as a long poll returns
    (the fair choice among up to 10 received), as Lambda invokes as soon as it has a batch; the next one looks
    ahead. A held message is in flight on the queue, so its visibility is extended
    (to ``visibility_timeout``, the queue's) once a quarter of it has passed: none reappears while held, and
    each is invoked with at least three quarters of its timeout left. ``lookahead=0`` keeps moto's arrival
    order (a batch is what the receive returned).
    """

    def __init__(
        self,
        mapping: EventSourceMapping,
        execute: Execute,
        client: Callable[[str], Any],
        region: str,
        concurrency: int,
        poll_wait_seconds: int,
        stop: threading.Event,
        clock: Callable[[], float] = time.monotonic,
        visibility_timeout: float = 30.0,
        lookahead: int = 0,
        mapping_enabled: Callable[[], bool] | None = None,
    ) -> None:
        self.mapping = mapping
        self.concurrency = concurrency
        self._execute = execute
        self._client = client
        self._region = region
        self._poll_wait = poll_wait_seconds
        self._stop = stop
        self._clock = clock  # times the batching window (injectable for tests)
        self._threads: list[threading.Thread] = []
        self._slots = threading.Semaphore(concurrency)
        self._batches: queue.Queue[list[dict[str, Any]]] = queue.Queue()
        self._held = FairShare()
        self._visibility = visibility_timeout
        self._lookahead = lookahead
        self._mapping_enabled = mapping_enabled  # the mapping's state without an API call (None: GetEventSourceMapping)
        self.paused = threading.Event()  # set while the mapping is disabled
        self._stats_lock = threading.Lock()
        self.batches = 0
        self.deleted = 0

    def start(self) -> None:
        name = f"sqs-{self.mapping.function_logical_id}"
        self._threads.append(threading.Thread(target=self._receive_loop, name=f"{name}-receiver", daemon=True))
        for index in range(self.concurrency):
            self._threads.append(threading.Thread(target=self._work_loop, name=f"{name}-{index}", daemon=True))
        for thread in self._threads:
            thread.start()

    def join(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(deadline - time.monotonic(), 0))

    # ---------------------------------------------------------------------------- receiving
    def _enabled(self, lambda_client: Any) -> bool:
        if self._mapping_enabled is not None:
            state = "Enabled" if self._mapping_enabled() else "Disabled"
        else:
            state = lambda_client.get_event_source_mapping(UUID=self.mapping.uuid).get("State", "Enabled")
        if state in ("Disabled", "Disabling"):
            self.paused.set()
            return False
        self.paused.clear()
        return True

    def _receive_loop(self) -> None:
        sqs, lambda_client = self._client("sqs"), self._client("lambda")
        while not self._stop.is_set():
            if not self._slots.acquire(timeout=0.5):
                self._guarded(self._keep_held, sqs)
                continue
            batch: list[dict[str, Any]] = []
            try:
                if self._enabled(lambda_client):
                    batch = self._next_batch(sqs)
                    if (batch or len(self._held)) and not self._enabled(lambda_client):  # disabled meanwhile
                        self._give_back(sqs, batch + self._held.release_all())
                        self._held.finished(batch)
                        batch = []
                else:
                    self._give_back(sqs, self._held.release_all())  # held before it was disabled
                    self._stop.wait(0.2)
            except Exception:
                if self._stop.is_set():
                    return
                LOG.exception("SQS poller for %s failed; retrying", self.mapping.function_logical_id)
                self._stop.wait(0.5)
            if batch:
                self._batches.put(batch)
            else:
                self._slots.release()

    def _guarded(self, step: Callable[[Any], None], sqs: Any) -> None:
        try:
            step(sqs)
        except Exception:
            if not self._stop.is_set():
                LOG.exception("SQS poller for %s failed; retrying", self.mapping.function_logical_id)

    def _give_back(self, sqs: Any, batch: list[dict[str, Any]]) -> None:
        """Make messages received for a mapping that is no longer enabled visible again at once."""
        self._set_visibility(sqs, batch, 0)

    def _set_visibility(self, sqs: Any, messages: list[dict[str, Any]], seconds: float) -> None:
        for start in range(0, len(messages), 10):
            sqs.change_message_visibility_batch(
                QueueUrl=self.mapping.queue_url,
                Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": int(seconds)}
                    for i, m in enumerate(messages[start : start + 10])
                ],
            )

    # ------------------------------------------------------------------ fair share between groups
    def _next_batch(self, sqs: Any) -> list[dict[str, Any]]:
        """The next batch: as received when not looking ahead; else from the held messages. When none is held, a
        long poll (with the batching window) for up to 10, and the batch goes out at once, as Lambda invokes as soon
        as it has a batch: the fair choice among what arrived first. Otherwise the held messages are topped up
        first, up to the lookahead, so the batch is chosen among all that wait."""
        if self._lookahead <= 0:
            return self._receive_batch(sqs)
        if len(self._held):
            self._top_up(sqs)
        else:
            ahead = min(10, max(self._lookahead, self.mapping.batch_size))
            self._held.hold(self._receive_batch(sqs, first=ahead), self._clock())
        self._keep_held(sqs)
        return self._held.take(self.mapping.batch_size)

    def _top_up(self, sqs: Any) -> None:
        while 0 < len(self._held) < self._lookahead:
            more = self._receive(sqs, min(self._lookahead - len(self._held), 10), 0)
            if not more:
                return
            self._held.hold(more, self._clock())

    def _keep_held(self, sqs: Any) -> None:
        """Extend the visibility of held messages once a quarter of it has passed."""
        stale = self._held.stale(self._clock(), self._visibility / 4)
        if stale:
            self._set_visibility(sqs, stale, self._visibility)
            self._held.extended([m["MessageId"] for m in stale], self._clock())

    def _receive(self, sqs: Any, count: int, wait: int) -> list[dict[str, Any]]:
        response = sqs.receive_message(
            QueueUrl=self.mapping.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return response.get("Messages", [])

    def _receive_batch(self, sqs: Any, *, first: int | None = None) -> list[dict[str, Any]]:
        """A long poll (for ``first`` messages, default: up to BatchSize), then more until BatchSize or the
        batching window ends."""
        batch_size = self.mapping.batch_size
        batch = self._receive(sqs, first or min(batch_size, 10), self._poll_wait)
        window = self.mapping.maximum_batching_window
        if not batch or window <= 0:
            return batch
        window_end = self._clock() + window
        while len(batch) < batch_size and not self._stop.is_set():
            remaining = window_end - self._clock()
            if remaining <= 0:
                break
            more = self._receive(sqs, min(batch_size - len(batch), 10), 0)
            if more:
                batch.extend(more)
            else:
                self._stop.wait(min(remaining, 0.05))
        return batch

    # ------------------------------------------------------------------------------ invoking
    def _work_loop(self) -> None:
        sqs = self._client("sqs")
        while not self._stop.is_set():
            try:
                batch = self._batches.get(timeout=0.5)
            except queue.Empty:
                continue
            try:
                self._process(sqs, batch)
            except Exception:
                if not self._stop.is_set():
                    LOG.exception("SQS batch for %s failed", self.mapping.function_logical_id)
            finally:
                self._held.finished(batch)
                self._slots.release()

    def _process(self, sqs: Any, messages: list[dict[str, Any]]) -> None:
        records = [sqs_record(m, self.mapping.queue_arn, self._region) for m in messages]
        outcome = self._execute(self.mapping.function_logical_id, {"Records": records}, "sqs", None, 0)
        done = successful_messages(messages, outcome, self.mapping.report_batch_item_failures)
        for start in range(0, len(done), 10):
            entries = [
                {"Id": str(index), "ReceiptHandle": m["ReceiptHandle"]}
                for index, m in enumerate(done[start : start + 10])
            ]
            sqs.delete_message_batch(QueueUrl=self.mapping.queue_url, Entries=entries)
        with self._stats_lock:
            self.batches += 1
            self.deleted += len(done)
