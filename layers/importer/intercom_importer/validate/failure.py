"""A validation that failed: recorded on the job by the invocation itself (``guarded``), or, when the validator
died (crash, timeout, out of memory, after Lambda's retries), by the handler of its failure destination
(``handle_validator_failure``) or the sweep (``fail_abandoned``). Either way the job still ends in one email."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote_plus

from intercom_importer import jobs
from intercom_importer.errors import UNAUTHORIZED_MESSAGE, FileRejectedError, ImporterError, IntercomAuthError
from intercom_importer.observability import logger
from intercom_importer.settings import Settings
from intercom_importer.validate.context import Clients, Context
from intercom_importer.validate.handover import (
    HANDOVER_LEASE_SECONDS,
    finish_hand_over,
    hand_over_held,
    leaving_validation,
)
from intercom_importer.validate.outcome import Outcome


def guarded(ctx: Context, job_id: str, validate: Callable[[], Outcome]) -> Outcome:
    """Run the validation; any failure is recorded on the job (which still ends in one email)."""
    try:
        return validate()
    except FileRejectedError as exc:
        logger.info("file rejected", reason=exc.message)
        ctx.store.update(
            job_id, {"status": jobs.REJECTED, "rejection": exc.message, **leaving_validation(Outcome.REJECTED)}
        )
        return Outcome.REJECTED
    except ImporterError as exc:
        logger.exception("validation failed")
        message = exc.message
        if isinstance(exc, IntercomAuthError):
            message = f"{UNAUTHORIZED_MESSAGE} Nothing was imported."
        # rows that passed validation but were never imported count as failed (every row accounted for)
        _record_failure(ctx, job_id, exc, message, failed=ctx.store.get(job_id).valid)
        return Outcome.FAILED
    except Exception as exc:  # any bug still ends in an email, never in silence
        logger.exception("validation crashed")
        _record_failure(ctx, job_id, exc, "The validator failed unexpectedly.")
        return Outcome.FAILED


def _record_failure(ctx: Context, job_id: str, exc: Exception, message: str, **counts: int) -> None:
    failure = {"error": type(exc).__name__, "message": message}
    fields = {"status": jobs.FAILED, **counts, "failure": failure, **leaving_validation(Outcome.FAILED)}
    ctx.store.update(job_id, fields)


def handle_validator_failure(
    destination_record: Mapping[str, Any], *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> list[dict[str, Any]]:
    """An upload (or a continuation) the validator never finished (crash, timeout, out of memory, after
    Lambda's retries).

    Lambda's on-failure destination hands over the original event and the error. A job nobody holds any
    more (still validating, its lease expired) is marked failed (rows that were read count as failed) and
    its state machine is started with status ``failed``, so the user still gets exactly one email. A job
    that finished is left alone; one a live lease still holds is reported "held" (the caller asks again
    later), and ``sweep_abandoned`` is the backstop.
    """
    ctx = Context(settings, store, clients)
    event = destination_record.get("requestPayload") or {}
    response = destination_record.get("responsePayload") or {}
    error = str(response.get("errorType") or "ValidatorFailed")
    detail = str(response.get("errorMessage") or "the validator stopped without an answer")[:300]
    continued = event.get("continue") if isinstance(event, Mapping) else None
    if isinstance(continued, Mapping) and continued.get("job_id"):  # a continuation of a big file died
        job_id = str(continued["job_id"])
        return [{"job_id": job_id, "outcome": fail_abandoned(ctx, job_id, error, detail)}]
    outcomes = []
    for record in event.get("Records") or []:
        outcome = _fail_upload(ctx, record, error, detail)
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def _fail_upload(ctx: Context, record: Mapping[str, Any], error: str, detail: str) -> dict[str, Any] | None:
    """The job of one S3 record of a failed upload event (None for an object that is not an import file)."""
    s3 = record.get("s3") or {}
    bucket = (s3.get("bucket") or {}).get("name", "")
    obj = s3.get("object") or {}
    key = unquote_plus(obj.get("key", ""))
    if not key or key.endswith("/") or key.lower().endswith(".json"):
        return None
    job_id = jobs.job_id_for(bucket, key, obj.get("versionId") or obj.get("eTag"))
    fields = {
        "status": jobs.FAILED,
        "failure": {"error": error, "message": _failure_message(error, detail)},
        "bucket": bucket,
        "key": key,
        "version_id": obj.get("versionId") or "",
        "uploaded_by": str((record.get("userIdentity") or {}).get("principalId") or ""),
        "source_ip": str((record.get("requestParameters") or {}).get("sourceIPAddress") or ""),
        "lease_until": int(time.time()) + HANDOVER_LEASE_SECONDS,
        **leaving_validation(Outcome.FAILED),
    }
    if ctx.store.create(job_id, fields):  # it died before it could record the job
        hand_over_held(ctx, job_id)
        return {"job_id": job_id, "outcome": Outcome.FAILED}
    return {"job_id": job_id, "outcome": fail_abandoned(ctx, job_id, error, detail)}


def _failure_message(error: str, detail: str) -> str:
    return (
        f"The file could not be validated: the validator failed after retries ({error}: {detail}). Nothing was "
        "written to Intercom. If the file is very large or unusual, check it with `intercom-import validate`, "
        "then upload it again."
    )


def fail_abandoned(ctx: Context, job_id: str, error: str, detail: str) -> Outcome:
    """End a validation nobody holds any more as failed and start its email: FAILED; ALREADY_HANDLED
    when it left validation; HELD while an invocation's lease is live (the dead invocation's own lease
    outlives it by up to 30 s, or another invocation is at work: ask again later). The condition is checked
    by the write, so a late continuation cannot revive the job and two handlers cannot both fail it.

    A job that left validation but whose hand-over is unfinished (the invocation failed or died while starting
    it) has it finished here: HANDED_OVER (HELD while a live invocation holds it)."""
    now = int(time.time())
    job = ctx.store.get(job_id)
    if job.status != jobs.VALIDATING:
        return finish_hand_over(ctx, job_id, job)
    if job.lease_until >= now:
        return Outcome.HELD
    fields = {
        "failure": {"error": error, "message": _failure_message(error, detail)},
        "failed": job.valid,  # rows found valid so far were never imported
        "lease_until": now + HANDOVER_LEASE_SECONDS,  # this handler holds the job while it starts the email
        **leaving_validation(Outcome.FAILED),
    }
    if not ctx.store.fail_abandoned(job_id, fields, now):
        return Outcome.HELD if ctx.store.get(job_id).status == jobs.VALIDATING else Outcome.ALREADY_HANDLED
    hand_over_held(ctx, job_id)
    return Outcome.FAILED
