"""A chunk that ran out of retries after part of it was imported: the progress an interrupted attempt saved
(``progress.save_progress``/``load_progress``) and the dead-letter handler (``worker.record_dead_chunk``) counting
the finished rows as they ended and only the rest as failed.

Against a moto server (S3, DynamoDB: ``ImporterAws``), and the Intercom sandbox over HTTP for the worker.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from intercom_importer import jobs, keys, progress, worker
from intercom_importer.chunks import CHUNK_FORMAT, chunk_message
from intercom_importer.errors import IntercomServerError
from intercom_importer.intercom import IntercomClient, RetryPolicy
from intercom_importer.job_record import ChunkRecord
from intercom_importer.options import ImportOptions
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.upsert import CREATED, FAILED, UPDATED, RowResult
from intercom_sandbox import SandboxServer
from moto_server import ImporterAws, moto_server_fixture

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

moto_url = moto_server_fixture()


@pytest.fixture(scope="module")
def aws(moto_url: str) -> ImporterAws:
    return ImporterAws(moto_url)


@dataclass
class Job:
    """One people job of one chunk (line 2 to 5), its rows in S3 and its record in the jobs table."""

    aws: ImporterAws
    store: jobs.JobStore
    job_id: str
    rows: list[dict[str, Any]]

    def settings(self, intercom_url: str = "http://127.0.0.1:9") -> Any:
        return self.aws.settings(intercom_url)

    def counters(self) -> dict[str, int]:
        job = self.store.get(self.job_id)
        return {c: getattr(job, c) for c in (*jobs.COUNTERS, "chunks_done")}

    def record(self) -> ChunkRecord:
        (chunk,) = self.store.chunk_records(self.job_id)
        return chunk

    def failures(self) -> list[dict[str, Any]]:
        """The failed rows the chunk record names (those of the delivery that recorded it)."""
        body = self.aws.s3.get_object(Bucket=self.aws.bucket, Key=self.record().result_key)["Body"].read()
        return list(json.loads(body)["failures"])

    def process(self, intercom_url: str, client_factory: Callable[[], Any]) -> str:
        """The worker's delivery of the job's chunk."""
        return worker.process_chunk(
            chunk_message(self.job_id, 1),
            settings=self.settings(intercom_url),
            store=self.store,
            s3=self.aws.s3,
            sfn=self.aws.sfn,
            client_factory=client_factory,
        )

    def dead_letter(self) -> str:
        return worker.record_dead_chunk(
            chunk_message(self.job_id, 1), settings=self.settings(), store=self.store, s3=self.aws.s3, sfn=self.aws.sfn
        )


@pytest.fixture
def job(aws: ImporterAws) -> Job:
    job_id = uuid.uuid4().hex
    rows = [
        {"line": line, "cells": [email, *extra], "record": {"email": email, **record}}
        for line, email, extra, record in (
            (2, "ada@example.com", [], {}),
            (3, "bob@example.com", [], {}),
            (4, "cy@example.com", ["42"], {"owner_id": 42}),  # Intercom refuses the owner
            (5, "dee@example.com", [], {}),
        )
    ]
    aws.s3.put_object(
        Bucket=aws.bucket,
        Key=keys.chunk(job_id, 1),
        Body=json.dumps({"v": CHUNK_FORMAT, "job_id": job_id, "chunk": 1, "rows": rows}).encode(),
    )
    store = jobs.JobStore(aws.table)
    options = ImportOptions(
        import_type="people", existing="update", role="user", invalid_rows="skip_rows", tags=("vip",)
    )
    store.create(
        job_id,
        {
            "status": jobs.IMPORTING,
            "import_type": "people",
            "columns": [],
            "options": options.to_dict(),
            "chunks_total": 1,
        },
    )
    return Job(aws, store, job_id, rows)


REFUSED = RowResult(4, FAILED, error="Intercom refused the row: the owner", column="owner_id")


def test_progress_saved_by_an_interrupted_attempt_is_loaded_back_as_it_was(job: Job):
    updated = {"line": 3, "kind": "contact", "id": "c-3", "outcome": "updated", "fields": {"name": ["Bo", "Bob"]}}
    done = {
        2: RowResult(2, CREATED, "c-2", change={"line": 2, "kind": "contact", "id": "c-2", "outcome": "created"}),
        3: RowResult(3, UPDATED, "c-3", calls=2, tags=["vip"], change=updated),
        4: REFUSED,
    }

    progress.save_progress(job.aws.s3, job.aws.bucket, job.job_id, 1, done)

    loaded = progress.load_progress(job.aws.s3, job.aws.bucket, job.job_id, 1)
    assert loaded == done
    # tags and change take no part in ``==``: what the retry tags and the change log need must come back too
    assert {line: r.to_dict() for line, r in loaded.items()} == {line: r.to_dict() for line, r in done.items()}


def test_chunk_without_saved_progress_has_no_finished_row(job: Job):
    assert progress.load_progress(job.aws.s3, job.aws.bucket, job.job_id, 1) == {}


def test_dead_chunk_counts_finished_rows_as_they_ended_and_the_rest_as_failed(job: Job):
    done = {2: RowResult(2, CREATED, "c-2"), 3: RowResult(3, UPDATED, "c-3"), 4: REFUSED}
    progress.save_progress(job.aws.s3, job.aws.bucket, job.job_id, 1, done)
    for _ in range(3):
        job.store.note_chunk_error(job.job_id, 1, "IntercomServerError", "Intercom had a server error (HTTP 503)")

    assert job.dead_letter() == "recorded"

    assert job.counters() == {"created": 1, "updated": 1, "unchanged": 0, "skipped": 0, "failed": 2, "chunks_done": 1}
    assert job.failures() == [
        {"line": 4, "cells": ["cy@example.com", "42"], "column": "owner_id", "error": REFUSED.error},
        {
            "line": 5,
            "cells": ["dee@example.com"],
            "column": "",
            "error": (
                "not imported: the chunk failed 3 times (Intercom had a server error (HTTP 503)); some of its rows "
                "may have been written to Intercom before the failure. Upload these rows again to retry them."
            ),
        },
    ]
    chunk = job.record()
    assert (chunk.source, chunk.result_key) == ("dead-letter", keys.result(job.job_id, 1, chunk.attempt))


def test_dead_chunk_without_a_noted_error_says_the_worker_did_not_finish(job: Job):
    assert job.dead_letter() == "recorded"

    assert job.counters() == {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 4, "chunks_done": 1}
    assert {f["error"] for f in job.failures()} == {
        "not imported: the chunk failed several times (the worker did not finish in time); some of its rows may "
        "have been written to Intercom before the failure. Upload these rows again to retry them."
    }


def test_rows_of_a_chunk_whose_tagging_failed_count_as_they_ended_when_it_is_dead_lettered(
    job: Job, sandbox: SandboxServer
):
    sandbox.add_fault(method="POST", path="/tags", status=503, times=RetryPolicy().max_retries + 1)
    client = IntercomClient("dead-chunk-token", sandbox.url, limiter=NullRateLimiter(), sleep=lambda _s: None)

    with pytest.raises(IntercomServerError):  # SQS will deliver the chunk again
        job.process(sandbox.url, lambda: client)
    saved = progress.load_progress(job.aws.s3, job.aws.bucket, job.job_id, 1)
    outcome = job.dead_letter()

    assert {line: r.outcome for line, r in saved.items()} == {2: CREATED, 3: CREATED, 4: FAILED, 5: CREATED}
    assert outcome == "recorded"
    assert job.counters() == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 1, "chunks_done": 1}
    (refused,) = job.failures()
    assert (refused["line"], refused["column"]) == (4, "owner_id")
    assert refused["error"].startswith("Intercom refused the row: Intercom refused the data: The owner specified")
    # the change log of the rows the attempt wrote survives in its progress, and the dead letter writes it
    chunk = job.record()
    assert chunk.changes_key == keys.changes(job.job_id, 1, chunk.attempt)
    log = job.aws.s3.get_object(Bucket=job.aws.bucket, Key=chunk.changes_key)["Body"].read().decode()
    lines = [json.loads(line) for line in log.splitlines()]
    assert [(c["line"], c["id"], c["outcome"]) for c in lines] == [
        (line, saved[line].contact_id, "created") for line in (2, 3, 5)
    ]
    assert lines[0]["fields"] == {"email": [None, "ada@example.com"]}


def test_rows_written_before_the_token_was_refused_count_as_they_ended_and_the_rest_as_not_imported(
    job: Job, sandbox: SandboxServer
):
    # Intercom stops accepting the token while the chunk runs: the tags of the written rows are refused
    sandbox.add_fault(method="POST", path="/tags", status=401)
    client = IntercomClient("dead-chunk-token", sandbox.url, limiter=NullRateLimiter(), sleep=lambda _s: None)

    outcome = job.process(sandbox.url, lambda: client)

    # lines 2, 3 and 5 are in Intercom (untagged): created, not "not imported"; line 4 was refused on its own
    assert outcome == "aborted"
    assert job.counters() == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 1, "chunks_done": 1}
    assert job.store.get(job.job_id).abort["error"] == "IntercomAuthError"
    assert [f["line"] for f in job.failures()] == [4]


def test_rows_an_earlier_attempt_wrote_count_as_they_ended_in_a_chunk_of_an_aborted_job(job: Job):
    progress.save_progress(job.aws.s3, job.aws.bucket, job.job_id, 1, {2: RowResult(2, CREATED, "c-2")})
    job.store.update(job.job_id, {"abort": {"error": "IntercomAuthError", "message": "Unauthorized", "status": 401}})

    outcome = job.process("http://127.0.0.1:9", lambda: pytest.fail("an aborted job calls Intercom no more"))

    assert outcome == "aborted"
    assert job.counters() == {"created": 1, "updated": 0, "unchanged": 0, "skipped": 0, "failed": 3, "chunks_done": 1}
    assert {f["error"] for f in job.failures()} == {
        "not imported: Intercom refused the access token (HTTP 401): the token is invalid, expired or revoked. "
        "Store a valid token in the Intercom token secret and upload the file again."
    }
