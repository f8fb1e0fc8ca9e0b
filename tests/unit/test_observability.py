"""Structured logs: the job id as key and correlation id; emails masked."""

from __future__ import annotations

import io
import json

import pytest

from intercom_importer.observability import bind_job, logger

pytestmark = pytest.mark.unit


def test_after_bind_job_every_log_line_carries_the_job_id_as_correlation_id():
    buffer = io.StringIO()
    stream = logger.registered_handler.setStream(buffer)  # the handler kept the stdout of import time
    try:
        bind_job("job-abc123", chunk=7)
        logger.warning("chunk done", rows_created=3)
        line = json.loads(buffer.getvalue().strip().splitlines()[-1])
    finally:
        logger.registered_handler.setStream(stream)
        logger.remove_keys(["job_id", "chunk"])
        logger.set_correlation_id(None)

    assert line["message"] == "chunk done"
    assert line["job_id"] == line["correlation_id"] == "job-abc123"
    assert line["chunk"] == 7 and line["rows_created"] == 3
