"""One chunk message to recorded results, exactly once.

A chunk is recorded by a single DynamoDB transaction (chunk item + job counters), so a message SQS
delivers twice, or a retry after a crash, never counts twice. Rows Intercom refused are kept with
their original line and cells for the error file, and what the rows changed in the change log, under keys of the
delivery's own that the chunk record names (``chunk_outputs.py``): a delivery that loses the record deletes them.
After recording, the worker that completes the job resumes the state machine (``SendTaskSuccess``).
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, jobs, measured, observability
from intercom_importer.chunk_outputs import ChunkOutputs
from intercom_importer.chunks import CHUNK_FORMAT, ChunkBody, chunk_message
from intercom_importer.errors import (
    UNAUTHORIZED_MESSAGE,
    ChunkFormatError,
    IntercomAuthError,
    IntercomForbiddenError,
    LeadCreateUncertainError,
)
from intercom_importer.intercom import IntercomClient
from intercom_importer.job_record import Job
from intercom_importer.ledger import IdentityLedger
from intercom_importer.mapping import PEOPLE
from intercom_importer.observability import logger
from intercom_importer.options import ImportOptions
from intercom_importer.progress import Progress, load_progress, read_progress, save_progress
from intercom_importer.settings import Settings
from intercom_importer.upsert import (
    FAILED,
    ChunkContext,
    ChunkInterrupted,
    ChunkSetAside,
    JobAbort,
    RowResult,
    import_rows,
)
from intercom_importer.upsert.known import searched

ROW_START_MARGIN = 0.25  # of the invocation's time left: no row starts in it
MAX_SQS_DELAY = 900  # seconds: the longest DelaySeconds SQS takes
SET_ASIDE = "set-aside"  # what a delivery whose chunk runs again later returns
MAX_SET_ASIDE_ROUNDS = 5  # then rows still set aside go the way of any failing chunk (retries, dead-letter queue)


def parse_message(body: str) -> tuple[str, int, str]:
    try:
        message = json.loads(body)
        if message.get("v") != CHUNK_FORMAT:
            raise ValueError(f"format version {message.get('v')!r}")
        return str(message["job_id"]), int(message["chunk"]), str(message["key"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ChunkFormatError(f"Not a chunk message of this importer ({exc}).") from exc


@functools.lru_cache(maxsize=8)
def _companies(s3: Any, bucket: str, key: str) -> dict[str, str]:
    """The import's ``company_id -> Intercom id`` map written by the validator (cached per job)."""
    if not key:
        return {}
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass(frozen=True)
class _Chunk:
    """A chunk to run, with what running it needs from its job and what earlier attempts of it did."""

    body: ChunkBody
    job: Job
    options: ImportOptions
    progress: Progress

    @property
    def job_id(self) -> str:
        return self.body.job_id

    @property
    def index(self) -> int:
        return self.body.index

    @property
    def rows(self) -> list[dict[str, Any]]:
        return self.body.rows


@dataclass(frozen=True)
class _Ran:
    """What running a chunk gave: one result per row, "recorded" or "aborted", and the Intercom calls spent."""

    results: list[RowResult]
    outcome: str
    api_calls: int = 0


def process_chunk(
    body: str,
    *,
    settings: Settings,
    store: jobs.JobStore,
    s3: Any,
    sfn: Any,
    client_factory: Callable[[], IntercomClient],
    redelivered_since: float | None = None,
    remaining_ms: Callable[[], int] | None = None,
    sqs: Any = None,
) -> str:
    """Import one chunk; returns what happened ("recorded", "duplicate", "aborted", "late", or "set-aside": rows
    whose create's outcome is unknown wait for the chunk's next delivery, sent through ``sqs``, delayed by the
    search lag).

    ``client_factory()`` returns the Intercom client (called only when Intercom is needed).
    ``redelivered_since``: for a message SQS delivers again, when its first delivery was received
    (epoch seconds); see ``ChunkContext.redelivered_since``.
    ``remaining_ms``: the invocation's time left; no row starts in its last ``ROW_START_MARGIN`` (a row's
    calls, 429 waits included, must end before the timeout), the rest wait for the next delivery.
    Retryable errors propagate so SQS delivers the chunk again.
    """
    job_id, index, key = parse_message(body)
    observability.bind_job(job_id, chunk=index)
    if store.is_chunk_recorded(job_id, index):
        logger.info("chunk already recorded; duplicate delivery ignored")
        # A previous attempt may have recorded the chunk and died before resuming the job.
        resume_if_complete(store, sfn, job_id)
        return "duplicate"
    job = store.get(job_id)
    if job.status in jobs.TERMINAL:
        # the job was reported (timed out as incomplete, or failed) before this chunk ran: its email listed
        # these rows as not imported, so writing them now would change Intercom behind the summary
        logger.warning("chunk of a job already reported; not imported", status=job.status)
        return "late"
    chunk = _Chunk(
        _read_chunk(s3, settings.import_bucket, key, job_id, index),
        job,
        ImportOptions.from_dict(job.options),
        read_progress(s3, settings.import_bucket, job_id, index),
    )
    started = time.monotonic()
    abort = job.abort
    if abort:  # rows an earlier attempt of this chunk wrote count as they ended, the rest are not imported
        ran = _Ran(_aborted(chunk.rows, chunk.progress.done, abort), "aborted")
    else:
        ctx = _context(chunk, settings, s3, redelivered_since, remaining_ms)
        ran = _run(chunk, ctx, settings, store, s3, client_factory, sqs)
    if ran.outcome == SET_ASIDE:
        return SET_ASIDE
    if not _record(chunk, ran, settings, store, s3, started):
        return "duplicate"
    resume_if_complete(store, sfn, job_id)
    return ran.outcome


def _read_chunk(s3: Any, bucket: str, key: str, job_id: str, index: int) -> ChunkBody:
    return ChunkBody.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), job_id=job_id, index=index)


def _context(
    chunk: _Chunk, settings: Settings, s3: Any, redelivered_since: float | None, remaining_ms: Callable[[], int] | None
) -> ChunkContext:
    """What every row of the chunk is run with: the job's options, its companies, the rows done before."""
    options = chunk.options
    mapping = options.mapping or {}
    columns = chunk.job.columns
    progress = chunk.progress
    return ChunkContext(
        existing=options.existing,
        role=options.role,
        tags=options.tags,
        custom_types={c["target"]: c["type"] for c in columns if c.get("custom")},
        dry_run=options.dry_run,
        identity_trap=options.identity_trap,
        allow_resubscribe=bool(mapping.get("allow_resubscribe", False)),
        day_first=bool(mapping.get("day_first", True)),
        companies=_companies(s3, settings.import_bucket, chunk.job.companies_key),
        tag_ids={str(k): str(v) for k, v in chunk.job.tag_ids.items()},
        done=progress.done,
        uncertain=progress.uncertain,
        redelivered_since=redelivered_since,
        start_rows_until=_row_start_deadline(remaining_ms),
    )


def _row_start_deadline(remaining_ms: Callable[[], int] | None) -> float | None:
    if remaining_ms is None:
        return None
    left = remaining_ms() / 1000
    return time.monotonic() + left * (1 - ROW_START_MARGIN)


def _run(
    chunk: _Chunk,
    ctx: ChunkContext,
    settings: Settings,
    store: jobs.JobStore,
    s3: Any,
    client_factory: Callable[[], IntercomClient],
    sqs: Any = None,
) -> _Ran:
    """Upsert the chunk's rows. An interruption saves the rows done and raises its cause (SQS delivers the
    chunk again); rows set aside are saved and the chunk sent again after the search lag (``_check_again``);
    Intercom refusing the job aborts it (``_abort_job``)."""
    client = client_factory()
    try:  # the workspace's ledger and search lag: GET /me once per environment, not counted as the chunk's
        workspace = _workspace(client)
        ctx = replace(
            ctx,
            ledger=_ledger(settings, workspace),
            job_id=chunk.job_id,
            search_lag_seconds=measured.search_lag_seconds(
                store.table, workspace, default=settings.intercom_search_lag_seconds
            ),
        )
    except JobAbort as exc:
        return _abort_job(chunk, store, exc, ctx.done)
    before = client.stats
    try:
        results = import_rows(
            client,
            chunk.job.import_type or "",
            chunk.rows,
            ctx,
            scope=chunk.job_id,
            threads=settings.worker_threads,
            started_at=_epoch(chunk.job.created_at),
        )
        return _Ran(results, "recorded", _api_calls(chunk, client.stats.calls - before.calls, results))
    except ChunkSetAside as exc:
        # the rest of the chunk is done: the rows set aside are looked for again once search can show them
        uncertain = _earliest(ctx.uncertain, exc.uncertain)
        rounds = chunk.progress.rounds + 1
        done = {**ctx.done, **exc.done}
        save_progress(s3, settings.import_bucket, chunk.job_id, chunk.index, done, uncertain, rounds)
        if rounds > MAX_SET_ASIDE_ROUNDS:  # Intercom keeps failing these creates: SQS's retries, then the DLQ
            raise LeadCreateUncertainError(
                f"{len(exc.uncertain)} lead create(s) still had no answer after {MAX_SET_ASIDE_ROUNDS} checks: "
                "Intercom kept failing them; the chunk is retried, and its rows count failed if it keeps failing"
            ) from exc
        _check_again(chunk, ctx.search_lag_seconds, settings, sqs, exc.uncertain)
        return _Ran([], SET_ASIDE)
    except ChunkInterrupted as exc:
        # keep what finished, so the retry neither repeats nor miscounts those rows
        uncertain = _earliest(ctx.uncertain, exc.uncertain)
        save_progress(s3, settings.import_bucket, chunk.job_id, chunk.index, {**ctx.done, **exc.done}, uncertain)
        raise exc.cause from exc
    except JobAbort as exc:
        return _abort_job(chunk, store, exc, {**ctx.done, **exc.done})
    finally:
        observability.record_api_usage(chunk.job_id, before, client.stats)


def _earliest(*uncertain: Mapping[int, float]) -> dict[int, float]:
    """The rows set aside, each with its earliest create: a contact created since then may be any of them."""
    merged: dict[int, float] = {}
    for rows in uncertain:
        for line, since in rows.items():
            merged[line] = min(since, merged.get(line, since))
    return merged


def _check_again(
    chunk: _Chunk, search_lag: float, settings: Settings, sqs: Any, uncertain: Mapping[int, float]
) -> None:
    """Deliver the chunk again once Intercom's search shows what the set-aside creates made: ``search_lag`` (the
    chunk's: measured, or the stack's parameter; ``measured.py``) after the earliest was sent (SQS delays a message
    15 minutes at most). Its finished rows are kept in its progress; this delivery ends."""
    ready_at = min(uncertain.values()) + search_lag
    delay = max(0, min(MAX_SQS_DELAY, math.ceil(ready_at - time.time())))
    (sqs or aws.client("sqs")).send_message(
        QueueUrl=settings.chunk_queue_url, MessageBody=chunk_message(chunk.job_id, chunk.index), DelaySeconds=delay
    )
    logger.info(
        "rows set aside: their create's outcome is unknown; the chunk runs again", rows=len(uncertain), delay=delay
    )


def _workspace(client: IntercomClient) -> str:
    """The client's Intercom workspace (asked once per environment)."""
    try:
        return client.workspace_id()
    except (IntercomAuthError, IntercomForbiddenError) as exc:  # the token is refused: no row can be written
        raise JobAbort(exc) from exc


def _ledger(settings: Settings, workspace: str) -> IdentityLedger | None:
    """The identity ledger of the workspace (None: the stack has none)."""
    if not settings.identity_ledger_table:
        return None
    return IdentityLedger(
        aws.table(settings.identity_ledger_table), workspace, ttl_days=settings.identity_ledger_ttl_days
    )


def _api_calls(chunk: _Chunk, made: int, results: Sequence[RowResult]) -> int:
    """The Intercom calls the chunk spent: those ``made``, or in a dry run, those the real import would make
    (the search plus each row's writes)."""
    if not chunk.options.dry_run:
        return made
    # a chunk of only `id` rows, or of rows Intercom cannot match, makes no search
    search = chunk.job.import_type == PEOPLE and searched([r["record"] for r in chunk.rows])
    return int(search) + sum(r.calls for r in results)


def _abort_job(chunk: _Chunk, store: jobs.JobStore, exc: JobAbort, done: Mapping[int, RowResult]) -> _Ran:
    """Mark the job aborted (its other chunks do not call Intercom): the rows done count as they ended, the
    rest of the chunk fails with the reason."""
    abort = {
        "error": type(exc.cause).__name__,
        "message": exc.cause.message,
        "status": exc.cause.status,
    }
    store.update(chunk.job_id, {"abort": abort})
    logger.warning("import aborted by Intercom", error=abort["error"])
    return _Ran(_aborted(chunk.rows, done, abort), "aborted")


def _record(chunk: _Chunk, ran: _Ran, settings: Settings, store: jobs.JobStore, s3: Any, started: float) -> bool:
    """Write the chunk's change log and failed rows under this delivery's keys, and record its counts with them
    once; ``False`` if another delivery recorded it (this one's objects are deleted)."""
    counts = _counts(ran.results)
    outputs = ChunkOutputs.write(
        s3,
        settings.import_bucket,
        chunk.rows,
        ran.results,
        job_id=chunk.job_id,
        index=chunk.index,
        log_changes=not chunk.options.dry_run,
    )
    if not outputs.record(store, s3, counts, source="worker", extra={"api_calls": ran.api_calls}):
        logger.info("chunk was recorded concurrently; this result is dropped", attempt=outputs.attempt)
        return False
    seconds = time.monotonic() - started
    logger.info("chunk recorded", seconds=round(seconds, 3), outcomes=dict(counts), attempt=outputs.attempt)
    observability.record_chunk(chunk.job_id, counts, seconds=seconds, dry_run=chunk.options.dry_run)
    return True


def record_dead_chunk(body: str, *, settings: Settings, store: jobs.JobStore, s3: Any, sfn: Any) -> str:
    """A chunk exhausted its retries: count its rows as failed, with the last error, so the job completes."""
    job_id, index, key = parse_message(body)
    observability.bind_job(job_id, chunk=index)
    if store.is_chunk_recorded(job_id, index):
        resume_if_complete(store, sfn, job_id)
        return "duplicate"
    last = store.chunk_error(job_id, index) or {}
    reason = (
        f"not imported: the chunk failed {int(last.get('attempts', 0)) or 'several'} times "
        f"({last.get('message') or 'the worker did not finish in time'}); some of its rows may have been "
        "written to Intercom before the failure. Upload these rows again to retry them."
    )
    rows = _read_chunk(s3, settings.import_bucket, key, job_id, index).rows
    done = load_progress(s3, settings.import_bucket, job_id, index)  # rows an attempt did finish count as they ended
    results = [done.get(int(r["line"])) or RowResult(int(r["line"]), FAILED, error=reason) for r in rows]
    counts = _counts(results)
    outputs = ChunkOutputs.write(
        s3, settings.import_bucket, rows, results, job_id=job_id, index=index, log_changes=True
    )
    if not outputs.record(store, s3, counts, source="dead-letter"):
        logger.info("chunk was recorded concurrently; the dead letter is dropped", attempt=outputs.attempt)
        return "duplicate"
    logger.warning("dead chunk recorded as failed", rows=len(rows))
    observability.record_dead_chunk(job_id, counts)
    resume_if_complete(store, sfn, job_id)
    return "recorded"


def resume_if_complete(store: jobs.JobStore, sfn: Any, job_id: str) -> bool:
    """If every chunk is recorded and the state machine is parked, resume it. Safe to call twice."""
    job = store.get(job_id)
    token = job.task_token
    if not token or not jobs.is_complete(job):
        return False
    try:
        sfn.send_task_success(taskToken=token, output=json.dumps({"chunks_done": job.chunks_done}))
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            logger.info("state machine already resumed", code=code)
            return False
        raise
    logger.info("job complete; state machine resumed")
    return True


def _counts(results: Sequence[RowResult]) -> Counter[str]:
    """The rows by outcome, keyed by the outcome's name (the job's counter)."""
    return Counter(str(r.outcome) for r in results)


def _aborted(
    rows: Sequence[Mapping[str, Any]], done: Mapping[int, RowResult], abort: Mapping[str, Any]
) -> list[RowResult]:
    """The results of a chunk of an aborted job: the rows written before the abort as they ended (they are in
    Intercom), every other row failed with the reason."""
    return [done.get(int(r["line"])) or RowResult(int(r["line"]), FAILED, error=_abort_text(abort)) for r in rows]


def _abort_text(abort: Mapping[str, Any]) -> str:
    if abort.get("error") == "IntercomAuthError":
        return f"not imported: {UNAUTHORIZED_MESSAGE}"
    if abort.get("error") == "IntercomForbiddenError":
        return f"not imported: Intercom refused access (403: {abort.get('message')}). Check the app's permissions."
    return f"not imported: the import was stopped ({abort.get('message')})."


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
