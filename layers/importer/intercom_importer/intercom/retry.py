"""How often and how long a call is repeated: the numbers (``RetryPolicy``), which statuses a later attempt
may not get, and the waits (exponential backoff with full jitter; a 429's wait until ``X-RateLimit-Reset``).
The rules that use them are the transport's (``transport.py``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries (see ``transport.py`` for the rules)."""

    max_retries: int = 3
    """Retries after 5xx, timeouts and connection errors."""
    max_rate_limit_retries: int = 8
    """Retries after 429."""
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    rate_limit_jitter: float = 1.0
    """Up to this many seconds are added to the wait until ``X-RateLimit-Reset``."""
    rate_limit_backoff_base: float = 2.0
    """First wait after a 429 without a usable ``X-RateLimit-Reset``; doubles per retry."""
    max_rate_limit_wait: float = 60.0
    """Cap of one wait after a 429 (guards against a skewed reset)."""


def is_transient(status: int) -> bool:
    """A status a later attempt may not get: a timeout or any server error but 501 (Not Implemented)."""
    return status == 408 or (status >= 500 and status != 501)


def backoff_delay(policy: RetryPolicy, attempt: int, rand: Callable[[], float]) -> float:
    """Exponential backoff with full jitter before retry number ``attempt`` (1-based)."""
    ceiling = min(policy.backoff_max, policy.backoff_base * 2 ** (attempt - 1))
    return rand() * ceiling


def rate_limit_delay(
    policy: RetryPolicy, reset_at: float | None, now: float, attempt: int, rand: Callable[[], float]
) -> float:
    """The wait before retry number ``attempt`` after a 429: until ``reset_at`` (capped) plus jitter, or, without
    a reset in the future, exponential backoff with half jitter."""
    if reset_at is not None and reset_at > now:
        return min(reset_at - now, policy.max_rate_limit_wait) + rand() * policy.rate_limit_jitter
    ceiling = min(policy.max_rate_limit_wait, policy.rate_limit_backoff_base * 2 ** (attempt - 1))
    return ceiling / 2 + rand() * ceiling / 2
