""":class:`DynamoDBGovernor`: the rate limiter every worker paces its Intercom calls through.

It holds the lock and joins the parts: the configuration (``config.py``), this process's window
(``window.py``), the shared windows in DynamoDB (``shared.py``) and the counters (``stats.py``).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws
from intercom_importer.governor.config import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_ITEM_TTL_SECONDS,
    DEFAULT_SAFETY,
    INTERCOM_WINDOW_SECONDS,
    GovernorConfig,
)
from intercom_importer.governor.shared import SharedWindows, SharedWindowsUnavailable
from intercom_importer.governor.stats import GovernorCounters, GovernorStats
from intercom_importer.governor.window import Fetch, LocalWindow, Outcome

logger = logging.getLogger("intercom_importer.governor")


class DynamoDBGovernor:
    """A :class:`~intercom_importer.ratelimit.RateLimiter` whose budget is shared through DynamoDB.

    ``table`` is a boto3 DynamoDB ``Table`` (the jobs table: ``pk``/``sk`` strings, TTL on
    ``expires_at``). ``limit_per_window`` is the app's allowance per window; the governor hands out
    ``floor(limit x safety)`` of it. ``clock`` returns epoch seconds; ``sleep`` is injectable.
    Thread-safe: one instance is shared by all threads of a worker.
    """

    def __init__(
        self,
        table: Any,
        *,
        limit_per_window: int,
        window_seconds: float = INTERCOM_WINDOW_SECONDS,
        app: str = "default",
        safety: float = DEFAULT_SAFETY,
        block_size: int = DEFAULT_BLOCK_SIZE,
        low_water: int | None = None,
        max_block_seconds: float = 60.0,
        item_ttl_seconds: int = DEFAULT_ITEM_TTL_SECONDS,
        fallback_share: int = 4,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = GovernorConfig.of(
            limit_per_window,
            window_seconds=window_seconds,
            app=app,
            safety=safety,
            block_size=block_size,
            low_water=low_water,
            max_block_seconds=max_block_seconds,
            item_ttl_seconds=item_ttl_seconds,
            fallback_share=fallback_share,
        )
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._window = LocalWindow(self.config)
        self._counters = GovernorCounters()
        self._shared = SharedWindows(table, self.config, counters=self._counters, lock=self._cond, clock=clock)

    @classmethod
    def per_minute(
        cls, table: Any, calls_per_minute: int, *, window_seconds: float = INTERCOM_WINDOW_SECONDS, **kwargs: Any
    ) -> DynamoDBGovernor:
        """A governor for an app limit given per minute, split into windows the way Intercom does."""
        per_window = math.floor(calls_per_minute * window_seconds / 60.0)
        return cls(table, limit_per_window=max(1, per_window), window_seconds=window_seconds, **kwargs)

    @property
    def budget(self) -> int:
        """Calls per window handed out to all workers together (before any in-window lowering)."""
        with self._cond:
            return self._window.budget()

    def stats(self) -> GovernorStats:
        with self._cond:
            return self._counters.snapshot()

    def window_item(self, window_start: float) -> dict[str, Any] | None:
        """The shared item of a window (tests, diagnostics)."""
        return self._shared.item(window_start)

    # --- RateLimiter protocol ------------------------------------------------------------------

    def acquire(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        while True:
            fetch: Fetch | None = None
            granted = False
            with self._cond:
                now = self._clock()
                window = self._window
                window.roll(now)
                if now < window.blocked_until:
                    wait = window.blocked_until - now
                elif window.tokens >= n:
                    window.hand_out(n)
                    self._counters.calls_granted += n
                    granted = True
                    if window.wants_refill():
                        fetch = window.begin_fetch(now, 1, ahead=True)  # so the other threads never stall
                    if fetch is None:
                        return
                elif window.exhausted:
                    wait = window.end - now
                elif window.fetching:
                    self._cond.wait(timeout=max(0.001, min(1.0, window.end - now)))
                    continue
                else:
                    fetch = window.begin_fetch(now, n)
            if fetch is not None:
                self._fetch(fetch)
                if granted:
                    return
                continue
            self._wait(wait)

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        close: float | None = None
        block: tuple[float, float] | None = None
        with self._cond:
            now = self._clock()
            window = self._window
            window.roll(now)
            window.in_flight = max(0, window.in_flight - 1)
            lower_cap = window.note_limit(limit)
            if status == 429:
                block = window.note_refusal(now, reset_at)
            elif remaining is not None and window.is_current(reset_at):
                close = window.note_remaining(limit, remaining)
        if lower_cap is not None:
            self._publish_cap(*lower_cap)
        if close is not None:
            self._shared.close_window(close)
        if block is not None:
            self._shared.publish_block(*block)

    # --- fetching a block ------------------------------------------------------------------------

    def _fetch(self, fetch: Fetch) -> None:
        outcome = Outcome()
        try:
            outcome = self._take_block(fetch)
        finally:  # whatever happens, the other threads must not wait for this fetch forever
            self._complete_fetch(fetch, outcome)

    def _take_block(self, fetch: Fetch) -> Outcome:
        try:
            return self._shared.take_block(fetch)
        except SharedWindowsUnavailable as unavailable:
            return self._fallback(fetch, unavailable.__cause__ or unavailable)

    def _fallback(self, fetch: Fetch, exc: BaseException) -> Outcome:
        """DynamoDB failed: grant from this process's own share of the window."""
        with self._cond:
            if self._window.index != fetch.index:
                return Outcome()
            if self._window.fallback_left is None:
                logger.warning(
                    "rate-limit table unavailable; pacing this worker on its own share",
                    extra={"error": aws.error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__},
                )
            granted = self._window.fallback_grant(fetch)
            self._counters.fallback_grants += granted
        return Outcome(granted=granted, exhausted=granted == 0, failed=True)

    def _complete_fetch(self, fetch: Fetch, outcome: Outcome) -> None:
        with self._cond:
            if self._window.complete_fetch(fetch, outcome, self._clock) and outcome.granted:
                self._counters.blocks += 1
                self._counters.tokens_taken += outcome.granted
            self._cond.notify_all()

    def _publish_cap(self, window_start: float, cap: int) -> None:
        if self._shared.publish_cap(window_start, cap):
            with self._cond:
                if self._window.start == window_start:
                    self._window.stored_cap = cap

    def _wait(self, seconds: float) -> None:
        """Sleep outside the lock (``seconds`` is until the window's end or the reset)."""
        seconds = max(seconds, 0.001)
        with self._cond:
            self._counters.seconds_waited += seconds
        self._sleep(seconds)
