"""A chunk's outputs belong to the delivery that recorded it (``chunk_outputs.py``): its change log and its failed
rows are read from the keys its chunk record names, whatever another delivery of the chunk wrote.

SQS delivers a chunk at least once: two deliveries of it can run at once, and only one wins the record. Here the
loser writes last: its early check ran before its twin recorded the chunk (``CheckedEarly``), so it runs the chunk
again, sees what its twin wrote (the contacts its twin created look unchanged to it) and reaches the record after
its twin. Run one after the other, the race is deterministic. Also: the dead-letter handler and a late worker, and a
job whose chunks were recorded before deliveries had keys of their own.

Against a moto server (S3, DynamoDB, Step Functions: ``ImporterAws``) and the Intercom sandbox over HTTP, with its
own defaults (search shows every contact and value at once: each delivery's view of Intercom is exact).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from intercom_importer import jobs, keys, report, worker
from intercom_importer.changelog import Change, chunk_logs, read_chunk_log
from intercom_importer.chunks import CHUNK_FORMAT, chunk_message
from intercom_importer.intercom import IntercomClient
from intercom_importer.job_record import ChunkRecord
from intercom_importer.options import ImportOptions
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.undo import Undo, undo_import
from intercom_sandbox import SandboxServer
from moto_server import ImporterAws, moto_server_fixture
from sandbox_fixtures import SandboxSession

pytestmark = pytest.mark.integration

moto_url = moto_server_fixture()
HEADER = ["email", "name", "owner_id"]
ROWS = [  # line, email, name, owner
    (2, "ada@example.com", "Ada", ""),  # created
    (3, "bob@example.com", "Bob", ""),  # created
    (4, "cy@example.com", "Cy", "42"),  # Intercom refuses the owner: failed
    (5, "old@example.com", "Olga", ""),  # in Intercom before the import, as "Old": updated
    (6, "pat@example.com", "Patricia", ""),  # in Intercom before the import, as "Pat": updated
]
NOT_IMPORTED = "not imported: the chunk failed several times"


@pytest.fixture(scope="module")
def aws(moto_url: str) -> ImporterAws:
    return ImporterAws(moto_url)


class CheckedEarly(jobs.JobStore):
    """The job store of a delivery whose early check ran before its twin recorded the chunk: nothing recorded."""

    def is_chunk_recorded(self, job_id: str, index: int) -> bool:
        return False


@dataclass
class Job:
    """A people import of one chunk (``ROWS``), its chunk in S3 and its record in the jobs table."""

    aws: ImporterAws
    sandbox: SandboxServer
    store: jobs.JobStore
    job_id: str

    def client(self) -> IntercomClient:
        return IntercomClient("race-token", self.sandbox.url, limiter=NullRateLimiter(), sleep=lambda _s: None)

    def deliver(self, store: jobs.JobStore | None = None, index: int = 1) -> str:
        """One delivery of chunk ``index`` to the worker."""
        return worker.process_chunk(
            chunk_message(self.job_id, index),
            settings=self.aws.settings(self.sandbox.url),
            store=store or self.store,
            s3=self.aws.s3,
            sfn=self.aws.sfn,
            client_factory=self.client,
        )

    def dead_letter(self, store: jobs.JobStore | None = None) -> str:
        return worker.record_dead_chunk(
            chunk_message(self.job_id, 1),
            settings=self.aws.settings(self.sandbox.url),
            store=store or self.store,
            s3=self.aws.s3,
            sfn=self.aws.sfn,
        )

    def counts(self) -> dict[str, int]:
        job = self.store.get(self.job_id)
        return {c: getattr(job, c) for c in jobs.COUNTERS if getattr(job, c)}

    def records(self) -> list[ChunkRecord]:
        return list(self.store.chunk_records(self.job_id))

    def change_log(self) -> list[Change]:
        """The change log every reader reads (undo, ``intercom-import run``)."""
        logs = chunk_logs(self.aws.s3, self.aws.bucket, self.job_id, store=self.store)
        return [change for _, key in logs for change in read_chunk_log(self.aws.s3, self.aws.bucket, key)]

    def error_file(self) -> list[tuple[int, str]]:
        """The error file's rows as ``(line, error)``."""
        settings = self.aws.settings(self.sandbox.url)
        key, _ = report.write_error_file(self.aws.s3, settings, self.store, self.store.get(self.job_id))
        body = self.aws.s3.get_object(Bucket=self.aws.bucket, Key=key)["Body"].read().decode("utf-8-sig")
        return [(int(r["error_line"]), r["error"]) for r in csv.DictReader(io.StringIO(body))]

    def outputs(self) -> set[str]:
        """Every chunk output in the bucket (current versions), whichever delivery wrote it."""
        found: set[str] = set()
        for prefix in (f"work/{self.job_id}/results/", f"reports/{self.job_id}/changes/"):
            listed = self.aws.s3.list_objects_v2(Bucket=self.aws.bucket, Prefix=prefix)
            found |= {obj["Key"] for obj in listed.get("Contents") or []}
        return found

    def undo(self) -> None:
        self.store.update(self.job_id, {"status": jobs.COMPLETED})
        work = Undo(self.store, self.aws.s3, self.aws.bucket, self.client(), lambda _message: "message-1")
        undo_import(work, self.job_id)

    def contact(self, email: str) -> dict[str, Any]:
        return next(c for c in self.sandbox.state()["contacts"] if c.get("email") == email)


def write_chunk(aws: ImporterAws, job_id: str, index: int, rows: list[tuple[int, str, str, str]]) -> None:
    records = [
        {
            "line": line,
            "cells": [email, name, owner],
            "record": {"email": email, "name": name, **({"owner_id": int(owner)} if owner else {})},
        }
        for line, email, name, owner in rows
    ]
    body = {"v": CHUNK_FORMAT, "job_id": job_id, "chunk": index, "rows": records}
    aws.s3.put_object(Bucket=aws.bucket, Key=keys.chunk(job_id, index), Body=json.dumps(body).encode())


@pytest.fixture
def job(aws: ImporterAws, sandbox: SandboxServer) -> Job:
    job_id = uuid.uuid4().hex
    write_chunk(aws, job_id, 1, ROWS)
    store = jobs.JobStore(aws.table)
    options = ImportOptions(import_type="people", existing="update", role="user", invalid_rows="skip_rows")
    fields = {"status": jobs.IMPORTING, "import_type": "people", "options": options.to_dict(), "chunks_total": 1}
    store.create(job_id, {**fields, "header": HEADER, "columns": [], "bucket": aws.bucket, "key": "incoming/p.csv"})
    intercom = SandboxSession(sandbox.url)
    for email, name in (("old@example.com", "Old"), ("pat@example.com", "Pat")):  # in Intercom before the import
        intercom.post("/contacts", json={"role": "user", "email": email, "name": name}).raise_for_status()
    return Job(aws, sandbox, store, job_id)


def edit(job: Job, email: str, **values: Any) -> str:
    """Someone changes a contact in Intercom; returns its id."""
    contact_id = str(job.contact(email)["id"])
    SandboxSession(job.sandbox.url).put(f"/contacts/{contact_id}", json=values).raise_for_status()
    return contact_id


@pytest.fixture
def raced(job: Job) -> Iterator[Job]:
    """The winner ran first and recorded the chunk; then Intercom changed under the loser (Old renamed Oleg, Pat
    renamed Patty and her update refused once), which ran the chunk again and reached the record last."""
    assert job.deliver() == "recorded"
    edit(job, "old@example.com", name="Oleg")
    pat = edit(job, "pat@example.com", name="Patty")
    job.sandbox.add_fault(method="PUT", path=f"/contacts/{pat}", status=400, times=1)

    assert job.deliver(CheckedEarly(job.aws.table)) == "duplicate"  # the loser: unchanged 2, updated 1, failed 2
    yield job


# ------------------------------------------------------------------------------ two deliveries of one chunk
def test_the_change_log_read_is_the_recording_delivery_s_and_agrees_with_the_counts(raced: Job):
    log = raced.change_log()

    assert [(c.line, c.outcome) for c in log] == [(2, "created"), (3, "created"), (5, "updated"), (6, "updated")]
    assert [c.fields["name"] for c in log if c.line in (5, 6)] == [["Old", "Olga"], ["Pat", "Patricia"]]
    assert raced.counts() == {**Counter(c.outcome for c in log), "failed": 1}


def test_the_error_file_holds_the_recording_delivery_s_failed_rows(raced: Job):
    rows = raced.error_file()

    assert [line for line, _ in rows] == [4]  # not the loser's 4 and 6
    assert raced.counts()["failed"] == len(rows) == 1


def test_the_delivery_that_lost_the_record_leaves_none_of_its_outputs_behind(raced: Job):
    (record,) = raced.records()

    assert raced.outputs() == {record.result_key, record.changes_key}
    assert record.result_key == keys.result(raced.job_id, 1, record.attempt)
    assert record.changes_key == keys.changes(raced.job_id, 1, record.attempt)


def test_an_undo_after_the_race_archives_the_contacts_the_import_created(raced: Job):
    raced.undo()

    assert (raced.contact("ada@example.com")["archived"], raced.contact("bob@example.com")["archived"]) == (True, True)
    assert raced.contact("old@example.com")["name"] == "Old"  # the winner's before value, not the loser's "Oleg"


# ------------------------------------------------------------------------------ the dead-letter handler
def test_a_dead_letter_that_checked_before_the_worker_recorded_leaves_the_worker_s_outputs(job: Job):
    assert job.deliver() == "recorded"

    assert job.dead_letter(CheckedEarly(job.aws.table)) == "duplicate"

    rows = job.error_file()
    assert [line for line, _ in rows] == [4] and not rows[0][1].startswith(NOT_IMPORTED)  # Intercom's refusal
    assert job.counts() == {"created": 2, "updated": 2, "failed": 1}
    (record,) = job.records()
    assert record.source == "worker" and job.outputs() == {record.result_key, record.changes_key}


def test_a_late_worker_leaves_the_dead_letter_s_outputs_and_writes_no_change_log(job: Job):
    assert job.dead_letter() == "recorded"

    assert job.deliver(CheckedEarly(job.aws.table)) == "duplicate"  # it wrote to Intercom: its outputs go

    rows = job.error_file()
    assert [line for line, _ in rows] == [2, 3, 4, 5, 6] and all(e.startswith(NOT_IMPORTED) for _, e in rows)
    assert job.counts() == {"failed": 5}
    (record,) = job.records()
    assert record.source == "dead-letter" and job.outputs() == {record.result_key}
    assert job.change_log() == []


# ------------------------------------------------------------------------------ records from before attempts
def put(aws: ImporterAws, key: str, body: str) -> None:
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=body.encode())


def record_the_old_way(job: Job, index: int, created: dict[int, str], failed: list[int]) -> None:
    """Chunk ``index`` as the workers recorded it before outputs had an attempt: the change log and the failed rows
    at the chunk's fixed keys, the record naming only the failed rows' key."""
    log = "".join(
        json.dumps({"line": n, "kind": "contact", "id": cid, "outcome": "created"}) + "\n" for n, cid in created.items()
    )
    if log:
        put(job.aws, f"reports/{job.job_id}/changes/{index:06d}.jsonl", log)
    result_key = f"work/{job.job_id}/results/{index:06d}.json"
    failures = [
        {"line": n, "cells": [f"r{n}@example.com", "", ""], "column": "", "error": "old refusal"} for n in failed
    ]
    put(job.aws, result_key, json.dumps({"job_id": job.job_id, "chunk": index, "failures": failures}))
    counts = {"created": len(created), "failed": len(failed)}
    assert job.store.record_chunk(job.job_id, index, counts, result_key=result_key, source="worker")


def test_a_job_recorded_across_the_upgrade_is_read_from_its_old_and_new_chunk_records(job: Job):
    early = SandboxSession(job.sandbox.url).post("/contacts", json={"role": "user", "email": "early@example.com"})
    record_the_old_way(job, 2, {10: str(early.json()["id"])}, failed=[11])
    record_the_old_way(job, 3, {}, failed=[20])  # changed nothing: no change log
    assert job.deliver() == "recorded"  # chunk 1, recorded the new way

    logs = chunk_logs(job.aws.s3, job.aws.bucket, job.job_id, store=job.store)
    (new,) = [r for r in job.records() if r.index == 1]
    assert logs == [(1, new.changes_key), (2, f"reports/{job.job_id}/changes/000002.jsonl")]
    assert [line for line, _ in job.error_file()] == [4, 11, 20]
    job.undo()
    assert [job.contact(e)["archived"] for e in ("ada@example.com", "early@example.com")] == [True, True]
