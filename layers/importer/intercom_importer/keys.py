"""The import bucket's key layout: every object key the importer reads or writes is built here.

::

    incoming/[<partner>/]<file>                     uploads (the template's notification and lifecycle rules)
    config/partners/<partner>.json                  a partner's settings
    work/<job>/chunks/<nnnnnn>.json                 a chunk of valid rows (its SQS message points here)
    work/<job>/progress/<nnnnnn>.json               rows an interrupted attempt of a chunk finished
    work/<job>/results/<nnnnnn>.<attempt>.json      a chunk's failed rows, for the error file
    work/<job>/invalid.jsonl                        the rows validation refused
    work/<job>/companies.json                       company_id -> Intercom id, for the workers
    work/<job>/checkpoints/<nnnn>.json              a validation checkpoint
    work/<job>/checkpoints/<nnnn>-seen.db           its duplicate database
    work/<job>/checkpoints/<nnnn>-invalid.jsonl     the rows refused up to it
    reports/<job>/errors.csv                        the error file
    reports/<job>/changes/<nnnnnn>.<attempt>.jsonl  what a chunk changed in Intercom (the change log, for undo)
    reports/<job>-undo/undone/<nnnnnn>.<attempt>.json  what undoing a chunk's changes came to (``intercom-import undo``)

A chunk's outputs (its failed rows, its change log, an undo's tally) are written under the key of the delivery, or
the run, that made them (``<attempt>``: ``chunk_outputs.new_attempt``), and read only through the chunk record that
names them (``JobStore.chunk_records``): never listed. Records written before outputs had an attempt name fixed
keys (``<nnnnnn>.json``; a change log's is ``legacy_changes``).
"""

from __future__ import annotations

INCOMING_PREFIX = "incoming/"
PARTNER_CONFIG_PREFIX = "config/partners/"


def partner_config(name: str) -> str:
    return f"{PARTNER_CONFIG_PREFIX}{name}.json"


def partner_incoming(name: str) -> str:
    return f"{INCOMING_PREFIX}{name}/"


def chunk(job_id: str, index: int) -> str:
    return f"work/{job_id}/chunks/{index:06d}.json"


def progress(job_id: str, index: int) -> str:
    return f"work/{job_id}/progress/{index:06d}.json"


def result(job_id: str, index: int, attempt: str) -> str:
    """Chunk ``index``'s failed rows as delivery ``attempt`` found them (the chunk record's ``result_key``)."""
    return f"work/{job_id}/results/{index:06d}.{attempt}.json"


def invalid(job_id: str) -> str:
    return f"work/{job_id}/invalid.jsonl"


def companies(job_id: str) -> str:
    return f"work/{job_id}/companies.json"


def checkpoint(job_id: str, seq: int) -> str:
    return f"work/{job_id}/checkpoints/{seq:04d}.json"


def checkpoint_seen(job_id: str, seq: int) -> str:
    return f"work/{job_id}/checkpoints/{seq:04d}-seen.db"


def checkpoint_invalid(job_id: str, seq: int) -> str:
    return f"work/{job_id}/checkpoints/{seq:04d}-invalid.jsonl"


def report(job_id: str) -> str:
    return f"reports/{job_id}/errors.csv"


def changes(job_id: str, index: int, attempt: str) -> str:
    """Chunk ``index``'s change log as delivery ``attempt`` wrote it (the chunk record's ``changes_key``)."""
    return f"reports/{job_id}/changes/{index:06d}.{attempt}.jsonl"


def legacy_changes(job_id: str, index: int) -> str:
    """Where a chunk recorded before change logs had an attempt (its record names none) has its change log, if it
    changed anything."""
    return f"reports/{job_id}/changes/{index:06d}.jsonl"


def undo_result(undo_job_id: str, index: int, attempt: str) -> str:
    """What undoing chunk ``index`` of an import came to (``undo.records.Tally``) in the undo's run ``attempt``,
    under the undo job's reports (the undo's chunk record's ``result_key``)."""
    return f"reports/{undo_job_id}/undone/{index:06d}.{attempt}.json"
