"""The undo's summary email: what was restored, what was archived, what was left alone and why. Python holds the
data (``UndoView``), the templates the words and the markup (``summary/templates/undo.html``, ``undo.txt``,
``undo_subject.txt``, rendered by the summary's Jinja2 environment: the HTML autoescaped)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from intercom_importer.job_record import Job
from intercom_importer.summary.templating import render
from intercom_importer.undo.records import LeftAlone, Tally

LEFT_SHOWN = 100
"""Values left alone the email lists (the rest are counted; ``intercom-import undo --json`` lists them all)."""
SUBJECT_MAX = 250
COLOUR = "#6639ba"  # the headline band (white text on it: 7.9:1)
TINT = "#fbefff"


@dataclass(frozen=True)
class UndoView:
    """The data the undo's email shows, none of its wording."""

    job_id: str
    undo_job_id: str
    file_name: str
    source: str
    partner: str
    tally: Tally
    left: Sequence[LeftAlone]  # at most LEFT_SHOWN
    more_left: int
    colour: str = COLOUR
    tint: str = TINT


def undo_view(job: Job, undo_job_id: str, tally: Tally) -> UndoView:
    return UndoView(
        job_id=job.job_id,
        undo_job_id=undo_job_id,
        file_name=(job.key or job.job_id).rsplit("/", 1)[-1],
        source=job.source or job.job_id,
        partner=job.partner,
        tally=tally,
        left=tuple(tally.left[:LEFT_SHOWN]),
        more_left=max(0, tally.left_alone - LEFT_SHOWN),
    )


def undo_email(job: Job, undo_job_id: str, tally: Tally, recipients: Sequence[str]) -> dict[str, Any]:
    """The undo's email: ``{"to", "subject", "text", "html"}`` for SES."""
    view = undo_view(job, undo_job_id, tally)
    subject = re.sub(r"[\x00-\x1f\x7f]+", " ", render("undo_subject.txt", m=view)).strip()[:SUBJECT_MAX]
    return {
        "to": list(recipients),
        "subject": subject,
        "text": render("undo.txt", m=view),
        "html": render("undo.html", m=view, subject=subject),
    }
