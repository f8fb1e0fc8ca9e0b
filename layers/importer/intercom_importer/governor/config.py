"""The governor's knobs (one frozen :class:`GovernorConfig`) and the window length (an app's key is ``intercom.connection.app_key``)."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from intercom_importer.errors import SettingsError

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
class GovernorConfig:
    """What a governor is told: the app's allowance per window and how it hands it out.

    ``limit_per_window``: the app's allowance per window; ``floor(limit x safety)`` of it is handed out.
    ``low_water``: a thread takes the next block when this many calls are left in hand.
    ``fallback_share``: without DynamoDB, a process takes ``cap / fallback_share`` per window on its own.
    """

    limit_per_window: int
    window_seconds: float = INTERCOM_WINDOW_SECONDS
    app: str = "default"
    safety: float = DEFAULT_SAFETY
    block_size: int = DEFAULT_BLOCK_SIZE
    low_water: int = DEFAULT_BLOCK_SIZE // 2
    max_block_seconds: float = 60.0
    item_ttl_seconds: int = DEFAULT_ITEM_TTL_SECONDS
    fallback_share: int = 4

    def __post_init__(self) -> None:
        if self.limit_per_window < 1:
            raise ValueError("limit_per_window must be at least 1")
        if self.window_seconds <= 0:
            raise ValueError("window_seconds must be positive")
        if not 0 < self.safety <= 1:
            raise ValueError("safety must be in (0, 1]")
        if self.block_size < 1:
            raise ValueError("block_size must be at least 1")

    @classmethod
    def of(
        cls,
        limit_per_window: int,
        *,
        window_seconds: float = INTERCOM_WINDOW_SECONDS,
        app: str = "default",
        safety: float = DEFAULT_SAFETY,
        block_size: int = DEFAULT_BLOCK_SIZE,
        low_water: int | None = None,
        max_block_seconds: float = 60.0,
        item_ttl_seconds: int = DEFAULT_ITEM_TTL_SECONDS,
        fallback_share: int = 4,
    ) -> GovernorConfig:
        """The configuration from the governor's keyword arguments (``low_water`` None: half a block)."""
        # Refill when half a block is left: the thread that refills makes its own call one DynamoDB
        # round trip later, the others carry on with the rest of the block.
        return cls(
            limit_per_window=limit_per_window,
            window_seconds=float(window_seconds),
            app=app,
            safety=safety,
            block_size=block_size,
            low_water=max(0, block_size // 2 if low_water is None else low_water),
            max_block_seconds=max_block_seconds,
            item_ttl_seconds=item_ttl_seconds,
            fallback_share=max(1, fallback_share),
        )

    def effective_limit(self, server_limit: int | None) -> int:
        """The configured limit, or the lower one Intercom reports."""
        if server_limit is None:
            return self.limit_per_window
        return min(self.limit_per_window, server_limit)

    def budget(self, server_limit: int | None) -> int:
        """Calls per window handed out to all workers together."""
        return max(1, math.floor(self.effective_limit(server_limit) * self.safety))

    def expiry(self, window_start: float) -> int:
        """The TTL of a window's item (epoch seconds)."""
        return int(window_start + self.window_seconds) + self.item_ttl_seconds
