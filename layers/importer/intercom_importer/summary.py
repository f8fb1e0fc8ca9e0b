"""The summary email: one per import, an HTML message with a complete plain-text alternative.

One template per outcome (see ``TEMPLATES``): completed, completed with errors, rejected, failed
(token refused, Intercom unavailable, anything else), incomplete and dry run. Each has its own
headline, colour band, wording and sections; ``template_for`` picks it from the final status
(decided by ``report.final_status``) and the job record.

The HTML is built for email clients: table layout, inline styles only, no images, fonts, scripts or
other external assets, max 600 px wide, readable with images off, and a palette that keeps its
contrast when a client darkens it (white text on a saturated band, explicit colours on every cell).
Every value shown comes from user data, Intercom or the job record and is HTML-escaped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import escape
from typing import Any

from intercom_importer import jobs
from intercom_importer.schema import OTHER_PROBLEMS, problem_kind

TOP_PROBLEMS = 5  # kinds of problem shown; the error file has every row
LINES_SHOWN = 6  # line numbers shown per kind
UNFINISHED_SHOWN = 10  # unfinished chunks listed in an incomplete email
# The email travels through the state machine (256 KiB payloads): every list in it is bounded.
ATTRIBUTES_SHOWN = 30  # new custom attributes named
NOTES_SHOWN = 10  # notes on existing attributes

COUNT_ROWS = (
    ("rows", "Rows read"),
    ("created", "Created"),
    ("updated", "Updated"),
    ("skipped", "Skipped"),
    ("failed", "Failed"),
    ("invalid", "Invalid"),
)
DRY_RUN_LABELS = {
    "rows": "Rows read",
    "created": "Would create",
    "updated": "Would update",
    "skipped": "Would skip",
    "failed": "Would fail",
    "invalid": "Invalid",
}
# errors that mean "Intercom could not be reached or kept failing", after the client's retries
OUTAGE_ERRORS = frozenset(
    {"IntercomRetryableError", "IntercomServerError", "IntercomConnectionError", "IntercomRateLimitError"}
)

INK = "#1f2328"  # body text
MUTED = "#59636e"  # secondary text (4.6:1 on white)
RULE = "#d1d9e0"
PAGE = "#f3f4f6"
PANEL = "#f6f8fa"
LINK_BUTTON = "#0969da"
BAD_NUMBER = "#cf222e"
FONT = "-apple-system,'Segoe UI',Helvetica,Arial,sans-serif"
MONO = "ui-monospace,SFMono-Regular,Menlo,Consolas,monospace"


@dataclass(frozen=True)
class Template:
    name: str
    headline: str
    colour: str  # the headline band (white text on it: at least 4.5:1)
    tint: str  # background of the "what happened / what to do" panel


TEMPLATES: dict[str, Template] = {
    t.name: t
    for t in (
        Template("completed", "Import completed", "#1a7f37", "#dafbe1"),
        Template("completed_with_errors", "Import completed with errors", "#9a6700", "#fff8c5"),
        Template("rejected", "Import rejected: nothing was imported", "#cf222e", "#ffebe9"),
        Template("failed_token", "Import failed: Intercom refused the access token", "#82071e", "#ffebe9"),
        Template("failed_outage", "Import failed: Intercom was unavailable", "#82071e", "#ffebe9"),
        Template("failed", "Import failed", "#82071e", "#ffebe9"),
        Template("incomplete", "Import incomplete", "#bc4c00", "#fff1e5"),
        Template("dry_run", "Dry run: nothing was written to Intercom", "#0969da", "#ddf4ff"),
    )
}
# the headline and colour of each final status (a failed job's template may be more specific)
HEADLINES = {
    status: (TEMPLATES[status].headline, TEMPLATES[status].colour)
    for status in (jobs.COMPLETED, jobs.COMPLETED_WITH_ERRORS, jobs.REJECTED, jobs.FAILED, jobs.INCOMPLETE)
}


def template_for(job: Mapping[str, Any], status: str) -> Template:
    """The template of a job that ended with ``status``."""
    if status in (jobs.COMPLETED, jobs.COMPLETED_WITH_ERRORS) and job.get("dry_run"):
        return TEMPLATES["dry_run"]
    if status == jobs.FAILED:
        error = (job.get("failure") or {}).get("error") or (job.get("abort") or {}).get("error") or ""
        if error == "IntercomAuthError":
            return TEMPLATES["failed_token"]
        if error in OUTAGE_ERRORS:
            return TEMPLATES["failed_outage"]
        return TEMPLATES["failed"]
    return TEMPLATES.get(status, TEMPLATES["failed"])


# --- problems ------------------------------------------------------------------------------------


@dataclass
class ProblemGroup:
    """Rows that share one kind of problem: how many, the first line numbers, and how to fix them."""

    kind: str
    count: int
    lines: list[int]
    fix: str
    example: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "lines": self.lines, "fix": self.fix, "example": self.example}


def validation_groups(job: Mapping[str, Any]) -> list[ProblemGroup]:
    """The invalid rows grouped by kind, most common first: counts of every row, lines from the sample."""
    sample = job.get("problems_sample") or []
    groups = []
    for kind, count in sorted((job.get("problem_kinds") or {}).items(), key=lambda kv: (-int(kv[1]), kv[0])):
        matches = [p for p in sample if problem_kind(p.get("column") or "", p.get("message") or "") == kind]
        fix = matches[0]["message"].rsplit(": ", 1)[-1] if matches and ": " in matches[0]["message"] else ""
        groups.append(
            ProblemGroup(
                kind=kind,
                count=int(count),
                lines=sorted({int(p["line"]) for p in matches})[:LINES_SHOWN],
                fix=fix,
                example=str(matches[0].get("value") or "") if matches else "",
            )
        )
    return groups


_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Per-call details of an Intercom error message (intercom._error_from_response): they differ between
# rows with the same problem, so they stay in the error file but not in a group's kind.
_PER_CALL = re.compile(r", request_id [^,\]]+|, after \d+ retries")
FAILED_ROW_FIX = (
    "correct the value Intercom refused (the error file's error column says which), then upload the error file"
)


class FailureGroups:
    """Rows Intercom refused (or that were not imported), grouped by their message with the values
    taken out. Fed one failed row at a time while the error file is written; bounded memory."""

    def __init__(self, max_kinds: int = 100) -> None:
        self._max_kinds = max_kinds
        self._counts: Counter[str] = Counter()
        self._lines: dict[str, list[int]] = {}

    def add(self, line: int, column: str, message: str) -> None:
        kind = _QUOTED.sub("'…'", _PER_CALL.sub("", message)).strip()[:300] or "not imported"
        if column and not kind.lower().startswith(column.lower()):
            kind = f"{column}: {kind}"
        if kind not in self._counts and len(self._counts) >= self._max_kinds:
            kind = OTHER_PROBLEMS
        self._counts[kind] += 1
        lines = self._lines.setdefault(kind, [])
        if len(lines) < LINES_SHOWN:
            lines.append(line)

    def groups(self) -> list[dict[str, Any]]:
        return [
            ProblemGroup(
                kind, count, sorted(self._lines[kind]), FAILED_ROW_FIX if "refused the row" in kind else ""
            ).to_dict()
            for kind, count in sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]


# --- formatting ----------------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    if 0 < seconds < 1:
        return "under 1 s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _span(seconds: int) -> str:
    """A link lifetime in words: ``7 days``, ``12 hours``, ``1 h 30 min``, ``45 minutes``."""
    if seconds >= 86400 and seconds % 86400 == 0:
        days = seconds // 86400
        return f"{days} day{'s' if days != 1 else ''}"
    if seconds >= 3600 and seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour{'s' if hours != 1 else ''}"
    if seconds >= 3600:
        return _duration(seconds)
    minutes = max(1, seconds // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _lines(lines: Sequence[int], count: int) -> str:
    if not lines:
        return "lines listed in the error file"
    shown = ", ".join(str(n) for n in lines)
    more = " …" if count > len(lines) else ""
    return f"{'line' if len(lines) == 1 else 'lines'} {shown}{more}"


def _secret_name(secret: str) -> str:
    """``arn:aws:secretsmanager:…:secret:intercom/token-AbCdEf`` -> ``intercom/token`` (a name stays a name)."""
    if ":secret:" not in secret:
        return secret
    name = secret.split(":secret:", 1)[1]
    return re.sub(r"-[A-Za-z0-9]{6}$", "", name)


def _one_line(value: str) -> str:
    """Subjects are one line: control characters (a key may hold a newline) become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()


def _expiry(job: Mapping[str, Any], link_expiry_seconds: int) -> str:
    """When the presigned link stops working at the latest, from the report time on the job (a link
    signed with a role's temporary credentials also stops when that session ends)."""
    lifetime = _span(link_expiry_seconds)
    try:
        reported = datetime.fromisoformat(str(job["reported_at"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return f"{lifetime} after this email was sent"
    expires = (reported + timedelta(seconds=link_expiry_seconds)).astimezone(UTC)
    return f"{expires:%Y-%m-%d %H:%M} UTC ({lifetime} after the report)"


# --- content (shared by the HTML and the text) ---------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing to do, with an optional command to run (shown in monospace)."""

    text: str
    command: str = ""


@dataclass
class _Content:
    template: Template
    subject: str
    preheader: str
    file_name: str
    source: str
    partner: str
    job_id: str
    intro: str
    reason: str
    steps: list[Step]
    counts: dict[str, int] | None  # None: nothing was read (file-level rejection, early failure)
    labels: dict[str, str]
    timing: str
    notes: list[str]
    problems: list[ProblemGroup]
    more_kinds: int
    unfinished: list[dict[str, Any]]
    unfinished_total: int
    error_link: str
    expiry: str
    error_file: str
    settings: list[tuple[str, str]]


def _settings(job: Mapping[str, Any]) -> list[tuple[str, str]]:
    options = job.get("options") or {}
    import_type = str(job.get("import_type") or options.get("import_type") or "")
    rows: list[tuple[str, str]] = []
    if job.get("partner"):
        rows.append(("Partner", str(job["partner"])))
    if job.get("uploaded_by"):  # the S3 event's principal, and where the upload came from
        where = f" (from {job['source_ip']})" if job.get("source_ip") else ""
        rows.append(("Uploaded by", f"{job['uploaded_by']}{where}"))
    if not options:  # rejected before the settings were read
        return rows
    rows.append(("Import type", import_type or "from the header"))
    rows.append(("Existing records", str(options.get("existing", ""))))
    if import_type != "companies":
        rows.append(("Role of new contacts", str(options.get("role", ""))))
    tags = list(options.get("tags") or [])
    rows.append(("Tags", ", ".join(str(t) for t in tags) if tags else "none"))
    rows.append(("Invalid rows", str(options.get("invalid_rows", ""))))
    rows.append(("Dry run", "yes" if options.get("dry_run") or job.get("dry_run") else "no"))
    rows.append(("Identity trap", str(options.get("identity_trap") or "attach")))
    rows.append(("Column mapping", _mapping_source(job, options)))
    return [(label, value) for label, value in rows if value]


def _mapping_source(job: Mapping[str, Any], options: Mapping[str, Any]) -> str:
    if job.get("mapping_source"):
        return str(job["mapping_source"])
    mapping = options.get("mapping") or {}
    if not mapping:
        return "automatic (column names)"
    mapped = len(mapping.get("columns") or {})
    where = "partner settings or manifest" if job.get("partner") else "manifest"
    return f"custom, {mapped} column{'s' if mapped != 1 else ''} mapped ({where})"


def _notes(job: Mapping[str, Any], dry_run: bool, rate_limit_per_minute: int | None) -> list[str]:
    """Extra facts worth a line: custom attributes, and the calls and time a dry run's real import needs."""
    notes: list[str] = []
    attributes = job.get("new_attributes") or []
    if attributes:
        listed = ", ".join(f"{a['name']} ({a['data_type']})" for a in attributes[:ATTRIBUTES_SHOWN])
        if len(attributes) > ATTRIBUTES_SHOWN:
            listed += f" and {len(attributes) - ATTRIBUTES_SHOWN} more (`intercom-import status` lists them all)"
        notes.append(f"Custom attributes {'that would be ' if dry_run else ''}created: {listed}")
    attribute_notes = [str(note) for note in job.get("attribute_notes") or []]
    notes.extend(attribute_notes[:NOTES_SHOWN])
    if len(attribute_notes) > NOTES_SHOWN:
        notes.append(f"… and {len(attribute_notes) - NOTES_SHOWN} more notes on attributes (`intercom-import status`)")
    if dry_run:
        calls, seconds = dry_run_estimate(job, rate_limit_per_minute)
        estimate = f"The real import would make about {calls:,} Intercom API calls"
        if seconds is not None:
            least = "under a second" if seconds < 1 else f"at least {_duration(seconds)}"
            estimate += f", taking {least} at the rate limit of {rate_limit_per_minute:,} calls per minute"
        notes.append(estimate + ".")
    return notes


def dry_run_estimate(job: Mapping[str, Any], rate_limit_per_minute: int | None) -> tuple[int, float | None]:
    """The Intercom calls a dry run counted for the real import, and the least time they take at the
    rate limit (None without one)."""
    calls = int(job.get("api_calls", 0) or 0) + int(job.get("prepare_calls", 0) or 0)
    return calls, (round(calls * 60 / rate_limit_per_minute, 1) if rate_limit_per_minute else None)


def _story(
    template: Template, job: Mapping[str, Any], counts: dict[str, int], token_secret: str, has_link: bool
) -> tuple[str, list[Step]]:
    """What happened in one sentence, and what to do, for each template."""
    name = template.name
    errors = counts["failed"] + counts["invalid"]
    again = "then upload the file again"
    if name == "completed":
        return (
            f"All {counts['rows']:,} rows were imported into Intercom: {counts['created']:,} created, "
            f"{counts['updated']:,} updated, {counts['skipped']:,} skipped.",
            [],
        )
    if name == "completed_with_errors":
        done = counts["created"] + counts["updated"] + counts["skipped"]
        return (
            f"{done:,} of {counts['rows']:,} rows were imported or skipped as asked; {errors:,} were not "
            f"({counts['invalid']:,} invalid, {counts['failed']:,} failed in Intercom).",
            [
                Step(
                    "Download the error file: it holds each row that was not imported, with the reason in its "
                    "error column."
                ),
                Step(
                    "Fix those rows and upload the error file itself, under the name it downloads as: only its "
                    "rows are imported, with this import's settings and column mapping (the error columns are "
                    "ignored)."
                ),
            ]
            if has_link
            else [Step("Fix the rows listed under Top problems and upload them again.")],
        )
    if name == "dry_run":
        return (
            f"This was a dry run: {counts['rows']:,} rows were validated and looked up in Intercom, and nothing "
            f"was written. A real import would create {counts['created']:,} and update {counts['updated']:,} "
            "records.",
            ([Step("Fix the invalid rows listed below first.")] if errors else [])
            + [Step("To import for real, upload the file again without dry_run.")],
        )
    if name == "rejected":
        steps = []
        if has_link:
            steps.append(
                Step("Download the error file: it lists each invalid row with what is wrong and how to fix it.")
            )
        steps.append(Step(f"Fix the file as described in the reason, {again}."))
        return "The file was not imported: nothing was written to Intercom.", steps
    if name == "failed_token":
        secret = _secret_name(token_secret) or "the Intercom token secret"
        return (
            "The Intercom token is invalid or revoked: Intercom answered 401 Unauthorized, so the import "
            "stopped at once and nothing more was sent.",
            [
                Step(
                    f"Update the secret {secret} with a valid Intercom access token:",
                    f"aws secretsmanager put-secret-value --secret-id {secret} --secret-string '<token>'",
                ),
                Step(
                    f"Wait up to 5 minutes (the token is cached), {again}. Rows imported before the failure are "
                    "found again by email or external_id, not duplicated."
                ),
            ],
        )
    if name == "failed_outage":
        return (
            "Intercom did not answer, or kept answering with errors, through every retry, so the import stopped.",
            [
                Step("Check Intercom's status page (intercomstatus.com)."),
                Step(
                    "When Intercom is back, upload the file again. Rows imported before the failure are found "
                    "again by email or external_id, not duplicated."
                ),
            ],
        )
    if name == "incomplete":
        missing = max(0, int(job.get("chunks_total", 0) or 0) - int(job.get("chunks_done", 0) or 0))
        uncounted = counts["rows"] - sum(counts[k] for k in ("created", "updated", "skipped", "failed", "invalid"))
        return (
            f"The import did not finish: {missing:,} of {int(job.get('chunks_total', 0) or 0):,} chunks were not "
            f"done before the job timeout, and {max(0, uncounted):,} rows are not counted.",
            [
                Step(
                    "Upload the file again: rows already imported are found again by email or external_id, not duplicated."
                ),
                Step(
                    "If it happens again, look at the chunk queue's dead-letter queue and the worker's logs "
                    "for this job:",
                    f"intercom-import status {job.get('job_id')}",
                ),
            ],
        )
    return (
        "The import stopped before it could finish.",
        [
            Step("See the reason and the job's details:", f"intercom-import status {job.get('job_id')}"),
            Step("When the cause is fixed, upload the file again."),
        ],
    )


def _content(
    job: Mapping[str, Any],
    *,
    status: str,
    reason: str | None,
    failed_groups: Sequence[Mapping[str, Any]],
    unfinished: Sequence[Mapping[str, Any]],
    error_link: str,
    link_expiry_seconds: int,
    rate_limit_per_minute: int | None,
    token_secret: str,
) -> _Content:
    template = template_for(job, status)
    dry_run = bool(job.get("dry_run"))
    file_name = str(job.get("key", "")).rsplit("/", 1)[-1]
    partner = str(job.get("partner") or "")
    counts = {name: int(job.get(name, 0) or 0) for name, _ in COUNT_ROWS}
    intro, steps = _story(template, job, counts, token_secret, bool(error_link))

    verb = "would be " if dry_run else ""
    subject = f"{template.headline}: {file_name}" + (f" from {partner}" if partner else "")
    if status not in (jobs.REJECTED, jobs.FAILED):
        subject += (
            f" ({counts['created']:,} {verb}created, {counts['updated']:,} {verb}updated, "
            f"{counts['failed'] + counts['invalid']:,} with errors)"
        )

    duration = float(job.get("duration_seconds", 0) or 0)
    timing = f"Duration {_duration(duration)}"
    if duration > 0 and counts["rows"]:
        timing += f" · {counts['rows'] * 60 / duration:,.0f} rows/minute"

    problems = [*validation_groups(job), *(ProblemGroup(**g) for g in failed_groups)]
    problems.sort(key=lambda g: -g.count)
    return _Content(
        template=template,
        subject=_one_line(subject)[:250],
        preheader=intro,
        file_name=file_name,
        source=f"s3://{job.get('bucket', '')}/{job.get('key', '')}",
        partner=partner,
        job_id=str(job.get("job_id", "")),
        intro=intro,
        reason="" if template.name == "failed_token" else reason or "",
        steps=steps,
        counts=counts if counts["rows"] or status not in (jobs.REJECTED, jobs.FAILED) else None,
        labels=DRY_RUN_LABELS if dry_run else dict(COUNT_ROWS),
        timing=timing,
        notes=_notes(job, dry_run, rate_limit_per_minute),
        problems=problems[:TOP_PROBLEMS],
        more_kinds=max(0, len(problems) - TOP_PROBLEMS),
        unfinished=[dict(u) for u in unfinished[:UNFINISHED_SHOWN]] if template.name == "incomplete" else [],
        unfinished_total=len(unfinished),
        error_link=error_link,
        expiry=_expiry(job, link_expiry_seconds) if error_link else "",
        error_file=f"s3://{job.get('bucket', '')}/{job['error_file_key']}" if job.get("error_file_key") else "",
        settings=_settings(job),
    )


# --- plain text ----------------------------------------------------------------------------------


def _chunk_text(chunk: Mapping[str, Any]) -> str:
    text = f"chunk {chunk['chunk']}"
    if chunk.get("first_line"):
        text += f": lines {chunk['first_line']} to {chunk['last_line']} ({int(chunk.get('rows', 0)):,} rows)"
    return text


def _problem_text(group: ProblemGroup) -> list[str]:
    rows = f"{group.count:,} row{'s' if group.count != 1 else ''}"
    lines = [f"- {group.kind}: {rows}, {_lines(group.lines, group.count)}"]
    if group.example:
        lines.append(f"  Example: {group.example}")
    if group.fix:
        lines.append(f"  Fix: {group.fix}")
    return lines


def _text(c: _Content) -> str:
    out = [c.template.headline, "=" * len(c.template.headline), ""]
    out.append(f"File: {c.source}")
    if c.partner:
        out.append(f"Partner: {c.partner}")
    out.append(f"Job: {c.job_id}")
    out += ["", c.intro]
    if c.reason:
        out += ["", f"Reason: {c.reason}"]
    if c.steps:
        out += ["", "What to do:"]
        for i, step in enumerate(c.steps, 1):
            out.append(f"{i}. {step.text}")
            if step.command:
                out.append(f"   {step.command}")
    if c.counts is not None:
        out += ["", "Counts"] + [f"{c.labels[name] + ':':<14} {c.counts[name]:,}" for name, _ in COUNT_ROWS]
        out += [c.timing]
    if c.notes:
        out += [""] + [f"- {note}" for note in c.notes]
    if c.problems:
        out += ["", "Top problems"]
        for group in c.problems:
            out += _problem_text(group)
        if c.more_kinds:
            out.append(f"- and {c.more_kinds} more kinds of problem: see the error file")
    if c.unfinished:
        out += ["", "Did not finish"] + [f"- {_chunk_text(u)}" for u in c.unfinished]
        if c.unfinished_total > len(c.unfinished):
            out.append(f"- and {c.unfinished_total - len(c.unfinished)} more chunks")
    if c.error_link:
        out += [
            "",
            "Error file: every failed or invalid row with the reason.",
            f"The link works until {c.expiry} at the latest.",
            c.error_link,
        ]
        if c.error_file:
            out.append(f"The file itself stays at {c.error_file}")
    if c.settings:
        out += ["", "Settings"] + [f"{label + ':':<22} {value}" for label, value in c.settings]
    out += ["", f"Job id: {c.job_id}", f"Status at any time: intercom-import status {c.job_id}"]
    return "\n".join(out)


# --- HTML ----------------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return escape(str(value), quote=True)


def _p(text: str, style: str = "") -> str:
    return (
        f'<p style="margin:0 0 12px;font-family:{FONT};font-size:15px;line-height:22px;color:{INK};{style}">{text}</p>'
    )


def _h2(text: str) -> str:
    return (
        f'<h2 style="margin:24px 0 8px;font-family:{FONT};font-size:13px;line-height:18px;font-weight:bold;'
        f'letter-spacing:0.5px;text-transform:uppercase;color:{MUTED}">{_e(text)}</h2>'
    )


def _table(rows: str, style: str = "") -> str:
    return (
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" '
        f'style="border-collapse:collapse;width:100%;{style}">{rows}</table>'
    )


def _panel(c: _Content) -> str:
    """The coloured panel: the reason and the steps to take (absent when there is nothing to do)."""
    if not (c.reason or c.steps):
        return ""
    inner = ""
    if c.reason:
        inner += _p(f"<strong>Reason:</strong> {_e(c.reason)}", "margin:0 0 8px")
    if c.steps:
        items = "".join(
            f'<tr><td valign="top" style="padding:2px 8px 2px 0;font-family:{FONT};font-size:14px;line-height:20px;'
            f'color:{INK};font-weight:bold;width:16px">{i}.</td><td style="padding:2px 0;font-family:{FONT};'
            f'font-size:14px;line-height:20px;color:{INK}">{_e(step.text)}{_command(step.command)}</td></tr>'
            for i, step in enumerate(c.steps, 1)
        )
        inner += _p("<strong>What to do</strong>", "margin:0 0 4px;font-size:14px") + _table(items)
    colour, tint = c.template.colour, c.template.tint
    return _table(
        f'<tr><td bgcolor="{tint}" style="background-color:{tint};border-left:4px solid {colour};'
        f'padding:14px 16px;border-radius:4px">{inner}</td></tr>',
        "margin:0 0 8px",
    )


def _command(command: str) -> str:
    if not command:
        return ""
    return (
        f'<div style="margin:6px 0 2px;padding:8px 10px;background-color:#ffffff;border:1px solid {RULE};'
        f'border-radius:4px;font-family:{MONO};font-size:12px;line-height:18px;color:{INK};word-break:break-all">'
        f"{_e(command)}</div>"
    )


def _counts_html(c: _Content) -> str:
    if c.counts is None:
        return ""
    counts = c.counts
    cells = []
    for name, _ in COUNT_ROWS:
        value = counts[name]
        colour = (BAD_NUMBER if name in ("failed", "invalid") else INK) if value else MUTED
        cells.append(
            f'<td width="33%" valign="top" style="padding:12px 14px;border:1px solid {RULE};background-color:#ffffff">'
            f'<div style="font-family:{FONT};font-size:12px;line-height:16px;color:{MUTED}">{_e(c.labels[name])}</div>'
            f'<div style="font-family:{FONT};font-size:24px;line-height:30px;font-weight:bold;color:{colour}">'
            f"{value:,}</div></td>"
        )
    rows = f"<tr>{''.join(cells[:3])}</tr><tr>{''.join(cells[3:])}</tr>"
    return (
        _h2("Counts")
        + _table(rows, "table-layout:fixed")
        + f'<p style="margin:8px 0 0;font-family:{FONT};font-size:13px;line-height:18px;color:{MUTED}">'
        f"{_e(c.timing)}</p>"
    )


def _notes_html(c: _Content) -> str:
    if not c.notes:
        return ""
    items = "".join(
        f'<tr><td valign="top" style="padding:3px 8px 3px 0;font-family:{FONT};font-size:14px;color:{MUTED};'
        f'width:10px">&bull;</td><td style="padding:3px 0;font-family:{FONT};font-size:14px;line-height:20px;'
        f'color:{INK}">{_e(note)}</td></tr>'
        for note in c.notes
    )
    return _h2("Notes") + _table(items)


def _problems_html(c: _Content) -> str:
    if not c.problems:
        return ""
    cell = (
        f"padding:10px 8px;border-top:1px solid {RULE};font-family:{FONT};font-size:14px;line-height:20px;color:{INK}"
    )
    head = (
        f'<tr><td style="padding:0 8px 6px;font-family:{FONT};font-size:12px;color:{MUTED}">Problem and fix</td>'
        f'<td align="right" style="padding:0 8px 6px;font-family:{FONT};font-size:12px;color:{MUTED};width:56px">Rows</td>'
        f'<td style="padding:0 8px 6px;font-family:{FONT};font-size:12px;color:{MUTED};width:150px">Lines</td></tr>'
    )
    rows = ""
    for g in c.problems:
        example = (
            f'<div style="font-size:13px;line-height:18px;color:{MUTED};margin-top:2px">Example: '
            f'<span style="font-family:{MONO};color:{INK}">{_e(g.example)}</span></div>'
            if g.example
            else ""
        )
        fix = (
            f'<div style="font-size:13px;line-height:18px;color:{MUTED};margin-top:2px">Fix: {_e(g.fix)}</div>'
            if g.fix
            else ""
        )
        rows += (
            f'<tr><td valign="top" style="{cell}"><strong>{_e(g.kind)}</strong>{example}{fix}</td>'
            f'<td valign="top" align="right" style="{cell};font-weight:bold">{g.count:,}</td>'
            f'<td valign="top" style="{cell};font-size:13px;color:{MUTED}">{_e(_lines(g.lines, g.count))}</td></tr>'
        )
    more = (
        f'<p style="margin:6px 0 0;font-family:{FONT};font-size:13px;color:{MUTED}">and {c.more_kinds} more kinds of '
        "problem: see the error file</p>"
        if c.more_kinds
        else ""
    )
    return _h2("Top problems") + _table(head + rows) + more


def _unfinished_html(c: _Content) -> str:
    if not c.unfinished:
        return ""
    items = "".join(
        f'<tr><td style="padding:6px 8px;border-top:1px solid {RULE};font-family:{FONT};font-size:14px;'
        f'color:{INK}">{_e(_chunk_text(u))}</td></tr>'
        for u in c.unfinished
    )
    if c.unfinished_total > len(c.unfinished):
        items += (
            f'<tr><td style="padding:6px 8px;border-top:1px solid {RULE};font-family:{FONT};font-size:13px;'
            f'color:{MUTED}">and {c.unfinished_total - len(c.unfinished)} more chunks</td></tr>'
        )
    return _h2("Did not finish") + _table(items)


def _link_html(c: _Content) -> str:
    if not c.error_link:
        return ""
    button = (
        f'<table role="presentation" cellpadding="0" cellspacing="0" border="0" style="border-collapse:separate">'
        f'<tr><td bgcolor="{LINK_BUTTON}" style="background-color:{LINK_BUTTON};border-radius:6px">'
        f'<a href="{_e(c.error_link)}" style="display:inline-block;padding:11px 20px;font-family:{FONT};'
        f'font-size:15px;font-weight:bold;color:#ffffff;text-decoration:none;border-radius:6px">'
        "Download the error file</a></td></tr></table>"
    )
    return (
        _h2("Error file")
        + _p("Every failed or invalid row, exactly as uploaded, with the line and the reason.", "font-size:14px")
        + button
        + f'<p style="margin:8px 0 0;font-family:{FONT};font-size:13px;line-height:18px;color:{MUTED}">'
        f"The link works until {_e(c.expiry)} at the latest."
        + (f"<br>The file itself stays at {_e(c.error_file)}" if c.error_file else "")
        + "</p>"
    )


def _settings_html(c: _Content) -> str:
    if not c.settings:
        return ""
    rows = "".join(
        f'<tr><td style="padding:6px 8px;border-top:1px solid {RULE};font-family:{FONT};font-size:14px;'
        f'color:{MUTED};width:190px">{_e(label)}</td><td style="padding:6px 8px;border-top:1px solid {RULE};'
        f'font-family:{MONO};font-size:13px;color:{INK}">{_e(value)}</td></tr>'
        for label, value in c.settings
    )
    return _h2("Settings used") + _table(rows)


def _html(c: _Content) -> str:
    t = c.template
    where = _e(c.file_name) + (f" &middot; partner {_e(c.partner)}" if c.partner else "")
    band = (
        f'<tr><td bgcolor="{t.colour}" style="background-color:{t.colour};padding:22px 28px;border-radius:8px 8px 0 0">'
        f'<p style="margin:0 0 6px;font-family:{FONT};font-size:12px;line-height:16px;letter-spacing:1px;'
        f'text-transform:uppercase;color:#ffffff">Intercom import</p>'
        f'<h1 style="margin:0;font-family:{FONT};font-size:22px;line-height:28px;font-weight:bold;color:#ffffff">'
        f"{_e(t.headline)}</h1>"
        f'<p style="margin:8px 0 0;font-family:{FONT};font-size:14px;line-height:20px;color:#ffffff">{where}</p>'
        "</td></tr>"
    )
    body = (
        _p(_e(c.intro))
        + _panel(c)
        + _counts_html(c)
        + _notes_html(c)
        + _problems_html(c)
        + _unfinished_html(c)
        + _link_html(c)
        + _settings_html(c)
    )
    footer = (
        f'<tr><td bgcolor="{PANEL}" style="background-color:{PANEL};padding:16px 28px;border-top:1px solid {RULE};'
        f'border-radius:0 0 8px 8px;font-family:{FONT};font-size:12px;line-height:18px;color:{MUTED}">'
        f'Job <span style="font-family:{MONO};color:{INK}">{_e(c.job_id)}</span><br>'
        f'Status at any time: <span style="font-family:{MONO};color:{INK}">intercom-import status {_e(c.job_id)}'
        f"</span><br>Source: {_e(c.source)}</td></tr>"
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width,initial-scale=1">'
        '<meta name="color-scheme" content="light"><meta name="supported-color-schemes" content="light">'
        f"<title>{_e(c.subject)}</title></head>"
        f'<body style="margin:0;padding:0;background-color:{PAGE}" bgcolor="{PAGE}">'
        f'<div style="display:none;max-height:0;overflow:hidden;mso-hide:all">{_e(c.preheader)}</div>'
        f'<table role="presentation" width="100%" cellpadding="0" cellspacing="0" border="0" bgcolor="{PAGE}" '
        f'style="background-color:{PAGE}"><tr><td align="center" style="padding:24px 12px">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" border="0" bgcolor="#ffffff" '
        f'style="width:100%;max-width:600px;background-color:#ffffff;border:1px solid {RULE};border-radius:8px;'
        'border-collapse:separate">'
        f'{band}<tr><td style="padding:24px 28px 28px">{body}</td></tr>{footer}'
        "</table></td></tr></table></body></html>"
    )


def render_email(
    job: Mapping[str, Any],
    *,
    status: str,
    reason: str | None,
    error_link: str,
    link_expiry_seconds: int,
    recipients: Sequence[str],
    rate_limit_per_minute: int | None = None,
    failed_groups: Sequence[Mapping[str, Any]] = (),
    unfinished: Sequence[Mapping[str, Any]] = (),
    token_secret: str = "",
) -> dict[str, Any]:
    """The email of a finished job: ``{"to", "subject", "text", "html"}`` for SES.

    ``failed_groups``: the failed rows grouped (``FailureGroups.groups()``); ``unfinished``: the chunks an
    incomplete job never recorded (``{"chunk", "rows", "first_line", "last_line"}``); ``token_secret``:
    the secret to name when Intercom refused the token.
    """
    content = _content(
        job,
        status=status,
        reason=reason,
        failed_groups=failed_groups,
        unfinished=unfinished,
        error_link=error_link,
        link_expiry_seconds=link_expiry_seconds,
        rate_limit_per_minute=rate_limit_per_minute,
        token_secret=token_secret,
    )
    return {"to": list(recipients), "subject": content.subject, "text": _text(content), "html": _html(content)}
