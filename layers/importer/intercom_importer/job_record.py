"""The job record (``pk=JOB#<id>, sk=META`` in the jobs table) as the ``Job`` its readers get, and a recorded
chunk (``pk=JOB#<id>, sk=CHUNK#<nnnnnn>``) as a ``ChunkRecord``.

``JobStore`` reads the item and hands out ``Job.from_item(item)``; ``Job.to_dict()`` gives the item back as
JSON-friendly Python (what ``intercom-import status --json`` prints, less the task token): every attribute in
its stored order, those the record does not name (the table's keys, anything a newer version writes) included.
Writes stay field updates (``JobStore.create``/``update``): several writers (the validator, the workers, the
report, the state machine) each set their own attributes, conditionally, and never the whole record.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, get_type_hints


@dataclass(frozen=True, kw_only=True)
class Job:
    """One import. A counter the record lacks is 0, a flag False, a list or mapping empty, a text "" (None where
    a reader tells "not written" apart from empty)."""

    job_id: str = ""
    status: str = ""  # jobs.VALIDATING ... jobs.INCOMPLETE
    created_at: str = ""  # ISO, UTC ("2026-03-14T09:41:07.512Z")
    updated_at: str = ""
    expires_at: int = 0  # epoch seconds (the table's TTL)

    # the upload (the S3 event)
    bucket: str = ""
    key: str = ""
    version_id: str = ""
    etag: str = ""
    size: int = 0
    uploaded_by: str | None = None
    source_ip: str | None = None
    partner: str = ""  # the partner whose prefix the upload is in
    recipients: tuple[str, ...] = ()  # the partner's; empty: the stack's

    # what the validator settled on
    options: Mapping[str, Any] = field(default_factory=dict)  # ImportOptions.to_dict()
    import_type: str | None = None
    dry_run: bool = False
    fixes_job: str = ""  # the job whose error file this upload is
    mapping_source: str = ""
    header: tuple[str, ...] = ()
    columns: tuple[Mapping[str, Any], ...] = ()  # Column.to_dict() each
    encoding: str | None = None
    delimiter: str | None = None
    new_attributes: tuple[Mapping[str, Any], ...] = ()  # {"name", "data_type", "options"} each
    attribute_notes: tuple[str, ...] = ()

    # validation: progress, leases, checkpoints, result
    lease_until: int = 0  # epoch seconds
    lease_holder: str = ""  # who holds the lease of a job run outside the pipeline (an undo's run)
    claimed_seq: int = 0
    checkpoint_seq: int = 0
    checkpoint_key: str = ""
    validate_invocations: int = 0
    rows_read: int = 0
    bytes_read: int = 0
    rows: int = 0
    valid: int = 0
    invalid: int = 0
    blank_lines: int = 0  # lines after the header that are not rows (empty, whitespace, empty cells): not in ``rows``
    unrecognisable_rows: int = 0  # valid people rows with no id, email, external_id or phone with name
    problem_kinds: Mapping[str, int] = field(default_factory=dict)
    problems_sample: tuple[Mapping[str, Any], ...] = ()  # {"line", "column", "value", "message"} each
    invalid_key: str = ""
    companies_total: int = 0
    companies_key: str = ""
    tag_ids: Mapping[str, Any] = field(default_factory=dict)  # the import's tags: name -> Intercom id
    prepare_calls: int = 0
    rejection: str = ""
    failure: Mapping[str, Any] = field(default_factory=dict)  # {"error", "message"}

    # the hand-over (validate/handover.py)
    handover: str = ""  # jobs.HANDOVER_PENDING or jobs.HANDOVER_DONE
    handover_outcome: str = ""  # an Outcome's value
    execution_started: bool = False
    chunks_queued: int = 0

    # the import
    chunks_total: int = 0
    chunks_done: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0  # Intercom already held every value of the row: nothing was written
    skipped: int = 0
    failed: int = 0
    api_calls: int = 0
    abort: Mapping[str, Any] = field(default_factory=dict)  # {"error", "message", "status"}: Intercom refused
    task_token: str = ""  # the state machine's, parked until the last chunk is recorded

    # the report and the state machine's last steps
    reason: str = ""
    error_file_key: str = ""
    duration_seconds: float | None = None
    reported_at: str = ""
    estimated_api_calls: int | None = None  # dry runs
    estimated_seconds: float | None = None
    email_status: str | None = None  # "sent" or "failed"
    email_message_id: str | None = None
    email_error: str | None = None
    failure_detail: str = ""
    finished_at: str | None = None

    # undo (``intercom-import undo``, ``undo/``): on an import, when its undo finished and that undo's job id; on
    # an undo's own record (``import_type`` "undo"), the import it undoes
    undone_at: str | None = None
    undo_job_id: str = ""
    undo_of: str = ""

    # what the record holds besides: the table's keys (pk, sk, gsi1pk, gsi1sk), anything a newer version writes
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False)
    # the stored item's attribute names, in its order (``to_dict`` writes them, and only them unless set since)
    attribute_names: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> Job:
        """The record of a stored item (as ``jobs.plain`` gives it: no Decimals, no sets)."""
        known = {name: _READ[name](value) for name, value in item.items() if name in _READ}
        extra = {name: value for name, value in item.items() if name not in _READ}
        return cls(**known, extra=extra, attribute_names=tuple(item))

    def to_dict(self) -> dict[str, Any]:
        """The stored item as JSON-friendly Python: every attribute it was read with, in its order, and any
        field set since."""
        values = {name: getattr(self, name) for name in _READ}
        values.update(self.extra)
        names = [*self.attribute_names]
        names += [n for n in values if n not in self.attribute_names and (n in self.extra or values[n] != _DEFAULTS[n])]
        return {name: _json(values[name]) for name in names if name in values}

    def row_counts(self) -> dict[str, int]:
        """The file's data rows and where they ended (``rows`` is the sum of the other six once it is done)."""
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": self.failed,
            "invalid": self.invalid,
        }

    @property
    def source(self) -> str | None:
        """The upload as an ``s3://`` URL (None when the record does not name it)."""
        return f"s3://{self.bucket}/{self.key}" if self.bucket and self.key else None

    @property
    def error_file(self) -> str | None:
        """The error file as an ``s3://`` URL (None: the job has none)."""
        return f"s3://{self.bucket}/{self.error_file_key}" if self.error_file_key and self.bucket else None


@dataclass(frozen=True)
class ChunkRecord:
    """A recorded chunk (written once, by ``JobStore.record_chunk``) as its readers get it: who recorded it and the
    keys of what that delivery wrote (``chunk_outputs.py``). Readers take a chunk's failed rows and change log from
    these keys only, never from a listing of the bucket: another delivery's objects may be there too.

    ``attempt`` names the delivery that recorded the chunk; "" for a record written before outputs had one. Such
    a record's ``result_key`` is a fixed key (still right), and it has no ``changes_key``: its change log, if the
    chunk changed anything, is at ``keys.legacy_changes`` (``changelog.chunk_logs`` looks there)."""

    index: int
    source: str = ""  # "worker", "dead-letter", "undo"
    attempt: str = ""
    result_key: str = ""  # the failed rows (an undo's: its tally); "" none
    changes_key: str = ""  # the change log; "" none (nothing changed, a dry run) or a record without ``attempt``

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> ChunkRecord:
        """The record of a stored ``CHUNK#`` item (as ``jobs.plain`` gives it)."""
        return cls(
            index=int(item["chunk"]),
            source=_text(item.get("source")),
            attempt=_text(item.get("attempt")),
            result_key=_text(item.get("result_key")),
            changes_key=_text(item.get("changes_key")),
        )


def _int(value: Any) -> int:
    return int(value or 0)


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _optional(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


def _number(value: Any) -> float:
    """A float attribute as stored (``jobs.plain`` makes a whole number an int: it stays one)."""
    return value if isinstance(value, int | float) else float(value)


def _texts(value: Iterable[Any] | None) -> tuple[str, ...]:
    return tuple(str(v) for v in value or ())


def _mappings(value: Iterable[Mapping[str, Any]] | None) -> tuple[Mapping[str, Any], ...]:
    return tuple(dict(v) for v in value or ())


def _mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return dict(value or {})


def _counts(value: Mapping[str, Any] | None) -> Mapping[str, int]:
    return {str(k): int(n) for k, n in (value or {}).items()}


# how a stored value becomes each field's type (an int stays an int, a list becomes a tuple ...)
_BY_TYPE: dict[Any, Callable[[Any], Any]] = {
    int: _int,
    str: _text,
    bool: bool,
    int | None: _optional(int),
    str | None: _optional(str),
    float | None: _optional(_number),
    tuple[str, ...]: _texts,
    tuple[Mapping[str, Any], ...]: _mappings,
    Mapping[str, Any]: _mapping,
    Mapping[str, int]: _counts,
}
_HINTS = get_type_hints(Job)
_READ: dict[str, Callable[[Any], Any]] = {
    f.name: _BY_TYPE[_HINTS[f.name]] for f in fields(Job) if f.name not in ("extra", "attribute_names")
}
_DEFAULTS: dict[str, Any] = {name: getattr(Job(), name) for name in _READ}


def _json(value: Any) -> Any:
    """Tuples as lists, mappings as dicts, all the way down (new containers: the record stays as it is)."""
    if isinstance(value, Mapping):
        return {k: _json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value
