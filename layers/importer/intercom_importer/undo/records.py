"""What an undo did, as typed records: ``LeftAlone`` (one value the undo did not touch, and why) and ``Tally``
(what undoing some changes came to: one change-log entry, a chunk, the whole job).

A chunk's tally is stored once the chunk is undone (``keys.undo_result``, ``Tally.to_json``) and its counters are
added to the undo's job record in the same transaction that records the chunk (``JobStore.record_chunk``); the
summary email and the command's answer add the chunks' tallies up (``Tally.add``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

COUNTERS = ("restored", "contacts_restored", "archived", "already_restored", "left_alone", "write_calls", "api_calls")
"""The counters an undo adds to its job record, one chunk at a time."""


@dataclass(frozen=True)
class LeftAlone:
    """A value (``field``: an attribute, ``company``, ``tag <name>``; None: the whole row) the undo left as it is."""

    line: int
    contact_id: str
    field: str | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.contact_id, "field": self.field, "reason": self.reason}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> LeftAlone:
        return cls(int(data.get("line") or 0), str(data["id"]), data.get("field"), str(data["reason"]))


@dataclass
class Tally:
    """What undoing some changes came to.

    ``restored``: values that hold their before value now (a field, a custom attribute, a company link or a tag
    removed), whether this undo wrote them or found them so (``already_restored`` counts those, and the created
    contacts found archived already); ``contacts_restored``: contacts with at least one value restored;
    ``archived``: contacts the import created that are archived now; ``write_calls``: the calls that write
    (made, or for a dry run needed); ``api_calls``: every call made (``GET`` included).
    """

    restored: int = 0
    contacts_restored: int = 0
    archived: int = 0
    already_restored: int = 0
    write_calls: int = 0
    api_calls: int = 0
    left: list[LeftAlone] = field(default_factory=list)

    @property
    def left_alone(self) -> int:
        return len(self.left)

    def leave(self, line: int, contact_id: str, name: str | None, reason: str) -> None:
        self.left.append(LeftAlone(line, contact_id, name, reason))

    def add(self, other: Tally) -> Tally:
        """This tally with ``other``'s added (in place; returns it)."""
        for f in fields(self):
            if f.name != "left":
                setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))
        self.left.extend(other.left)
        return self

    def counters(self) -> dict[str, int]:
        """The counters (``COUNTERS``), for the job record."""
        return {name: int(getattr(self, name)) for name in COUNTERS}

    def to_json(self) -> dict[str, Any]:
        return {**self.counters(), "left": [entry.to_json() for entry in self.left]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Tally:
        counts = {name: int(data.get(name) or 0) for name in COUNTERS if name != "left_alone"}
        return cls(**counts, left=[LeftAlone.from_json(entry) for entry in data.get("left") or []])

    @classmethod
    def total(cls, tallies: Iterable[Tally]) -> Tally:
        whole = cls()
        for tally in tallies:
            whole.add(tally)
        return whole
