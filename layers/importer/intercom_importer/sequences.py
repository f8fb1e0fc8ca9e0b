"""Small helpers over sequences, shared by the client, the upsert and the validator."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from typing import TypeVar

T = TypeVar("T")
H = TypeVar("H", bound=Hashable)


def batched(items: Sequence[T], size: int) -> list[list[T]]:
    """``items`` in consecutive lists of ``size`` (the last may be shorter); Python 3.12's ``itertools.batched``,
    for 3.11 too."""
    if size < 1:
        raise ValueError("batch size must be at least 1")
    return [list(items[start : start + size]) for start in range(0, len(items), size)]


def unique(values: Iterable[H]) -> list[H]:
    """``values`` without repeats, in the order they first come."""
    return list(dict.fromkeys(values))
