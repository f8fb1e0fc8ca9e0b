"""Injected faults: queued by ``POST /__sandbox/faults`` or :meth:`SandboxServer.add_fault`.

A fault is ``{"match": {"method": "POST", "path": "/contacts/{contact_id}"}, "kind": ..., "times": N}``;
``match`` and its keys are optional (``{}`` matches every Intercom API call). ``path`` is a concrete
path or a template: each ``{name}`` matches one path segment, so ``/contacts/{id}`` also matches
``/contacts/search`` (give ``method`` to tell them apart). Faults fire in the order they were added;
each matching call uses one of its ``times``.

Kinds:
- ``status``: answer ``status`` (default 500) with Intercom's error envelope (``code``/``message``
  optional); a 429 also carries the rate-limit headers with ``Remaining: 0``;
- ``reset``: close the connection without any answer (the client sees a connection error);
- ``timeout``: wait ``delay_ms`` (default 30000) before handling the call, so a client with a shorter
  read timeout gives up; the write still lands afterwards, as on a slow Intercom;
- ``latency``: wait ``delay_ms`` (default 1000), then handle the call normally.

``after_commit: true`` handles the call first (the write is applied) and only then fails (``status``,
``reset``) or waits (``timeout``, ``latency``): Intercom wrote it but the client never heard back.
"""

from __future__ import annotations

import itertools
import re
import threading
from dataclasses import dataclass, field
from typing import Any

FAULT_KINDS = ("status", "reset", "timeout", "latency")
_DEFAULT_DELAY_MS = {"timeout": 30_000.0, "latency": 1_000.0}
_FIELDS = {"match", "kind", "status", "times", "delay_ms", "after_commit", "code", "message"}


class FaultSpecError(ValueError):
    """The fault description is invalid; the message says which field."""


def path_pattern(path: str) -> re.Pattern[str]:
    """A regex for a concrete path or a template with ``{name}`` segments."""
    parts = re.split(r"(\{[^/{}]+\})", path.split("?", 1)[0])
    return re.compile("".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts))


@dataclass
class Fault:
    id: int
    kind: str
    times: int
    status: int | None = None
    method: str | None = None
    path: str | None = None
    delay_ms: float = 0.0
    after_commit: bool = False
    code: str | None = None
    message: str | None = None
    fired: int = 0
    _pattern: re.Pattern[str] | None = field(init=False, repr=False, compare=False, default=None)

    def __post_init__(self) -> None:
        self._pattern = path_pattern(self.path) if self.path else None

    def matches(self, method: str, path: str) -> bool:
        if self.method is not None and self.method != method.upper():
            return False
        return self._pattern is None or self._pattern.fullmatch(path) is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "match": {"method": self.method, "path": self.path},
            "kind": self.kind,
            "status": self.status,
            "times": self.times,
            "fired": self.fired,
            "delay_ms": self.delay_ms,
            "after_commit": self.after_commit,
            "code": self.code,
            "message": self.message,
        }


def parse_fault(spec: object, fault_id: int) -> Fault:
    """Validate a fault description (the JSON body of ``POST /__sandbox/faults``)."""
    if not isinstance(spec, dict):
        raise FaultSpecError("a fault must be a JSON object")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(unknown)}")
    match = spec.get("match") or {}
    if not isinstance(match, dict) or set(match) - {"method", "path"}:
        raise FaultSpecError("match must be an object with optional method and path")
    method, path = match.get("method"), match.get("path")
    if method is not None and not isinstance(method, str):
        raise FaultSpecError("match.method must be a string")
    if path is not None and (not isinstance(path, str) or not path.startswith("/")):
        raise FaultSpecError("match.path must be a string starting with /")
    kind = spec.get("kind", "status")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    status = spec.get("status")
    if kind == "status":
        status = 500 if status is None else status
        if isinstance(status, bool) or not isinstance(status, int) or not 400 <= status <= 599:
            raise FaultSpecError("status must be an integer between 400 and 599")
    elif status is not None:
        raise FaultSpecError(f"status only applies to kind 'status', not '{kind}'")
    times = spec.get("times", 1)
    if isinstance(times, bool) or not isinstance(times, int) or times < 1:
        raise FaultSpecError("times must be a positive integer")
    delay_ms = spec.get("delay_ms", _DEFAULT_DELAY_MS.get(kind, 0.0))
    if isinstance(delay_ms, bool) or not isinstance(delay_ms, int | float) or delay_ms < 0:
        raise FaultSpecError("delay_ms must be a non-negative number")
    after_commit = spec.get("after_commit", False)
    if not isinstance(after_commit, bool):
        raise FaultSpecError("after_commit must be a boolean")
    for key in ("code", "message"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise FaultSpecError(f"{key} must be a string")
    return Fault(
        id=fault_id,
        kind=kind,
        times=times,
        status=status,
        method=method.upper() if method else None,
        path=path,
        delay_ms=float(delay_ms),
        after_commit=after_commit,
        code=spec.get("code"),
        message=spec.get("message"),
    )


class FaultQueue:
    """Pending faults, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def add(self, spec: object) -> Fault:
        with self._lock:
            fault = parse_fault(spec, next(self._ids))
            self._faults.append(fault)
            return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this call, using one of its ``times``."""
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    fault.fired += 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
            return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]

    def clear(self) -> int:
        with self._lock:
            count = len(self._faults)
            self._faults.clear()
            return count
