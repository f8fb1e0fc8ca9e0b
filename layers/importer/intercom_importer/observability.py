"""Logger, Tracer and Metrics shared by every function (Powertools; configured from the environment).

Metrics are CloudWatch embedded metric format (EMF) lines that ``@metrics.log_metrics`` prints when a
handler returns. Namespace: ``POWERTOOLS_METRICS_NAMESPACE`` (the template's ``MetricsNamespace``
parameter); one dimension, ``service`` (``POWERTOOLS_SERVICE_NAME``, ``intercom-importer-<Stage>``), so
the numbers stay low-cardinality and each stage has its own series. Job ids go into the EMF
metadata (``job_ids``), searchable in the logs but never a dimension. The names below are the contract
with the dashboard and alarms in ``template.yaml`` (``tests/static/test_template_observability.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

from intercom_importer.job_record import Job

logger = Logger()
tracer = Tracer()
metrics = Metrics()

# Rows by outcome: per chunk as the worker or the dead-letter handler records it (created, updated,
# unchanged, skipped, failed), and per job at report time (invalid, counted by the validator). Dry runs
# write nothing and are not counted.
ROW_METRICS: Mapping[str, str] = {
    "created": "RowsCreated",
    "updated": "RowsUpdated",
    "unchanged": "RowsUnchanged",  # Intercom already held every value of the row: nothing was written
    "skipped": "RowsSkipped",
    "failed": "RowsFailed",
    "invalid": "RowsInvalid",
}
CHUNK_ROW_OUTCOMES = ("created", "updated", "unchanged", "skipped", "failed")
API_CALLS = "IntercomApiCalls"  # HTTP attempts the workers made to Intercom, retries included
RATE_LIMITED = "IntercomRateLimited"  # 429 responses
RETRIES = "IntercomRetries"  # attempts repeated after a 429, a 5xx, a timeout or a connection error
CHUNK_DURATION = "ChunkDuration"  # seconds from reading a chunk to recording its result
CHUNKS_DEAD_LETTERED = "ChunksDeadLettered"  # chunks that exhausted their retries (rows counted failed)
IMPORT_DURATION = "ImportDuration"  # seconds from the upload's job record to the report
# Jobs by final status: each report adds 1 to its status and 0 to the others (no gaps in the series).
JOB_METRICS: Mapping[str, str] = {
    "completed": "JobsCompleted",
    "completed_with_errors": "JobsCompletedWithErrors",
    "rejected": "JobsRejected",
    "failed": "JobsFailed",
    "incomplete": "JobsIncomplete",
}
# Hourly partner check (functions/check_partners): partners whose expected upload is late, and partners
# whose stored settings no longer validate (their uploads would be rejected).
OVERDUE_PARTNERS = "OverduePartners"
INVALID_PARTNER_SETTINGS = "InvalidPartnerSettings"
ALL_METRICS = (
    *ROW_METRICS.values(),
    API_CALLS,
    RATE_LIMITED,
    RETRIES,
    CHUNK_DURATION,
    CHUNKS_DEAD_LETTERED,
    IMPORT_DURATION,
    *JOB_METRICS.values(),
    OVERDUE_PARTNERS,
    INVALID_PARTNER_SETTINGS,
)


def bind_job(job_id: str, **keys: object) -> None:
    """Every later log line of this invocation carries the job id, as a key and as Powertools'
    correlation id (one CloudWatch Logs Insights query follows a job through all its functions)."""
    logger.append_keys(job_id=job_id, **keys)
    logger.set_correlation_id(job_id)


def _ready(job_id: str) -> bool:
    """Note the job in the metadata; False (and a warning) when no namespace is configured, so a
    monitoring misconfiguration can never fail an import (Powertools would raise when flushing)."""
    if not metrics.namespace:
        logger.warning("metrics not emitted: POWERTOOLS_METRICS_NAMESPACE is not set")
        return False
    job_ids = list(metrics.metadata_set.get("job_ids", []))
    if job_id not in job_ids:
        job_ids.append(job_id)
        metrics.add_metadata(key="job_ids", value=job_ids)
    return True


def _count(name: str, value: float) -> None:
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)


def record_chunk(job_id: str, counts: Mapping[str, int], *, seconds: float, dry_run: bool = False) -> None:
    """A chunk the worker recorded: its rows by outcome (unless a dry run) and its duration."""
    if not _ready(job_id):
        return
    if not dry_run:
        _rows(counts)
    metrics.add_metric(name=CHUNK_DURATION, unit=MetricUnit.Seconds, value=round(seconds, 3))


def record_dead_chunk(job_id: str, counts: Mapping[str, int]) -> None:
    """A chunk the dead-letter handler recorded: its rows by outcome (unfinished rows count failed)."""
    if not _ready(job_id):
        return
    _rows(counts)
    _count(CHUNKS_DEAD_LETTERED, 1)


def _rows(counts: Mapping[str, int]) -> None:
    for outcome in CHUNK_ROW_OUTCOMES:
        _count(ROW_METRICS[outcome], int(counts.get(outcome, 0)))


def record_api_usage(job_id: str, before: Any, after: Any) -> None:
    """Intercom calls, 429s and retries between two ``IntercomClient.stats`` snapshots."""
    if not _ready(job_id):
        return
    _count(API_CALLS, after.calls - before.calls)
    _count(RATE_LIMITED, after.by_status.get(429, 0) - before.by_status.get(429, 0))
    _count(RETRIES, (after.retries + after.rate_limited_waits) - (before.retries + before.rate_limited_waits))


def record_job_finished(job: Job, status: str) -> None:
    """At report time: the job's final status, its duration and its invalid rows."""
    if not _ready(job.job_id):
        return
    for name, metric in JOB_METRICS.items():
        _count(metric, 1 if name == status else 0)
    if job.duration_seconds is not None:
        metrics.add_metric(name=IMPORT_DURATION, unit=MetricUnit.Seconds, value=float(job.duration_seconds))
    if not job.dry_run:
        _count(ROW_METRICS["invalid"], job.invalid)
