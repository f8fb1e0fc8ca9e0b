"""One Intercom rate-limit budget shared by every worker of every import (DynamoDB).

Intercom counts an app's calls in fixed 10-second windows (10,000/min is 1,666 per window). Each
worker process paces its threads through one :class:`DynamoDBGovernor`; all of them draw from one
budget per window, kept in the jobs table (single-table design, next to the job records)::

    pk = "RATE#<app>"   sk = "W#<window start, epoch seconds>"
    used           calls granted in this window, by every worker together
    cap            the window's budget (configured limit x safety, lowered by what Intercom reports)
    blocked_until  epoch seconds: after a 429 nobody takes calls before this
    expires_at     TTL, an hour after the window

How a call is granted:

- Threads of one process take calls from a local block; when it runs low, one thread takes the next
  block from the shared window with one conditional ``UpdateItem`` (``ADD used :k`` if
  ``used <= cap - :k``, the stored cap is not below the one we assume, and the window is not
  blocked). Blocks are small (``block_size``, 20 by default, at most 1/16 of the budget) and shrink
  towards the end of a window to what this process will use before the window ends, so few granted
  calls go unused and concurrent imports take turns block by block (first come, first served:
  neither starves). The next block is taken when half of the current one is left, so the other
  threads do not wait for DynamoDB.
- A refused update returns the item as it was (``ReturnValuesOnConditionCheckFailure``): the window
  is exhausted (wait for the next window), blocked (wait until ``blocked_until``), has a lower cap
  (adopt it, try again) or has fewer calls left than asked (take what is left).
- Windows are aligned to multiples of ``window_seconds`` since the epoch, like Intercom's. Calls of a
  block that are not used before the window ends are dropped: they belonged to that window.

Adapting to what Intercom reports on every response (``observe``):

- ``X-RateLimit-Limit`` below the configured limit (Intercom lowered the app's limit) lowers the cap
  of this and later windows, and the shared window's cap so other workers learn it at once.
- ``X-RateLimit-Remaining`` lower than our own calls can explain (another app is using the
  workspace budget) and about used up by the calls the workers already hold closes the shared
  window (``cap = used``): everybody waits for the next window instead of collecting 429s.
- A 429 blocks this process until ``X-RateLimit-Reset`` (or the window's end) and writes
  ``blocked_until`` into the shared window item(s), so every worker backs off to the reset: no
  retry storm.

If DynamoDB cannot be reached, a process falls back to ``cap / fallback_share`` calls per window on
its own (logged) and tries the table again in the next window; a 429 still blocks it locally.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from intercom_importer import aws
from intercom_importer.errors import SettingsError

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_SAFETY",
    "INTERCOM_WINDOW_SECONDS",
    "WINDOW_SECONDS_VARIABLE",
    "DynamoDBGovernor",
    "GovernorStats",
    "app_key",
    "window_seconds_from_env",
]

logger = logging.getLogger(__name__)

INTERCOM_WINDOW_SECONDS = 10.0
"""Intercom's rate-limit window."""
WINDOW_SECONDS_VARIABLE = "INTERCOM_RATE_WINDOW_SECONDS"
"""Optional override of the window length, only for a local sandbox with scaled-down windows (bench)."""
DEFAULT_SAFETY = 0.95
"""Share of the app's per-window limit the governor hands out. The rest absorbs calls that cross a
window boundary in flight (at most one per thread) and other small clients of the same app."""
DEFAULT_BLOCK_SIZE = 20
DEFAULT_ITEM_TTL_SECONDS = 3600
MIN_BLOCKS_PER_WINDOW = 16
"""A block is at most this fraction of the window's budget (fair turns when the budget is small)."""
MAX_BLOCKED_WINDOWS = 8
"""A 429's ``blocked_until`` is written into at most this many window items."""

_DESERIALIZER = TypeDeserializer()


def app_key(base_url: str, token: str) -> str:
    """A stable key for one Intercom app (its host and token), safe to store: a hash, never the token."""
    return hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()[:16]


def window_seconds_from_env(env: Mapping[str, str] | None = None) -> float:
    """Intercom's 10 s, unless ``INTERCOM_RATE_WINDOW_SECONDS`` is set (a scaled local sandbox)."""
    env = os.environ if env is None else env
    raw = (env.get(WINDOW_SECONDS_VARIABLE) or "").strip()
    if not raw:
        return INTERCOM_WINDOW_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0.1 <= value <= 3600:
        raise SettingsError(f"Invalid function configuration: {WINDOW_SECONDS_VARIABLE}={raw!r} is not 0.1..3600")
    return value


@dataclass(frozen=True)
class GovernorStats:
    """Counters of one governor (one worker process), for the benchmark and the tests."""

    calls_granted: int
    blocks: int
    tokens_taken: int
    """Calls taken from the shared budget (a block not used up before its window ends is wasted)."""
    dynamo_calls: int
    refused_updates: int
    windows_closed: int
    blocks_published: int
    fallback_grants: int
    seconds_waited: float


@dataclass(frozen=True)
class _Fetch:
    index: int
    start: float
    end: float
    k: int
    cap: int


@dataclass(frozen=True)
class _Outcome:
    granted: int = 0
    used: int | None = None
    cap: int | None = None
    blocked_until: float | None = None
    exhausted: bool = False
    failed: bool = False


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
        if limit_per_window < 1:
            raise ValueError("limit_per_window must be at least 1")
        if window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if not 0 < safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        if block_size < 1:
            raise ValueError("block_size must be at least 1")
        self.limit_per_window = limit_per_window
        self.window_seconds = float(window_seconds)
        self.app = app
        self.safety = safety
        self.block_size = block_size
        # Refill when half a block is left: the thread that refills makes its own call one DynamoDB
        # round trip later, the others carry on with the rest of the block.
        self.low_water = max(0, block_size // 2 if low_water is None else low_water)
        self.max_block_seconds = max_block_seconds
        self.item_ttl_seconds = item_ttl_seconds
        self.fallback_share = max(1, fallback_share)
        self._table = table
        self._pk = f"RATE#{app}"
        self._clock = clock
        self._sleep = sleep
        self._cond = threading.Condition(threading.Lock())
        self._server_limit: int | None = None
        # the current window, as this process sees it
        self._index: int | None = None
        self._start = -math.inf
        self._end = -math.inf
        self._tokens = 0
        self._cap = self._budget()
        self._stored_cap: int | None = None
        self._used_seen = 0
        self._exhausted = False
        self._fetching = False
        self._consumed = 0
        self._prev_rate = 0.0
        self._in_flight = 0
        self._closed_index: int | None = None
        self._fallback_left: int | None = None
        self._blocked_until = -math.inf
        self._published_block = -math.inf
        # counters
        self._granted = 0
        self._blocks = 0
        self._taken = 0
        self._dynamo_calls = 0
        self._refused = 0
        self._closes = 0
        self._publishes = 0
        self._fallback_grants = 0
        self._waited = 0.0

    @classmethod
    def per_minute(
        cls, table: Any, calls_per_minute: int, *, window_seconds: float = INTERCOM_WINDOW_SECONDS, **kwargs: Any
    ) -> DynamoDBGovernor:
        """A governor for an app limit given per minute, split into windows the way Intercom does."""
        per_window = math.floor(calls_per_minute * window_seconds / 60.0)
        return cls(table, limit_per_window=max(1, per_window), window_seconds=window_seconds, **kwargs)

    # --- introspection -------------------------------------------------------------------------

    @property
    def budget(self) -> int:
        """Calls per window handed out to all workers together (before any in-window lowering)."""
        with self._cond:
            return self._budget()

    def stats(self) -> GovernorStats:
        with self._cond:
            return GovernorStats(
                calls_granted=self._granted,
                blocks=self._blocks,
                tokens_taken=self._taken,
                dynamo_calls=self._dynamo_calls,
                refused_updates=self._refused,
                windows_closed=self._closes,
                blocks_published=self._publishes,
                fallback_grants=self._fallback_grants,
                seconds_waited=self._waited,
            )

    def window_item(self, window_start: float) -> dict[str, Any] | None:
        """The shared item of a window (tests, diagnostics)."""
        item = self._table.get_item(Key=self._key(window_start), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    # --- RateLimiter protocol ------------------------------------------------------------------

    def acquire(self, n: int = 1) -> None:
        if n < 1:
            raise ValueError("n must be at least 1")
        while True:
            fetch: _Fetch | None = None
            granted = False
            with self._cond:
                now = self._clock()
                self._roll(now)
                if now < self._blocked_until:
                    wait = self._blocked_until - now
                elif self._tokens >= n:
                    self._tokens -= n
                    self._consumed += n
                    self._in_flight += n
                    self._granted += n
                    granted = True
                    if self._tokens <= self.low_water and not self._fetching and not self._exhausted:
                        fetch = self._begin_fetch(now, 1, ahead=True)  # so the other threads never stall
                    if fetch is None:
                        return
                elif self._exhausted:
                    wait = self._end - now
                elif self._fetching:
                    self._cond.wait(timeout=max(0.001, min(1.0, self._end - now)))
                    continue
                else:
                    fetch = self._begin_fetch(now, n)
            if fetch is not None:
                outcome = _Outcome()
                try:
                    outcome = self._take_block(fetch)
                finally:  # whatever happens, the other threads must not wait for this fetch forever
                    self._complete_fetch(fetch, outcome)
                if granted:
                    return
                continue
            self._wait(wait)

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        lower_cap: tuple[float, int] | None = None
        close: float | None = None
        block: tuple[float, float] | None = None
        with self._cond:
            now = self._clock()
            self._roll(now)
            self._in_flight = max(0, self._in_flight - 1)
            if limit is not None and limit > 0 and limit != self._server_limit:
                self._server_limit = limit
                budget = self._budget()
                if budget < self._cap:
                    self._cap = budget
                    if self._stored_cap is None or self._stored_cap > budget:
                        lower_cap = (self._start, budget)
            if status == 429:
                until = reset_at if reset_at is not None and reset_at > now else self._end
                until = min(until, now + self.max_block_seconds)
                if until > self._blocked_until:
                    self._blocked_until = until
                    self._tokens = 0
                if until > self._published_block:
                    self._published_block = until
                    block = (now, until)
            elif remaining is not None and self._current(reset_at):
                # Without other clients, Intercom has counted at most ``cap - tokens`` of our calls
                # (the tokens in hand are not sent yet), so ``remaining >= server_limit - cap + tokens``.
                # Less than that means another app is using the workspace budget.
                server_limit = limit if limit is not None and limit > 0 else self._effective_limit()
                external = remaining < server_limit - self._cap + self._tokens
                if external and remaining < self._tokens:
                    self._tokens = max(0, remaining - self._in_flight)
                held = self._tokens + self._in_flight
                room = remaining - held - self._block_limit()  # keep room for one block of another worker
                if external and room <= 0 and self._closed_index != self._index and not self._exhausted:
                    # Intercom has about no room beyond what the workers already hold: nobody takes
                    # more in this window (instead of collecting 429s).
                    self._closed_index = self._index
                    self._exhausted = True
                    close = self._start
        if lower_cap is not None:
            self._publish_cap(*lower_cap)
        if close is not None:
            self._close_window(close)
        if block is not None:
            self._publish_block(*block)

    # --- shared state --------------------------------------------------------------------------

    def _key(self, window_start: float) -> dict[str, str]:
        return {"pk": self._pk, "sk": f"W#{_window_label(window_start)}"}

    def _take_block(self, fetch: _Fetch) -> _Outcome:
        """Take up to ``fetch.k`` calls from the shared window (a few conditional updates at most)."""
        k, cap = fetch.k, fetch.cap
        expires = int(fetch.end) + self.item_ttl_seconds
        for _ in range(4):
            now = self._clock()
            try:
                self._count_dynamo()
                response = self._table.update_item(
                    Key=self._key(fetch.start),
                    UpdateExpression="ADD #used :k SET #cap = if_not_exists(#cap, :cap), #exp = if_not_exists(#exp, :exp)",
                    ConditionExpression=(
                        "(attribute_not_exists(#used) OR #used <= :max_before)"
                        " AND (attribute_not_exists(#cap) OR #cap >= :cap)"
                        " AND (attribute_not_exists(#blocked) OR #blocked <= :now)"
                    ),
                    ExpressionAttributeNames={
                        "#used": "used",
                        "#cap": "cap",
                        "#exp": "expires_at",
                        "#blocked": "blocked_until",
                    },
                    ExpressionAttributeValues={
                        ":k": k,
                        ":cap": cap,
                        ":max_before": cap - k,
                        ":exp": expires,
                        ":now": _decimal(now),
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    return self._fallback(fetch, exc)
                with self._cond:
                    self._refused += 1
                old = self._old_item(exc, fetch)
                if old is None:  # the item vanished (TTL): try again as a fresh window
                    continue
                blocked = float(old.get("blocked_until") or 0)
                used = int(old.get("used") or 0)
                stored_cap = int(old.get("cap", cap))
                if blocked > now:
                    return _Outcome(used=used, cap=stored_cap, blocked_until=blocked)
                cap = min(cap, stored_cap)
                left = cap - used
                if left <= 0:
                    return _Outcome(used=used, cap=cap, exhausted=True)
                k = min(k, left)
                continue
            except BotoCoreError as exc:
                return self._fallback(fetch, exc)
            attributes = _plain(response.get("Attributes") or {})
            stored_cap = int(attributes.get("cap", cap))
            if stored_cap > cap:  # we know of a lower limit than the worker that created the window
                self._publish_cap(fetch.start, cap)
            return _Outcome(granted=k, used=int(attributes.get("used", k)), cap=min(cap, stored_cap))
        return _Outcome()

    def _old_item(self, exc: ClientError, fetch: _Fetch) -> dict[str, Any] | None:
        raw = exc.response.get("Item")
        if raw:
            return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in raw.items()}
        try:  # a DynamoDB (emulator) that does not return the old item
            self._count_dynamo()
            return self.window_item(fetch.start)
        except (ClientError, BotoCoreError):
            return None

    def _publish_cap(self, window_start: float, cap: int) -> None:
        """Lower the shared window's cap (never raises it)."""
        try:
            self._count_dynamo()
            self._table.update_item(
                Key=self._key(window_start),
                UpdateExpression="SET #cap = :cap, #exp = if_not_exists(#exp, :exp)",
                ConditionExpression="attribute_not_exists(#cap) OR #cap > :cap",
                ExpressionAttributeNames={"#cap": "cap", "#exp": "expires_at"},
                ExpressionAttributeValues={":cap": cap, ":exp": self._expiry(window_start)},
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                logger.warning("rate-limit cap not shared", extra={"error": aws.error_code(exc) or type(exc).__name__})
            return
        except BotoCoreError as exc:
            logger.warning("rate-limit cap not shared", extra={"error": type(exc).__name__})
            return
        with self._cond:
            if self._start == window_start:
                self._stored_cap = cap

    def _close_window(self, window_start: float) -> None:
        """No more grants in this window for anyone (``cap = used``)."""
        try:
            self._count_dynamo()
            self._table.update_item(
                Key=self._key(window_start),
                UpdateExpression="SET #cap = #used",
                ConditionExpression="attribute_exists(#used) AND #cap > #used",
                ExpressionAttributeNames={"#cap": "cap", "#used": "used"},
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                logger.warning(
                    "rate-limit window not closed", extra={"error": aws.error_code(exc) or type(exc).__name__}
                )
            return
        except BotoCoreError as exc:
            logger.warning("rate-limit window not closed", extra={"error": type(exc).__name__})
            return
        with self._cond:
            self._closes += 1
        logger.info("rate-limit window closed: Intercom reports the workspace budget used up")

    def _publish_block(self, now: float, until: float) -> None:
        """Write ``blocked_until`` into every window item from now until ``until`` (after a 429)."""
        first = math.floor(now / self.window_seconds)
        last = math.floor(max(now, until - 1e-6) / self.window_seconds)
        for index in range(first, min(last, first + MAX_BLOCKED_WINDOWS - 1) + 1):
            start = index * self.window_seconds
            try:
                self._count_dynamo()
                self._table.update_item(
                    Key=self._key(start),
                    UpdateExpression="SET #blocked = :until, #exp = if_not_exists(#exp, :exp)",
                    ConditionExpression="attribute_not_exists(#blocked) OR #blocked < :until",
                    ExpressionAttributeNames={"#blocked": "blocked_until", "#exp": "expires_at"},
                    ExpressionAttributeValues={":until": _decimal(until), ":exp": self._expiry(start)},
                )
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    logger.warning(
                        "rate-limit block not shared", extra={"error": aws.error_code(exc) or type(exc).__name__}
                    )
                    return
                continue
            except BotoCoreError as exc:
                logger.warning("rate-limit block not shared", extra={"error": type(exc).__name__})
                return
            with self._cond:
                self._publishes += 1
        logger.info("Intercom refused a call (429): every worker waits for the reset", extra={"seconds": until - now})

    def _fallback(self, fetch: _Fetch, exc: Exception) -> _Outcome:
        """DynamoDB failed: grant from this process's own share of the window."""
        with self._cond:
            if self._index != fetch.index:
                return _Outcome()
            if self._fallback_left is None:
                self._fallback_left = max(1, fetch.cap // self.fallback_share)
                logger.warning(
                    "rate-limit table unavailable; pacing this worker on its own share",
                    extra={"error": aws.error_code(exc) if isinstance(exc, ClientError) else type(exc).__name__},
                )
            granted = min(fetch.k, self._fallback_left)
            self._fallback_left -= granted
            self._fallback_grants += granted
        return _Outcome(granted=granted, exhausted=granted == 0, failed=True)

    # --- local bookkeeping (lock held unless said otherwise) -----------------------------------

    def _effective_limit(self) -> int:
        if self._server_limit is None:
            return self.limit_per_window
        return min(self.limit_per_window, self._server_limit)

    def _budget(self) -> int:
        return max(1, math.floor(self._effective_limit() * self.safety))

    def _block_limit(self) -> int:
        """Small blocks against a small budget, so every worker gets its turn within a window."""
        return max(1, min(self.block_size, self._cap // MIN_BLOCKS_PER_WINDOW))

    def _expiry(self, window_start: float) -> int:
        return int(window_start + self.window_seconds) + self.item_ttl_seconds

    def _current(self, reset_at: float | None) -> bool:
        """Whether a response's reset time is the end of the current window (headers of an older
        window, or of a server whose windows do not match ours, are not used)."""
        return reset_at is not None and abs(reset_at - self._end) < min(1.0, 0.5 * self.window_seconds)

    def _roll(self, now: float) -> None:
        if now < self._end:
            return
        index = math.floor(now / self.window_seconds)
        following = self._index is not None and index == self._index + 1
        self._prev_rate = self._consumed / self.window_seconds if following else 0.0
        self._index = index
        self._start = index * self.window_seconds
        self._end = self._start + self.window_seconds
        self._tokens = 0
        self._cap = self._budget()
        self._stored_cap = None
        self._used_seen = 0
        self._exhausted = False
        self._consumed = 0
        self._in_flight = 0  # calls still in flight were counted by Intercom in the previous window
        self._fallback_left = None

    def _begin_fetch(self, now: float, n: int, *, ahead: bool = False) -> _Fetch | None:
        """Size the next block: what this process will use before the window ends (at its rate so
        far), at most a block. A refill ahead (``ahead``) is skipped when the calls in hand suffice."""
        assert self._index is not None
        elapsed = now - self._start
        current_rate = self._consumed / elapsed if elapsed > 0.05 * self.window_seconds else 0.0
        rate = max(self._prev_rate, current_rate)
        k = self._block_limit()
        if rate > 0:
            needed = math.ceil(rate * (self._end - now)) - self._tokens
            if ahead and needed <= 0:
                return None
            k = min(k, max(1, needed))
        k = max(min(k, self._cap), n)
        self._fetching = True
        return _Fetch(self._index, self._start, self._end, k, self._cap)

    def _complete_fetch(self, fetch: _Fetch, outcome: _Outcome) -> None:
        with self._cond:
            self._fetching = False
            if self._index == fetch.index:
                if outcome.granted:
                    self._blocks += 1
                    self._taken += outcome.granted
                    self._tokens += outcome.granted
                if outcome.used is not None:
                    self._used_seen = max(self._used_seen, outcome.used)
                if outcome.cap is not None:
                    self._stored_cap = outcome.cap
                    self._cap = min(self._cap, outcome.cap)
                if outcome.exhausted:
                    self._exhausted = True
                if outcome.blocked_until is not None and outcome.blocked_until > self._blocked_until:
                    self._blocked_until = min(outcome.blocked_until, self._clock() + self.max_block_seconds)
                    self._tokens = 0
            self._cond.notify_all()

    def _wait(self, seconds: float) -> None:
        """Sleep outside the lock (``seconds`` is until the window's end or the reset)."""
        seconds = max(seconds, 0.001)
        with self._cond:
            self._waited += seconds
        self._sleep(seconds)

    def _count_dynamo(self) -> None:
        with self._cond:
            self._dynamo_calls += 1


def _window_label(window_start: float) -> str:
    return f"{window_start:.3f}".rstrip("0").rstrip(".")


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
