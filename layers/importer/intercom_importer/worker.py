"""One chunk message to recorded results, exactly once.

A chunk is recorded by a single DynamoDB transaction (chunk item + job counters), so a message SQS
delivers twice, or a retry after a crash, never counts twice. Rows Intercom refused are kept with
their original line and cells in ``work/<job>/results/<chunk>.json`` for the error file.
After recording, the worker that completes the job resumes the state machine (``SendTaskSuccess``).
"""

from __future__ import annotations

import functools
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, jobs, keys, observability
from intercom_importer.chunks import CHUNK_FORMAT
from intercom_importer.errors import UNAUTHORIZED_MESSAGE, ChunkFormatError, SettingsError
from intercom_importer.governor import DynamoDBGovernor, app_key, window_seconds_from_env
from intercom_importer.intercom import IntercomClient, build_client, resolve_base_url
from intercom_importer.mapping import PEOPLE
from intercom_importer.observability import logger
from intercom_importer.options import ImportOptions
from intercom_importer.ratelimit import RateLimiter
from intercom_importer.settings import Settings
from intercom_importer.upsert import FAILED, ChunkContext, ChunkInterrupted, JobAbort, RowResult, import_rows


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


def load_progress(s3: Any, bucket: str, job_id: str, index: int) -> dict[int, RowResult]:
    """Rows of this chunk that an earlier, interrupted attempt finished."""
    try:
        body = s3.get_object(Bucket=bucket, Key=keys.progress(job_id, index))["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return {}
        raise
    return {int(r["line"]): RowResult.from_dict(r) for r in json.loads(body)["rows"]}


def save_progress(s3: Any, bucket: str, job_id: str, index: int, done: Mapping[int, RowResult]) -> None:
    body = json.dumps({"job_id": job_id, "chunk": index, "rows": [r.to_dict() for r in done.values()]})
    s3.put_object(Bucket=bucket, Key=keys.progress(job_id, index), Body=body.encode(), ContentType="application/json")


def load_token(secret_arn: str, fetch: Any) -> str:
    """The token from the secret: the secret string itself, or JSON with ``access_token``/``token``."""
    raw = fetch(secret_arn)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SettingsError("The Intercom token secret is not valid JSON.") from exc
        text = str(data.get("access_token") or data.get("token") or "").strip()
    if not text:
        raise SettingsError("The Intercom token secret is empty: store the access token in it.")
    return text


@functools.cache
def limiter_for(calls_per_minute: int, jobs_table: str, app: str = "default") -> RateLimiter:
    """The pacer of this environment: one budget per Intercom app shared by every worker of every
    import through the jobs table (see ``governor.py``). Cached: all threads of a worker share it."""
    return DynamoDBGovernor.per_minute(
        aws.table(jobs_table), calls_per_minute, window_seconds=window_seconds_from_env(), app=app
    )


def intercom_client(settings: Settings, token: str) -> IntercomClient:
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    return build_client(
        token=token,
        base_url=base_url,
        limiter=limiter_for(settings.intercom_rate_limit_per_minute, settings.jobs_table, app_key(base_url, token)),
        pool_size=max(8, settings.worker_threads * 2),
    )


def process_chunk(
    body: str,
    *,
    settings: Settings,
    store: jobs.JobStore,
    s3: Any,
    sfn: Any,
    client_factory: Any,
    redelivered_since: float | None = None,
    remaining_ms: Callable[[], int] | None = None,
) -> str:
    """Import one chunk; returns what happened ("recorded", "duplicate", "aborted", "late").

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
    if job.get("status") in jobs.TERMINAL:
        # the job was reported (timed out as incomplete, or failed) before this chunk ran: its email listed
        # these rows as not imported, so writing them now would change Intercom behind the summary
        logger.warning("chunk of a job already reported; not imported", status=job.get("status"))
        return "late"
    chunk = json.loads(s3.get_object(Bucket=settings.import_bucket, Key=key)["Body"].read())
    rows: list[dict[str, Any]] = chunk["rows"]
    columns = job.get("columns") or []
    options = ImportOptions.from_dict(job["options"])
    started = time.monotonic()
    api_calls = 0
    abort = job.get("abort")
    outcome = "recorded"
    if abort:  # rows an earlier attempt of this chunk wrote count as they ended, the rest are not imported
        results = _aborted(rows, load_progress(s3, settings.import_bucket, job_id, index), abort)
        outcome = "aborted"
    else:
        mapping = options.mapping or {}
        ctx = ChunkContext(
            existing=options.existing,
            role=options.role,
            tags=options.tags,
            custom_types={c["target"]: c["type"] for c in columns if c.get("custom")},
            dry_run=options.dry_run,
            identity_trap=options.identity_trap,
            allow_resubscribe=bool(mapping.get("allow_resubscribe", False)),
            day_first=bool(mapping.get("day_first", True)),
            companies=_companies(s3, settings.import_bucket, job.get("companies_key") or ""),
            done=load_progress(s3, settings.import_bucket, job_id, index),
            redelivered_since=redelivered_since,
            start_rows_until=_row_start_deadline(remaining_ms),
        )
        client = client_factory()
        before = client.stats
        try:
            results = import_rows(
                client,
                job["import_type"],
                rows,
                ctx,
                scope=job_id,
                threads=settings.worker_threads,
                started_at=_epoch(job["created_at"]),
            )
            if options.dry_run:  # what the real import would spend: the search plus each row's writes
                searched = job["import_type"] == PEOPLE and any(
                    r["record"].get("email") or r["record"].get("external_id") for r in rows
                )  # a chunk of only `id` or anonymous rows makes no search
                api_calls = int(searched) + sum(r.calls for r in results)
            else:
                api_calls = client.stats.calls - before.calls
        except ChunkInterrupted as exc:
            # keep what finished, so the retry neither repeats nor miscounts those rows
            save_progress(s3, settings.import_bucket, job_id, index, {**ctx.done, **exc.done})
            raise exc.cause from exc
        except JobAbort as exc:
            abort = {
                "error": type(exc.cause).__name__,
                "message": exc.cause.message,
                "status": exc.cause.status,
            }
            store.update(job_id, {"abort": abort})
            logger.warning("import aborted by Intercom", error=abort["error"])
            results = _aborted(rows, {**ctx.done, **exc.done}, abort)
            outcome = "aborted"
        finally:
            observability.record_api_usage(job_id, before, client.stats)
    counts = Counter(r.outcome for r in results)
    failures = _failures(rows, results)
    stored = None
    if failures:
        stored = keys.result(job_id, index)
        s3.put_object(
            Bucket=settings.import_bucket,
            Key=stored,
            Body=json.dumps({"job_id": job_id, "chunk": index, "failures": failures}).encode(),
            ContentType="application/json",
        )
    if not store.record_chunk(
        job_id, index, counts, result_key=stored, source="worker", extra={"api_calls": api_calls}
    ):
        logger.info("chunk was recorded concurrently; this result is dropped")
        return "duplicate"
    seconds = time.monotonic() - started
    logger.info("chunk recorded", seconds=round(seconds, 3), outcomes=dict(counts))
    observability.record_chunk(job_id, counts, seconds=seconds, dry_run=options.dry_run)
    resume_if_complete(store, sfn, job_id)
    return outcome


ROW_START_MARGIN = 0.25  # of the invocation's time left: no row starts in it


def _row_start_deadline(remaining_ms: Callable[[], int] | None) -> float | None:
    if remaining_ms is None:
        return None
    left = remaining_ms() / 1000
    return time.monotonic() + left * (1 - ROW_START_MARGIN)


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
    chunk = json.loads(s3.get_object(Bucket=settings.import_bucket, Key=key)["Body"].read())
    rows = chunk["rows"]
    done = load_progress(s3, settings.import_bucket, job_id, index)  # rows an attempt did finish count as they ended
    results = [done.get(int(r["line"])) or RowResult(int(r["line"]), FAILED, error=reason) for r in rows]
    counts = Counter(r.outcome for r in results)
    stored = keys.result(job_id, index)
    s3.put_object(
        Bucket=settings.import_bucket,
        Key=stored,
        Body=json.dumps({"job_id": job_id, "chunk": index, "failures": _failures(rows, results)}).encode(),
        ContentType="application/json",
    )
    if not store.record_chunk(job_id, index, counts, result_key=stored, source="dead-letter"):
        return "duplicate"
    logger.warning("dead chunk recorded as failed", rows=len(rows))
    observability.record_dead_chunk(job_id, counts)
    resume_if_complete(store, sfn, job_id)
    return "recorded"


def resume_if_complete(store: jobs.JobStore, sfn: Any, job_id: str) -> bool:
    """If every chunk is recorded and the state machine is parked, resume it. Safe to call twice."""
    job = store.get(job_id)
    token = job.get("task_token")
    if not token or not jobs.is_complete(job):
        return False
    try:
        sfn.send_task_success(taskToken=token, output=json.dumps({"chunks_done": int(job["chunks_done"])}))
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in ("TaskTimedOut", "InvalidToken", "TaskDoesNotExist"):
            logger.info("state machine already resumed", code=code)
            return False
        raise
    logger.info("job complete; state machine resumed")
    return True


def _failures(rows: Sequence[Mapping[str, Any]], results: Sequence[RowResult]) -> list[dict[str, Any]]:
    return [
        {"line": res.line, "cells": row["cells"], "column": res.column, "error": res.error or ""}
        for row, res in zip(rows, results, strict=True)
        if res.outcome == FAILED
    ]


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


def client_from_settings(settings: Settings) -> IntercomClient:
    """The Intercom client of this environment, with the token read from Secrets Manager (cached 5 min)."""
    from aws_lambda_powertools.utilities import parameters

    token = load_token(settings.intercom_token_secret, lambda arn: parameters.get_secret(arn, max_age=300))
    return intercom_client(settings, token)
