"""The chunk format shared by the validator (writer), the workers and the report (readers).

A chunk is a JSON object in S3 (``keys.chunk``: ``{"v", "job_id", "chunk",
"rows": [{"line", "cells", "record"}]}``), read and written as a :class:`ChunkBody`; its SQS message is only a
pointer to it (claim check, ``chunk_message``).
Kept apart from ``validation`` so the readers do not load the validator's dependencies.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from intercom_importer import keys

CHUNK_FORMAT = 1


def chunk_message(job_id: str, index: int) -> str:
    return json.dumps({"v": CHUNK_FORMAT, "job_id": job_id, "chunk": index, "key": keys.chunk(job_id, index)})


@dataclass(frozen=True)
class ChunkBody:
    """One chunk object: the valid rows of a stretch of the file, ``{"line", "cells", "record"}`` each (the
    file's line number, the row's cells as read, the record the upsert writes)."""

    job_id: str
    index: int
    rows: list[dict[str, Any]]

    def to_json(self) -> bytes:
        """The object's body as stored (compact UTF-8 JSON, with the format version)."""
        return json.dumps(
            {"v": CHUNK_FORMAT, "job_id": self.job_id, "chunk": self.index, "rows": self.rows},
            separators=(",", ":"),
        ).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes | str, *, job_id: str, index: int) -> ChunkBody:
        """The chunk stored as ``data``; ``job_id`` and ``index`` are those of the pointer it was read by (its
        message, or the job's chunk count): only ``rows`` is read from the body."""
        return cls(job_id, index, json.loads(data)["rows"])

    @property
    def lines(self) -> list[int]:
        """The file line of each row, in row order."""
        return [int(row["line"]) for row in self.rows]
