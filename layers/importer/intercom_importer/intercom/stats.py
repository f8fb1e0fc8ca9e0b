"""The client's counters: calls, statuses, retries and time waited, kept thread-safe while the calls run
(``StatsRecorder``) and read as one consistent snapshot (``ClientStats``)."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of a client's counters (for the benchmark and the chunk summary)."""

    calls: int = 0
    """HTTP attempts made (retries included)."""
    by_status: Mapping[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    retries: int = 0
    """Attempts repeated after a 5xx, timeout or connection error."""
    rate_limited_waits: int = 0
    """Attempts repeated after a 429."""
    seconds_waited: float = 0.0
    """Time slept by the client in backoff and 429 waits."""
    limiter_seconds: float = 0.0
    """Time spent blocked in ``limiter.acquire``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "connection_errors": self.connection_errors,
            "retries": self.retries,
            "rate_limited_waits": self.rate_limited_waits,
            "seconds_waited": round(self.seconds_waited, 3),
            "limiter_seconds": round(self.limiter_seconds, 3),
        }


class StatsRecorder:
    """The counters of one client, updated by its threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls = 0
            self._by_status: dict[int, int] = {}
            self._connection_errors = 0
            self._retries = 0
            self._rate_limited_waits = 0
            self._seconds_waited = 0.0
            self._limiter_seconds = 0.0

    def call(self) -> None:
        with self._lock:
            self._calls += 1

    def status(self, status: int) -> None:
        with self._lock:
            self._by_status[status] = self._by_status.get(status, 0) + 1

    def connection_error(self) -> None:
        with self._lock:
            self._connection_errors += 1

    def waited(self, seconds: float, *, rate_limited: bool) -> None:
        with self._lock:
            self._seconds_waited += seconds
            if rate_limited:
                self._rate_limited_waits += 1
            else:
                self._retries += 1

    def limiter(self, seconds: float) -> None:
        with self._lock:
            self._limiter_seconds += seconds

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(
                calls=self._calls,
                by_status=dict(self._by_status),
                connection_errors=self._connection_errors,
                retries=self._retries,
                rate_limited_waits=self._rate_limited_waits,
                seconds_waited=self._seconds_waited,
                limiter_seconds=self._limiter_seconds,
            )
