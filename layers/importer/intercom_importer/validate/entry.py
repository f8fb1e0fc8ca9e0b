"""The validator's entry points: an upload's S3 event (``handle_upload``), the validator's own continuation
event (``handle_continue``) and a whole file validated in one go for ``intercom-import validate``
(``validate_only``). An invocation holds the job before it reads (the job created with a condition, its lease or
its checkpoint claimed), so a repeated event is a no-op, and hands the job over once the whole file is read."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from intercom_importer import jobs
from intercom_importer.errors import FileRejectedError
from intercom_importer.observability import bind_job, logger
from intercom_importer.settings import Settings
from intercom_importer.validate.checkpoint import claim_checkpoint, load_checkpoint, seen_restorer
from intercom_importer.validate.context import Clients, Context
from intercom_importer.validate.deadline import NO_DEADLINE, Deadline, invocation_deadline
from intercom_importer.validate.failure import guarded
from intercom_importer.validate.handover import hand_over_held, resume_hand_over
from intercom_importer.validate.opening import open_file
from intercom_importer.validate.outcome import Outcome
from intercom_importer.validate.row_loop import read_rows
from intercom_importer.validate.upload import Upload, reopen_upload


@dataclass(frozen=True)
class _Invocation:
    """The Lambda invocation an entry point runs in."""

    remaining_ms: Callable[[], int]
    function_arn: str = ""  # this function, to invoke a continuation ("": the file is read in one go)
    deadline: Deadline | None = None  # None: the settings' budget within ``remaining_ms``

    def lease(self) -> int:
        """How long the invocation holds the job: until shortly after its own timeout."""
        return max(60, self.remaining_ms() // 1000 + 30)

    def until(self, ctx: Context) -> Deadline:
        """When the invocation stops reading (never, if it cannot invoke a continuation)."""
        return self.deadline or invocation_deadline(ctx.settings, ctx.clients, self.remaining_ms, self.function_arn)


def handle_upload(
    upload: Upload,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    remaining_ms: Callable[[], int],
    function_arn: str = "",
    deadline: Deadline | None = None,
) -> dict[str, Any]:
    """Validate one uploaded object and start its job. Returns a short summary for the log.

    With ``function_arn`` (and ``clients.lambda_``) a file that needs more time than ``deadline`` (by
    default the settings' budget within ``remaining_ms``) continues in a new invocation of that function.
    """
    ctx = Context(settings, store, clients)
    invocation = _Invocation(remaining_ms, function_arn, deadline)
    job_id = jobs.job_id_for(upload.bucket, upload.key, upload.version_id or upload.etag)
    lease = invocation.lease()
    if not store.create(job_id, _new_job(upload, lease)) and not store.claim(job_id, lease):
        return _upload_again(ctx, job_id, lease, invocation)
    until = invocation.until(ctx)
    return _run(ctx, job_id, lambda: _read_new(ctx, job_id, upload, until, function_arn))


def _new_job(upload: Upload, lease: int) -> dict[str, Any]:
    """The job record of an upload, created (or taken over) by its first invocation."""
    return {
        "status": jobs.VALIDATING,
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id or "",
        "etag": upload.etag or "",
        "size": upload.size or 0,
        "uploaded_by": upload.uploaded_by or "",
        "source_ip": upload.source_ip or "",
        "lease_until": int(time.time()) + lease,
        "claimed_seq": 0,
        "validate_invocations": 1,
    }


def _upload_again(ctx: Context, job_id: str, lease: int, invocation: _Invocation) -> dict[str, Any]:
    """An upload event whose job exists and is held (or left validation): usually a no-op."""
    job = ctx.store.get(job_id)
    if job.handover == jobs.HANDOVER_PENDING:
        # Lambda retries an upload event whose invocation failed after the validation ended, while starting
        # the job: this event finishes the hand-over (unless a live invocation holds it)
        resumed = resume_hand_over(ctx, job_id, lease)
        if resumed is not None:
            return {"job_id": job_id, "outcome": resumed, "resumed": True}
    if job.status == jobs.VALIDATING and job.checkpoint_seq:
        # Lambda retries an upload event whose invocation died: if it died after saving a checkpoint
        # but before handing over, nobody else will go on, so this event does (from the checkpoint,
        # never from the start); if a continuation holds the checkpoint, the claim refuses it.
        return _continue(ctx, {"job_id": job_id, "seq": job.checkpoint_seq}, invocation)
    logger.info("duplicate upload event ignored", job_id=job_id)
    return {"job_id": job_id, "duplicate": True}


def handle_continue(
    request: Mapping[str, Any],
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    remaining_ms: Callable[[], int],
    function_arn: str = "",
    deadline: Deadline | None = None,
) -> dict[str, Any]:
    """Continue validating a file from checkpoint ``request["seq"]`` (the validator's own async event).

    The checkpoint is claimed with a conditional write: a repeated or stale event is a no-op. An event
    retried after its invocation died (its lease expired) takes over from the job's latest checkpoint;
    whatever the dead invocation wrote after it is written again identically (chunk and checkpoint keys
    are numbered).
    """
    return _continue(Context(settings, store, clients), request, _Invocation(remaining_ms, function_arn, deadline))


def _continue(ctx: Context, request: Mapping[str, Any], invocation: _Invocation) -> dict[str, Any]:
    job_id = str(request["job_id"])
    lease = invocation.lease()
    seq, claimed = claim_checkpoint(ctx, job_id, int(request["seq"]), lease)
    if not claimed:
        if ctx.store.get(job_id).handover == jobs.HANDOVER_PENDING:
            # the retry of the last continuation, whose invocation failed while starting the job: finish that
            resumed = resume_hand_over(ctx, job_id, lease)
            if resumed is not None:
                return {"job_id": job_id, "seq": seq, "outcome": resumed, "resumed": True}
        logger.info("continuation already taken or stale; ignored", job_id=job_id, seq=seq)
        return {"job_id": job_id, "seq": seq, "duplicate": True}
    until = invocation.until(ctx)
    result = _run(ctx, job_id, lambda: _read_on(ctx, job_id, seq, until, invocation.function_arn))
    return {**result, "seq": seq}


def validate_only(
    job_id: str, upload: Upload, *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> Outcome:
    """The validation an upload gets, in one go, without starting the job (``intercom-import validate``):
    ACCEPTED or REJECTED, with the counts, columns and problems on the job record. Errors other than a
    rejection propagate."""
    try:
        return _read_new(Context(settings, store, clients), job_id, upload, NO_DEADLINE)
    except FileRejectedError as exc:
        store.update(job_id, {"status": jobs.REJECTED, "rejection": exc.message})
        return Outcome.REJECTED


def _run(ctx: Context, job_id: str, read: Callable[[], Outcome]) -> dict[str, Any]:
    """What an invocation that holds the job does: read until done or its deadline, any failure recorded on the
    job, then start the job once the whole file is read (not when another invocation continues)."""
    bind_job(job_id)
    outcome = guarded(ctx, job_id, read)
    if outcome != Outcome.CONTINUED:
        hand_over_held(ctx, job_id)
    return {"job_id": job_id, "outcome": outcome}


def _read_new(ctx: Context, job_id: str, upload: Upload, deadline: Deadline, function_arn: str = "") -> Outcome:
    """Read an upload from its start."""
    plan, state, stream = open_file(ctx, job_id, upload, function_arn)
    return read_rows(ctx, plan, state, stream, None, deadline)


def _read_on(ctx: Context, job_id: str, seq: int, deadline: Deadline, function_arn: str) -> Outcome:
    """Read on from checkpoint ``seq``."""
    checkpoint = load_checkpoint(ctx, job_id, seq, function_arn)
    stream = reopen_upload(ctx.s3, checkpoint.plan.upload, checkpoint.position)
    rows = checkpoint.state.counts["rows"]
    logger.info("continuing from a checkpoint", seq=seq, rows=rows, offset=checkpoint.position.offset)
    return read_rows(ctx, checkpoint.plan, checkpoint.state, stream, seen_restorer(ctx, checkpoint), deadline)
