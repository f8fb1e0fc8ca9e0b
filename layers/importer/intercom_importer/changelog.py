"""An import's change log: for every row written to Intercom, the record's Intercom id, whether the row created
or updated it, and the before and after value of each field it changed; the company it attached the contact to
and the tags it added. ``intercom-import undo`` reads it back to restore what the import changed.

One JSON Lines object per chunk, ``reports/<job>/changes/<nnnnnn>.<attempt>.jsonl`` (``keys.changes``), written
by each delivery of the chunk under its own attempt just before it records the chunk, from its results; the chunk
record names the log of the delivery that recorded it (``changes_key``, ``chunk_outputs.py``), and ``chunk_logs``
reads only those: a losing delivery's log (it may have seen the rows its twin created as unchanged) is never read.
It lives under the job's report prefix: the bucket's encryption and retention apply. It holds the values the
import wrote and replaced, never a token; nothing of it is logged.

A line (``Change.to_json``)::

    {"line": 12, "kind": "contact", "id": "6f...", "outcome": "updated",
     "fields": {"name": ["Ada", "Ada Lovelace"]},
     "custom_attributes": {"plan": ["free", "pro"]},
     "company": "65a...", "tags": {"VIP": "17"}}

``fields`` holds standard attributes (and ``role``), ``custom_attributes`` the custom ones, each as
``[before, after]``; ``company`` is the Intercom id of a company the import attached the contact to (absent when
the contact already had it); ``tags`` the tags the import added (name -> Intercom id, "" when the id is not
known). ``before_known`` is false when the import could not read the values it replaced (a company row: Intercom
has no batch lookup of companies, so they are written without one): such a row cannot be restored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from intercom_importer import aws, keys

if TYPE_CHECKING:
    from intercom_importer.job_record import ChunkRecord
    from intercom_importer.jobs import JobStore

CONTACT = "contact"
COMPANY = "company"


@dataclass
class Change:
    """What one row changed in Intercom (see the module's docstring)."""

    kind: str  # contact | company
    intercom_id: str
    outcome: str  # created | updated
    fields: dict[str, list[Any]] = field(default_factory=dict)  # attribute -> [before, after]
    custom_attributes: dict[str, list[Any]] = field(default_factory=dict)
    company: str | None = None  # Intercom id of the company the contact was attached to by this import
    tags: dict[str, str] = field(default_factory=dict)  # tag name -> Intercom id ("" unknown), added by this import
    before_known: bool = True
    line: int = 0

    @property
    def empty(self) -> bool:
        """Nothing was written for the row."""
        return not (self.fields or self.custom_attributes or self.company or self.tags) and self.outcome != "created"

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "line": self.line,
            "kind": self.kind,
            "id": self.intercom_id,
            "outcome": str(self.outcome),
        }
        if self.fields:
            out["fields"] = self.fields
        if self.custom_attributes:
            out["custom_attributes"] = self.custom_attributes
        if self.company:
            out["company"] = self.company
        if self.tags:
            out["tags"] = self.tags
        if not self.before_known:
            out["before_known"] = False
        return out

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Change:
        return cls(
            kind=str(data["kind"]),
            intercom_id=str(data["id"]),
            outcome=str(data["outcome"]),
            fields={k: list(v) for k, v in (data.get("fields") or {}).items()},
            custom_attributes={k: list(v) for k, v in (data.get("custom_attributes") or {}).items()},
            company=data.get("company") or None,
            tags=dict(data.get("tags") or {}),
            before_known=bool(data.get("before_known", True)),
            line=int(data.get("line") or 0),
        )


def write_chunk_log(s3: Any, bucket: str, key: str, changes: Iterable[Change]) -> str | None:
    """Write a chunk's changes (rows in line order) under ``key`` (``keys.changes``); returns the key, or None when
    the chunk changed nothing (no object is written)."""
    lines = [json.dumps(c.to_json(), separators=(",", ":"), default=str) for c in sorted(changes, key=_line)]
    if not lines:
        return None
    s3.put_object(Bucket=bucket, Key=key, Body=("\n".join(lines) + "\n").encode(), ContentType="application/x-ndjson")
    return key


def chunk_logs(s3: Any, bucket: str, job_id: str, *, store: JobStore) -> list[tuple[int, str]]:
    """The job's change logs as ``(chunk index, key)``, in chunk order: those its chunk records name (the logs of
    the deliveries whose counts were recorded), never a listing of the bucket."""
    found: list[tuple[int, str]] = []
    for record in store.chunk_records(job_id):
        key = record.changes_key or _legacy_log(s3, bucket, job_id, record)
        if key:
            found.append((record.index, key))
    return found


def _legacy_log(s3: Any, bucket: str, job_id: str, record: ChunkRecord) -> str | None:
    """The change log of a chunk recorded before logs had an attempt (its record names none): at the chunk's fixed
    key, if the chunk changed anything. A record with an attempt and no ``changes_key`` has no log."""
    if record.attempt:
        return None
    key = keys.legacy_changes(job_id, record.index)
    try:
        s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return None
        raise
    return key


def read_chunk_log(s3: Any, bucket: str, key: str) -> Iterator[Change]:
    """The changes of one chunk's log object, streamed line by line."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for raw in body.iter_lines():
        if raw.strip():
            yield Change.from_json(json.loads(raw))


def _line(change: Change) -> int:
    return change.line
