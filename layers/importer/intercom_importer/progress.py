"""A chunk's progress across its deliveries (``keys.progress``): the rows earlier attempts finished (kept, so a
retry neither writes nor counts them again), the rows they set aside (a lead's create without an answer: line ->
when it was sent) and how often the chunk was sent again for them. Written by the worker when an attempt ends
early, read by the next attempt and by the dead-letter handler."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, keys
from intercom_importer.upsert import RowResult


@dataclass(frozen=True)
class Progress:
    """What earlier attempts of a chunk did: the rows they finished, and the rows they set aside (line -> when
    the create whose outcome is unknown was sent). Stored at ``keys.progress``."""

    done: dict[int, RowResult]
    uncertain: dict[int, float]
    rounds: int = 0  # how often the chunk was sent again for rows set aside


def read_progress(s3: Any, bucket: str, job_id: str, index: int) -> Progress:
    try:
        body = s3.get_object(Bucket=bucket, Key=keys.progress(job_id, index))["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return Progress({}, {})
        raise
    data = json.loads(body)
    done = {int(r["line"]): RowResult.from_dict(r) for r in data["rows"]}
    uncertain = {int(line): float(since) for line, since in (data.get("uncertain") or {}).items()}
    return Progress(done, uncertain, int(data.get("set_aside_rounds") or 0))


def load_progress(s3: Any, bucket: str, job_id: str, index: int) -> dict[int, RowResult]:
    """Rows of this chunk that an earlier, interrupted attempt finished."""
    return read_progress(s3, bucket, job_id, index).done


def save_progress(
    s3: Any,
    bucket: str,
    job_id: str,
    index: int,
    done: Mapping[int, RowResult],
    uncertain: Mapping[int, float] | None = None,
    rounds: int = 0,
) -> None:
    data: dict[str, Any] = {"job_id": job_id, "chunk": index, "rows": [r.to_dict() for r in done.values()]}
    pending = {str(line): since for line, since in (uncertain or {}).items() if line not in done}
    if pending:
        data["uncertain"] = pending
    if rounds:
        data["set_aside_rounds"] = rounds
    body = json.dumps(data)
    s3.put_object(Bucket=bucket, Key=keys.progress(job_id, index), Body=body.encode(), ContentType="application/json")
