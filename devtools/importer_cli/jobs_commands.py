"""``upload``, ``status`` and ``history``: the import pipeline seen from outside, on any target.

Everything goes through the stack's own resources with the caller's credentials, as a user or a
partner system would: ``PutObject`` on the import bucket (settings as object metadata), ``GetItem`` /
``Query`` on the jobs table (``pk=JOB#<id>, sk=META`` records; the ``by-created`` index lists them
newest first).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from importer_cli.display import Progress
from importer_cli.errors import EXIT_PENDING, CliError
from importer_cli.targets import Target
from intercom_importer.job_record import Job
from intercom_importer.jobs import plain

HISTORY_INDEX = "by-created"
MANIFEST_SUFFIXES = (".json",)  # the validator ignores these uploads (sidecar manifests)
UNFINISHED = ("validating", "queueing", "importing", "undoing")  # "undoing": an undo's own record


# ------------------------------------------------------------------------------------------- upload
@dataclass(frozen=True)
class Uploaded:
    job_id: str
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    metadata: dict[str, str]

    @property
    def source(self) -> str:
        return f"s3://{self.bucket}/{self.key}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "source": self.source,
            "bucket": self.bucket,
            "key": self.key,
            "version_id": self.version_id,
            "etag": self.etag,
            "metadata": self.metadata,
        }


def object_key(path: Path, key_prefix: str = "incoming/") -> str:
    prefix = key_prefix.strip().lstrip("/")
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    if not prefix.startswith("incoming/"):
        raise CliError(
            f"--key-prefix {key_prefix!r}: only uploads under incoming/ start an import; use e.g. incoming/acme/"
        )
    return prefix + path.name


def upload(
    target: Target,
    path: Path,
    metadata: Mapping[str, str],
    *,
    key_prefix: str = "incoming/",
    manifest: Mapping[str, Any] | None = None,
) -> Uploaded:
    """Upload ``path`` like a user would; the job id is derived exactly as the validator derives it."""
    from intercom_importer.jobs import job_id_for

    if not path.is_file():
        raise CliError(f"{path}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    if path.name.lower().endswith(MANIFEST_SUFFIXES):
        raise CliError(f"{path}: the importer ignores .json uploads (they are manifests); upload a .csv file")
    bucket = target.output("ImportBucketName")
    key = object_key(path, key_prefix)
    s3 = target.client("s3")
    manifest_key = key + ".json"
    if manifest:  # the validator reads <file>.json when the file arrives, so it goes first
        s3.put_object(
            Bucket=bucket, Key=manifest_key, Body=json.dumps(manifest).encode(), ContentType="application/json"
        )
    else:  # a manifest left from an earlier upload of the same name would silently apply
        s3.delete_object(Bucket=bucket, Key=manifest_key)
    with path.open("rb") as body:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata), ContentType="text/csv")
    version_id = put.get("VersionId")
    # S3 event records carry the ETag without the quotes PutObject returns.
    etag = (put.get("ETag") or "").strip('"') or None
    return Uploaded(job_id_for(bucket, key, version_id or etag), bucket, key, version_id, etag, dict(metadata))


# ------------------------------------------------------------------------------------------- status
def present(job: Job) -> dict[str, Any]:
    """The record as ``status --json`` shows it: without the state machine's task token, with S3 URLs added,
    every row count (one the record lacks, such as ``unchanged`` on a job older than that outcome, is 0), and
    ``waiting_behind`` (see :func:`waiting_behind`; empty unless the job waits)."""
    record = {k: v for k, v in job.to_dict().items() if k not in ("task_token", WAITING_BEHIND)}
    missing = {k: n for k, n in job.row_counts().items() if k not in record}
    waiting = list(job.extra.get(WAITING_BEHIND, []))
    return {**record, **missing, "source": job.source, "error_file": job.error_file, WAITING_BEHIND: waiting}


WAITING_BEHIND = "waiting_behind"  # not stored: what get_job adds to a job whose chunks wait behind others'
WAITING_AFTER_SECONDS = 5.0  # a job's first chunk normally ends this soon after its chunks are queued
OTHERS_ACTIVE_SECONDS = 300.0  # another job counts as holding the workers if it recorded a chunk this recently


def _age(iso: str, now: datetime) -> float | None:
    try:
        return (now - datetime.fromisoformat(iso.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return None


def may_be_waiting(job: Job, now: datetime) -> bool:
    """Importing, chunks queued, none recorded, and nothing written to the record for a while: either it waits
    for a worker or its first chunks are slow; :func:`waiting_behind` tells which."""
    if job.status != "importing" or job.chunks_done or not job.chunks_total:
        return False
    age = _age(job.updated_at, now)
    return age is not None and age >= WAITING_AFTER_SECONDS


def waiting_behind(job: Job, importing: list[Job], now: datetime) -> list[str]:
    """The jobs whose chunks hold the workers while ``job``'s wait: ``job`` may be waiting (see
    :func:`may_be_waiting`) and these other importing jobs recorded chunks recently (oldest first). SQS shares
    the workers between imports (a fair queue on AWS, the local runtime's poller locally), so a job waits only
    while all workers are busy with chunks taken before its own were queued."""
    if not may_be_waiting(job, now):
        return []
    ahead = [
        other
        for other in importing
        if other.job_id != job.job_id
        and other.status == "importing"
        and 0 < other.chunks_done < other.chunks_total
        and (_age(other.updated_at, now) or 0.0) <= OTHERS_ACTIVE_SECONDS
    ]
    return [other.job_id for other in sorted(ahead, key=lambda o: o.created_at)]


def with_waiting(target: Target, job: Job) -> Job:
    """``job``, with the jobs it waits behind (``extra["waiting_behind"]``) when it may be waiting. A hint only:
    credentials that may read the job but not list the others get the job as it is."""
    now = datetime.now(UTC)
    if not may_be_waiting(job, now):
        return job
    try:
        importing = history(target, limit=20, status="importing")
    except CliError:
        return job
    ahead = waiting_behind(job, importing, now)
    return replace(job, extra={**job.extra, WAITING_BEHIND: ahead}) if ahead else job


def get_job(target: Target, job_id: str) -> Job | None:
    """The job's record, with the jobs it waits behind if its chunks wait for workers (:func:`with_waiting`)."""
    from intercom_importer.errors import JobNotFoundError, JobStoreUnavailableError

    try:
        return with_waiting(target, target.job_store().get(job_id))
    except JobNotFoundError:
        return None
    except JobStoreUnavailableError as exc:
        raise CliError(
            f"{exc.message} (table {target.outputs.get('JobsTableName')} of {target.label}): check the target "
            "and that your credentials may read it"
        ) from exc


def not_found(target: Target, job_id: str) -> CliError:
    return CliError(
        f"job {job_id} not found in {target.label}: check the id (`intercom-import history` lists recent "
        "jobs; a job appears seconds after its upload and expires after JobRetentionDays)"
    )


def is_done(job: Job) -> bool:
    """Terminal and the state machine has finished (email sent or failed: ``finished_at`` is set)."""
    from intercom_importer.jobs import TERMINAL

    return job.status in TERMINAL and bool(job.finished_at)


def follow(
    target: Target,
    job_id: str,
    *,
    timeout: float,
    progress: Progress,
    interval: float | None = None,
    appear_within: float = 60.0,
) -> Job:
    """Poll the job (progress on stderr) until it is done; bounded by ``timeout``.

    A job id that has no record after ``appear_within`` seconds is reported as not found (a typo, or
    an upload outside incoming/) instead of being waited for until the timeout.

    A job that is terminal but whose execution never sets ``finished_at`` (the state machine was not
    started, or failed before its last step) counts as done once its execution is no longer running.
    """
    from intercom_importer.jobs import TERMINAL

    interval = interval if interval is not None else (0.2 if target.local else 2.0)
    started = time.monotonic()
    deadline = started + timeout
    job: Job | None = None
    next_execution_check = 0.0
    if progress.enabled:
        progress.line(f"waiting for job {job_id} ...")
    while True:
        job = get_job(target, job_id)
        if job is not None:
            progress.show(job)
            if is_done(job):
                return job
            if job.status in TERMINAL and time.monotonic() >= next_execution_check:
                next_execution_check = time.monotonic() + 2.0
                if _execution_finished(target, job_id):
                    return get_job(target, job_id) or job
        elif time.monotonic() - started > appear_within:
            raise not_found(target, job_id)
        if time.monotonic() >= deadline:
            break
        time.sleep(min(interval, max(deadline - time.monotonic(), 0.0)))
    status = job.status if job else "not created yet"
    raise CliError(
        f"job {job_id} did not finish within {timeout:.0f} s (status {status}): raise --timeout, or check later "
        f"with `intercom-import status {job_id} --watch`",
        EXIT_PENDING,
    )


def _execution_finished(target: Target, job_id: str) -> bool:
    from botocore.exceptions import BotoCoreError, ClientError

    arn = target.outputs.get("StateMachineArn")
    if not arn:
        return False
    sfn = target.client("stepfunctions")
    try:
        execution = sfn.describe_execution(executionArn=arn.replace(":stateMachine:", ":execution:") + f":{job_id}")
    except (BotoCoreError, ClientError):
        return False  # not started (yet), or not allowed to look: rely on the record
    return execution.get("status") != "RUNNING"


# ------------------------------------------------------------------------------------------ history


def parse_since(text: str, now: datetime | None = None) -> str:
    """``2026-11-01``, ``2026-11-01T09:30``, ``2026-11-01T09:30:00+02:00``, or ``30m``/``12h``/``7d``/``2w`` ago,
    as the UTC timestamp format the job records use (``2026-11-01T07:30:00.000Z``)."""
    now = now or datetime.now(UTC)
    relative = re.fullmatch(r"\s*(\d+)\s*([mhdw])\s*", text.lower())
    if relative:
        amount, unit = int(relative.group(1)), relative.group(2)
        moment = now - timedelta(**{{"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[unit]: amount})
    else:
        value = text.strip()
        if value.endswith(("z", "Z")):
            value = value[:-1] + "+00:00"
        try:
            moment = datetime.fromisoformat(value)
        except ValueError as exc:
            raise CliError(
                f"--since {text!r}: use a date (2026-11-01), a date-time (2026-11-01T09:30, UTC unless an offset "
                "is given) or an age (30m, 12h, 7d, 2w)"
            ) from exc
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def history(
    target: Target,
    *,
    limit: int = 20,
    status: str | None = None,
    since: str | None = None,
    source_prefix: str | None = None,
) -> list[Job]:
    """Jobs newest first from the ``by-created`` index, filtered by the table (FilterExpression), paged.

    ``since`` is an ISO timestamp (see :func:`parse_since`) compared with the index's sort key
    (``<created_at>#<job id>``); ``source_prefix`` matches the object key.
    """
    from boto3.dynamodb.conditions import Attr, Key
    from botocore.exceptions import BotoCoreError, ClientError

    table = target.session.resource("dynamodb", endpoint_url=target.endpoint_url).Table(target.output("JobsTableName"))
    condition = Key("gsi1pk").eq("JOBS")
    if since:
        condition = condition & Key("gsi1sk").gte(since)
    filters = []
    if status:
        filters.append(Attr("status").eq(status))
    if source_prefix:
        filters.append(Attr("key").begins_with(source_prefix))
    kwargs: dict[str, Any] = {
        "IndexName": HISTORY_INDEX,
        "KeyConditionExpression": condition,
        "ScanIndexForward": False,
        # A filter applies after Limit: read bigger pages when filtering.
        "Limit": max(limit, 100) if filters else limit,
    }
    if filters:
        expression = filters[0]
        for extra in filters[1:]:
            expression = expression & extra
        kwargs["FilterExpression"] = expression
    jobs: list[Job] = []
    while len(jobs) < limit:
        try:
            page = table.query(**kwargs)
        except (BotoCoreError, ClientError) as exc:
            from importer_cli.targets import aws_error

            raise aws_error(exc, f"listing jobs in {target.label}") from exc
        jobs.extend(Job.from_item(plain(item)) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return jobs[:limit]


def history_row(job: Job) -> dict[str, Any]:
    """One import as ``history --json`` lists it."""
    return {
        "job_id": job.job_id,
        "created_at": job.created_at,
        "key": job.key,
        "import_type": job.import_type,
        "status": job.status,
        **job.row_counts(),
        "uploaded_by": job.uploaded_by,
        "source_ip": job.source_ip,
        "source": job.source,
        "finished_at": job.finished_at,
        "duration_seconds": job.duration_seconds,
        "dry_run": job.dry_run,  # its counts are what the import would have done
        "partner": job.partner or None,
        "options": dict(job.options),
        "error_file": job.error_file,
        "undone_at": job.undone_at,  # the import was undone (`intercom-import undo`), by the undo job below
        "undo_job_id": job.undo_job_id or None,
        "undo_of": job.undo_of or None,  # this job is an undo, of that import
    }
