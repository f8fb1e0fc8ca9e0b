"""Two imports at once share the workers, as SQS fair queues make them on AWS (MessageGroupId = job id).

moto hands out messages in arrival order; the local runtime's poller interleaves the groups
(devtools/local_runtime/fair_share.py), so the second import does not wait for the first one's 20 chunks.
Behaviour only: how long it takes is measured by the benchmark (``make bench-concurrent``, docs/benchmarks.md).
"""

from __future__ import annotations

import time

import pytest

from pipeline_helpers import SECOND_STACK, counts, second_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(SECOND_STACK)]

sandbox, pipeline = second_stack_fixtures()  # one stack for the modules with the template's defaults

ROWS = 2_000  # 20 chunks of the template's 100 rows (the benchmark imports 3,000-row files)
CHUNKS = ROWS // 100
A_THIRD = 7  # chunks
# Measured (2 CPUs, 4 workers): interleaved, the first import did 2-5 chunks between the second's chunks being
# queued and the second's first chunk being recorded, and when the first recorded its last chunk the second had done
# 16-18 of 20; in arrival order (the pollers' lookahead 0): 20 of 20 and 0 of 20.


def test_an_import_queued_behind_anothers_backlog_progresses_at_once_and_both_finish_close_together(pipeline, sandbox):
    (workers,) = (p.concurrency for p in pipeline.runtime.pollers if p.mapping.function_logical_id == "WorkerFunction")
    uploaded = time.monotonic()
    first = pipeline.upload("incoming/fair-a.csv", _people("fair-a"))
    # the second file lands once all 20 chunks of the first are queued: in arrival order it would wait for them all
    _wait_queued(pipeline, first)
    jobs = [first, pipeline.upload("incoming/fair-b.csv", _people("fair-b"))]
    others_done_when_queued: dict[str, int] = {}  # when a job's first chunks were queued: the other's done
    others_done_at_first: dict[str, int] = {}  # when a job's first chunk was recorded: the other's done
    # when a job had done a third of its chunks since the other's were queued: the other's done (before the other is
    # queued there is nothing to share: under load the first import can do a third of its chunks before then)
    others_done_at_a_third: dict[str, int] = {}
    finished: dict[str, float] = {}
    others_done_at_finish: dict[str, int] = {}  # when a job's last chunk was recorded: the other's done

    deadline = uploaded + 90
    while len(finished) < len(jobs) and time.monotonic() < deadline:
        done = {job_id: pipeline.job(job_id) for job_id in jobs}
        elapsed = time.monotonic() - uploaded
        for job_id, job in done.items():
            (other,) = (j for j in jobs if j != job_id)
            others_done = done[other].get("chunks_done", 0)
            if job.get("chunks_queued", 0) > 0:
                others_done_when_queued.setdefault(job_id, others_done)
            if job.get("chunks_done", 0) > 0:
                others_done_at_first.setdefault(job_id, others_done)
            done_before_other = others_done_when_queued.get(other)  # this job's done when the other was queued
            if done_before_other is not None and job.get("chunks_done", 0) - done_before_other >= A_THIRD:
                others_done_at_a_third.setdefault(job_id, others_done)
            if job_id not in finished and job.get("status") == "completed":
                finished[job_id] = elapsed
            if job.get("chunks_done", 0) >= CHUNKS:
                others_done_at_finish.setdefault(job_id, others_done)
        time.sleep(0.1)

    assert len(finished) == 2, f"not both completed: {finished}"
    # once a job's chunks are queued it gets one of the next free workers: the other finishes the chunks it has in
    # flight (and a few started meanwhile) before this job's first chunk is recorded, not its backlog
    waited = {j[:12]: others_done_at_first[j] - others_done_when_queued[j] for j in jobs}
    assert all(n <= 2 * workers for n in waited.values()), f"the other's chunks done before the first: {waited}"
    # the second always gets there (the first was queued before it); the first, unless it was nearly done by then
    assert jobs[1] in others_done_at_a_third and all(others_done_at_a_third.values()), others_done_at_a_third
    # they end close together, counted in chunks, not seconds (a loaded machine stretches the last ones): when the
    # first recorded its last chunk, the other lacked at most its head start (2 x workers, above) and the chunks in
    # flight; in arrival order it would have done none
    first_done = min(others_done_at_finish.values())
    assert first_done >= CHUNKS - 3 * workers, (others_done_at_finish, finished)
    for job_id in jobs:
        assert counts(pipeline.wait_done(job_id))["created"] == ROWS


def _wait_queued(pipeline, job_id: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        job = pipeline.job(job_id)
        if job.get("chunks_total") and job.get("chunks_queued") == job["chunks_total"]:
            return
        time.sleep(0.05)
    raise AssertionError(f"the chunks of {job_id} were not queued in 30 s: {pipeline.job(job_id)}")


def _people(name: str) -> str:
    return "email,external_id,name\n" + "".join(f"{name}{i}@example.com,{name}-{i},P {i}\n" for i in range(ROWS))
