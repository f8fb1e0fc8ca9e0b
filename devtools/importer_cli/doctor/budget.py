"""The rate budget as the doctor sees it: a :class:`BudgetRecorder` the Intercom client paces through (it wraps the
client's own limiter, the stack's governor or none) and records every answer's ``X-RateLimit-*`` headers, and the
``rate limit`` check made from them.

The first answer tells what others already used: the window allows ``limit`` calls and the doctor has made one, so
``remaining`` below ``limit - 1`` means another client of the app (another integration, an import running) spent
the difference. A 429 the client waited out is a warning; one it could not get past (the budget stayed exhausted
through every retry) fails the check.
"""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass

from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, WARNING, Check
from intercom_importer.ratelimit import NullRateLimiter, RateLimiter

RATE_LIMIT = "rate limit"

RATE_FIX = (
    "wait until the other integrations of this Intercom app (or of its workspace) are quiet and run the doctor "
    "again, or lower their use; the importer's share is the stack's IntercomRateLimitPerMinute parameter, set it "
    "below the app's limit so that they keep room"
)


@dataclass(frozen=True)
class Observation:
    """One answer's rate-limit headers (``None`` when absent) and status."""

    limit: int | None
    remaining: int | None
    reset_at: float | None
    status: int


class BudgetRecorder:
    """A :class:`RateLimiter` that passes everything to ``inner`` and keeps what Intercom said; thread-safe."""

    def __init__(self, inner: RateLimiter | None = None) -> None:
        self.inner: RateLimiter = inner if inner is not None else NullRateLimiter()
        self._lock = threading.Lock()
        self._seen: list[Observation] = []
        self.exhausted = False
        """Set by the doctor when a call gave up on 429s: the budget stayed used up through every retry."""

    def acquire(self, n: int = 1) -> None:
        self.inner.acquire(n)

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        with self._lock:
            self._seen.append(Observation(limit, remaining, reset_at, status))
        self.inner.observe(limit, remaining, reset_at, status)

    @property
    def observations(self) -> list[Observation]:
        with self._lock:
            return list(self._seen)

    def first(self) -> tuple[Observation, int] | None:
        """The first answer with rate-limit headers (the first that was not a 429, if any), and how many of the
        doctor's answers (that one included) fell in its window."""
        seen = self.observations
        headed = [i for i, o in enumerate(seen) if o.limit is not None and o.remaining is not None]
        if not headed:
            return None
        index = next((i for i in headed if seen[i].status != 429), headed[0])
        observation = seen[index]
        own = sum(1 for earlier in seen[: index + 1] if earlier.reset_at == observation.reset_at)
        return observation, own

    @property
    def refused(self) -> int:
        """Answers that were 429 (rate limit exceeded)."""
        return sum(1 for o in self.observations if o.status == 429)

    def window_seconds(self) -> float | None:
        """The window's length, measured: the smallest step between the distinct reset times seen (``None`` when the
        doctor's calls all fell in one window)."""
        resets = sorted({o.reset_at for o in self.observations if o.reset_at is not None})
        steps = [b - a for a, b in itertools.pairwise(resets) if b > a]
        return min(steps) if steps else None


def rate_limit_check(budget: BudgetRecorder, stopped: str | None = None) -> Check:
    """``rate limit``: the limit per window, what others used of it when the doctor started, the 429s met.
    ``stopped``: why the doctor stopped early, if it did (said when no answer carried the headers)."""
    first = budget.first()
    refused = budget.refused
    if budget.exhausted:
        return Check(
            RATE_LIMIT,
            FAILED,
            f"Intercom answered {refused} calls with 429 rate_limit_exceeded and the doctor could not get through "
            "after waiting for the window to reset: the app's rate budget is used up by other integrations",
            RATE_FIX,
        )
    if first is None and stopped:
        return Check(RATE_LIMIT, NOT_CHECKED, stopped)
    if first is None:
        return Check(
            RATE_LIMIT,
            NOT_CHECKED,
            "Intercom's answers carried no X-RateLimit-* headers (a stand-in without a rate limit, or a proxy that "
            "drops them): the limit could not be read",
        )
    seen, own = first
    assert seen.limit is not None and seen.remaining is not None
    others = max(0, seen.limit - own - seen.remaining)
    window = budget.window_seconds()
    per = f"per {window:g} s window" if window else "per window"
    detail = f"{seen.limit} calls {per}; {seen.remaining} remained after the doctor's first answered call"
    if refused:
        detail += f"; Intercom answered {refused} calls with 429 before letting them through"
        return Check(RATE_LIMIT, WARNING, f"{detail}: other integrations are using the app's budget", RATE_FIX)
    if others:
        return Check(
            RATE_LIMIT,
            WARNING,
            f"{detail}: {others} calls of that window were made by other clients of this app (other integrations, "
            "or an import running)",
            RATE_FIX,
        )
    return Check(RATE_LIMIT, OK, f"{detail}: nobody else was using it")
