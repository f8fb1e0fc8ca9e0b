"""What the runtime ran: one :class:`InvocationRecord` per finished invocation, the invocations still
running, and the SES requests it saw (for tests and progress displays)."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from .environment import FunctionPool, InvocationOutcome


@dataclass(frozen=True)
class InvocationRecord:
    """One invocation as the runtime saw it (for tests and progress displays)."""

    function: str  # logical id
    function_name: str
    source: str  # "s3" | "sqs" | "invoke" (Invoke API, Step Functions) | "invoke-async" | "direct"
    request_id: str
    started_at: float  # epoch seconds
    ended_at: float
    cold_start: bool
    attempt: int  # 0 for the first delivery of an asynchronous event, 1 and 2 for Lambda's retries
    records: int | None  # number of records in an S3/SQS event (the batch size)
    error_type: str | None
    error_message: str | None

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at

    @property
    def ok(self) -> bool:
        return self.error_type is None


class InvocationLog:
    """Runs invocations through their function's pool and keeps their records (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[InvocationRecord] = []
        self._running = 0
        self._emails: dict[str, dict[str, Any]] = {}

    def run(
        self,
        logical_id: str,
        pool: FunctionPool,
        event: Any,
        source: str,
        request_id: str | None = None,
        attempt: int = 0,
    ) -> InvocationOutcome:
        with self._lock:
            self._running += 1
        started = time.time()
        outcome: InvocationOutcome | None = None
        try:
            outcome = pool.invoke(event, request_id=request_id)
        finally:
            ended = time.time()
            # The record lands before the invocation stops counting as running, so idle() never
            # reports quiet while an invocation is still missing from invocations().
            with self._lock:
                if outcome is not None:
                    self._records.append(_record(logical_id, pool, event, source, outcome, started, ended, attempt))
                self._running -= 1
        return outcome

    def records(self) -> list[InvocationRecord]:
        """Finished invocations, oldest first."""
        with self._lock:
            return list(self._records)

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def record_email(self, message_id: str, request: dict[str, Any]) -> None:
        with self._lock:
            self._emails[message_id] = request

    def emails(self) -> dict[str, dict[str, Any]]:
        """The SES requests seen, by message id."""
        with self._lock:
            return dict(self._emails)


def _record(
    logical_id: str,
    pool: FunctionPool,
    event: Any,
    source: str,
    outcome: InvocationOutcome,
    started: float,
    ended: float,
    attempt: int,
) -> InvocationRecord:
    error = outcome.error or {}
    return InvocationRecord(
        function=logical_id,
        function_name=pool.config.name,
        source=source,
        request_id=outcome.request_id,
        started_at=started,
        ended_at=ended,
        cold_start=outcome.cold_start,
        attempt=attempt,
        records=_record_count(event),
        error_type=error.get("errorType") if outcome.errored else None,
        error_message=error.get("errorMessage") if outcome.errored else None,
    )


def _record_count(event: Any) -> int | None:
    records = event.get("Records") if isinstance(event, dict) else None
    return len(records) if isinstance(records, list) else None
