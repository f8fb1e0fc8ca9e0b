"""The hand-over of a job that left validation: its state machine started and, for an accepted file, its chunks
queued, each step recorded on the job (``handover``, ``execution_started``, ``chunks_queued``) so that whoever
finds it unfinished (a retry of the event, the failure handler, the sweep) goes on where it stopped."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, jobs
from intercom_importer.chunks import chunk_message
from intercom_importer.job_record import Job
from intercom_importer.observability import logger
from intercom_importer.sequences import batched
from intercom_importer.settings import Settings
from intercom_importer.validate.context import Context
from intercom_importer.validate.outcome import Outcome

SQS_BATCH = 10
HANDOVER_LEASE_SECONDS = 300  # a hand-over taken over by the failure handler or the sweep (timeouts 30 s, 120 s)


def leaving_validation(outcome: Outcome) -> dict[str, Any]:
    """The fields written with the status that ends a validation: its hand-over is now due."""
    return {"handover": jobs.HANDOVER_PENDING, "handover_outcome": outcome.value}


def hand_over_held(ctx: Context, job_id: str) -> Outcome:
    """The hand-over by the invocation that holds the job's lease. If it fails the lease is released and the
    error raised: Lambda's retry of the event finishes it at once (the sweep does if the retries run out)."""
    try:
        return _hand_over(ctx, job_id)
    except Exception:
        logger.exception("starting the job failed; a retry or the sweep finishes it")
        try:
            ctx.store.release_handover(job_id)
        except Exception:  # the lease then expires by itself
            logger.exception("could not release the hand-over")
        raise


def resume_hand_over(ctx: Context, job_id: str, lease: int) -> Outcome | None:
    """Finish a hand-over that an earlier invocation left unfinished: its outcome, or None when it is finished
    or a live invocation holds it."""
    if not ctx.store.claim_handover(job_id, lease):
        return None
    logger.warning("finishing an interrupted hand-over", job_id=job_id)
    return hand_over_held(ctx, job_id)


def finish_hand_over(ctx: Context, job_id: str, job: Job) -> Outcome:
    """For a job that left validation: HANDED_OVER if its unfinished hand-over was finished here, HELD if a
    live invocation holds it, ALREADY_HANDLED if it was finished."""
    if job.handover != jobs.HANDOVER_PENDING:
        return Outcome.ALREADY_HANDLED
    if resume_hand_over(ctx, job_id, HANDOVER_LEASE_SECONDS):
        return Outcome.HANDED_OVER
    return Outcome.HELD if ctx.store.get(job_id).handover == jobs.HANDOVER_PENDING else Outcome.ALREADY_HANDLED


def _hand_over(ctx: Context, job_id: str) -> Outcome:
    """Start the state machine of a job that left validation and queue its chunks, each step recorded on the
    job so that a later call goes on where an interrupted one stopped; returns the outcome handed over."""
    store = ctx.store
    job = store.get(job_id)
    outcome = Outcome(job.handover_outcome or Outcome.FAILED)
    if not job.execution_started:
        _start_execution(ctx.clients.sfn, ctx.settings, job_id, outcome)  # by name: a repeated start is a no-op
        store.update(job_id, {"execution_started": True})
    if outcome == Outcome.ACCEPTED and job.status == jobs.IMPORTING:
        _queue_chunks(
            ctx.clients.sqs,
            ctx.settings,
            job_id,
            job.chunks_total,
            first=job.chunks_queued + 1,
            queued=lambda last: store.update(job_id, {"chunks_queued": last}),
        )
    store.update(job_id, {"handover": jobs.HANDOVER_DONE})
    return outcome


def _queue_chunks(
    sqs: Any,
    settings: Settings,
    job_id: str,
    chunks_total: int,
    *,
    first: int = 1,
    queued: Callable[[int], Any] | None = None,
) -> None:
    """Send the messages of chunks ``first``..``chunks_total``, ``queued(last)`` called after each batch."""
    for batch in batched(range(first, chunks_total + 1), SQS_BATCH):
        # MessageGroupId: an SQS fair queue (standard queue) interleaves the chunks of concurrent jobs, so a
        # big import does not hold a small one behind its backlog; ignored where fair queues do not apply.
        entries = [{"Id": str(i), "MessageBody": chunk_message(job_id, i), "MessageGroupId": job_id} for i in batch]
        response = sqs.send_message_batch(QueueUrl=settings.chunk_queue_url, Entries=entries)
        failed = response.get("Failed") or []
        for entry in failed:  # one retry per refused entry, then surface the problem
            sqs.send_message(
                QueueUrl=settings.chunk_queue_url,
                MessageBody=chunk_message(job_id, int(entry["Id"])),
                MessageGroupId=job_id,
            )
        if queued is not None:
            queued(batch[-1])


def _start_execution(sfn: Any, settings: Settings, job_id: str, outcome: Outcome) -> None:
    payload = {"job_id": job_id, "status": outcome.value, "timeout_seconds": settings.job_timeout_seconds}
    try:
        sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=job_id, input=json.dumps(payload))
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            raise
        logger.info("execution already started", job_id=job_id)
