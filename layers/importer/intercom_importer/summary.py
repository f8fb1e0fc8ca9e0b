"""The summary email: one per import, HTML (inline styles, no external assets) and plain text.

Every value shown comes from user data or Intercom and is HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from intercom_importer import jobs

HEADLINES = {
    jobs.COMPLETED: ("Import completed", "#1a7f37"),
    jobs.COMPLETED_WITH_ERRORS: ("Import completed with errors", "#9a6700"),
    jobs.REJECTED: ("Import rejected: nothing was imported", "#cf222e"),
    jobs.FAILED: ("Import failed", "#cf222e"),
    jobs.INCOMPLETE: ("Import incomplete", "#9a6700"),
}
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


def _notes(job: Mapping[str, Any], dry_run: bool, rate_limit_per_minute: int | None) -> list[str]:
    """Extra facts worth a line: attributes, calls and time of a dry run, the most common problems."""
    notes: list[str] = []
    attributes = job.get("new_attributes") or []
    if attributes:
        listed = ", ".join(f"{a['name']} ({a['data_type']})" for a in attributes)
        notes.append(f"Custom attributes {'that would be ' if dry_run else ''}created: {listed}")
    for note in job.get("attribute_notes") or []:
        notes.append(str(note))
    if dry_run:
        calls = int(job.get("api_calls", 0) or 0) + int(job.get("prepare_calls", 0) or 0)
        estimate = f"The real import would make about {calls:,} Intercom API calls"
        if rate_limit_per_minute:
            estimate += (
                f", taking at least {_duration(calls * 60 / rate_limit_per_minute)} at the rate limit of "
                f"{rate_limit_per_minute:,} calls per minute"
            )
        notes.append(estimate + ".")
    kinds = sorted((job.get("problem_kinds") or {}).items(), key=lambda kv: -int(kv[1]))
    if kinds:
        notes.append("Most common problems: " + "; ".join(f"{kind} ({int(n)} rows)" for kind, n in kinds[:5]))
    return notes


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


def render_email(
    job: Mapping[str, Any],
    *,
    status: str,
    reason: str | None,
    first_errors: Sequence[Mapping[str, Any]],
    error_link: str,
    link_expiry_seconds: int,
    recipients: Sequence[str],
    rate_limit_per_minute: int | None = None,
) -> dict[str, Any]:
    headline, colour = HEADLINES.get(status, ("Import finished", "#57606a"))
    dry_run = bool(job.get("dry_run"))
    labels = DRY_RUN_LABELS if dry_run else dict(COUNT_ROWS)
    if dry_run and status in (jobs.COMPLETED, jobs.COMPLETED_WITH_ERRORS):
        headline, colour = "Dry run: nothing was written to Intercom", "#0969da"
    source = f"s3://{job.get('bucket', '')}/{job.get('key', '')}"
    file_name = str(job.get("key", "")).rsplit("/", 1)[-1]
    counts = {name: int(job.get(name, 0) or 0) for name, _ in COUNT_ROWS}
    duration = float(job.get("duration_seconds", 0) or 0)
    options = job.get("options") or {}
    settings_line = ", ".join(
        f"{k}={v}"
        for k, v in (
            ("type", job.get("import_type", "")),
            ("existing", options.get("existing", "")),
            ("role", options.get("role", "")),
            ("invalid_rows", options.get("invalid_rows", "")),
        )
        if v
    )
    verb = "would be " if dry_run else ""
    subject = (
        f"{headline}: {file_name} ({counts['created']} {verb}created, {counts['updated']} {verb}updated, "
        f"{counts['failed'] + counts['invalid']} with errors)"
    )
    notes = _notes(job, dry_run, rate_limit_per_minute)
    if status == jobs.REJECTED:
        subject = f"{headline}: {file_name}"
    expiry_days = max(1, link_expiry_seconds // 86400)

    text = [headline, "", f"File: {source}", f"Job: {job.get('job_id')}"]
    if reason:
        text += ["", reason]
    text += [""] + [f"{labels[name] + ':':<14} {counts[name]}" for name, _ in COUNT_ROWS]
    text += ["", f"Duration: {_duration(duration)}"]
    if settings_line:
        text.append(f"Settings: {settings_line}")
    if notes:
        text += [""] + [f"- {note}" for note in notes]
    if first_errors:
        text += ["", "First errors:"]
        text += [
            f"  line {e['line']}" + (f", column {e['column']}" if e.get("column") else "") + f": {e['message']}"
            for e in first_errors
        ]
    if error_link:
        text += [
            "",
            f"Every failed or invalid row, with the reason (link valid {expiry_days} days):",
            error_link,
        ]
        text += ["Fix the rows in that file and upload it again to import just those rows."]
    text += ["", "Status at any time: intercom-import status " + str(job.get("job_id"))]

    cell = "padding:6px 12px;border-bottom:1px solid #d0d7de;font-family:Arial,Helvetica,sans-serif;font-size:14px"
    count_rows = "".join(
        f'<tr><td style="{cell}">{escape(label)}</td>'
        f'<td style="{cell};text-align:right;font-weight:bold">{counts[name]:,}</td></tr>'
        for name, label in ((n, labels[n]) for n, _ in COUNT_ROWS)
    )
    notes_html = (
        '<ul style="font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#24292f;padding-left:20px">'
        + "".join(f"<li>{escape(note)}</li>" for note in notes)
        + "</ul>"
        if notes
        else ""
    )
    errors_html = ""
    if first_errors:
        items = "".join(
            f'<tr><td style="{cell};white-space:nowrap">line {int(e["line"])}</td>'
            f'<td style="{cell}">{escape(str(e.get("column") or ""))}</td>'
            f'<td style="{cell}">{escape(str(e["message"]))}</td></tr>'
            for e in first_errors
        )
        errors_html = (
            '<h3 style="font-family:Arial,Helvetica,sans-serif;font-size:16px;margin:24px 0 8px">First errors</h3>'
            f'<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;width:100%">'
            f"{items}</table>"
        )
    link_html = ""
    if error_link:
        link_html = (
            f'<p style="font-family:Arial,Helvetica,sans-serif;font-size:14px;margin:20px 0">'
            f'<a href="{escape(error_link, quote=True)}" style="background:#0969da;color:#ffffff;padding:10px 16px;'
            f'border-radius:6px;text-decoration:none;display:inline-block">Download the error file</a><br>'
            f'<span style="color:#57606a;font-size:12px">The link is valid for {expiry_days} days. Fix the rows '
            f"and upload the file again to import just those rows.</span></p>"
        )
    reason_html = (
        f'<p style="font-family:Arial,Helvetica,sans-serif;font-size:14px;background:#fff8c5;padding:12px;'
        f'border-radius:6px">{escape(reason)}</p>'
        if reason
        else ""
    )
    html = (
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
        f"{escape(subject)}</title></head>"
        '<body style="margin:0;padding:0;background:#f6f8fa">'
        '<table role="presentation" width="100%" cellpadding="0" cellspacing="0" style="background:#f6f8fa">'
        '<tr><td align="center" style="padding:24px">'
        '<table role="presentation" width="600" cellpadding="0" cellspacing="0" '
        'style="background:#ffffff;border:1px solid #d0d7de;border-radius:8px;max-width:600px">'
        f'<tr><td style="padding:20px 24px;border-bottom:4px solid {colour}">'
        f'<h2 style="margin:0;font-family:Arial,Helvetica,sans-serif;font-size:20px;color:{colour}">'
        f"{escape(headline)}</h2>"
        f'<p style="margin:6px 0 0;font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#57606a">'
        f"{escape(source)}</p></td></tr>"
        f'<tr><td style="padding:16px 24px">{reason_html}'
        f'<table role="presentation" cellpadding="0" cellspacing="0" style="border-collapse:collapse;width:100%">'
        f"{count_rows}</table>"
        f'<p style="font-family:Arial,Helvetica,sans-serif;font-size:13px;color:#57606a">Duration: '
        f"{escape(_duration(duration))}"
        + (f" &middot; Settings: {escape(settings_line)}" if settings_line else "")
        + f"</p>{notes_html}{errors_html}{link_html}"
        f'<p style="font-family:Arial,Helvetica,sans-serif;font-size:12px;color:#57606a">Job '
        f"{escape(str(job.get('job_id')))}</p></td></tr></table></td></tr></table></body></html>"
    )
    return {"to": list(recipients), "subject": subject[:250], "text": "\n".join(text), "html": html}
