"""Request counters for benchmarks: by route template and status, 429s, and a per-second timeline."""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any


class Stats:
    """Thread-safe counters of Intercom API calls (the ``/__sandbox/`` admin API is not counted).

    ``status`` is the HTTP status answered, or ``"reset"`` when the connection was dropped on purpose.
    """

    def __init__(self, clock: Callable[[], float] = time.time, timeline_seconds: int = 3600) -> None:
        self._clock = clock
        self._timeline_seconds = timeline_seconds
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._started = self._clock()
            self._total = 0
            self._faults = 0
            self._by_status: Counter[str] = Counter()
            self._by_route: defaultdict[str, Counter[str]] = defaultdict(Counter)
            self._timeline: dict[int, Counter[str]] = {}

    def record(self, method: str, route: str, status: int | str, *, injected: bool = False) -> None:
        now = self._clock()
        second = int(now)
        key = str(status)
        with self._lock:
            self._total += 1
            self._faults += injected
            self._by_status[key] += 1
            self._by_route[f"{method} {route}"][key] += 1
            bucket = self._timeline.get(second)
            if bucket is None:
                bucket = self._timeline[second] = Counter()
                oldest = second - self._timeline_seconds
                for stale in [s for s in self._timeline if s < oldest]:
                    del self._timeline[stale]
            bucket["requests"] += 1
            bucket[key] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "since": self._started,
                "total_requests": self._total,
                "rate_limited": self._by_status.get("429", 0),
                "faults_injected": self._faults,
                "by_status": dict(self._by_status),
                "by_route": {route: dict(counts) for route, counts in sorted(self._by_route.items())},
                "timeline": [{"second": s, **counts} for s, counts in sorted(self._timeline.items())],
            }
