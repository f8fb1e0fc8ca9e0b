"""Intercom's rate limit: a per-window allowance in fixed windows aligned to the epoch.

Faithful: the limit is enforced per window (Intercom: 10 seconds, e.g. 1000/min = 167 per window);
``X-RateLimit-Limit`` is the per-window allowance, ``X-RateLimit-Remaining`` what is left in the
window, ``X-RateLimit-Reset`` the epoch second (integer, rounded up) at which the window refills; a
rejected call gets ``429 rate_limit_exceeded "Exceeded rate limit of N in 10_seconds"``.

Differences: one counter for the whole sandbox (Intercom has per-app and per-workspace limits), and
rejected calls count against the window too.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


def window_label(window_seconds: float) -> str:
    """``10_seconds`` for Intercom's window, ``0.5_seconds`` for a scaled-down one."""
    return f"{window_seconds:g}_seconds"


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    limit: int
    remaining: int
    reset: int

    def headers(self) -> list[tuple[str, str]]:
        return [
            ("X-RateLimit-Limit", str(self.limit)),
            ("X-RateLimit-Remaining", str(self.remaining)),
            ("X-RateLimit-Reset", str(self.reset)),
        ]


class FixedWindowLimiter:
    """Counts calls in the current window; thread-safe; the clock is injectable for tests."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._window: tuple[int, float] | None = None
        self._count = 0

    def check(self, limit: int, window_seconds: float) -> RateDecision:
        """Count one call and say whether it is within ``limit`` for the current window."""
        index = math.floor(self._clock() / window_seconds)
        with self._lock:
            if self._window != (index, window_seconds):
                self._window = (index, window_seconds)
                self._count = 0
            self._count += 1
            count = self._count
        reset = math.ceil(round((index + 1) * window_seconds, 6))
        return RateDecision(count <= limit, limit, max(0, limit - count), reset)

    def peek(self, limit: int, window_seconds: float) -> RateDecision:
        """The current window's state without counting a call (for injected 429s)."""
        index = math.floor(self._clock() / window_seconds)
        with self._lock:
            count = self._count if self._window == (index, window_seconds) else 0
        reset = math.ceil(round((index + 1) * window_seconds, 6))
        return RateDecision(count <= limit, limit, max(0, limit - count), reset)

    def reset(self) -> None:
        with self._lock:
            self._window = None
            self._count = 0
