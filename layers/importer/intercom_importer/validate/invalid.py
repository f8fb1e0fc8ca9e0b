"""The rows validation refused: spooled to a local file while reading, saved as a part at each checkpoint, and
written as one object (``keys.invalid``) once the file is read, for the error file."""

from __future__ import annotations

import json
import shutil
import tempfile
from typing import IO, Any

from intercom_importer import keys
from intercom_importer.schema import Problem

NDJSON = "application/x-ndjson"


def spool_invalid(spool: IO[bytes], line: int, cells: list[str], problems: list[Problem]) -> None:
    record = {"line": line, "cells": cells, "problems": [p.to_dict() for p in problems]}
    spool.write((json.dumps(record) + "\n").encode("utf-8"))


def save_part(s3: Any, bucket: str, job_id: str, seq: int, spool: IO[bytes]) -> str | None:
    """The rows this invocation refused, as the part of checkpoint ``seq`` (None when there were none)."""
    if not spool.tell():
        return None
    part = keys.checkpoint_invalid(job_id, seq)
    spool.seek(0)
    s3.put_object(Bucket=bucket, Key=part, Body=spool, ContentType=NDJSON)
    return part


def write_invalid(s3: Any, bucket: str, job_id: str, parts: list[str], spool: IO[bytes]) -> str:
    """The invalid rows of the whole file as one object: earlier invocations' parts, then this one's."""
    key = keys.invalid(job_id)
    with tempfile.TemporaryFile("w+b") as whole:
        source = spool
        if parts:
            for part in parts:
                shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=part)["Body"], whole, 1 << 20)
            spool.seek(0)
            shutil.copyfileobj(spool, whole, 1 << 20)
            source = whole
        source.seek(0)
        s3.put_object(Bucket=bucket, Key=key, Body=source, ContentType=NDJSON)
    return key
