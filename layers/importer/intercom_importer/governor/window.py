"""This worker process's view of the current rate-limit window: calls in hand, the cap, what it waits for.

Plain bookkeeping: every method runs with the governor's lock held; nothing here calls DynamoDB or sleeps.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from intercom_importer.governor.config import MIN_BLOCKS_PER_WINDOW, GovernorConfig


@dataclass(frozen=True)
class Fetch:
    """A block to take from the shared window ``index`` (``k`` calls, assuming its cap is ``cap``)."""

    index: int
    start: float
    end: float
    k: int
    cap: int


@dataclass(frozen=True)
class Outcome:
    """What taking a block gave: calls granted and what was learnt about the shared window."""

    granted: int = 0
    used: int | None = None
    cap: int | None = None
    blocked_until: float | None = None
    exhausted: bool = False
    failed: bool = False


@dataclass
class LocalWindow:
    """The window as this process sees it, and the limit Intercom last reported (``server_limit``)."""

    config: GovernorConfig
    server_limit: int | None = None
    index: int | None = None
    start: float = -math.inf
    end: float = -math.inf
    tokens: int = 0
    """Calls in hand, granted and not yet handed to a thread."""
    cap: int = field(init=False)
    stored_cap: int | None = None
    used_seen: int = 0
    exhausted: bool = False
    fetching: bool = False
    consumed: int = 0
    prev_rate: float = 0.0
    in_flight: int = 0
    closed_index: int | None = None
    fallback_left: int | None = None
    blocked_until: float = -math.inf
    published_block: float = -math.inf

    def __post_init__(self) -> None:
        self.cap = self.budget()

    def effective_limit(self) -> int:
        return self.config.effective_limit(self.server_limit)

    def budget(self) -> int:
        return self.config.budget(self.server_limit)

    def block_limit(self) -> int:
        """Small blocks against a small budget, so every worker gets its turn within a window."""
        return max(1, min(self.config.block_size, self.cap // MIN_BLOCKS_PER_WINDOW))

    def is_current(self, reset_at: float | None) -> bool:
        """Whether a response's reset time is the end of the current window (headers of an older
        window, or of a server whose windows do not match ours, are not used)."""
        return reset_at is not None and abs(reset_at - self.end) < min(1.0, 0.5 * self.config.window_seconds)

    def roll(self, now: float) -> None:
        """Move to the window of ``now`` when the current one has ended."""
        if now < self.end:
            return
        window_seconds = self.config.window_seconds
        index = math.floor(now / window_seconds)
        following = self.index is not None and index == self.index + 1
        self.prev_rate = self.consumed / window_seconds if following else 0.0
        self.index = index
        self.start = index * window_seconds
        self.end = self.start + window_seconds
        self.tokens = 0
        self.cap = self.budget()
        self.stored_cap = None
        self.used_seen = 0
        self.exhausted = False
        self.consumed = 0
        self.in_flight = 0  # calls still in flight were counted by Intercom in the previous window
        self.fallback_left = None

    def hand_out(self, n: int) -> None:
        """``n`` calls in hand go to a thread (the caller checked there are enough)."""
        self.tokens -= n
        self.consumed += n
        self.in_flight += n

    def wants_refill(self) -> bool:
        return self.tokens <= self.config.low_water and not self.fetching and not self.exhausted

    def begin_fetch(self, now: float, n: int, *, ahead: bool = False) -> Fetch | None:
        """Size the next block: what this process will use before the window ends (at its rate so
        far), at most a block. A refill ahead (``ahead``) is skipped when the calls in hand suffice."""
        assert self.index is not None
        elapsed = now - self.start
        current_rate = self.consumed / elapsed if elapsed > 0.05 * self.config.window_seconds else 0.0
        rate = max(self.prev_rate, current_rate)
        k = self.block_limit()
        if rate > 0:
            needed = math.ceil(rate * (self.end - now)) - self.tokens
            if ahead and needed <= 0:
                return None
            k = min(k, max(1, needed))
        k = max(min(k, self.cap), n)
        self.fetching = True
        return Fetch(self.index, self.start, self.end, k, self.cap)

    def complete_fetch(self, fetch: Fetch, outcome: Outcome, clock: Callable[[], float]) -> bool:
        """Take in what a fetch gave; False (nothing taken in) when the window has moved on since."""
        self.fetching = False
        if self.index != fetch.index:
            return False
        self.tokens += outcome.granted
        if outcome.used is not None:
            self.used_seen = max(self.used_seen, outcome.used)
        if outcome.cap is not None:
            self.stored_cap = outcome.cap
            self.cap = min(self.cap, outcome.cap)
        if outcome.exhausted:
            self.exhausted = True
        if outcome.blocked_until is not None and outcome.blocked_until > self.blocked_until:
            self.blocked_until = min(outcome.blocked_until, clock() + self.config.max_block_seconds)
            self.tokens = 0
        return True

    def fallback_grant(self, fetch: Fetch) -> int:
        """Calls granted from this process's own share of the window (DynamoDB failed)."""
        if self.fallback_left is None:
            self.fallback_left = max(1, fetch.cap // self.config.fallback_share)
        granted = min(fetch.k, self.fallback_left)
        self.fallback_left -= granted
        return granted

    def note_limit(self, limit: int | None) -> tuple[float, int] | None:
        """A reported ``X-RateLimit-Limit``: the (window start, cap) to share when it lowers the cap."""
        if limit is None or limit <= 0 or limit == self.server_limit:
            return None
        self.server_limit = limit
        budget = self.budget()
        if budget >= self.cap:
            return None
        self.cap = budget
        if self.stored_cap is None or self.stored_cap > budget:
            return (self.start, budget)
        return None

    def note_refusal(self, now: float, reset_at: float | None) -> tuple[float, float] | None:
        """A 429: block until the reset (or the window's end); the (now, until) to share, if later than shared."""
        until = reset_at if reset_at is not None and reset_at > now else self.end
        until = min(until, now + self.config.max_block_seconds)
        if until > self.blocked_until:
            self.blocked_until = until
            self.tokens = 0
        if until > self.published_block:
            self.published_block = until
            return (now, until)
        return None

    def note_remaining(self, limit: int | None, remaining: int) -> float | None:
        """A reported ``X-RateLimit-Remaining`` of this window: the window start to close, if it must be."""
        # Without other clients, Intercom has counted at most ``cap - tokens`` of our calls
        # (the tokens in hand are not sent yet), so ``remaining >= server_limit - cap + tokens``.
        # Less than that means another app is using the workspace budget.
        server_limit = limit if limit is not None and limit > 0 else self.effective_limit()
        external = remaining < server_limit - self.cap + self.tokens
        if external and remaining < self.tokens:
            self.tokens = max(0, remaining - self.in_flight)
        held = self.tokens + self.in_flight
        room = remaining - held - self.block_limit()  # keep room for one block of another worker
        if external and room <= 0 and self.closed_index != self.index and not self.exhausted:
            # Intercom has about no room beyond what the workers already hold: nobody takes
            # more in this window (instead of collecting 429s).
            self.closed_index = self.index
            self.exhausted = True
            return self.start
        return None
