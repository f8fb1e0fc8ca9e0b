"""A job whose chunks never all finish is closed by the job timeout with an honest "incomplete" email.

The job timeout is scaled down to a few seconds through the validator's environment (the template's
JobTimeoutSeconds parameter keeps its minimum of 60): no worker takes the chunks, so the timeout fires.
"""

from __future__ import annotations

import time

import pytest

from intercom_sandbox import SandboxServer
from pipeline_helpers import local_pipeline

pytestmark = pytest.mark.e2e

JOB_TIMEOUT = 4  # seconds


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with (
        SandboxServer(port=0) as sandbox,
        local_pipeline(
            sandbox.url,
            "any-token",
            tmp_path_factory.mktemp("logs"),
            function_env_overrides={"ValidateFunction": {"JOB_TIMEOUT_SECONDS": str(JOB_TIMEOUT)}},
        ) as pipeline,
    ):
        yield pipeline


def test_lost_chunk_closes_the_job_as_incomplete_after_the_timeout(pipeline):
    runtime = pipeline.runtime
    lam = runtime.client("lambda")
    queue_name = pipeline.outputs["ChunkQueueUrl"].rsplit("/", 1)[1]
    [mapping] = [
        m for m in lam.list_event_source_mappings()["EventSourceMappings"] if m["EventSourceArn"].endswith(queue_name)
    ]
    lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)  # no worker takes chunks
    try:
        job_id = pipeline.upload("incoming/lost.csv", "email\n" + "".join(f"l{i}@example.com\n" for i in range(150)))
        deadline = time.monotonic() + 30
        while pipeline.job(job_id).get("status") not in ("importing", "incomplete"):  # the timeout may be quick
            assert time.monotonic() < deadline
            time.sleep(0.2)
        runtime.client("sqs").purge_queue(QueueUrl=pipeline.outputs["ChunkQueueUrl"])  # the chunks are lost
        job = pipeline.job(job_id)
        done: dict = {}
        deadline = time.monotonic() + JOB_TIMEOUT + 60
        while not done:
            assert time.monotonic() < deadline, pipeline.job(job_id)
            status = pipeline.execution(job_id).get("status")
            if status not in (None, "RUNNING"):
                done = pipeline.job(job_id)
            time.sleep(0.5)
    finally:
        lam.update_event_source_mapping(UUID=mapping["UUID"], Enabled=True)

    assert done["status"] == "incomplete"
    assert job["chunks_total"] == 2 and done["chunks_done"] == 0
    emails = pipeline.emails_for(job_id)
    assert len(emails) == 1
    assert "2 of 2 chunks did not finish" in emails[0]["text"]
    assert emails[0]["subject"].startswith("Import incomplete: lost.csv")
    assert "- chunk 1: lines 2 to 101 (100 rows)" in emails[0]["text"]  # what did not finish, from the chunk files
    assert "- chunk 2: lines 102 to 151 (50 rows)" in emails[0]["text"]
