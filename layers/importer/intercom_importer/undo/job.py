"""Undoing an import: its change log, chunk by chunk, exactly once, to one summary email.

The undo is a job of its own (``undo_job_id``: ``<job>-undo``, deterministic), with its own record in the jobs
table (``import_type`` "undo", ``undo_of`` the import). The change log read is the one the import's chunk records
name (``changelog.chunk_logs``). Each chunk of it is undone, its tally stored under a key of this attempt's own
(``keys.undo_result``) and recorded once with ``JobStore.record_chunk``, as the workers record an import's chunks
(``chunk_outputs.py``): the summary adds up the tallies the undo's chunk records name, and a run that loses a
chunk's record (two runs at once: a lease that ran out) deletes its tally. A re-run (after a crash, an outage, a
refused email) skips the chunks recorded and undoes the one in flight again: every value is read before it is
written (``contact.py``), so what the stopped run restored is found restored and not written twice. Once every
chunk is recorded the summary email goes out (once: the undo's record keeps its status), then the import's record
gets ``undone_at`` and ``undo_job_id``; an import with ``undone_at`` is undone already, and a second undo of it
changes nothing.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, keys
from intercom_importer.changelog import CONTACT, Change, chunk_logs, read_chunk_log
from intercom_importer.chunk_outputs import discard, new_attempt
from intercom_importer.errors import EmailSendError, UndoRefusedError
from intercom_importer.intercom import IntercomClient
from intercom_importer.job_record import Job
from intercom_importer.jobs import COMPLETED, TERMINAL, JobStore, now_iso
from intercom_importer.undo.contact import CREATED, TagIds, undo_change
from intercom_importer.undo.email import undo_email
from intercom_importer.undo.records import Tally

UNDO = "undo"  # the ``import_type`` of an undo's own record
UNDOING = "undoing"  # its status until it is finished (then ``completed``)
UNDO_LEASE_SECONDS = 300  # a run renews it before each chunk (one chunk's entries take far less); a run that stops
# gives it up, so only a killed one makes the next run wait for it to run out


def undo_job_id(job_id: str) -> str:
    """The undo's own job id: the same for every run of the undo of ``job_id``."""
    return f"{job_id}-undo"


@dataclass(frozen=True)
class Plan:
    """What an import's change log holds, before anything is read from Intercom: ``changes`` (values to put back,
    company links and tags to remove, contacts to archive) on ``contacts`` contacts, of which ``created`` were
    created by the import; ``companies``: company rows (left alone)."""

    changes: int
    contacts: int
    created: int
    companies: int


@dataclass
class UndoResult:
    """What an undo came to (its ``tally`` over every chunk, earlier runs' included)."""

    job_id: str
    undo_job_id: str
    dry_run: bool
    tally: Tally = field(default_factory=Tally)
    already_undone: bool = False
    undone_at: str | None = None
    email: Mapping[str, Any] = field(default_factory=dict)  # {"status", "message_id", "to"}


@dataclass
class Undo:
    """What an undo works with: the job store, the import bucket, the Intercom client (paced by the workers'
    governor), ``send`` (sends ``{"to", "subject", "text", "html"}``, returns the message id or raises
    ``EmailSendError``), the stack's recipients (for an import without its own) and ``on_chunk`` (told
    ``(chunks done, chunks)`` as it goes)."""

    store: JobStore
    s3: Any
    bucket: str
    client: IntercomClient
    send: Callable[[Mapping[str, Any]], str]
    recipients: tuple[str, ...] = ()
    on_chunk: Callable[[int, int], None] | None = None
    threads: int = 8  # entries of a chunk undone at once (the client is shared; the governor paces them)
    holder: str = field(default_factory=lambda: uuid.uuid4().hex)  # this run, for the undo's lease


def check_undoable(job: Job) -> None:
    """Refuse (``UndoRefusedError``) an import that cannot be undone, before its change log is read."""
    if job.undo_of or job.import_type == UNDO:
        raise UndoRefusedError(
            f"job {job.job_id} is an undo (of {job.undo_of or 'an import'}): an undo cannot be undone; import the "
            "file again to put its values back"
        )
    if job.dry_run:
        raise UndoRefusedError(
            f"job {job.job_id} was a dry run: it wrote nothing to Intercom, there is nothing to undo"
        )
    if job.status not in TERMINAL:
        raise UndoRefusedError(
            f"job {job.job_id} is not finished (status {job.status or 'unknown'}): wait until it is "
            f"(intercom-import status {job.job_id} --watch), then undo it"
        )


def change_logs(s3: Any, bucket: str, job: Job, *, store: JobStore) -> list[tuple[int, str]]:
    """The import's change logs, ``(chunk, key)``, as its chunk records name them; refuses an import that cannot be
    undone."""
    check_undoable(job)
    logs = chunk_logs(s3, bucket, job.job_id, store=store)
    if not logs:
        raise UndoRefusedError(
            f"job {job.job_id} has no change log: it changed nothing in Intercom (or it ran before imports logged "
            "their changes), so there is nothing to undo"
        )
    return logs


def plan(s3: Any, bucket: str, job: Job, *, store: JobStore) -> Plan:
    """Count what the change log holds (no Intercom call): what a confirmation asks about."""
    changes = created = companies = 0
    contacts: set[str] = set()
    for _, key in change_logs(s3, bucket, job, store=store):
        for change in read_chunk_log(s3, bucket, key):
            if change.kind != CONTACT:
                companies += 1
                continue
            contacts.add(change.intercom_id)
            created += change.outcome == CREATED
            changes += _values(change)
    return Plan(changes, len(contacts), created, companies)


def _values(change: Change) -> int:
    if change.outcome == CREATED:
        return 1
    return len(change.fields) + len(change.custom_attributes) + bool(change.company) + len(change.tags)


def undo_import(undo: Undo, job_id: str, *, dry_run: bool = False) -> UndoResult:
    """Undo the import ``job_id`` (see the module's docstring); with ``dry_run``, read and count only: nothing is
    written, to Intercom or anywhere else. Raises ``JobNotFoundError``/``UndoRefusedError`` for a job it cannot
    undo, the client's errors when Intercom stops it (run it again: what is done stays done), ``EmailSendError``
    when everything is undone but the email could not be sent (run it again to send it)."""
    job = undo.store.get(job_id)
    undo_id = undo_job_id(job_id)
    if job.undone_at:
        return UndoResult(job_id, job.undo_job_id or undo_id, dry_run, already_undone=True, undone_at=job.undone_at)
    logs = change_logs(undo.s3, undo.bucket, job, store=undo.store)
    tags = TagIds(undo.client)
    if dry_run:
        tallies = (_undo_chunk(undo, key, tags, dry_run=True, done=(i, len(logs))) for i, (_, key) in enumerate(logs))
        return UndoResult(job_id, undo_id, dry_run, Tally.total(tallies))
    recipients = tuple(job.recipients or undo.recipients)
    _open(undo, job, undo_id, len(logs), recipients)
    _hold(undo, undo_id)
    try:
        for done, (index, key) in enumerate(logs):
            _hold(undo, undo_id)
            if not undo.store.is_chunk_recorded(undo_id, index):
                _record(undo, undo_id, index, _undo_chunk(undo, key, tags, dry_run=False, done=(done, len(logs))))
        _hold(undo, undo_id)
        total = Tally.total(_stored(undo, chunk.result_key) for chunk in undo.store.chunk_records(undo_id))
        email = _send_summary(undo, job, undo_id, total, recipients)
    except BaseException:
        undo.store.let_go(undo_id, undo.holder)  # a run that stops lets the next one start at once
        raise
    undone_at = now_iso()
    undo.store.update(job_id, {"undone_at": undone_at, "undo_job_id": undo_id})
    undo.store.update(undo_id, {"status": COMPLETED, "finished_at": undone_at, "lease_until": 0})
    return UndoResult(job_id, undo_id, dry_run, total, undone_at=undone_at, email=email)


def _hold(undo: Undo, undo_id: str) -> None:
    """Take or renew this run's lease on the undo: two runs of one undo at once would both send its email."""
    if not undo.store.hold(undo_id, undo.holder, UNDO_LEASE_SECONDS):
        lease = undo.store.get(undo_id).lease_until
        until = time.strftime("%H:%M:%S UTC", time.gmtime(lease))
        raise UndoRefusedError(
            f"another run of this undo ({undo_id}) is under way (its lease runs until {until}): let it finish, "
            "or, if it stopped, run the undo again after that time"
        )


def _undo_chunk(undo: Undo, key: str, tags: TagIds, *, dry_run: bool, done: tuple[int, int]) -> Tally:
    """Undo (or with ``dry_run``, plan) one chunk's changes; ``api_calls``: the calls it made."""
    calls_before = undo.client.stats.calls
    tally = Tally.total(_each(undo.client, read_chunk_log(undo.s3, undo.bucket, key), tags, dry_run, undo.threads))
    tally.api_calls = undo.client.stats.calls - calls_before
    if undo.on_chunk is not None:
        undo.on_chunk(done[0] + 1, done[1])
    return tally


def _each(client: IntercomClient, changes: Iterable[Change], tags: TagIds, dry_run: bool, threads: int) -> list[Tally]:
    """Each entry undone, ``threads`` at once (each touches its own contact), in the log's order."""

    def one(change: Change) -> Tally:
        return undo_change(client, change, tags=tags, dry_run=dry_run)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        return list(pool.map(one, changes))


def _open(undo: Undo, job: Job, undo_id: str, chunks: int, recipients: tuple[str, ...]) -> None:
    """The undo's own record, created by its first run (a re-run goes on with it)."""
    undo.store.create(
        undo_id,
        {
            "status": UNDOING,
            "import_type": UNDO,
            "undo_of": job.job_id,
            "bucket": undo.bucket,
            "key": job.key,
            "partner": job.partner,
            "recipients": list(recipients),
            "chunks_total": chunks,
        },
    )


def _record(undo: Undo, undo_id: str, index: int, tally: Tally) -> None:
    """Store a chunk's tally under this attempt's key, then record the chunk with it (and add its counters to the
    undo's record) exactly once; a run that loses the record (another recorded the chunk) deletes its tally."""
    attempt = new_attempt()
    key = keys.undo_result(undo_id, index, attempt)
    body = json.dumps(tally.to_json(), separators=(",", ":"), default=str).encode()
    undo.s3.put_object(Bucket=undo.bucket, Key=key, Body=body, ContentType="application/json")
    if not undo.store.record_chunk(
        undo_id, index, {}, result_key=key, attempt=attempt, source=UNDO, extra=tally.counters()
    ):
        discard(undo.s3, undo.bucket, key)


def _stored(undo: Undo, key: str) -> Tally:
    """A recorded chunk's tally (its record's ``result_key``: a fixed key in a record from before attempts)."""
    if not key:
        return Tally()
    try:
        body = undo.s3.get_object(Bucket=undo.bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return Tally()
        raise
    return Tally.from_json(json.loads(body))


def _send_summary(undo: Undo, job: Job, undo_id: str, total: Tally, recipients: tuple[str, ...]) -> dict[str, Any]:
    """The one summary email: sent unless an earlier run sent it (the undo's record says)."""
    record = undo.store.get(undo_id)
    if record.email_status == "sent":
        return {"status": "sent", "message_id": record.email_message_id, "to": list(recipients)}
    message = undo_email(job, undo_id, total, recipients)
    try:
        message_id = undo.send(message)
    except EmailSendError as exc:
        undo.store.update(undo_id, {"email_status": "failed", "email_error": exc.message})
        raise
    undo.store.update(undo_id, {"email_status": "sent", "email_message_id": message_id, "email_error": None})
    return {"status": "sent", "message_id": message_id, "to": list(recipients), "subject": message["subject"]}
