"""When an invocation stops reading and hands the rest of the file to a new one (``Deadline``)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from intercom_importer.settings import Settings
from intercom_importer.validate.context import Clients

# Kept free at the end of an invocation to write a checkpoint (the duplicate-detection database is the
# biggest part: S3 takes it at ~100 MB/s from Lambda) and invoke the continuation.
CHECKPOINT_MARGIN_SECONDS = 60.0


class Deadline:
    """When an invocation stops reading and hands the rest of the file to a new one (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    @classmethod
    def for_invocation(cls, remaining_ms: Callable[[], int], budget_seconds: float) -> Deadline:
        """The settings' budget, never closer than the safety margin to the invocation's own timeout."""
        return cls(min(budget_seconds, remaining_ms() / 1000 - CHECKPOINT_MARGIN_SECONDS))

    def expired(self) -> bool:
        return time.monotonic() >= self._at


NO_DEADLINE = Deadline(math.inf)


def invocation_deadline(
    settings: Settings, clients: Clients, remaining_ms: Callable[[], int], function_arn: str
) -> Deadline:
    """The deadline of an invocation that can continue in a new one (none for one that cannot)."""
    if not function_arn or clients.lambda_ is None:
        return NO_DEADLINE
    return Deadline.for_invocation(remaining_ms, settings.validate_time_budget_seconds)
