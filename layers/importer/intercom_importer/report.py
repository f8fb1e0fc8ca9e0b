"""The end of a job: final status, the error file, the summary email's content.

The error file holds every invalid and failed row exactly as it was in the input, plus
``error_line``, ``error_column`` and ``error``, and a last column whose header names the import
(``import job-<id>``): fix the rows and upload the file again, under any name, to import just those rows with
that import's settings, mapping and tags (the validator ignores the error columns). Cells a spreadsheet would execute
(starting with ``= + - @``, tab or CR) are prefixed with ``'``; the validator removes that prefix again
on re-upload.
"""

from __future__ import annotations

import csv
import heapq
import io
import json
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from intercom_importer import aws, jobs, keys
from intercom_importer.chunks import ChunkBody
from intercom_importer.errors import UNAUTHORIZED_MESSAGE, ReportWriteError
from intercom_importer.job_record import Job
from intercom_importer.mapping import ERROR_COLUMNS, import_column
from intercom_importer.observability import logger, record_job_finished
from intercom_importer.schema import FORMULA_PREFIXES
from intercom_importer.settings import Settings
from intercom_importer.summary import UNFINISHED_SHOWN, FailureGroups, dry_run_estimate, render_email


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text (``schema.restore_cell`` undoes it)."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


def unaccounted_rows(job: Job) -> int:
    """Data rows not (yet) counted as created, updated, unchanged, skipped, failed or invalid."""
    counts = job.row_counts()
    return counts.pop("rows") - sum(counts.values())


def final_status(job: Job, execution_input: Mapping[str, Any]) -> tuple[str, str | None]:
    """The job's final status and, when it did not complete normally, the reason in plain words."""
    if job.status == jobs.REJECTED:
        return jobs.REJECTED, job.rejection or "The file was rejected."
    if job.status == jobs.FAILED:
        return jobs.FAILED, str(job.failure.get("message") or "The import failed.")
    if job.abort:
        if job.abort.get("error") == "IntercomAuthError":
            return jobs.FAILED, UNAUTHORIZED_MESSAGE
        return jobs.FAILED, f"Intercom refused the import: {job.abort.get('message')}"
    if execution_input.get("incomplete"):
        missing = job.chunks_total - job.chunks_done
        return jobs.INCOMPLETE, (
            f"{missing} of {job.chunks_total} chunks did not finish before the job timeout; their rows "
            "are not counted as imported. The error file lists the rows that were reported."
        )
    error = execution_input.get("error")
    if error:
        return jobs.FAILED, f"A step of the import failed ({error.get('Error', 'error')}): {_cause(error)}"
    if job.failed or job.invalid:
        return jobs.COMPLETED_WITH_ERRORS, None
    return jobs.COMPLETED, None


def _cause(error: Mapping[str, Any]) -> str:
    cause = error.get("Cause") or ""
    try:
        parsed = json.loads(cause)
        return str(parsed.get("errorMessage") or cause)[:500]
    except (ValueError, AttributeError):
        return str(cause)[:500]


def _invalid_rows(s3: Any, bucket: str, key: str) -> Iterator[tuple[int, list[str], str, str]]:
    if not key:
        return
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    for raw in body.iter_lines():
        if not raw:
            continue
        entry = json.loads(raw)
        problems = entry["problems"]
        columns = ", ".join(sorted({p["column"] for p in problems if p["column"]}))
        message = "; ".join(
            (f"{p['column']}: " if p["column"] else "") + (f"'{p['value']}' " if p["value"] else "") + p["message"]
            for p in problems
        )
        yield int(entry["line"]), entry["cells"], columns, message


def _failed_rows(s3: Any, bucket: str, store: jobs.JobStore, job_id: str) -> Iterator[tuple[int, list[str], str, str]]:
    """The failed rows of the recorded chunks: those of the delivery that recorded each (its record names them; a
    losing delivery's are never read)."""
    for chunk in store.chunk_records(job_id):
        if not chunk.result_key:
            continue
        data = json.loads(s3.get_object(Bucket=bucket, Key=chunk.result_key)["Body"].read())
        for failure in data["failures"]:
            yield int(failure["line"]), failure["cells"], failure.get("column", ""), failure["error"]


def write_error_file(s3: Any, settings: Settings, store: jobs.JobStore, job: Job) -> tuple[str, list]:
    """Write the error CSV; returns its key and the failed rows grouped by problem, for the email (the
    invalid rows' groups are on the job already). S3 failing raises ``ReportWriteError``, which the state
    machine retries."""
    try:
        return _write_error_file(s3, settings, store, job)
    except (ClientError, BotoCoreError) as exc:
        raise ReportWriteError(f"The error file of job {job.job_id} could not be written to S3: {exc}") from exc


def _write_error_file(s3: Any, settings: Settings, store: jobs.JobStore, job: Job) -> tuple[str, list]:
    job_id = job.job_id
    header = list(job.header)
    rows = heapq.merge(
        ((*r, False) for r in _invalid_rows(s3, settings.import_bucket, job.invalid_key)),
        ((*r, True) for r in _failed_rows(s3, settings.import_bucket, store, job_id)),
        key=lambda r: r[0],
    )
    failed = FailureGroups()
    with tempfile.TemporaryFile("w+b") as spool:
        text = io.TextIOWrapper(spool, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow([neutralise(h) for h in header] + list(ERROR_COLUMNS) + [import_column(job_id)])
        count = 0
        for line, cells, column, message, is_failure in rows:
            count += 1
            # the error columns stay under their header: a short row is padded, a long row's extra cells
            # follow them (the error says the row has too many cells)
            padded = list(cells[: len(header)]) + [""] * (len(header) - len(cells))
            extra = list(cells[len(header) :])
            writer.writerow(
                [neutralise(c) for c in padded]
                + [line, column, neutralise(message), ""]
                + [neutralise(c) for c in extra]
            )
            if is_failure:
                failed.add(line, column, message)
        text.flush()
        spool.seek(0)
        key = keys.report(job_id)
        if count:
            s3.put_object(
                Bucket=settings.import_bucket,
                Key=key,
                Body=spool.read(),
                ContentType="text/csv; charset=utf-8",
                ContentDisposition=f'attachment; filename="{job_id}-errors.csv"',
            )
        text.detach()
    return (key if count else ""), failed.groups()


def unfinished_chunks(s3: Any, settings: Settings, store: jobs.JobStore, job: Job) -> list[dict]:
    """The chunks an incomplete job never recorded, the first ones with their line ranges (for the email)."""
    done = {c.index for c in store.chunk_records(job.job_id)}
    missing = [i for i in range(1, job.chunks_total + 1) if i not in done]
    found: list[dict[str, Any]] = []
    for index in missing:
        entry: dict[str, Any] = {"chunk": index}
        if len(found) < UNFINISHED_SHOWN:
            try:
                body = s3.get_object(Bucket=settings.import_bucket, Key=keys.chunk(job.job_id, index))["Body"]
                lines = ChunkBody.from_json(body.read(), job_id=job.job_id, index=index).lines
            except (ClientError, ValueError, KeyError):
                logger.warning("unfinished chunk unreadable", chunk=index, exc_info=True)
                lines = []
            if lines:
                entry.update(rows=len(lines), first_line=min(lines), last_line=max(lines))
        found.append(entry)
    return found


def build_report(
    job_id: str, execution_input: Mapping[str, Any], *, settings: Settings, store: jobs.JobStore, s3: Any
) -> dict[str, Any]:
    """Finish the job record and return what the state machine needs to send the email."""
    job = store.get(job_id)
    status, reason = final_status(job, execution_input)
    unaccounted = unaccounted_rows(job)
    if unaccounted and status in (jobs.COMPLETED, jobs.COMPLETED_WITH_ERRORS):
        # every row must end in exactly one count; say so loudly if the books do not balance
        logger.error("rows unaccounted for", unaccounted=unaccounted)
        status, reason = jobs.INCOMPLETE, f"{unaccounted} rows of the file were not accounted for by any chunk."
    error_key, failed_groups = "", list[dict[str, Any]]()
    if job.invalid or job.failed:
        error_key, failed_groups = write_error_file(s3, settings, store, job)
    link = ""
    if error_key:
        link = s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": settings.import_bucket, "Key": error_key},
            ExpiresIn=settings.report_link_expiry_seconds,
        )
    finished = time.time()
    started = datetime.fromisoformat(job.created_at.replace("Z", "+00:00")).timestamp()
    final: dict[str, Any] = {
        "status": status,
        "reason": reason or "",
        "error_file_key": error_key,
        "duration_seconds": round(finished - started, 3),
        "reported_at": jobs.now_iso(),
    }
    if job.dry_run:
        final["estimated_api_calls"], final["estimated_seconds"] = dry_run_estimate(
            job, settings.intercom_rate_limit_per_minute
        )
    job = store.update_and_get(job_id, final)
    _tag_processed(s3, job)
    email = render_email(
        job,
        status=status,
        reason=reason,
        failed_groups=failed_groups,
        unfinished=unfinished_chunks(s3, settings, store, job) if status == jobs.INCOMPLETE else [],
        token_secret=settings.intercom_token_secret,
        error_link=link,
        link_expiry_seconds=settings.report_link_expiry_seconds,
        recipients=job.recipients or settings.notify_recipients,  # a partner's, else the stack's
        rate_limit_per_minute=settings.intercom_rate_limit_per_minute,
        history_kept=settings.stack_keeps_history,
    )
    logger.info("report built", status=status, error_file=bool(error_key))
    record_job_finished(job, status)
    return {"job_id": job_id, "status": status, "email": email}


def _tag_processed(s3: Any, job: Job) -> None:
    """Mark the upload (and its sidecar manifest, if any) processed so the bucket's lifecycle rule expires
    them later."""
    tags = {
        "TagSet": [
            {"Key": "importer-status", "Value": "processed"},
            {"Key": "importer-job", "Value": job.job_id},
        ]
    }
    upload: dict[str, Any] = {"Bucket": job.bucket, "Key": job.key}
    if job.version_id:
        upload["VersionId"] = job.version_id
    for kwargs in (upload, {"Bucket": job.bucket, "Key": f"{job.key}.json"}):
        try:
            s3.put_object_tagging(**kwargs, Tagging=tags)
        except ClientError as exc:
            if kwargs is upload or aws.error_code(exc) not in aws.NOT_FOUND:
                logger.warning("could not tag a processed file", key=kwargs["Key"], exc_info=True)
        except Exception:  # tagging is housekeeping, never a reason to fail the job
            logger.warning("could not tag a processed file", key=kwargs["Key"], exc_info=True)


def utc(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
