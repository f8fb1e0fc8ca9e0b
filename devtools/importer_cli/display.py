"""What the commands print: the progress bar (stderr), tables and job records (stdout)."""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.job_record import Job
from intercom_importer.summary.model import TOP_PROBLEMS


def stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = ""
        self.columns_shown = False

    def show(self, job: Job) -> None:
        if not self.enabled:
            return
        if not self.columns_shown and job.columns and job.status != "validating":
            # the mapping the validator settled on, before the workers write (stdout stays for results)
            self.columns_shown = True
            self.end()
            for line in column_lines(job.columns):
                stderr(line)
        self.line(progress_line(job))

    def line(self, line: str) -> None:
        if not self.enabled or line == self.last:
            return
        self.last = line
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.tty and self.last:
            sys.stderr.write("\n")
            self.last = ""


def column_lines(columns: Sequence[Mapping[str, Any]], header: str = "header", target: str = "target") -> list[str]:
    """The file's columns as matched to Intercom attributes (the job record's ``columns``; ``run --json``
    names the keys ``column`` and ``attribute``)."""
    lines = ["Columns (as matched to Intercom attributes):"]
    for column in columns:
        kind = f"custom {column.get('type')}" if column.get("custom") else column.get("type")
        lines.append(f"  {column.get(header)!s:<28} -> {column.get(target)} ({kind})")
    return lines


# where a file's rows ended, in the order shown (``Job.row_counts`` less ``rows``)
OUTCOMES = tuple(name for name in Job().row_counts() if name != "rows")
# a dry run's counts are what the import would do: it would change (create, update) a row or leave it unchanged
DRY_RUN_WORDS = {"created": "would-create", "updated": "would-update", "skipped": "would-skip", "failed": "would-fail"}


def outcome_counts(counts: Mapping[str, Any], *, dry_run: bool, separator: str = "  ") -> str:
    """``created 5  updated 1  unchanged 2  skipped 0  failed 0  invalid 0``; a dry run's say ``would-create 5``
    and so on (``unchanged`` stays: a dry run finds those rows unchanged as they are)."""
    words = DRY_RUN_WORDS if dry_run else {}
    return separator.join(f"{words.get(name, name)} {counts.get(name, 0)}" for name in OUTCOMES)


def progress_line(job: Job) -> str:
    status = job.status or "?"
    total, done = job.chunks_total, job.chunks_done
    if status == "validating":
        return f"validating: {job.rows_read:,} rows read"
    if total:
        width = 30
        filled = int(width * min(done, total) / total)
        counts = outcome_counts(job.row_counts(), dry_run=job.dry_run)
        line = f"{status} [{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks  {counts}"
        return f"{line}  ({waiting_note(job)})" if waiting_note(job) else line
    return status


def waiting_note(job: Job) -> str:
    """``waiting: its chunks are queued behind those of job-X ...`` when ``status`` found the job waiting
    (``jobs_commands.with_waiting``), else ""."""
    ahead = list(job.extra.get("waiting_behind", []))
    if not ahead:
        return ""
    return f"waiting: its chunks are queued behind those of {', '.join(ahead)} (SQS shares the workers between imports)"


def short_time(iso: str | None) -> str:
    """``2026-11-28T15:47:03.123Z`` -> ``2026-11-28 15:47:03`` (UTC)."""
    if not iso:
        return "-"
    return iso.replace("T", " ")[:19]


def clip(text: str, width: int) -> str:
    """Keep the end of long values (the file name is the informative part of a key)."""
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    cells = [[str(c) for c in row] for row in rows]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def fmt(row: Sequence[str]) -> str:
        parts = [c.rjust(widths[i]) if i in numeric else c.ljust(widths[i]) for i, c in enumerate(row)]
        return "  ".join(parts).rstrip()

    return "\n".join([fmt(headers), *(fmt(r) for r in cells)])


def counts_line(job: Job) -> str:
    return f"rows {job.rows}: " + outcome_counts(job.row_counts(), dry_run=job.dry_run, separator=", ")


_EMPTY: tuple[Any, ...] = (None, "", [], {}, False)


def _setting(key: str, value: Any) -> str:
    if isinstance(value, list | tuple):
        return f"{key}={','.join(str(v) for v in value)}"
    if isinstance(value, dict):
        return f"{key}=(given)"
    return f"{key}={value}"


def uploaded_by(job: Job) -> str:
    """Who uploaded the file (the S3 event's principal) and from where: "" when the record does not say."""
    who, ip = job.uploaded_by or "", job.source_ip or ""
    return f"{who or 'unknown'} from {ip}" if ip else who


def job_details(job: Job, *, max_problems: int = 10, error_link: str | None = None) -> str:
    """A job record for people: status, source, settings, counts, timing, problems, error file, email."""
    dry = " (dry run: nothing was written; the counts are what the import would do)" if job.dry_run else ""
    lines = [f"Job {job.job_id}: {job.status}{dry}"]

    def add(label: str, value: Any) -> None:
        if value not in _EMPTY[:4]:
            lines.append(f"  {label:<12} {value}")

    extras = [text for text in (job.import_type, job.encoding) if text]
    if job.delimiter:
        extras.append(f"delimiter {job.delimiter!r}")
    add("source", f"{job.source}" + (f" ({', '.join(extras)})" if extras else ""))
    add("uploaded by", uploaded_by(job))
    add("partner", job.partner)
    settings = job.options.items()
    add("settings", " ".join(_setting(k, v) for k, v in settings if k != "import_type" and v not in _EMPTY))
    add("created", short_time(job.created_at))
    add("updated", short_time(job.updated_at))
    if job.finished_at:
        add("finished", short_time(job.finished_at))
    if job.duration_seconds is not None:
        rows, duration = job.rows, float(job.duration_seconds)
        rate = f", {rows / duration * 60:,.0f} rows/min" if duration > 0 and rows else ""
        add("duration", f"{duration:.1f} s{rate}")
    add("counts", counts_line(job))
    if job.chunks_total:
        add("chunks", f"{job.chunks_done}/{job.chunks_total} done")
    add("waiting", waiting_note(job).removeprefix("waiting: "))
    add("new attributes", ", ".join(f"{a.get('name')} ({a.get('data_type')})" for a in job.new_attributes))
    for i, note in enumerate(job.attribute_notes):
        add("notes" if i == 0 else "", note)
    add("reason", job.reason or job.rejection)
    if job.failure:
        add("failure", f"{job.failure.get('error')}: {job.failure.get('message')}")
    if job.problem_kinds:
        kinds = sorted(job.problem_kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        top = "; ".join(f"{kind} ({n})" for kind, n in kinds[:TOP_PROBLEMS])
        more = len(kinds) - TOP_PROBLEMS  # counted as the email counts them, never dropped silently
        if more > 0:
            top += f"; and {more} more {'kind' if more == 1 else 'kinds'} of problem: see the error file"
        add("top problems", top)
    problems = job.problems_sample
    for i, problem in enumerate(problems[:max_problems]):
        where = f"line {problem.get('line')}" + (f", {problem.get('column')}" if problem.get("column") else "")
        value = f" {problem.get('value')!r}" if problem.get("value") else ""
        add("problems" if i == 0 else "", f"{where}:{value} {problem.get('message')}")
    if len(problems) > max_problems:
        add("", f"... {len(problems) - max_problems} more (see the error file)")
    add("error file", job.error_file)
    if job.error_file:
        add("", f"download: intercom-import errors {job.job_id}  (fix the rows, upload it again under any name)")
        add("", error_link)
    add("undo of", job.undo_of)
    if job.undone_at:
        add("undone", f"{short_time(job.undone_at)} by undo job {job.undo_job_id}")
    if job.recipients:
        add("recipients", ", ".join(job.recipients))
    email = job.email_status
    if email == "sent":
        add("email", f"sent (message id {job.email_message_id})")
    elif email:
        add("email", f"{email}: {job.email_error}")
    elif job.status in ("validating", "queueing", "importing"):
        add("email", "not yet (sent when the import finishes)")
    else:
        add("email", "pending")
    return "\n".join(lines)
