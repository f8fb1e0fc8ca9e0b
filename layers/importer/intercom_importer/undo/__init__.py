"""Undoing an import (``intercom-import undo``): every value its change log (``changelog.py``) says it changed is put
back, the contacts it created are archived, and whatever was changed in Intercom since is left alone and reported.

- ``job.py``: ``undo_import``, the undo of one import as a job of its own, chunk by chunk, exactly once, to one
  summary email; ``plan`` (what the change log holds) and the refusals;
- ``contact.py``: ``undo_change``, one change-log entry: read the contact, restore, archive or leave alone;
- ``values.py``: a contact's values compared as the import's diff compared them, and the values a restore sends;
- ``records.py``: ``Tally`` and ``LeftAlone``, what an undo did;
- ``email.py``: the summary email (``summary/templates/undo*``).

The domain code receives its collaborators (job store, S3 client, Intercom client, a ``send`` for the email), so a
Lambda function could run it as well as the command line.
"""

from intercom_importer.undo.contact import TagIds, undo_change
from intercom_importer.undo.job import (
    UNDO,
    UNDOING,
    Plan,
    Undo,
    UndoResult,
    change_logs,
    check_undoable,
    plan,
    undo_import,
    undo_job_id,
)
from intercom_importer.undo.records import LeftAlone, Tally

__all__ = [
    "UNDO",
    "UNDOING",
    "LeftAlone",
    "Plan",
    "TagIds",
    "Tally",
    "Undo",
    "UndoResult",
    "change_logs",
    "check_undoable",
    "plan",
    "undo_change",
    "undo_import",
    "undo_job_id",
]
