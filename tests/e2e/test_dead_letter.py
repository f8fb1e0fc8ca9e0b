"""A chunk that keeps failing ends in the dead-letter queue: its rows are counted failed once, the job completes
with errors, and the one email says what happened.

The chunk queue's visibility timeout is 1 s here (720 s on AWS), so the five receives that send a chunk to the
dead-letter queue take seconds. Attempts may overlap (a failing one spends up to 3.5 s in the client's backoff):
for a chunk that only ever fails that changes nothing, and the exactly-once record counts it once.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = "dead-letter-token"

sandbox, pipeline = pipeline_fixtures(TOKEN, visibility_timeout_override={"ChunkQueue": 1})


def test_chunk_that_keeps_failing_ends_in_dlq_counted_as_failed(pipeline, sandbox):
    sandbox.add_fault(match={"method": "POST", "path": "/contacts/search"}, status=503, times=1000)
    job = pipeline.wait_done(pipeline.upload("incoming/outage.csv", PEOPLE), timeout=120)

    assert job["status"] == "completed_with_errors"
    assert counts(job) == {"rows": 6, "created": 0, "updated": 0, "skipped": 0, "failed": 6, "invalid": 0}
    [chunk] = pipeline.chunk_records(job["job_id"])
    assert chunk["source"] == "dead-letter"
    rows = pipeline.error_rows(job)
    assert [r["error_line"] for r in rows] == ["2", "3", "4", "5", "6", "7"]
    assert all(
        re.match(
            r"not imported: the chunk failed (\d+|several) times \(.*\); some of its rows may have been", r["error"]
        )
        for r in rows
    ), rows[0]["error"]
    assert sandbox.state()["contacts"] == []  # no search ever answered: no row was written
    assert len(pipeline.emails_for(job["job_id"])) == 1
