"""``FairShare``: the messages an SQS poller holds, handed out so that message groups share the workers.

On AWS a standard queue whose messages carry a ``MessageGroupId`` is a *fair queue*: when one group (here: one
import's chunks) has a backlog and many messages in flight, SQS returns the other groups' messages first, and
among busy groups the one with the fewest messages in flight; a message without a group is a group of its own.
moto returns messages in arrival order whatever their group, so two imports uploaded together would run one
after the other. The poller therefore receives ahead (up to ``lookahead`` messages), holds them here, and takes
each batch one message at a time from the group with the fewest messages in flight (those handed out and not
yet finished, plus those already in the batch being built), the oldest held message breaking ties. Within a
group the order stays the order of arrival. With one group (or none) this is plain arrival order.

Held messages are in flight on the queue: ``stale`` names those whose visibility should be extended so that
none reappears while it waits here (the poller extends it; see ``SqsPoller``). Pure logic, no clock of its
own and no SQS calls: the poller passes the time in.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

Message = dict[str, Any]


def group_of(message: Message) -> str:
    """The message's fairness group: its ``MessageGroupId``, or the message itself when it has none."""
    group = (message.get("Attributes") or {}).get("MessageGroupId")
    return f"group:{group}" if group else f"message:{message['MessageId']}"


@dataclass
class _Held:
    message: Message
    order: int  # arrival order in the buffer
    since: float  # when its visibility was last set (received or extended)


class FairShare:
    """Received messages waiting for a worker, per group, and each group's messages in flight."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._held: dict[str, _Held] = {}  # by MessageId, in arrival order
        self._in_flight: dict[str, int] = {}  # by group: handed out, not finished
        self._order = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._held)

    def hold(self, messages: list[Message], now: float) -> None:
        """Keep received messages. A message received again while held (its visibility ran out) keeps its
        place with its new receipt handle."""
        with self._lock:
            for message in messages:
                known = self._held.get(message["MessageId"])
                if known:
                    known.message, known.since = message, now
                else:
                    self._order += 1
                    self._held[message["MessageId"]] = _Held(message, self._order, now)

    def take(self, count: int) -> list[Message]:
        """Up to ``count`` messages for one invocation, each from the group with the fewest in flight; they
        count as in flight until :meth:`finished`."""
        with self._lock:
            batch: list[Message] = []
            while len(batch) < count and self._held:
                heads: dict[str, _Held] = {}
                for held in self._held.values():  # arrival order: the first seen of a group is its head
                    heads.setdefault(group_of(held.message), held)
                group, head = min(heads.items(), key=lambda item: (self._in_flight.get(item[0], 0), item[1].order))
                del self._held[head.message["MessageId"]]
                self._in_flight[group] = self._in_flight.get(group, 0) + 1
                batch.append(head.message)
            return batch

    def finished(self, messages: list[Message]) -> None:
        """An invocation with these messages ended (whatever its outcome)."""
        with self._lock:
            for message in messages:
                group = group_of(message)
                left = self._in_flight.get(group, 0) - 1
                if left > 0:
                    self._in_flight[group] = left
                else:
                    self._in_flight.pop(group, None)

    def stale(self, now: float, age: float) -> list[Message]:
        """Held messages whose visibility was set ``age`` seconds ago or more."""
        with self._lock:
            return [h.message for h in self._held.values() if now - h.since >= age]

    def extended(self, message_ids: list[str], now: float) -> None:
        """These held messages' visibility was just extended."""
        with self._lock:
            for message_id in message_ids:
                if message_id in self._held:
                    self._held[message_id].since = now

    def release_all(self) -> list[Message]:
        """Every held message, no longer held (to give them back to the queue)."""
        with self._lock:
            messages = [h.message for h in self._held.values()]
            self._held.clear()
            return messages
