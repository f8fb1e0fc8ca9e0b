"""Two imports uploaded together (issue #15): when each makes progress, when each ends, how close they end.

Run by ``bench/run.py`` (``--concurrent-rows``, ``--concurrent-runs``; part of ``make bench``, alone with
``make bench-concurrent``) on the pipeline's stack and sandbox: the same Intercom (its 10-second windows, its
limit, its latency per call) and the same stack settings as the pipeline runs. Each run starts in a fresh
rate-limit window with an empty workspace, uploads two people files of ``rows`` new contacts one right after the
other, and follows both jobs (every 50 ms) to their end. Measured from each file's own upload:

- ``queued``: every chunk of the job queued (validation and hand-over done);
- ``first chunk``: the job's first chunk recorded (``chunks_done`` > 0 on the job record): it makes progress;
- ``finished``: the job's status is terminal (its report is written; the email follows);
- ``other at first``: the other job's chunks done when this job's first chunk was recorded.

Per run: the later of the two first chunks (both have made progress), the finish ratio (later end over earlier
end) and the machine's load average at the upload; the first run of a stack pays the cold starts of the
environments a single import does not use (``cold``). The summary gives the median and the maximum over the runs.
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = "email,external_id,name,signed_up_at\n"
POLL_SECONDS = 0.05
TARGET_SECONDS = 10.0  # issue #15: both make progress within the first 10 seconds
LABELS = ("A", "B")


@dataclass
class ConcurrentJob:
    """One of the two imports of a run; times in seconds after its own upload."""

    label: str
    job_id: str
    uploaded_at: float  # epoch seconds
    queued: float | None = None
    first_chunk: float | None = None
    finished: float | None = None
    other_done_at_first: int | None = None
    status: str = ""
    chunks: int = 0


@dataclass
class ConcurrentRun:
    index: int
    rows: int
    load: tuple[float, float, float]
    """``os.getloadavg()`` at the upload (1, 5, 15 minutes)."""
    jobs: list[ConcurrentJob] = field(default_factory=list)
    cold_starts: int = 0
    """Environments started during the run (validator, workers, state machine steps)."""
    rate_limited: int = 0
    """429s the sandbox answered during the run."""

    @property
    def both_progress(self) -> float | None:
        """The later of the two first chunks: both imports have made progress."""
        firsts = [j.first_chunk for j in self.jobs]
        return None if any(f is None for f in firsts) else max(f for f in firsts if f is not None)

    @property
    def finish_ratio(self) -> float | None:
        ends = [j.finished for j in self.jobs]
        if any(e is None or e <= 0 for e in ends):
            return None
        return max(e for e in ends if e is not None) / min(e for e in ends if e is not None)


def write_people(path: Path, prefix: str, rows: int) -> Path:
    """A people file of ``rows`` contacts of their own (``prefix``), none of them in Intercom yet."""
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        out.writelines(
            f"{prefix}{i:07d}@example.com,{prefix}-{i:07d},{prefix} Person {i},2025-{1 + i % 12:02d}-{1 + i % 28:02d}\n"
            for i in range(rows)
        )
    return path


def run_concurrent(
    runtime: Any, sandbox: Any, window_seconds: float, workdir: Path, rows: int, runs: int, log: Any = print
) -> list[ConcurrentRun]:
    """``runs`` runs of two ``rows``-row imports uploaded together, on one stack."""
    results = []
    for index in range(runs):
        paths = [write_people(workdir / f"concurrent-{index}-{label}.csv", f"c{index}{label}", rows) for label in "ab"]
        runtime.wait_idle(timeout=300)
        _fresh_window(window_seconds)
        sandbox.fresh(0)
        result = _one_run(runtime, sandbox, index, rows, paths)
        results.append(result)
        log(run_line(result))
        for path in paths:
            path.unlink(missing_ok=True)
    return results


def _fresh_window(window_seconds: float) -> None:
    """Wait for the next rate-limit window: the run's first calls do not share a window with the last run's."""
    time.sleep(window_seconds - time.time() % window_seconds + 0.05)


def _one_run(runtime: Any, sandbox: Any, index: int, rows: int, paths: list[Path]) -> ConcurrentRun:
    from intercom_importer.jobs import TERMINAL

    result = ConcurrentRun(index=index, rows=rows, load=os.getloadavg())
    began = time.time()
    result.jobs = [_upload(runtime, label, path) for label, path in zip(LABELS, paths, strict=True)]
    deadline = time.monotonic() + 300 + rows / 10
    while time.monotonic() < deadline and not all(j.status in TERMINAL for j in result.jobs):
        records = [job_record(runtime, j.job_id) for j in result.jobs]
        now = time.time()
        for job, record, other in zip(result.jobs, records, reversed(records), strict=True):
            _observe(job, record, other, now - job.uploaded_at)
        time.sleep(POLL_SECONDS)
    if not all(j.status in TERMINAL for j in result.jobs):
        raise TimeoutError(f"run {index}: not both finished: {result.jobs}")
    result.cold_starts = sum(1 for r in runtime.invocations() if r.started_at >= began and r.cold_start)
    result.rate_limited = int(sandbox.stats().get("rate_limited", 0))
    return result


def _upload(runtime: Any, label: str, path: Path) -> ConcurrentJob:
    from intercom_importer.jobs import job_id_for

    bucket = runtime.outputs["ImportBucketName"]
    key = f"incoming/concurrent-{label}-{time.time_ns()}.csv"
    uploaded_at = time.time()
    with path.open("rb") as body:
        put = runtime.client("s3").put_object(Bucket=bucket, Key=key, Body=body)
    return ConcurrentJob(label, job_id_for(bucket, key, put.get("VersionId") or put.get("ETag")), uploaded_at)


def _observe(job: ConcurrentJob, record: dict[str, Any], other: dict[str, Any], elapsed: float) -> None:
    from intercom_importer.jobs import TERMINAL

    total, done = int(record.get("chunks_total") or 0), int(record.get("chunks_done") or 0)
    job.chunks = total
    if job.queued is None and total and int(record.get("chunks_queued") or 0) >= total:
        job.queued = elapsed
    if job.first_chunk is None and done > 0:
        job.first_chunk = elapsed
        job.other_done_at_first = int(other.get("chunks_done") or 0)
    status = str(record.get("status") or "")
    if status in TERMINAL and job.finished is None:
        job.finished = elapsed
    job.status = status


def job_record(runtime: Any, job_id: str) -> dict[str, Any]:
    """The job's record in the stack's jobs table, as plain JSON values (empty when there is none)."""
    from boto3.dynamodb.types import TypeDeserializer

    from intercom_importer.jobs import plain

    item = runtime.client("dynamodb").get_item(
        TableName=runtime.outputs["JobsTableName"],
        Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "META"}},
        ConsistentRead=True,
    )
    deserializer = TypeDeserializer()
    return plain({k: deserializer.deserialize(v) for k, v in (item.get("Item") or {}).items()})


# ------------------------------------------------------------------------------ output
COLUMNS = (
    "run",
    "load average",
    "cold starts",
    "queued (A, B)",
    "first chunk (A, B)",
    "other's chunks done then (A, B)",
    "finished (A, B)",
    "finish ratio",
)


def _pair(values: list[float | None], unit: str = " s") -> str:
    return ", ".join("n/a" if v is None else f"{v:.1f}{unit}" for v in values)


def run_line(run: ConcurrentRun) -> str:
    jobs = run.jobs
    ratio = run.finish_ratio
    return " | ".join(
        [
            f"{run.index + 1}",
            f"{run.load[0]:.2f}",
            str(run.cold_starts),
            _pair([j.queued for j in jobs]),
            _pair([j.first_chunk for j in jobs]),
            ", ".join(str(j.other_done_at_first) for j in jobs),
            _pair([j.finished for j in jobs]),
            "n/a" if ratio is None else f"{ratio:.3f}",
        ]
    )


def summary(runs: list[ConcurrentRun]) -> list[str]:
    """The median and maximum over the runs, and the issue's target."""
    both = [r.both_progress for r in runs]
    ratios = [r.finish_ratio for r in runs]
    if not runs or any(b is None for b in both) or any(r is None for r in ratios):
        return ["- a run did not finish both imports: no summary"]
    progress = [b for b in both if b is not None]
    finish = [r for r in ratios if r is not None]
    loads = [r.load[0] for r in runs]
    met = "met" if max(progress) <= TARGET_SECONDS else "**not met**"
    return [
        f"- both imports made progress (the later first chunk) after: median {statistics.median(progress):.1f} s, "
        f"max {max(progress):.1f} s over {len(runs)} runs (issue #15: within {TARGET_SECONDS:g} s: {met})",
        f"- finish ratio (later end over earlier end): median {statistics.median(finish):.3f}, max {max(finish):.3f}",
        f"- load average (1 min) at the uploads: {min(loads):.2f} to {max(loads):.2f}",
    ]


def table_head(columns: Sequence[str]) -> list[str]:
    """A markdown table's header and separator lines (the bench sections of docs/benchmarks.md)."""
    return ["| " + " | ".join(columns) + " |", "|" + "|".join("---" for _ in columns) + "|"]


def concurrent_markdown(runs: list[ConcurrentRun], command: str, started: str, machine: str, setup: str) -> str:
    rows = runs[0].rows if runs else 0
    lines = [
        f"Command: `{command}`  ",
        f"Run: {started}, on {machine}. {setup} Two files of {rows:,} new contacts each, uploaded one right after "
        "the other at the start of a fresh rate-limit window; times in seconds after each file's own upload.",
        "",
        *table_head(COLUMNS),
        *(f"| {run_line(r)} |" for r in runs),
        "",
        *summary(runs),
    ]
    return "\n".join(lines) + "\n"
