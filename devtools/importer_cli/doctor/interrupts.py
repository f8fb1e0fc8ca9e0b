"""Signals while the doctor has probe contacts in Intercom: SIGTERM raises like Ctrl-C does (so the ``finally`` that
deletes the probes runs), and while they are being deleted both wait until the deletes are done."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the doctor was, like a Ctrl-C."""


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``); the previous handler after."""
    if not _in_main_thread():  # signal handlers belong to the main thread
        yield
        return

    def raise_terminated(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Within the block, SIGINT and SIGTERM are noted instead of raised; leaving it raises ``KeyboardInterrupt`` if
    one came (the probes are deleted first)."""
    if not _in_main_thread():
        yield
        return
    came: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        came.append(signum)

    previous: dict[int, Any] = {sig: signal.signal(sig, note) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if came:
        raise Terminated() if came[0] == signal.SIGTERM else KeyboardInterrupt()
