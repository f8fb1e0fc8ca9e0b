"""Faults injected through the sandbox and the pipeline: every row accounted once, no duplicate contact, one email.

`Pipeline.wait_done` asserts the invariant (created + updated + unchanged + skipped + failed + invalid == rows) for
every job; each test adds what must hold in Intercom and in the email.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = "faults-token"


# Time is scaled: Intercom's 10-second rate-limit windows are 1 second here (the workers' governor and the
# sandbox alike), so a rate-limited import takes seconds, not minutes.
WINDOW = 1.0
# Longer than any chunk here takes (a few seconds at most, retries and 429 waits included) with a wide margin for
# a loaded machine, so a chunk is redelivered only after its attempt has ended; short enough that the outage
# test's redelivery comes quickly. On AWS it is 720 s against a 120 s worker timeout.
VISIBILITY = 12
# Intercom's search lag, scaled from minutes to seconds (the stack waits one second more before it looks for a lead
# whose create got no answer).
SEARCH_LAG = 1.0

sandbox, pipeline = pipeline_fixtures(
    TOKEN,
    parameters={"WorkerMaxConcurrency": "3", "IntercomSearchLagSeconds": str(SEARCH_LAG + 1)},
    function_env_overrides={"WorkerFunction": {"INTERCOM_RATE_WINDOW_SECONDS": str(WINDOW)}},
    visibility_timeout_override={"ChunkQueue": VISIBILITY},
)


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)
    sandbox.configure(token=TOKEN, rate_limit_per_window=None, window_seconds=WINDOW)
    yield
    sandbox.clear_faults()
    pipeline.runtime.wait_idle(timeout=120)  # nothing of this test may still run in the next one


def _users(n: int, prefix: str) -> str:
    return "email,external_id,name\n" + "".join(f"{prefix}{i}@example.com,{prefix}-{i},N {i}\n" for i in range(n))


def _no_duplicate_contacts(sandbox) -> None:
    contacts = sandbox.state()["contacts"]
    emails = [c["email"] for c in contacts if c.get("email")]
    assert len(emails) == len(set(emails))


def test_5xx_burst_is_retried_and_every_row_lands_once(pipeline, sandbox):
    sandbox.add_fault(method="POST", path="/contacts", status=503, times=3)
    sandbox.add_fault(method="POST", path="/contacts/search", status=502, times=2)
    job = pipeline.wait_done(pipeline.upload("incoming/x-5xx.csv", _users(30, "a")))

    assert counts(job) == {"rows": 30, "created": 30, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert len(sandbox.state()["contacts"]) == 30
    _no_duplicate_contacts(sandbox)
    assert len(pipeline.emails_for(job["job_id"])) == 1


def test_write_applied_but_answer_lost_creates_no_duplicate(pipeline, sandbox):
    # Intercom created the user, the connection died before the answer: the retry gets a 409 with the id of the
    # contact this import made (created since the lost attempt was sent), so the row is still a create.
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=2)
    job = pipeline.wait_done(pipeline.upload("incoming/x-lost.csv", _users(10, "b")))

    assert counts(job) == {"rows": 10, "created": 10, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert sorted(c["email"] for c in sandbox.state()["contacts"]) == sorted(f"b{i}@example.com" for i in range(10))
    assert sandbox.stats()["by_route"]["POST /contacts"]["reset"] == 2  # the faults did fire


def test_leads_whose_creates_fail_or_lose_their_answer_are_each_created_once(pipeline, sandbox):
    # Intercom never refuses a second lead: a lead's create is not repeated blindly. 4% of the creates answered 503
    # (not carried out), 4% carried out but answered 502, 1% carried out and never answered (the connection reset:
    # to the client the same as a call held past its 20 s read timeout, which the integration tests hold with a
    # short timeout; here it would outlast the scaled visibility timeout): their rows are set aside, the rest of
    # each chunk completes, and each chunk runs again once search shows what was created.
    sandbox.configure(search_lag_seconds=SEARCH_LAG)
    sandbox.add_fault(method="POST", path="/contacts", status=503, times=8)
    sandbox.add_fault(method="POST", path="/contacts", status=502, after_commit=True, times=8)
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=2)
    body = "email,name\n" + "".join(f"lead{i}@example.com,Lead {i}\n" for i in range(200))

    job = pipeline.wait_done(pipeline.upload("incoming/x-leads.csv", body, role="lead"), timeout=120)

    assert counts(job) == {"rows": 200, "created": 200, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    leads = sorted(c["email"] for c in sandbox.state()["contacts"])
    assert leads == sorted(f"lead{i}@example.com" for i in range(200))  # each once: none missing, none twice
    answered = sandbox.stats()["by_route"]["POST /contacts"]
    assert (answered["503"], answered["502"], answered["reset"]) == (8, 8, 2)  # the faults did fire
    # no chunk waited for the queue's visibility timeout: each worker sent its chunk again, delayed by the lag
    worker_log = pipeline.runtime.read_log("WorkerFunction").splitlines()
    set_aside = [line for line in worker_log if job["job_id"] in line and "rows set aside" in line]
    assert set_aside and not [line for line in worker_log if "Task timed out" in line]


def test_429_storm_fails_no_row(pipeline, sandbox):
    # Intercom's windows (scaled to WINDOW) with a small budget (40 calls, far below what 3 workers x 16 threads
    # ask for), plus 429s the headers did not announce (another app spending the workspace budget)
    sandbox.configure(rate_limit_per_window=40, window_seconds=WINDOW)
    sandbox.add_fault(method="POST", path="/contacts", status=429, times=2)
    job = pipeline.wait_done(pipeline.upload("incoming/x-429.csv", _users(150, "c")), timeout=120)

    # A 429 is a refusal: nothing was written. A chunk whose 429 budget ran out keeps the rows it finished
    # (worker.py saves them on ChunkInterrupted) and its retry creates only the rest: every row is a create.
    assert counts(job) == {"rows": 150, "created": 150, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert sorted(c["email"] for c in sandbox.state()["contacts"]) == sorted(f"c{i}@example.com" for i in range(150))
    # the storm happened, and cost no row: the 2 injected 429s and however many the rate-limit windows refused
    # (a number that depends on how the workers' calls fall into the windows: a bound is the behaviour)
    assert sandbox.stats()["by_status"].get("429", 0) >= 2


def test_plan_restriction_fails_the_job_with_the_reason(pipeline, sandbox):
    sandbox.add_fault(method="POST", path="/contacts/search", status=403, times=100)
    job = pipeline.wait_done(pipeline.upload("incoming/x-403.csv", _users(5, "d")))

    assert job["status"] == "failed"
    assert counts(job)["failed"] == 5
    text = pipeline.emails_for(job["job_id"])[0]["text"]
    assert "refused" in text
    assert sandbox.state()["contacts"] == []


def test_same_key_uploaded_again_is_a_new_import(pipeline, sandbox):
    first = pipeline.wait_done(pipeline.upload("incoming/x-again.csv", _users(3, "e")))
    second = pipeline.wait_done(pipeline.upload("incoming/x-again.csv", _users(3, "e")))

    assert first["job_id"] != second["job_id"]
    assert counts(first)["created"] == 3 and second["unchanged"] == 3  # the same rows: nothing to write
    assert len(pipeline.emails_for(first["job_id"])) == len(pipeline.emails_for(second["job_id"])) == 1


def test_two_imports_at_the_same_time_do_not_mix(pipeline, sandbox):
    ids: dict[str, str] = {}

    def upload(name: str, body: str) -> None:
        ids[name] = pipeline.upload(f"incoming/{name}.csv", body)

    threads = [
        threading.Thread(target=upload, args=("x-mix-a", _users(250, "f"))),
        threading.Thread(target=upload, args=("x-mix-b", _users(120, "g") + "bad-email,g-x,Bad\n")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    a = pipeline.wait_done(ids["x-mix-a"], timeout=120)
    b = pipeline.wait_done(ids["x-mix-b"], timeout=120)

    assert counts(a) == {"rows": 250, "created": 250, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert b["status"] == "rejected" and counts(b)["invalid"] == 1
    emails = {c["email"][0] for c in sandbox.state()["contacts"]}
    assert emails == {"f"}
    assert len(pipeline.emails_for(a["job_id"])) == len(pipeline.emails_for(b["job_id"])) == 1


def test_chunk_retried_after_an_outage_counts_every_row_exactly(pipeline, sandbox):
    # Every create of the first attempt fails past its retries (16 rows, one per worker thread, x 4 attempts),
    # so the chunk gives up and SQS delivers it again after the visibility timeout; the retry writes every row
    # once and counts it once.
    sandbox.add_fault(method="POST", path="/contacts", status=503, times=16 * 4)
    job = pipeline.wait_done(pipeline.upload("incoming/x-outage.csv", _users(16, "h")), timeout=VISIBILITY + 60)

    attempt = pipeline.ddb.get_item(
        TableName=pipeline.table, Key={"pk": {"S": f"JOB#{job['job_id']}"}, "sk": {"S": "ATTEMPT#000001"}}
    )
    assert attempt["Item"]["error"]["S"] == "IntercomServerError"  # the first attempt did give up
    assert counts(job) == {"rows": 16, "created": 16, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert len(sandbox.state()["contacts"]) == 16
    _no_duplicate_contacts(sandbox)


def test_token_refused_by_a_worker_aborts_the_job_and_the_other_chunks_write_nothing(pipeline, sandbox):
    # No company or custom-attribute columns: the validator makes no Intercom call, every 401 is a worker's.
    # Intercom starts refusing the token once the workers run: each chunk's search still answers, every
    # write is a 401 (README, Failure handling: "the job is aborted on the first 401, other chunks are not sent").
    sandbox.add_fault(method="POST", path="/contacts", status=401, times=100_000)
    job = pipeline.wait_done(pipeline.upload("incoming/x-401.csv", _users(600, "t")))  # 6 chunks of 100 rows

    assert job["status"] == "failed"
    assert counts(job) == {"rows": 600, "created": 0, "updated": 0, "skipped": 0, "failed": 600, "invalid": 0}
    assert int(job["chunks_total"]) == 6
    emails = pipeline.emails_for(job["job_id"])
    assert len(emails) == 1
    assert "access token" in emails[0]["text"]
    stats = sandbox.stats()["by_route"]
    searches = sum(stats.get("POST /contacts/search", {}).values())
    writes = sum(n for route, by in stats.items() if route != "POST /contacts/search" for n in by.values())
    # At most 3 chunks run at once (WorkerMaxConcurrency) and each one ends by recording the abort, so a
    # chunk started after that reads it and calls Intercom not even once.
    assert 1 <= searches <= 3
    # A chunk that had started stops at its first 401: only the rows already in flight on its threads
    # (WorkerThreads 16) are sent, not the rest of its 100 rows.
    assert 1 <= writes <= 3 * 16, stats
    assert sandbox.state()["contacts"] == []
