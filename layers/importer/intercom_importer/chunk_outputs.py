"""What a delivery of a chunk writes besides its counts, tied to the delivery that records the chunk.

A chunk's outputs are its failed rows (for the error file, ``report.py``) and its change log (``changelog.py``, for
undo and ``intercom-import run``). SQS delivers a chunk at least once, and two deliveries of it can run at once (a
visibility timeout that ran out, a redrive, the dead-letter handler and a late worker): only one wins
``JobStore.record_chunk``, and the other's view of the chunk may differ (rows its twin created look unchanged to it).
So each delivery writes its outputs under keys of its own (``keys.result``/``keys.changes`` with its ``attempt``),
and the record transaction stores the winner's keys in the chunk record: every reader takes them from there
(``JobStore.chunk_records``), never from a listing of the bucket, so what it reads is what the recorded counts
came from.

A delivery that loses the record deletes its own objects (``ChunkOutputs.discard``, best effort). One that crashes
first, or whose delete fails, leaves an orphan: harmless, since nothing reads a key no chunk record names, and the
bucket's lifecycle rules expire ``work/`` and ``reports/`` after ``ProcessedFileRetentionDays`` (the bucket is
versioned: a deleted object's data goes with the old versions, after 7 days). Nothing is deleted when the record
call fails without an answer: the transaction may have committed with these very keys.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_importer import jobs, keys
from intercom_importer.changelog import Change, write_chunk_log
from intercom_importer.observability import logger
from intercom_importer.upsert import FAILED, RowResult


def new_attempt() -> str:
    """A delivery's own id, for its keys and its chunk record: a random uuid4 (32 hex digits), unique wherever the
    chunk runs (a worker, the dead-letter handler, an undo, a test) without passing the Lambda request id and the
    message's receive count down from the handler."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class ChunkOutputs:
    """The objects delivery ``attempt`` of chunk ``index`` wrote (None: not written, nothing to write)."""

    bucket: str
    job_id: str
    index: int
    attempt: str = field(default_factory=new_attempt)
    result_key: str | None = None
    changes_key: str | None = None

    @classmethod
    def write(
        cls,
        s3: Any,
        bucket: str,
        rows: Sequence[Mapping[str, Any]],
        results: Sequence[RowResult],
        *,
        job_id: str,
        index: int,
        log_changes: bool,
    ) -> ChunkOutputs:
        """Write the chunk's failed rows (if any) and, with ``log_changes``, its change log (if it changed anything)
        under a new attempt's keys."""
        attempt = new_attempt()
        changes_key = None
        if log_changes:
            changes = (Change.from_json(r.change) for r in results if r.change)
            changes_key = write_chunk_log(s3, bucket, keys.changes(job_id, index, attempt), changes)
        failures = {"job_id": job_id, "chunk": index, "failures": _failures(rows, results)}
        result_key = _write_failures(s3, bucket, keys.result(job_id, index, attempt), failures)
        return cls(bucket, job_id, index, attempt, result_key, changes_key)

    def record(
        self,
        store: jobs.JobStore,
        s3: Any,
        counts: Mapping[str, int],
        *,
        source: str,
        extra: Mapping[str, int] | None = None,
    ) -> bool:
        """Record the chunk's counts with these outputs' keys; ``False`` (and these outputs deleted) if another
        delivery recorded it."""
        recorded = store.record_chunk(
            self.job_id,
            self.index,
            counts,
            result_key=self.result_key,
            changes_key=self.changes_key,
            attempt=self.attempt,
            source=source,
            extra=extra,
        )
        if not recorded:
            self.discard(s3)
        return recorded

    def discard(self, s3: Any) -> None:
        """Delete these outputs (a delivery that lost the record), best effort."""
        discard(s3, self.bucket, self.result_key, self.changes_key)


def discard(s3: Any, bucket: str, *keys_: str | None) -> None:
    """Delete the objects of a delivery (or an undo's run) that lost its chunk's record; a delete that fails leaves
    an orphan nothing reads (see the module's docstring)."""
    for key in keys_:
        if not key:
            continue
        try:
            s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError):
            logger.warning("could not delete the output of a delivery that lost the record", key=key, exc_info=True)


def _write_failures(s3: Any, bucket: str, key: str, body: Mapping[str, Any]) -> str | None:
    """Store a chunk's failed rows (``{"job_id", "chunk", "failures"}``) for the error file under ``key``; None
    (nothing written) when none failed."""
    if not body["failures"]:
        return None
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(body).encode(), ContentType="application/json")
    return key


def _failures(rows: Sequence[Mapping[str, Any]], results: Sequence[RowResult]) -> list[dict[str, Any]]:
    return [
        {"line": res.line, "cells": row["cells"], "column": res.column, "error": res.error or ""}
        for row, res in zip(rows, results, strict=True)
        if res.outcome == FAILED
    ]
