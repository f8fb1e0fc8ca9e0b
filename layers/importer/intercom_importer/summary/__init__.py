"""The summary email: one per import, an HTML message with a complete plain-text alternative.

One template per outcome (``TEMPLATES``): completed, completed with errors, rejected, failed (token
refused, Intercom unavailable, anything else), incomplete and dry run, each with its own headline,
colour band, wording and sections. Python holds the data, Jinja2 templates the words and the markup:

- ``compose.py``: ``render_email``, the email of a finished job;
- ``outcomes.py``: the templates and ``template_for``, which picks one from the job's final status;
- ``model.py``: the email's data (``EmailView``: counts, settings, problems, notes, the error file),
  every list in it bounded (the email travels through the state machine: 256 KiB payloads);
- ``problems.py``: the rows grouped by kind of problem (``FailureGroups`` for the rows Intercom refused);
- ``templating.py``: the Jinja2 environment (HTML autoescaped), the palette and the filters;
- ``templates/``: ``email.html`` and ``email.txt`` lay the email out, ``subject.txt``, ``wording.txt``
  (what both versions say) and ``outcomes/<template>.txt`` (what happened, what to do).

The HTML is built for email clients: table layout, inline styles only, no images, fonts, scripts or
other external assets, max 600 px wide, readable with images off, and a palette that keeps its contrast
when a client darkens it. Every value shown comes from user data, Intercom or the job record and is
escaped by the HTML templates' autoescaping.
"""

from intercom_importer.summary.compose import render_email
from intercom_importer.summary.model import UNFINISHED_SHOWN, EmailView, dry_run_estimate
from intercom_importer.summary.outcomes import OUTAGE_ERRORS, TEMPLATES, Template, template_for
from intercom_importer.summary.problems import FAILED_ROW_FIX, FailureGroups, ProblemGroup
from intercom_importer.summary.templating import PAGE

__all__ = [
    "FAILED_ROW_FIX",
    "OUTAGE_ERRORS",
    "PAGE",
    "TEMPLATES",
    "UNFINISHED_SHOWN",
    "EmailView",
    "FailureGroups",
    "ProblemGroup",
    "Template",
    "dry_run_estimate",
    "render_email",
    "template_for",
]
