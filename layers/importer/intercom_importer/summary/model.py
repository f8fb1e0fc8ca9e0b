"""The data of one summary email (``EmailView``): what its templates show, none of what they say.

``build_view`` reads the job record and what the report found (the failed rows grouped, the unfinished
chunks, the error file's link) into typed values: counts, settings, problems, notes, the error file.
The sentences are in ``templates/``. The email travels through the state machine (256 KiB payloads):
every list in it is bounded here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from intercom_importer import jobs
from intercom_importer.job_record import Job
from intercom_importer.summary.outcomes import Template
from intercom_importer.summary.problems import ProblemGroup, validation_groups

TOP_PROBLEMS = 5  # kinds of problem shown; the error file has every row
UNFINISHED_SHOWN = 10  # unfinished chunks listed in an incomplete email
ATTRIBUTES_SHOWN = 30  # new custom attributes named
NOTES_SHOWN = 10  # notes on existing attributes


@dataclass(frozen=True)
class Counts:
    """Where the file's data rows ended (``created + updated + unchanged + skipped + failed + invalid == rows``)."""

    rows: int
    created: int
    updated: int
    unchanged: int  # Intercom already held every value of the row: nothing was written
    skipped: int
    failed: int
    invalid: int

    @classmethod
    def from_job(cls, job: Job) -> Counts:
        return cls(**job.row_counts())

    @property
    def errors(self) -> int:
        """Rows not imported: invalid, or refused by Intercom."""
        return self.failed + self.invalid

    @property
    def changed(self) -> int:
        """Rows that created or updated a record (a dry run's: would have)."""
        return self.created + self.updated

    @property
    def done(self) -> int:
        """Rows imported or skipped as asked (a row Intercom already held as it is counts: unchanged)."""
        return self.changed + self.unchanged + self.skipped

    @property
    def uncounted(self) -> int:
        """Rows no chunk reported (an incomplete import)."""
        return max(0, self.rows - self.done - self.errors)


@dataclass(frozen=True)
class SettingsUsed:
    """Who uploaded the file and the settings it was imported with."""

    partner: str
    uploaded_by: str
    source_ip: str
    read: bool  # False: the file was rejected before its settings were read (only the above are known)
    import_type: str  # "": taken from the file's header
    existing: str
    role: str
    tags: tuple[str, ...]
    invalid_rows: str
    dry_run: bool
    identity_trap: str
    mapping_source: str  # the job's own description of its column mapping, if it has one
    mapped_columns: int | None  # columns a custom mapping maps; None: columns matched by their names
    mapping_from_partner: bool  # a custom mapping may come from the partner's settings

    @classmethod
    def from_job(cls, job: Job) -> SettingsUsed:
        options = job.options
        mapping = options.get("mapping") or {}
        return cls(
            partner=job.partner,
            uploaded_by=job.uploaded_by or "",
            source_ip=job.source_ip or "",
            read=bool(options),
            import_type=str(job.import_type or options.get("import_type") or ""),
            existing=str(options.get("existing", "")),
            role=str(options.get("role", "")),
            tags=tuple(str(t) for t in options.get("tags") or []),
            invalid_rows=str(options.get("invalid_rows", "")),
            dry_run=bool(options.get("dry_run") or job.dry_run),
            identity_trap=str(options.get("identity_trap") or "attach"),
            mapping_source=job.mapping_source,
            mapped_columns=len(mapping.get("columns") or {}) if mapping else None,
            mapping_from_partner=bool(job.partner),
        )


@dataclass(frozen=True)
class Attribute:
    """A custom data attribute the import created (or, in a dry run, would create)."""

    name: str
    data_type: str


@dataclass(frozen=True)
class Estimate:
    """A dry run's count of the Intercom calls the real import makes, and the least time they take."""

    calls: int
    seconds: float | None  # None: no rate limit to divide by
    rate_limit_per_minute: int | None


@dataclass(frozen=True)
class UnfinishedChunk:
    """A chunk an incomplete import never recorded; its lines when its file could be read."""

    chunk: int
    first_line: int | None
    last_line: int | None
    rows: int

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> UnfinishedChunk:
        first = int(item["first_line"]) if item.get("first_line") else None
        return cls(
            chunk=int(item["chunk"]),
            first_line=first,
            last_line=int(item["last_line"]) if first else None,
            rows=int(item.get("rows", 0)) if first else 0,
        )


@dataclass(frozen=True)
class ErrorFile:
    """The presigned link to the error file, until when it works, and where the file itself stays."""

    link: str
    lifetime_seconds: int
    expires_at: datetime | None  # None: the report time is not on the job
    location: str  # s3:// URL; "" when the job does not name the file


@dataclass(frozen=True)
class EmailView:
    """Everything one summary email shows."""

    template: Template
    ran: bool  # not rejected and not failed: the import's counts mean something (the subject gives them)
    dry_run: bool
    file_name: str
    source: str
    job_id: str
    partner: str
    reason: str
    counts: Counts | None  # None: nothing was read (file-level rejection, early failure)
    blank_lines: int  # lines that are not rows (empty, whitespace, empty cells), ignored: not in the counts
    unrecognisable_rows: int  # valid people rows nothing can recognise again (no id, email, external_id, phone+name)
    duration_seconds: float
    rows_per_minute: float | None  # None: no duration or no rows
    settings: SettingsUsed
    new_attributes: tuple[Attribute, ...]
    more_attributes: int
    attribute_notes: tuple[str, ...]
    more_notes: int
    estimate: Estimate | None  # dry runs only
    problems: tuple[ProblemGroup, ...]
    more_kinds: int
    unfinished: tuple[UnfinishedChunk, ...]
    more_chunks: int
    error_file: ErrorFile | None
    token_secret: str  # the name of the secret holding the Intercom token
    chunks_total: int
    chunks_missing: int
    history_kept: bool = True  # False: the stack ends with its import (an ephemeral `run`): no `status` afterwards


def build_view(
    job: Job,
    *,
    template: Template,
    status: str,
    reason: str | None,
    failed_groups: Sequence[Mapping[str, Any]],
    unfinished: Sequence[Mapping[str, Any]],
    error_link: str,
    link_expiry_seconds: int,
    rate_limit_per_minute: int | None,
    token_secret: str,
    history_kept: bool = True,
) -> EmailView:
    """The view of the email of a job that ended with ``status``, in ``template``; ``history_kept`` False: the
    stack that ran it keeps no history (an ephemeral local stack), so the email points at no ``status`` command."""
    counts = Counts.from_job(job)
    ran = status not in (jobs.REJECTED, jobs.FAILED)
    dry_run = job.dry_run
    duration = float(job.duration_seconds or 0)
    attributes = [Attribute(str(a["name"]), str(a["data_type"])) for a in job.new_attributes]
    notes = list(job.attribute_notes)
    problems = sorted([*validation_groups(job), *(ProblemGroup(**g) for g in failed_groups)], key=lambda g: -g.count)
    incomplete = template.name == "incomplete"
    shown = [UnfinishedChunk.from_dict(u) for u in unfinished[:UNFINISHED_SHOWN]] if incomplete else []
    return EmailView(
        template=template,
        ran=ran,
        dry_run=dry_run,
        file_name=job.key.rsplit("/", 1)[-1],
        source=f"s3://{job.bucket}/{job.key}",
        job_id=job.job_id,
        partner=job.partner,
        reason="" if template.name == "failed_token" else reason or "",
        counts=counts if counts.rows or ran else None,
        blank_lines=job.blank_lines,
        unrecognisable_rows=job.unrecognisable_rows if ran else 0,  # a rejected or failed file created none
        duration_seconds=duration,
        rows_per_minute=counts.rows * 60 / duration if duration > 0 and counts.rows else None,
        settings=SettingsUsed.from_job(job),
        new_attributes=tuple(attributes[:ATTRIBUTES_SHOWN]),
        more_attributes=max(0, len(attributes) - ATTRIBUTES_SHOWN),
        attribute_notes=tuple(notes[:NOTES_SHOWN]),
        more_notes=max(0, len(notes) - NOTES_SHOWN),
        estimate=Estimate(*dry_run_estimate(job, rate_limit_per_minute), rate_limit_per_minute) if dry_run else None,
        problems=tuple(problems[:TOP_PROBLEMS]),
        more_kinds=max(0, len(problems) - TOP_PROBLEMS),
        unfinished=tuple(shown),
        more_chunks=len(unfinished) - len(shown) if shown else 0,
        error_file=_error_file(job, error_link, link_expiry_seconds) if error_link else None,
        token_secret=_secret_name(token_secret),
        chunks_total=job.chunks_total,
        chunks_missing=max(0, job.chunks_total - job.chunks_done),
        history_kept=history_kept,
    )


def dry_run_estimate(job: Job, rate_limit_per_minute: int | None) -> tuple[int, float | None]:
    """The Intercom calls a dry run counted for the real import, and the least time they take at the
    rate limit (None without one)."""
    calls = job.api_calls + job.prepare_calls
    return calls, (round(calls * 60 / rate_limit_per_minute, 1) if rate_limit_per_minute else None)


def _error_file(job: Job, link: str, lifetime_seconds: int) -> ErrorFile:
    """The link stops working ``lifetime_seconds`` after the report at the latest (a link signed with a
    role's temporary credentials also stops when that session ends)."""
    try:
        reported = datetime.fromisoformat(job.reported_at.replace("Z", "+00:00"))
        expires_at: datetime | None = (reported + timedelta(seconds=lifetime_seconds)).astimezone(UTC)
    except ValueError:  # not reported yet
        expires_at = None
    key = job.error_file_key
    return ErrorFile(link, lifetime_seconds, expires_at, f"s3://{job.bucket}/{key}" if key else "")


def _secret_name(secret: str) -> str:
    """``arn:aws:secretsmanager:…:secret:intercom/token-AbCdEf`` -> ``intercom/token`` (a name stays a name)."""
    if ":secret:" not in secret:
        return secret
    name = secret.split(":secret:", 1)[1]
    return re.sub(r"-[A-Za-z0-9]{6}$", "", name)
