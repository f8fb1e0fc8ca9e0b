"""Rows a chunk finished before a retryable error are kept, and not run again on the retry."""

from __future__ import annotations

import functools

import pytest

from intercom_importer.errors import ChunkOutOfTimeError, IntercomAuthError, IntercomServerError
from intercom_importer.upsert import CREATED, ChunkContext, ChunkInterrupted, JobAbort, RowResult
from intercom_importer.upsert import pool as upsert  # the row pool's module: its ThreadPoolExecutor is simulated
from intercom_importer.upsert.pool import run_rows as _run_rows
from virtual_time import SimulatedExecutor, VirtualTime

pytestmark = pytest.mark.unit

ROWS = [{"line": line, "record": {}} for line in range(2, 12)]


def test_rows_finished_before_an_outage_travel_with_the_interruption():
    def one(row):
        if row["line"] == 7:
            raise IntercomServerError("503 after retries", status=503)
        return RowResult(row["line"], CREATED, f"c{row['line']}")

    with pytest.raises(ChunkInterrupted) as exc:
        _run_rows(ROWS, one, ChunkContext(existing="update", role="user"), threads=4)

    assert sorted(exc.value.done) == [2, 3, 4, 5, 6, 8, 9, 10, 11]
    assert isinstance(exc.value.cause, IntercomServerError)


def test_a_retry_runs_only_the_rows_not_done_and_keeps_the_earlier_results_in_order():
    done = {line: RowResult(line, CREATED, f"c{line}") for line in range(2, 11) if line != 7}
    ran = []

    def one(row):
        ran.append(row["line"])
        return RowResult(row["line"], CREATED, "new")

    results = _run_rows(ROWS, one, ChunkContext(existing="update", role="user", done=done), threads=4)

    assert sorted(ran) == [7, 11]
    assert [r.line for r in results] == list(range(2, 12))
    assert results[0].contact_id == "c2" and results[5].contact_id == "new"


@pytest.fixture
def vt(monkeypatch: pytest.MonkeyPatch) -> VirtualTime:
    """Virtual time, with the row pool's threads on it: a row's call to Intercom "takes" virtual seconds, so
    which rows are in flight together, and when, is decided by the code alone (not by the machine's load)."""
    clock = VirtualTime()
    monkeypatch.setattr(upsert, "ThreadPoolExecutor", functools.partial(SimulatedExecutor, clock))
    return clock


def run_rows_on(vt: VirtualTime, *args, **kwargs):
    """``_run_rows`` called from a simulated thread; its result (or error) once the simulation has ended."""
    outcome = {}

    def call() -> None:
        try:
            outcome["result"] = _run_rows(*args, **kwargs)
        except Exception as exc:
            outcome["error"] = exc

    vt.spawn(call, "chunk")
    vt.run(horizon=vt.clock() + 60)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


def test_no_row_starts_after_a_row_aborts_the_job(vt):
    rows = [{"line": line, "record": {}} for line in range(2, 102)]
    ran = []

    def one(row):
        ran.append(row["line"])
        if row["line"] == 5:
            raise JobAbort(IntercomAuthError("401", status=401))
        vt.sleep(0.1)  # a call to Intercom: line 5 is refused while lines 2-4 are in flight
        return RowResult(row["line"], CREATED, "c")

    with pytest.raises(JobAbort):
        run_rows_on(vt, rows, one, ChunkContext(existing="update", role="user"), threads=4)

    assert ran == [2, 3, 4, 5]  # the rows in flight on the other 3 threads finish; none starts after line 5


def test_rows_not_started_before_the_time_runs_out_wait_for_the_next_delivery(vt):
    rows = [{"line": line, "record": {}} for line in range(2, 42)]
    ran = []

    def one(row):
        ran.append(row["line"])
        vt.sleep(0.05)  # a call to Intercom
        return RowResult(row["line"], CREATED, f"c{row['line']}")

    ctx = ChunkContext(existing="update", role="user", start_rows_until=vt.clock() + 0.12)
    with pytest.raises(ChunkInterrupted) as exc:
        run_rows_on(vt, rows, one, ctx, threads=2, clock=vt.clock)

    # two threads start rows at 0, 0.05 and 0.10 s; at 0.15 s the time is up
    assert isinstance(exc.value.cause, ChunkOutOfTimeError)
    assert ran == [2, 3, 4, 5, 6, 7] and sorted(exc.value.done) == ran  # the finished rows travel with it
    assert "34 of the chunk's 40 rows were not started" in exc.value.cause.message
    retry = run_rows_on(
        vt, rows, one, ChunkContext(existing="update", role="user", done=exc.value.done), threads=2, clock=vt.clock
    )
    assert [r.line for r in retry] == list(range(2, 42)) and sorted(ran) == list(range(2, 42))


def test_a_redelivered_chunk_counts_contacts_created_since_its_first_delivery_as_its_own_creates():
    from intercom_importer.upsert.identity import created_by_earlier_attempt as _created_by_earlier_attempt

    retry = ChunkContext(existing="skip", role="user", redelivered_since=1_000.7)

    assert _created_by_earlier_attempt({"created_at": 1_000}, retry)  # same second (created_at is truncated)
    assert _created_by_earlier_attempt({"created_at": 1_005}, retry)
    assert not _created_by_earlier_attempt({"created_at": 999}, retry)
    assert not _created_by_earlier_attempt({}, retry)


def test_a_first_delivery_or_a_dry_run_never_claims_an_existing_contact_as_created():
    from intercom_importer.upsert.identity import created_by_earlier_attempt as _created_by_earlier_attempt

    assert not _created_by_earlier_attempt({"created_at": 2_000}, ChunkContext(existing="update", role="user"))
    dry = ChunkContext(existing="update", role="user", dry_run=True, redelivered_since=1_000.0)
    assert not _created_by_earlier_attempt({"created_at": 2_000}, dry)
