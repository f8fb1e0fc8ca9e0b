"""Exactly one email and exactly one count, whatever fails: the job's hand-over (start the state machine, queue
the chunks) finished once by whoever finds it unfinished, and the chunk recording's own guard (the
transaction's ``attribute_not_exists``) when two deliveries of a chunk race past the early check.

The domain code runs against a moto server (S3, DynamoDB, SQS, Step Functions) and the Intercom sandbox over
HTTP; failures are injected by wrapping one client call.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from intercom_importer import jobs, progress, worker
from intercom_importer.chunks import chunk_message
from intercom_importer.intercom import IntercomClient
from intercom_importer.job_record import Job
from intercom_importer.validate.context import Clients
from intercom_importer.validate.entry import handle_upload
from intercom_importer.validate.failure import handle_validator_failure
from intercom_importer.validate.sweep import sweep_abandoned, sweep_handovers
from intercom_importer.validate.upload import Upload
from intercom_sandbox import SandboxServer
from moto_server import ImporterAws, moto_server_fixture

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

CHUNK_ROWS = 2
ROWS = 25  # 13 chunks: two SQS batches (10 + 3)
CHUNKS = 13


moto_url = moto_server_fixture()


@pytest.fixture(scope="module")
def intercom() -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


class Killed(BaseException):
    """The invocation killed (timeout, out of memory): not an Exception, so nothing in the code may catch it."""


class Failing:
    """A boto3 client whose ``method`` raises on some calls (``fail_on``: 1-based call numbers)."""

    def __init__(self, client: Any, method: str, fail_on: set[int], error: BaseException | None = None) -> None:
        self._client = client
        self._method = method
        self._fail_on = fail_on
        self._error = error or ClientError(
            {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, method
        )
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name != self._method:
            return attribute

        def call(**kwargs: Any) -> Any:
            self.calls += 1
            if self.calls in self._fail_on:
                raise self._error
            return attribute(**kwargs)

        return call


class Env:
    def __init__(self, moto_url: str, intercom_url: str) -> None:
        # the state machine waits, as the real one does while the chunks are imported: a second start with the
        # same name and input is then accepted as the same execution (Standard workflows' idempotent start)
        aws = ImporterAws(
            moto_url, {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 600, "End": True}}}
        )
        self.s3, self.sqs, self.sfn, self.table = aws.s3, aws.sqs, aws.sfn, aws.table
        self.bucket, self.queue_url, self.machine = aws.bucket, aws.queue_url, aws.machine
        self.intercom_url = intercom_url
        self.settings = aws.settings(intercom_url, chunk_rows=CHUNK_ROWS)
        self.store = jobs.JobStore(self.table)

    def clients(self, *, sfn: Any = None, sqs: Any = None) -> Clients:
        return Clients(
            s3=self.s3,
            sqs=sqs or self.sqs,
            sfn=sfn or self.sfn,
            intercom=lambda: IntercomClient("any-token", self.intercom_url),
        )

    def upload(self, key: str, data: bytes, **metadata: str) -> Upload:
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata)
        return Upload(self.bucket, key, put.get("VersionId"), put["ETag"].strip('"'), len(data))

    def validate(self, upload: Upload, clients: Clients | None = None) -> dict[str, Any]:
        """One invocation of the validator for the upload's S3 event (a retry is another call)."""
        return handle_upload(
            upload,
            settings=self.settings,
            store=self.store,
            clients=clients or self.clients(),
            remaining_ms=lambda: 900_000,
        )

    def job_id(self, upload: Upload) -> str:
        return jobs.job_id_for(self.bucket, upload.key, upload.version_id)

    def executions(self) -> list[dict[str, Any]]:
        return list(self.sfn.list_executions(stateMachineArn=self.machine)["executions"])

    def execution_status(self, job_id: str) -> str:
        (execution,) = [e for e in self.executions() if e["name"] == job_id]
        return str(json.loads(self.sfn.describe_execution(executionArn=execution["executionArn"])["input"])["status"])

    def queued_chunks(self) -> Counter[int]:
        """Every chunk message in the queue (taken out of it): chunk number -> times queued."""
        found: Counter[int] = Counter()
        for _ in range(50):  # bounded: 10 messages a call
            messages = self.sqs.receive_message(
                QueueUrl=self.queue_url, MaxNumberOfMessages=10, VisibilityTimeout=600
            ).get("Messages", [])
            if not messages:
                break
            for message in messages:
                found[int(json.loads(message["Body"])["chunk"])] += 1
        return found


@pytest.fixture
def env(moto_url: str, intercom: SandboxServer) -> Env:
    return Env(moto_url, intercom.url)


def people_csv(rows: int = ROWS) -> bytes:
    return ("email,name\n" + "".join(f"user{i}@example.com,User {i}\n" for i in range(rows))).encode()


EVERY_CHUNK_ONCE = Counter(range(1, CHUNKS + 1))


# ------------------------------------------------------------------------------ the hand-over
def test_start_execution_failing_is_finished_by_the_retried_upload_event(env: Env):
    upload = env.upload("incoming/start-fails.csv", people_csv())
    job_id = env.job_id(upload)
    flaky = Failing(env.sfn, "start_execution", {1})

    with pytest.raises(ClientError, match="ThrottlingException"):
        env.validate(upload, env.clients(sfn=flaky))  # StartExecution throttled after boto's retries

    job = env.store.get(job_id)
    assert job.status == jobs.IMPORTING and job.handover == jobs.HANDOVER_PENDING
    assert job.lease_until == 0  # released: Lambda's retry need not wait for the lease to expire
    assert env.executions() == [] and env.queued_chunks() == Counter()

    retried = env.validate(upload, env.clients(sfn=flaky))  # Lambda retries the S3 event
    again = env.validate(upload, env.clients(sfn=flaky))  # ... and S3 delivers it once more

    assert retried == {"job_id": job_id, "outcome": "accepted", "resumed": True}
    assert again == {"job_id": job_id, "duplicate": True}
    assert [e["name"] for e in env.executions()] == [job_id]
    assert env.queued_chunks() == EVERY_CHUNK_ONCE
    job = env.store.get(job_id)
    assert job.handover == jobs.HANDOVER_DONE and job.chunks_queued == CHUNKS and job.rows == ROWS


def test_chunk_queueing_failing_part_way_goes_on_after_the_last_queued_batch(env: Env):
    upload = env.upload("incoming/queue-fails.csv", people_csv())
    job_id = env.job_id(upload)
    flaky = Failing(env.sqs, "send_message_batch", {2})  # the second batch of ten chunks is refused

    with pytest.raises(ClientError, match="ThrottlingException"):
        env.validate(upload, env.clients(sqs=flaky))

    job = env.store.get(job_id)
    assert job.execution_started is True and job.chunks_queued == 10
    assert job.handover == jobs.HANDOVER_PENDING

    retried = env.validate(upload, env.clients(sqs=flaky))

    assert retried["outcome"] == "accepted" and retried["resumed"]
    assert [e["name"] for e in env.executions()] == [job_id]  # started once, not again
    assert env.queued_chunks() == EVERY_CHUNK_ONCE
    assert env.store.get(job_id).handover == jobs.HANDOVER_DONE


def test_rejected_file_whose_start_fails_still_gets_its_rejection_email(env: Env):
    upload = env.upload(
        "incoming/rejected-start-fails.csv", people_csv() + b"not-an-email,Bad\n", **{"invalid-rows": "reject_file"}
    )
    job_id = env.job_id(upload)
    flaky = Failing(env.sfn, "start_execution", {1})

    with pytest.raises(ClientError):
        env.validate(upload, env.clients(sfn=flaky))
    retried = env.validate(upload, env.clients(sfn=flaky))

    assert retried["outcome"] == "rejected"
    assert env.execution_status(job_id) == "rejected" and len(env.executions()) == 1
    assert env.queued_chunks() == Counter()  # nothing of a rejected file is imported


def test_hand_over_of_a_killed_invocation_is_finished_by_the_sweep_once_its_lease_expired(env: Env):
    upload = env.upload("incoming/killed-queueing.csv", people_csv())
    job_id = env.job_id(upload)
    killed = Failing(env.sqs, "send_message_batch", {2}, Killed())
    sweep = dict(settings=env.settings, store=env.store, clients=env.clients())

    with pytest.raises(Killed):
        env.validate(upload, env.clients(sqs=killed))
    while_held = sweep_handovers(**sweep)  # the dead invocation's lease is still live
    retry_while_held = env.validate(upload)
    env.store.update(job_id, {"lease_until": 0})  # ... until it expires
    swept = sweep_handovers(**sweep)
    again = sweep_handovers(**sweep)

    assert while_held == [] and retry_while_held == {"job_id": job_id, "duplicate": True}
    assert swept == [job_id] and again == []
    assert [e["name"] for e in env.executions()] == [job_id]
    assert env.queued_chunks() == EVERY_CHUNK_ONCE


def test_failure_destination_finishes_the_hand_over_of_an_upload_whose_retries_ran_out(env: Env):
    upload = env.upload("incoming/killed-starting.csv", people_csv())
    job_id = env.job_id(upload)
    killed = Failing(env.sfn, "start_execution", {1}, Killed())
    s3_record = {"s3": {"bucket": {"name": env.bucket}, "object": {"key": upload.key, "versionId": upload.version_id}}}
    record = {"requestPayload": {"Records": [s3_record]}, "responsePayload": {"errorType": "Sandbox.Timedout"}}
    failure = dict(settings=env.settings, store=env.store, clients=env.clients())

    with pytest.raises(Killed):
        env.validate(upload, env.clients(sfn=killed))
    held = handle_validator_failure(record, **failure)
    env.store.update(job_id, {"lease_until": 0})
    handed = handle_validator_failure(record, **failure)
    repeated = handle_validator_failure(record, **failure)

    assert held == [{"job_id": job_id, "outcome": "held"}]  # SQS delivers the record again later
    assert handed == [{"job_id": job_id, "outcome": "handed-over"}]
    assert repeated == [{"job_id": job_id, "outcome": "already-handled"}]
    assert env.store.get(job_id).status == jobs.IMPORTING  # the import goes on: nothing was wrong with it
    assert env.execution_status(job_id) == "accepted" and len(env.executions()) == 1
    assert env.queued_chunks() == EVERY_CHUNK_ONCE


def test_failure_email_of_an_abandoned_validation_is_started_by_a_later_sweep_when_its_start_fails(env: Env):
    upload = env.upload("incoming/abandoned.csv", people_csv())
    job_id = env.job_id(upload)
    env.store.create(job_id, {"status": jobs.VALIDATING, "bucket": env.bucket, "key": upload.key, "lease_until": 0})
    flaky = Failing(env.sfn, "start_execution", {1})
    failing = dict(settings=env.settings, store=env.store, clients=env.clients(sfn=flaky))

    failed = sweep_abandoned(**failing)  # marks it failed, then cannot start its email
    swept = sweep_handovers(**failing)  # what the sweep does next

    assert failed == [] and swept == [job_id]
    assert env.store.get(job_id).status == jobs.FAILED
    assert env.execution_status(job_id) == "failed" and len(env.executions()) == 1


# ------------------------------------------------------------------------------ recording a chunk
class RacingStore(jobs.JobStore):
    """The job store, with ``record_chunk`` held until both deliveries reach it (both passed the early check)."""

    def __init__(self, table: Any) -> None:
        super().__init__(table)
        self.barrier = threading.Barrier(2, timeout=60)
        self.recorded: list[bool] = []

    def record_chunk(self, *args: Any, **kwargs: Any) -> bool:
        self.barrier.wait()
        result = super().record_chunk(*args, **kwargs)
        self.recorded.append(result)
        return result


def accepted_job(env: Env, key: str, **metadata: str) -> str:
    """A validated job with one chunk (its message taken out of the queue: the test delivers it)."""
    upload = env.upload(key, people_csv(CHUNK_ROWS), **metadata)
    result = env.validate(upload)
    assert result["outcome"] == "accepted"
    assert env.queued_chunks() == Counter({1: 1})
    return str(result["job_id"])


def race(*deliveries: Callable[[], str]) -> list[str]:
    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        return sorted(f.result(timeout=120) for f in [pool.submit(d) for d in deliveries])


def counters(job: Job) -> dict[str, int]:
    return {c: getattr(job, c) for c in (*jobs.COUNTERS, "chunks_done")}


def deliver_chunk(
    env: Env,
    job_id: str,
    *,
    store: jobs.JobStore | None = None,
    client: IntercomClient | None = None,
    remaining_ms: Callable[[], int] | None = None,
    sqs: Any = None,
) -> str:
    """One delivery of the job's first chunk to the worker."""
    return worker.process_chunk(
        chunk_message(job_id, 1),
        settings=env.settings,
        store=store or env.store,
        s3=env.s3,
        sfn=env.sfn,
        client_factory=lambda: client or IntercomClient("any-token", env.intercom_url),
        remaining_ms=remaining_ms,
        sqs=sqs,
    )


def test_two_deliveries_of_a_chunk_racing_to_record_count_it_once(env: Env):
    job_id = accepted_job(env, "incoming/race-worker.csv")
    store = RacingStore(env.table)

    outcomes = race(lambda: deliver_chunk(env, job_id, store=store), lambda: deliver_chunk(env, job_id, store=store))

    assert sorted(store.recorded) == [False, True]  # both reached the transaction; its condition refused one
    assert outcomes == ["duplicate", "recorded"]
    (chunk,) = env.store.chunks(job_id)
    job = env.store.get(job_id)
    assert counters(job) == {**{c: int(chunk[c]) for c in jobs.COUNTERS}, "chunks_done": 1}
    # Each row counted once. Which delivery's split is kept is the race's: for each row one delivery's create
    # made the contact and the other's got a 409 (or found it), looked it up and found the row's values there
    # (unchanged: nothing written), and either delivery may win the transaction.
    assert sum(getattr(job, c) for c in jobs.COUNTERS) == job.created + job.unchanged == CHUNK_ROWS


def test_chunk_recorded_meanwhile_leaves_the_job_counters_unchanged(env: Env):
    job_id = accepted_job(env, "incoming/late-record.csv")
    first = env.store.record_chunk(job_id, 1, {"created": 3}, result_key=None, source="worker")
    before = counters(env.store.get(job_id))

    second = env.store.record_chunk(job_id, 1, {"updated": 3}, result_key=None, source="worker")

    assert first is True and second is False
    assert counters(env.store.get(job_id)) == before == {"created": 3, "updated": 0, "unchanged": 0, "skipped": 0,
                                                          "failed": 0, "chunks_done": 1}  # fmt: skip


def test_unchanged_rows_of_a_chunk_recorded_twice_add_to_the_job_once(env: Env):
    job_id = accepted_job(env, "incoming/unchanged-record.csv")
    store = RacingStore(env.table)
    counts = {"updated": 1, "unchanged": 3}

    def record() -> str:
        return str(store.record_chunk(job_id, 1, counts, result_key=None, source="worker"))

    raced = race(record, record)  # two deliveries past the early check at once
    again = env.store.record_chunk(job_id, 1, counts, result_key=None, source="worker")  # and a later one

    assert raced == ["False", "True"] and again is False
    (chunk,) = env.store.chunks(job_id)
    assert (chunk["updated"], chunk["unchanged"]) == (1, 3)
    assert counters(env.store.get(job_id)) == {"created": 0, "updated": 1, "unchanged": 3, "skipped": 0,
                                               "failed": 0, "chunks_done": 1}  # fmt: skip


def test_two_dead_letter_deliveries_racing_to_record_count_the_chunk_once(env: Env):
    job_id = accepted_job(env, "incoming/race-dead.csv")
    store = RacingStore(env.table)

    def deliver() -> str:
        return worker.record_dead_chunk(
            chunk_message(job_id, 1), settings=env.settings, store=store, s3=env.s3, sfn=env.sfn
        )

    outcomes = race(deliver, deliver)

    assert sorted(store.recorded) == [False, True]
    assert outcomes == ["duplicate", "recorded"]
    job = env.store.get(job_id)
    assert counters(job) == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": CHUNK_ROWS,
        "chunks_done": 1,
    }


def test_worker_and_dead_letter_handler_racing_for_one_chunk_count_it_once(env: Env, intercom: SandboxServer):
    intercom.reset()  # none of the contacts the module's earlier tests made: the worker creates every row
    job_id = accepted_job(env, "incoming/race-mixed.csv")
    store = RacingStore(env.table)
    said: dict[str, str] = {}

    def work() -> str:
        said["worker"] = deliver_chunk(env, job_id, store=store)
        return said["worker"]

    def dead() -> str:
        said["dead"] = worker.record_dead_chunk(
            chunk_message(job_id, 1), settings=env.settings, store=store, s3=env.s3, sfn=env.sfn
        )
        return said["dead"]

    outcomes = race(work, dead)

    assert sorted(store.recorded) == [False, True] and outcomes == ["duplicate", "recorded"]
    (chunk,) = env.store.chunks(job_id)
    job = env.store.get(job_id)
    assert counters(job) == {**{c: int(chunk[c]) for c in jobs.COUNTERS}, "chunks_done": 1}
    # each row counted once, as the one that won the transaction (the race decides which) saw it
    kept = "created" if said["worker"] == "recorded" else "failed"
    assert counters(job) == {
        "created": 0,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        kept: CHUNK_ROWS,
        "chunks_done": 1,
    }


def test_a_worker_out_of_time_leaves_its_rows_to_the_next_delivery_and_keeps_the_finished_ones(
    env: Env, intercom: SandboxServer
):
    from intercom_importer.errors import ChunkOutOfTimeError

    intercom.reset()  # none of the contacts the module's earlier tests made
    job_id = accepted_job(env, "incoming/out-of-time.csv")
    client = IntercomClient("any-token", env.intercom_url)
    client.workspace_id()  # the environment's GET /me (made once per environment): not the chunk's
    before = client.stats.calls

    with pytest.raises(ChunkOutOfTimeError):  # no time left: no row may start
        deliver_chunk(env, job_id, client=client, remaining_ms=lambda: 0)
    assert client.stats.calls - before == 1  # the chunk's search, made before the rows; no row started
    assert list(env.store.chunks(job_id)) == []  # nothing recorded: SQS delivers the chunk again

    assert deliver_chunk(env, job_id, client=client, remaining_ms=lambda: 120_000) == "recorded"
    assert counters(env.store.get(job_id)) == {"created": CHUNK_ROWS, "updated": 0, "unchanged": 0, "skipped": 0,
                                               "failed": 0, "chunks_done": 1}  # fmt: skip
    assert client.stats.calls - before == 1 + 1 + CHUNK_ROWS  # the next delivery: its search and one create per row


def test_a_chunk_of_a_job_already_reported_writes_nothing(env: Env):
    job_id = accepted_job(env, "incoming/late-chunk.csv")
    env.store.update(job_id, {"status": jobs.INCOMPLETE})  # the job timed out and its email went out
    client = IntercomClient("any-token", env.intercom_url)

    assert deliver_chunk(env, job_id, client=client) == "late"

    assert client.stats.calls == 0
    assert list(env.store.chunks(job_id)) == []
    assert env.store.get(job_id).created == 0


class Sent:
    """An SQS client that keeps the arguments of every ``send_message``."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.sent: list[dict[str, Any]] = []

    def send_message(self, **kwargs: Any) -> Any:
        self.sent.append(kwargs)
        return self._sqs.send_message(**kwargs)


def test_a_lead_create_without_answer_sets_its_row_aside_and_the_chunk_runs_again_after_the_search_lag(
    env: Env, intercom: SandboxServer
):
    intercom.reset()
    intercom.configure(search_lag_seconds=0.5)  # scaled: the settings' lag below is longer
    env.settings = dataclasses.replace(env.settings, intercom_search_lag_seconds=1.5)
    job_id = accepted_job(env, "incoming/lead-unanswered.csv", role="lead")
    intercom.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)
    sqs = Sent(env.sqs)

    sent_at = time.time()
    assert deliver_chunk(env, job_id, sqs=sqs) == "set-aside"  # the other row ended; nothing recorded yet

    assert list(env.store.chunks(job_id)) == []
    saved = progress.read_progress(env.s3, env.bucket, job_id, 1)
    assert len(saved.done) == 1 and len(saved.uncertain) == 1
    assert set(saved.done) | set(saved.uncertain) == {2, 3}
    (again,) = sqs.sent  # the chunk once more, delayed until the search lag has passed since the create was sent
    assert (again["QueueUrl"], json.loads(again["MessageBody"])["chunk"]) == (env.queue_url, 1)
    assert 0 <= again["DelaySeconds"] <= 2 and sent_at <= min(saved.uncertain.values()) <= time.time()
    assert wait_for_chunk(env)  # then it is in the queue, once

    assert deliver_chunk(env, job_id, sqs=sqs) == "recorded"

    assert counters(env.store.get(job_id)) == {"created": CHUNK_ROWS, "updated": 0, "unchanged": 0, "skipped": 0,
                                               "failed": 0, "chunks_done": 1}  # fmt: skip
    emails = sorted(c["email"] for c in intercom.state()["contacts"])
    assert emails == [f"user{i}@example.com" for i in range(CHUNK_ROWS)]  # the unanswered create made its lead once


def wait_for_chunk(env: Env) -> bool:
    """The delayed chunk message arrives (bounded wait)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if env.queued_chunks() == Counter({1: 1}):
            return True
        time.sleep(0.2)
    return False


def test_a_lead_create_that_keeps_failing_goes_the_way_of_a_failing_chunk_after_five_checks(
    env: Env, intercom: SandboxServer
):
    from intercom_importer.errors import LeadCreateUncertainError

    intercom.reset()
    env.settings = dataclasses.replace(env.settings, intercom_search_lag_seconds=0)
    job_id = accepted_job(env, "incoming/lead-keeps-failing.csv", role="lead")
    intercom.add_fault(method="POST", path="/contacts", status=503, times=100)  # never carried out
    sqs = Sent(env.sqs)

    outcomes = [deliver_chunk(env, job_id, sqs=sqs) for _ in range(worker.MAX_SET_ASIDE_ROUNDS)]
    with pytest.raises(LeadCreateUncertainError, match="after 5 checks"):
        deliver_chunk(env, job_id, sqs=sqs)

    assert outcomes == ["set-aside"] * 5 and len(sqs.sent) == 5  # the sixth sends nothing: SQS retries it
    assert progress.read_progress(env.s3, env.bucket, job_id, 1).rounds == 6
    assert list(env.store.chunks(job_id)) == [] and intercom.state()["contacts"] == []


def test_the_set_aside_delay_is_the_measured_search_lag_with_its_margin_when_one_is_stored(
    env: Env, intercom: SandboxServer
):
    from intercom_importer.measured import MeasuredLags

    intercom.reset()
    env.settings = dataclasses.replace(env.settings, intercom_search_lag_seconds=1.5)  # the parameter: not used
    workspace = IntercomClient("any-token", env.intercom_url).workspace_id()
    MeasuredLags(env.table).record(workspace, 20)  # what `intercom-import doctor` measured: the workers wait 50 s
    job_id = accepted_job(env, "incoming/lead-measured-lag.csv", role="lead")
    intercom.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)
    sqs = Sent(env.sqs)

    assert deliver_chunk(env, job_id, sqs=sqs) == "set-aside"

    (again,) = sqs.sent
    saved = progress.read_progress(env.s3, env.bucket, job_id, 1)
    assert 48 <= again["DelaySeconds"] <= 50  # max(2 x 20, 20 + 30) after the create was sent, not 1.5
    assert min(saved.uncertain.values()) + 50 - time.time() <= again["DelaySeconds"]
