"""The local runtime's SQS poller shares its workers between message groups as an SQS fair queue does.

``FairShare`` alone (which message goes next), then the poller around it on a scripted queue (receiving ahead,
keeping held messages invisible, giving them back when the mapping is disabled). No timing: the clock is fake.
"""

from __future__ import annotations

from typing import Any

import pytest

from local_runtime.event_sources import SqsPoller
from local_runtime.fair_share import FairShare
from local_runtime.stack import EventSourceMapping

pytestmark = pytest.mark.unit


def _message(message_id: str, group: str | None) -> dict[str, Any]:
    attributes = {"MessageGroupId": group} if group else {}
    return {"MessageId": message_id, "ReceiptHandle": f"rh-{message_id}", "Attributes": attributes}


def _backlogs(**groups: int) -> list[dict[str, Any]]:
    """Each group's messages one after the other, as moto returns two imports' chunks queued together."""
    return [_message(f"{group}{n}", group) for group, count in groups.items() for n in range(count)]


def _ids(messages: list[dict[str, Any]]) -> list[str]:
    return [m["MessageId"] for m in messages]


def test_a_later_groups_messages_go_out_between_an_earlier_groups_backlog():
    share = FairShare()
    share.hold(_backlogs(a=4, b=4), now=0)

    started = [_ids(share.take(1)) for _ in range(4)]  # four workers, one message each

    assert started == [["a0"], ["b0"], ["a1"], ["b1"]]


def test_the_group_with_the_fewest_messages_in_flight_goes_first():
    share = FairShare()
    share.hold(_backlogs(a=6), now=0)
    busy = [share.take(1) for _ in range(3)]  # a has three in flight
    share.hold(_backlogs(b=3), now=1)

    assert _ids(share.take(1) + share.take(1) + share.take(1)) == ["b0", "b1", "b2"]  # until b has as many
    share.finished(busy[0])
    assert _ids(share.take(1)) == ["a3"]


def test_a_batch_mixes_groups_by_their_share():
    share = FairShare()
    share.hold(_backlogs(a=5, b=5), now=0)

    assert _ids(share.take(4)) == ["a0", "b0", "a1", "b1"]


def test_one_group_keeps_its_arrival_order():
    share = FairShare()
    share.hold(_backlogs(a=5), now=0)

    assert _ids(share.take(3)) == ["a0", "a1", "a2"]
    assert _ids(share.take(3)) == ["a3", "a4"]


def test_messages_without_a_group_keep_their_arrival_order():
    share = FairShare()
    share.hold([_message(f"m{n}", None) for n in range(7)], now=0)

    assert [len(share.take(3)) for _ in range(3)] == [3, 3, 1]


def test_a_message_received_again_while_held_keeps_its_place_with_its_new_receipt():
    share = FairShare()
    share.hold(_backlogs(a=2), now=0)
    share.hold([{**_message("a0", "a"), "ReceiptHandle": "rh-again"}], now=5)

    batch = share.take(2)
    assert _ids(batch) == ["a0", "a1"]
    assert batch[0]["ReceiptHandle"] == "rh-again"


def test_held_messages_are_stale_once_their_visibility_was_set_long_enough_ago():
    share = FairShare()
    share.hold(_backlogs(a=1), now=0)
    share.hold(_backlogs(b=1), now=3)

    assert _ids(share.stale(now=5, age=4)) == ["a0"]
    share.extended(["a0"], now=5)
    assert share.stale(now=5, age=4) == []


# --------------------------------------------------------------------------- the poller around it
class Clock:
    """The poller's clock and stop event: waiting moves the clock; set after ``turns`` loop checks."""

    def __init__(self, turns: int = 10**9) -> None:
        self.now = 0.0
        self.turns = turns

    def clock(self) -> float:
        return self.now

    def is_set(self) -> bool:
        self.turns -= 1
        return self.turns < 0

    def wait(self, seconds: float | None = None) -> bool:
        self.now += seconds or 0.0
        return False


class Queue:
    """An SQS client returning its messages in arrival order (as moto does, whatever the group)."""

    def __init__(self, messages: list[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self.visibility: list[tuple[str, int]] = []  # (receipt handle, seconds) of each change
        self.state = "Enabled"

    def receive_message(self, *, MaxNumberOfMessages: int, **_: Any) -> dict[str, Any]:
        taken, self.messages = self.messages[:MaxNumberOfMessages], self.messages[MaxNumberOfMessages:]
        return {"Messages": taken}

    def change_message_visibility_batch(self, *, QueueUrl: str, Entries: list[dict[str, Any]]) -> None:
        assert len(Entries) <= 10
        self.visibility += [(e["ReceiptHandle"], e["VisibilityTimeout"]) for e in Entries]

    def get_event_source_mapping(self, UUID: str) -> dict[str, Any]:
        return {"State": self.state}


def _poller(queue: Queue, clock: Clock, *, lookahead: int, batch_size: int = 1) -> SqsPoller:
    mapping = EventSourceMapping(
        logical_id="Work",
        uuid="mapping-uuid",
        function_logical_id="Worker",
        function_arn="arn:aws:lambda:us-east-1:123456789012:function:worker",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:chunks",
        queue_url="http://localhost/123456789012/chunks",
        batch_size=batch_size,
        maximum_batching_window=0,
        report_batch_item_failures=True,
        maximum_concurrency=None,
        enabled=True,
    )
    return SqsPoller(
        mapping,
        execute=lambda *_: None,  # type: ignore[arg-type, return-value]
        client=lambda _: queue,
        region="us-east-1",
        concurrency=4,
        poll_wait_seconds=1,
        stop=clock,  # type: ignore[arg-type]
        clock=clock.clock,
        visibility_timeout=40,
        lookahead=lookahead,
    )


def test_the_poller_receives_ahead_to_interleave_two_imports_queued_one_after_the_other():
    queue, clock = Queue(_backlogs(a=30, b=30)), Clock()
    poller = _poller(queue, clock, lookahead=100)

    batches = [_ids(poller._next_batch(queue)) for _ in range(4)]

    assert batches == [["a0"], ["b0"], ["a1"], ["b1"]]


def test_without_lookahead_the_poller_keeps_the_queues_order():
    queue, clock = Queue(_backlogs(a=30, b=30)), Clock()
    poller = _poller(queue, clock, lookahead=0)

    assert [_ids(poller._next_batch(queue)) for _ in range(3)] == [["a0"], ["a1"], ["a2"]]


def test_the_first_batch_goes_out_as_soon_as_the_long_poll_returns_and_the_next_looks_ahead():
    queue, clock = Queue(_backlogs(a=30, b=30)), Clock()
    poller = _poller(queue, clock, lookahead=100)

    assert _ids(poller._next_batch(queue)) == ["a0"]  # from one receive of up to 10, without draining the queue
    assert len(poller._held) == 9 and len(queue.messages) == 50
    assert _ids(poller._next_batch(queue)) == ["b0"]  # the held messages topped up first: b's are seen
    assert len(queue.messages) == 0


def test_the_poller_holds_no_more_than_its_lookahead():
    queue, clock = Queue(_backlogs(a=30, b=30)), Clock()
    poller = _poller(queue, clock, lookahead=20)

    assert _ids(poller._next_batch(queue)) == ["a0"]
    assert _ids(poller._next_batch(queue)) == ["a1"]
    assert len(poller._held) == 19 and len(queue.messages) == 39


def test_held_messages_are_kept_invisible_once_a_quarter_of_their_timeout_has_passed():
    queue, clock = Queue(_backlogs(a=3)), Clock()
    poller = _poller(queue, clock, lookahead=10)
    poller._next_batch(queue)  # a0 goes out; a1, a2 are held

    clock.now = 9.9
    poller._keep_held(queue)
    assert queue.visibility == []
    clock.now = 10.0
    poller._keep_held(queue)
    assert queue.visibility == [("rh-a1", 40), ("rh-a2", 40)]


def test_held_messages_are_given_back_when_the_mapping_is_disabled():
    queue, clock = Queue(_backlogs(a=3)), Clock(turns=1)
    poller = _poller(queue, clock, lookahead=10)
    poller._enabled = lambda _: queue.state == "Enabled"  # type: ignore[method-assign]
    original = queue.receive_message

    def receive_then_disable(**kwargs: Any) -> dict[str, Any]:
        answer = original(**kwargs)
        queue.state = "Disabled"
        return answer

    queue.receive_message = receive_then_disable  # type: ignore[method-assign]

    poller._receive_loop()

    assert sorted(queue.visibility) == [("rh-a0", 0), ("rh-a1", 0), ("rh-a2", 0)]
    assert poller._batches.empty() and len(poller._held) == 0


def test_messages_held_when_the_mapping_is_found_disabled_are_given_back():
    queue, clock = Queue(_backlogs(a=3)), Clock(turns=1)
    poller = _poller(queue, clock, lookahead=10)
    poller._next_batch(queue)  # a0 goes out; a1, a2 are held
    queue.state = "Disabled"
    poller._enabled = lambda _: queue.state == "Enabled"  # type: ignore[method-assign]

    poller._receive_loop()

    assert sorted(queue.visibility) == [("rh-a1", 0), ("rh-a2", 0)]
    assert len(poller._held) == 0
