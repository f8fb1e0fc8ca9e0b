"""An in-process fixed-window rate limiter: the benchmark's naive baseline paces itself with it (the importer's
workers share one budget through ``intercom_importer.governor.DynamoDBGovernor`` instead)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any


class WindowRateLimiter:
    """Fixed-window limiter shared by the threads of one process.

    Windows are aligned to multiples of ``window_seconds`` since the epoch (``[0, 10)``, ``[10, 20)``,
    ... for the default), like Intercom's. Within one window at most ``allowance`` calls are granted,
    where the allowance starts at ``limit_per_window`` each window and only ever goes *down* during
    the window:

    - a server-reported ``X-RateLimit-Limit`` lower than ``limit_per_window`` lowers the allowance
      of this and later windows (a higher one is ignored: the configured limit is a ceiling, which
      leaves room for other apps sharing the workspace budget);
    - a server-reported ``X-RateLimit-Remaining`` lowers what is left of the current window to
      ``remaining`` minus the calls of ours still in flight (the server may not have counted them yet);
    - a 429 blocks every caller until its ``X-RateLimit-Reset`` (or the next window boundary when the
      header is missing or already past), capped at ``max_block_seconds`` against a skewed clock.

    ``clock`` must return epoch seconds (Intercom's reset is an epoch second); ``sleep`` is injectable
    for tests. Waiting happens outside the lock, so a thread that sleeps never holds up the others.
    """

    def __init__(
        self,
        limit_per_window: int,
        window_seconds: float = 10.0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        max_block_seconds: float = 60.0,
    ) -> None:
        if limit_per_window < 1:
            raise ValueError("limit_per_window must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        self.limit_per_window = limit_per_window
        self.window_seconds = float(window_seconds)
        self.max_block_seconds = max_block_seconds
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._server_limit: int | None = None
        self._window_start = -math.inf
        self._window_end = -math.inf
        self._allowance = limit_per_window
        self._used = 0
        self._in_flight = 0
        self._blocked_until = -math.inf

    @classmethod
    def per_minute(cls, calls_per_minute: int, window_seconds: float = 10.0, **kwargs: Any) -> WindowRateLimiter:
        """A limiter for a per-minute budget split into windows like Intercom does (rounded down:
        1000/min gives 166 per 10 s where Intercom allows 167)."""
        per_window = math.floor(calls_per_minute * window_seconds / 60.0)
        return cls(max(1, per_window), window_seconds, **kwargs)

    # --- introspection (tests, stats) ----------------------------------------------------------

    @property
    def effective_limit(self) -> int:
        """The per-window allowance new windows start with."""
        with self._lock:
            return self._effective_limit()

    @property
    def blocked_until(self) -> float | None:
        """Epoch second until which callers wait after a 429, if that is still ahead."""
        with self._lock:
            return self._blocked_until if self._blocked_until > self._clock() else None

    def window_usage(self) -> tuple[float, int, int]:
        """``(window_start, used, allowance)`` of the current window."""
        with self._lock:
            self._roll(self._clock())
            return self._window_start, self._used, self._allowance

    # --- protocol ------------------------------------------------------------------------------

    def acquire(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        while True:
            with self._lock:
                now = self._clock()
                self._roll(now)
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                elif self._used + n <= self._allowance or (self._used == 0 and n > self._allowance > 0):
                    # The second case grants an oversized request a window of its own rather than
                    # blocking forever.
                    self._used += n
                    self._in_flight += n
                    return
                else:
                    wait = self._window_end - now
            self._sleep(max(wait, 0.0))

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        with self._lock:
            now = self._clock()
            self._roll(now)
            self._in_flight = max(0, self._in_flight - 1)
            if limit is not None and limit > 0:
                self._server_limit = limit
                self._allowance = min(self._allowance, self._effective_limit())
            if status == 429:
                if reset_at is None or reset_at <= now:
                    until = self._window_end
                else:
                    until = min(reset_at, now + self.max_block_seconds)
                self._blocked_until = max(self._blocked_until, until)
                return
            stale = reset_at is not None and reset_at <= self._window_start
            if remaining is not None and not stale:
                left = max(0, remaining - self._in_flight)
                self._allowance = min(self._allowance, self._used + left)

    # --- internals (lock held) -----------------------------------------------------------------

    def _effective_limit(self) -> int:
        if self._server_limit is None:
            return self.limit_per_window
        return max(1, min(self.limit_per_window, self._server_limit))

    def _roll(self, now: float) -> None:
        if now < self._window_end:
            return
        index = math.floor(now / self.window_seconds)
        self._window_start = index * self.window_seconds
        self._window_end = self._window_start + self.window_seconds
        self._allowance = self._effective_limit()
        self._used = 0
        # Calls still in flight from the previous window are counted by the server in that window.
        self._in_flight = 0
