"""What one governor (one worker process) did: its running counters and their snapshot."""

from __future__ import annotations

from dataclasses import asdict, dataclass


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


@dataclass
class GovernorCounters:
    """The running counters behind :class:`GovernorStats`; changed only with the governor's lock held."""

    calls_granted: int = 0
    blocks: int = 0
    tokens_taken: int = 0
    dynamo_calls: int = 0
    refused_updates: int = 0
    windows_closed: int = 0
    blocks_published: int = 0
    fallback_grants: int = 0
    seconds_waited: float = 0.0

    def snapshot(self) -> GovernorStats:
        return GovernorStats(**asdict(self))
