"""The chunk format shared by the validator (writer), the workers and the report (readers).

A chunk is a JSON object in S3 (``keys.chunk``: ``{"v", "job_id", "chunk",
"rows": [{"line", "cells", "record"}]}``); its SQS message is only a pointer to it (claim check).
Kept apart from ``validation`` so the readers do not load the validator's dependencies.
"""

from __future__ import annotations

import json

from intercom_importer import keys

CHUNK_FORMAT = 1


def chunk_message(job_id: str, index: int) -> str:
    return json.dumps({"v": CHUNK_FORMAT, "job_id": job_id, "chunk": index, "key": keys.chunk(job_id, index)})
