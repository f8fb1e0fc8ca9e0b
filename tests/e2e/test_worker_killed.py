"""A worker killed in the middle of a chunk (its Lambda timeout hit while a call hangs): some rows are in
Intercom, nothing was recorded or saved. SQS delivers the chunk again; the retry creates no duplicate,
and the rows the dead attempt created still count as created, not updated."""

from __future__ import annotations

import time

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

TOKEN = "killed-token"
WORKER_TIMEOUT = 4  # seconds; the template's is 120 (a healthy chunk of these tests takes well under a second)
# Intercom's search lag, scaled to seconds: longer than the kill and the redelivery take, so the retry's search does
# not show what the dead attempt created (the stack waits one second more before a lead is created again).
SEARCH_LAG = 8.0


sandbox, pipeline = pipeline_fixtures(
    TOKEN,
    parameters={"WorkerThreads": "2", "WorkerMaxConcurrency": "2", "IntercomSearchLagSeconds": str(SEARCH_LAG + 1)},
    timeout_override={"WorkerFunction": WORKER_TIMEOUT},
    # redelivered a few seconds after the kill; still longer than a healthy chunk takes here
    visibility_timeout_override={"ChunkQueue": WORKER_TIMEOUT + 2},
)


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)
    sandbox.clear_faults()
    sandbox.configure(search_lag_seconds=0.0)
    yield
    sandbox.clear_faults()
    pipeline.runtime.wait_idle(timeout=120)


def _hang_one_create_after_it_is_written(sandbox) -> None:
    # Intercom applies the create, then the answer never comes: the worker waits on it (read timeout 20 s)
    # until Lambda's timeout kills the environment, with the other thread's rows already written.
    sandbox.add_fault(method="POST", path="/contacts", kind="timeout", after_commit=True, delay_ms=60_000, times=1)


def _killed_invocations(pipeline, since: float) -> list:
    return [
        r
        for r in pipeline.runtime.invocations("WorkerFunction", source="sqs")
        if r.started_at >= since and r.error_message and "timed out" in r.error_message
    ]


@pytest.mark.parametrize(
    "role",
    [
        "user",
        "lead",
    ],
)
def test_chunk_killed_mid_way_is_finished_by_its_retry_without_duplicates(pipeline, sandbox, role):
    # users: the retry's creates get 409s naming the dead attempt's contacts; leads never conflict: the dead
    # attempt's claim in the identity ledger makes the retry wait for the search lag before it creates again
    sandbox.configure(search_lag_seconds=SEARCH_LAG)
    _hang_one_create_after_it_is_written(sandbox)
    rows = 30
    body = "email,name\n" + "".join(f"{role}{i}@example.com,Person {i}\n" for i in range(rows))
    started = time.time()

    job = pipeline.wait_done(pipeline.upload(f"incoming/killed-{role}.csv", body, role=role), timeout=120)

    assert _killed_invocations(pipeline, started), "the worker was never killed: the test injected nothing"
    contacts = sandbox.state()["contacts"]
    emails = [c["email"] for c in contacts]
    assert sorted(emails) == sorted(f"{role}{i}@example.com" for i in range(rows))  # each once
    assert {c["role"] for c in contacts} == {role}
    assert counts(job) == {"rows": rows, "created": rows, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert len(pipeline.emails_for(job["job_id"])) == 1


def test_rows_killed_mid_way_under_existing_skip_still_count_as_created(pipeline, sandbox):
    # existing=skip must not skip the contacts the dead attempt created: they are this import's creates
    pipeline.wait_done(pipeline.upload("incoming/killed-seed.csv", "email,name\nold@example.com,Old\n"))
    time.sleep(1.1)  # Intercom's created_at has whole seconds: the seed must be older than the chunk's second
    _hang_one_create_after_it_is_written(sandbox)
    body = "email,name\nold@example.com,Changed\n" + "".join(f"s{i}@example.com,S {i}\n" for i in range(20))
    started = time.time()

    job = pipeline.wait_done(pipeline.upload("incoming/killed-skip.csv", body, existing="skip"), timeout=120)

    assert _killed_invocations(pipeline, started)
    assert counts(job) == {"rows": 21, "created": 20, "updated": 0, "skipped": 1, "failed": 0, "invalid": 0}
    by_email = {c["email"]: c for c in sandbox.state()["contacts"]}
    assert len(by_email) == 21 and by_email["old@example.com"]["name"] == "Old"


def test_leads_without_email_or_external_id_are_recognised_by_the_retry_not_created_twice(pipeline, sandbox):
    # Intercom cannot match these rows and never answers 409 for a lead: the retry finds the leads the dead
    # attempt created (created since the chunk's first delivery, same name and phone) instead of creating more;
    # the one whose create it never heard back from it claimed in the identity ledger: the retry waits for the lag
    sandbox.configure(search_lag_seconds=SEARCH_LAG)
    _hang_one_create_after_it_is_written(sandbox)
    rows = 24
    body = "email,name,phone\n" + "".join(f",Visitor {i},+4420700{i:05d}\n" for i in range(rows))
    started = time.time()

    job = pipeline.wait_done(pipeline.upload("incoming/killed-anonymous.csv", body), timeout=120)

    assert _killed_invocations(pipeline, started), (job.get("status"), job.get("rejection"), sandbox.faults())
    contacts = sandbox.state()["contacts"]
    assert {c["role"] for c in contacts} == {"lead"}
    names = sorted(c["name"] for c in contacts)
    assert names == sorted(f"Visitor {i}" for i in range(rows))  # each once (the same phone and name twice in a
    # file is an in-file duplicate: tests/integration/test_cli_validate.py)
    assert counts(job) == {"rows": rows, "created": rows, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}


def test_users_the_dead_attempt_created_still_count_as_created_when_search_has_not_caught_up(pipeline, sandbox):
    # Intercom's search lag hides the dead attempt's contacts from the retry's search: its creates get 409s,
    # and the contact each 409 names is looked at before the row is counted
    sandbox.configure(search_lag_seconds=600.0)
    _hang_one_create_after_it_is_written(sandbox)
    rows = 20
    body = "email,name\n" + "".join(f"lag{i}@example.com,Lag {i}\n" for i in range(rows))
    started = time.time()

    job = pipeline.wait_done(pipeline.upload("incoming/killed-lag.csv", body), timeout=120)

    assert _killed_invocations(pipeline, started)
    assert sorted(c["email"] for c in sandbox.state()["contacts"]) == sorted(f"lag{i}@example.com" for i in range(rows))
    assert counts(job) == {"rows": rows, "created": rows, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
