"""``render_email``: a finished job's summary email, its subject, plain text and HTML, ready for SES."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.job_record import Job
from intercom_importer.summary.model import build_view
from intercom_importer.summary.outcomes import template_for
from intercom_importer.summary.templating import render

SUBJECT_MAX = 250


def render_email(
    job: Job,
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
    history_kept: bool = True,
) -> dict[str, Any]:
    """The email of a finished job: ``{"to", "subject", "text", "html"}`` for SES.

    ``failed_groups``: the failed rows grouped (``FailureGroups.groups()``); ``unfinished``: the chunks an
    incomplete job never recorded (``{"chunk", "rows", "first_line", "last_line"}``); ``token_secret``:
    the secret to name when Intercom refused the token; ``history_kept`` False: the stack keeps no history after
    this import (an ephemeral local stack), so the email does not point at ``intercom-import status``.
    """
    view = build_view(
        job,
        template=template_for(job, status),
        status=status,
        reason=reason,
        failed_groups=failed_groups,
        unfinished=unfinished,
        error_link=error_link,
        link_expiry_seconds=link_expiry_seconds,
        rate_limit_per_minute=rate_limit_per_minute,
        token_secret=token_secret,
        history_kept=history_kept,
    )
    subject = _one_line(render("subject.txt", m=view))[:SUBJECT_MAX]
    return {
        "to": list(recipients),
        "subject": subject,
        "text": render("email.txt", m=view),
        "html": render("email.html", m=view, subject=subject),
    }


def _one_line(value: str) -> str:
    """Subjects are one line: control characters (a key may hold a newline) become spaces."""
    return re.sub(r"[\x00-\x1f\x7f]+", " ", value).strip()
