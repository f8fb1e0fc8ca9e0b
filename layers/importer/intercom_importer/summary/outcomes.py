"""The outcomes a summary email can tell, each with its own template: headline, band colour and tint.

What each one says is ``templates/outcomes/<name>.txt``; ``template_for`` picks the template from the
job's final status (decided by ``report.final_status``) and its record.
"""

from __future__ import annotations

from dataclasses import dataclass

from intercom_importer import jobs
from intercom_importer.job_record import Job

# errors that mean "Intercom could not be reached or kept failing", after the client's retries
OUTAGE_ERRORS = frozenset(
    {"IntercomRetryableError", "IntercomServerError", "IntercomConnectionError", "IntercomRateLimitError"}
)


@dataclass(frozen=True)
class Template:
    """One outcome's email (its wording: ``templates/outcomes/<name>.txt``)."""

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


def template_for(job: Job, status: str) -> Template:
    """The template of a job that ended with ``status``."""
    if status in (jobs.COMPLETED, jobs.COMPLETED_WITH_ERRORS) and job.dry_run:
        return TEMPLATES["dry_run"]
    if status == jobs.FAILED:
        error = job.failure.get("error") or job.abort.get("error") or ""
        if error == "IntercomAuthError":
            return TEMPLATES["failed_token"]
        if error in OUTAGE_ERRORS:
            return TEMPLATES["failed_outage"]
        return TEMPLATES["failed"]
    return TEMPLATES.get(status, TEMPLATES["failed"])
