"""The local runtime's SQS poller gathers a batch over MaximumBatchingWindowInSeconds, on a fake clock.

Messages arrive on a scripted timeline and the poller's waits move the clock, so "sent 0.2 s apart" and
"after the window closed" are exact, whatever the machine's load. (The window is read from the template:
tests/integration/test_local_runtime_event_sources.py::test_pollers_follow_the_mappings_lambda_holds.)
"""

from __future__ import annotations

from typing import Any

import pytest

from local_runtime.event_sources import SqsPoller
from local_runtime.stack import EventSourceMapping

pytestmark = pytest.mark.unit


class FakeTime:
    """The poller's clock and its stop event: waiting on the event moves the clock (it is never set)."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return False

    def wait(self, seconds: float | None = None) -> bool:
        self.now += seconds or 0.0
        return False


class ScriptedQueue:
    """An SQS client whose messages become visible at given times; a long poll waits for the first one."""

    def __init__(self, time: FakeTime, arrivals: dict[str, float]) -> None:
        self.time = time
        self.pending = sorted(arrivals.items(), key=lambda item: item[1])

    def receive_message(self, *, MaxNumberOfMessages: int, WaitTimeSeconds: int, **_: Any) -> dict[str, Any]:
        if self.pending and WaitTimeSeconds:
            first = self.pending[0][1]
            if self.time.now < first <= self.time.now + WaitTimeSeconds:
                self.time.now = first
        visible = [name for name, at in self.pending if at <= self.time.now][:MaxNumberOfMessages]
        self.pending = [(name, at) for name, at in self.pending if name not in visible]
        return {"Messages": [{"MessageId": name} for name in visible]}


def _mapping(batch_size: int, window: float) -> EventSourceMapping:
    return EventSourceMapping(
        logical_id="Window",
        uuid="mapping-uuid",
        function_logical_id="BatchFunction",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:batch",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:window",
        queue_url="http://localhost/123456789012/window",
        batch_size=batch_size,
        maximum_batching_window=window,
        report_batch_item_failures=False,
        maximum_concurrency=None,
        enabled=True,
    )


def gather(arrivals: dict[str, float], *, batch_size: int, window: float) -> tuple[list[str], float]:
    """One batch as the poller gathers it, and the time it was complete."""
    time = FakeTime()
    poller = SqsPoller(
        _mapping(batch_size, window),
        execute=lambda *_: None,  # type: ignore[arg-type, return-value]
        client=lambda _: None,
        region="us-east-1",
        concurrency=1,
        poll_wait_seconds=1,
        stop=time,  # type: ignore[arg-type]
        clock=time.clock,
    )
    batch = poller._receive_batch(ScriptedQueue(time, arrivals))
    return [message["MessageId"] for message in batch], time.now


def test_messages_sent_apart_within_the_window_are_one_batch():
    batch, done = gather({"m1": 0.0, "m2": 0.2, "m3": 0.4, "late": 1.3}, batch_size=5, window=1.0)

    assert batch == ["m1", "m2", "m3"]  # "late" arrives after the window [0, 1) closed: the next batch
    assert done == pytest.approx(1.0)


def test_a_full_batch_does_not_wait_for_the_window_to_close():
    batch, done = gather({"m1": 0.0, "m2": 0.2, "m3": 0.4}, batch_size=2, window=1.0)

    assert batch == ["m1", "m2"]
    assert done == pytest.approx(0.2)


def test_without_a_window_a_batch_is_what_one_receive_returns():
    batch, done = gather({"m1": 0.0, "m2": 0.2}, batch_size=5, window=0)

    assert batch == ["m1"]
    assert done == 0.0


# ----------------------------------------------------------------------- disabled during a long poll
class DisabledDuringPoll(ScriptedQueue):
    """The mapping is disabled while the receive waits (``UpdateEventSourceMapping Enabled=false``); what the
    poller gives back is recorded."""

    def __init__(self, time: FakeTime, arrivals: dict[str, float], lam: Any) -> None:
        super().__init__(time, arrivals)
        self.lam = lam
        self.given_back: list[list[dict[str, Any]]] = []

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        answer = super().receive_message(**kwargs)
        self.lam.state = "Disabled"
        return {"Messages": [{**m, "ReceiptHandle": f"rh-{m['MessageId']}"} for m in answer["Messages"]]}

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> None:
        self.given_back.append(Entries)


class Mappings:
    def __init__(self) -> None:
        self.state = "Enabled"

    def get_event_source_mapping(self, UUID: str) -> dict[str, Any]:
        return {"State": self.state}


class OneTurn(FakeTime):
    """A stop event that is set once the receiver went round its loop once."""

    def __init__(self) -> None:
        super().__init__()
        self.turns = 0

    def is_set(self) -> bool:
        self.turns += 1
        return self.turns > 2


def test_messages_a_long_poll_returns_after_the_mapping_was_disabled_are_given_back_not_invoked():
    time, lam = OneTurn(), Mappings()
    queue = DisabledDuringPoll(time, {"m1": 0.5}, lam)
    poller = SqsPoller(
        _mapping(1, 0),
        execute=lambda *_: None,  # type: ignore[arg-type, return-value]
        client=lambda service: queue if service == "sqs" else lam,
        region="us-east-1",
        concurrency=1,
        poll_wait_seconds=1,
        stop=time,  # type: ignore[arg-type]
        clock=time.clock,
    )

    poller._receive_loop()

    assert queue.given_back == [[{"Id": "0", "ReceiptHandle": "rh-m1", "VisibilityTimeout": 0}]]
    assert poller._batches.empty() and poller.paused.is_set()
