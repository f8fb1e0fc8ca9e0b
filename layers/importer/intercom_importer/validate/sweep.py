"""The scheduled backstop: validations nobody works on any more end as failed with their email
(``sweep_abandoned``), and hand-overs nobody finished are finished (``sweep_handovers``)."""

from __future__ import annotations

import time

from intercom_importer import jobs
from intercom_importer.observability import logger
from intercom_importer.settings import Settings
from intercom_importer.validate.context import Clients, Context
from intercom_importer.validate.failure import fail_abandoned
from intercom_importer.validate.handover import finish_hand_over
from intercom_importer.validate.outcome import Outcome

SWEEP_LOOKBACK_DAYS = 7


def _since(now: int) -> str:
    """The creation time of the oldest job a sweep looks at."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - SWEEP_LOOKBACK_DAYS * 86400))


def sweep_abandoned(*, settings: Settings, store: jobs.JobStore, clients: Clients) -> list[str]:
    """Every job of the last days still validating that nobody holds (its lease expired: the invocation died
    in a way no retry or failure destination reported, e.g. killed while its lease was still live and its
    retries were turned away). Each is failed with an email; returns their ids."""
    ctx = Context(settings, store, clients)
    now = int(time.time())
    failed = []
    for job in store.stale_validations(_since(now), now):
        job_id = job.job_id
        detail = "no invocation was working on it any more (found by the periodic sweep)"
        try:
            outcome = fail_abandoned(ctx, job_id, "ValidationAbandoned", detail)
        except Exception:  # failed but its email not started: left to ``sweep_handovers``, which raises
            logger.exception("abandoned validation failed; its email not started yet", job_id=job_id)
            continue
        if outcome == Outcome.FAILED:
            logger.warning("abandoned validation failed", job_id=job_id)
            failed.append(job_id)
    return failed


def sweep_handovers(*, settings: Settings, store: jobs.JobStore, clients: Clients) -> list[str]:
    """Every job of the last days that left validation but whose hand-over (start the state machine, queue the
    chunks) nobody finished and nobody holds (the invocation died, or failed and its retries ran out). Each is
    finished; returns their ids. One that fails again is left for the next sweep (the error is raised after
    the others were tried)."""
    ctx = Context(settings, store, clients)
    now = int(time.time())
    finished: list[str] = []
    errors: list[Exception] = []
    for job in store.unfinished_handovers(_since(now), now):
        job_id = job.job_id
        try:
            if finish_hand_over(ctx, job_id, job) == Outcome.HANDED_OVER:
                finished.append(job_id)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return finished
