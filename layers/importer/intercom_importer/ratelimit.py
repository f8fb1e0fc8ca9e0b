"""Client-side pacing of Intercom calls.

Intercom enforces its per-minute limit in fixed 10-second windows (1000/min is 167 per window) and
reports the state of the current window on every authenticated response::

    X-RateLimit-Limit: 167            allowance of the window
    X-RateLimit-Remaining: 120        what is left of it
    X-RateLimit-Reset: 1767225610     epoch second the window refills

The :class:`RateLimiter` protocol is what :class:`intercom_importer.intercom.IntercomClient` talks to:
it calls ``acquire()`` before every attempt and ``observe(...)`` after every response. The workers pace
themselves with :class:`intercom_importer.governor.DynamoDBGovernor` (one budget shared by every worker);
:class:`NullRateLimiter` here does no pacing (the validator's few calls, tests, one-off scripts).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["NullRateLimiter", "RateLimiter"]


@runtime_checkable
class RateLimiter(Protocol):
    """What the Intercom client needs from a pacer. Implementations must be thread-safe."""

    def acquire(self, n: int = 1) -> None:
        """Block until ``n`` more calls may be made, then count them as made."""
        ...

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        """Feed back one response: its ``X-RateLimit-*`` headers (``None`` when absent) and status.

        ``status == 429`` means the server refused the call; every caller should then wait until
        ``reset_at``.
        """
        ...


class NullRateLimiter:
    """Never waits; ignores feedback."""

    def acquire(self, n: int = 1) -> None:
        return None

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        return None
