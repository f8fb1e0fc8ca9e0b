"""The row pool: a chunk's rows run several at a time, in row order, and the ways a chunk ends early:
``ChunkInterrupted`` (a retryable error, or the invocation's time running out: the finished rows travel with
it), ``ChunkSetAside`` (every other row finished, but some creates' outcome is unknown: they are checked again
later) and ``JobAbort`` (Intercom refused the whole job: no row starts after it)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from intercom_importer.errors import ChunkOutOfTimeError, IntercomPermanentError
from intercom_importer.upsert.records import ChunkContext, RowResult


class JobAbort(Exception):
    """Intercom refused the whole job (bad token, plan restriction): stop calling it.

    ``done`` holds the rows of the chunk that had finished before (written to Intercom, on other threads or
    before a refused tagging call): they count as they ended, not as "not imported".
    """

    def __init__(self, cause: IntercomPermanentError, done: Mapping[int, RowResult] | None = None) -> None:
        super().__init__(cause.message)
        self.cause = cause
        self.done: dict[int, RowResult] = dict(done or {})


class RowUncertain(Exception):
    """A row's create may or may not have been carried out (a lead's create answered 5xx, or not at all):
    Intercom never refuses a second lead, so creating it again could duplicate it. The row is set aside and
    checked again once Intercom's search can show a contact created at ``since`` (epoch seconds)."""

    def __init__(self, line: int, since: float, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.line = line
        self.since = since
        self.cause = cause


class ChunkInterrupted(Exception):
    """A retryable error stopped the chunk; ``done`` holds the rows that finished before it, ``uncertain`` the
    rows set aside (line -> when their create was sent).

    The worker keeps them, so the retry neither writes those rows again nor counts a user it created
    as "updated" because of the 409 its second create would get.
    """

    def __init__(
        self, done: dict[int, RowResult], cause: BaseException, uncertain: Mapping[int, float] | None = None
    ) -> None:
        super().__init__(str(cause))
        self.done = done
        self.cause = cause
        self.uncertain = dict(uncertain or {})


class ChunkSetAside(Exception):
    """Every row of the chunk ended but those in ``uncertain`` (line -> when their create was sent), whose
    create's outcome is unknown; ``done`` holds the others. The chunk is run again after Intercom's search lag:
    the set-aside rows are then looked for (ledger, then search) before any new create."""

    def __init__(self, done: dict[int, RowResult], uncertain: Mapping[int, float]) -> None:
        super().__init__(f"{len(uncertain)} row(s) set aside: their create's outcome is unknown")
        self.done = done
        self.uncertain = dict(uncertain)


def run_rows(
    rows: Sequence[Mapping[str, Any]],
    one: Callable[[Mapping[str, Any]], RowResult],
    ctx: ChunkContext,
    threads: int,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> list[RowResult]:
    """Run ``one`` for every row not done by an earlier attempt, several at a time, in row order.

    A retryable error does not lose the rows that finished: they travel in ``ChunkInterrupted``.
    A ``JobAbort`` (bad token, plan restriction) propagates with the rows that finished (``JobAbort.done``), and
    no row starts after it: only the calls already in flight on other threads are made (Intercom refuses those too).
    ``clock`` is the one ``ctx.start_rows_until`` is a time of (injectable for tests).
    """
    results = {int(row["line"]): ctx.done[int(row["line"])] for row in rows if int(row["line"]) in ctx.done}
    pending = [row for row in rows if int(row["line"]) not in ctx.done]
    aborted: list[JobAbort] = []
    out_of_time: list[int] = []

    def guarded(row: Mapping[str, Any]) -> RowResult | None:
        if aborted:
            return None  # not started: the job is aborted
        if ctx.start_rows_until is not None and clock() >= ctx.start_rows_until:
            out_of_time.append(int(row["line"]))
            return None  # not started: left for the next delivery
        try:
            return one(row)
        except JobAbort as exc:
            aborted.append(exc)
            raise

    uncertain: dict[int, float] = {}
    failure = _run_pending(pending, guarded, threads, results, uncertain)
    if aborted:
        aborted[0].done = {**results, **aborted[0].done}
        raise aborted[0]
    if failure is None and out_of_time:
        failure = ChunkOutOfTimeError(
            f"{len(out_of_time)} of the chunk's {len(rows)} rows were not started before the worker's time ran out "
            "(a slow Intercom or a low rate limit); they are imported by the chunk's next delivery"
        )
    if failure is not None:
        raise ChunkInterrupted(results, failure, uncertain) from failure
    if uncertain:
        raise ChunkSetAside(results, uncertain)
    return [results[int(row["line"])] for row in rows]


def _run_pending(
    pending: Sequence[Mapping[str, Any]],
    run: Callable[[Mapping[str, Any]], RowResult | None],
    threads: int,
    results: dict[int, RowResult],
    uncertain: dict[int, float],
) -> BaseException | None:
    """Run every pending row on ``threads`` threads, adding the results of the rows that ran to ``results`` and
    the rows set aside to ``uncertain``; returns the first error other than ``JobAbort`` (which ``run`` records
    itself)."""
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="row") as pool:
        futures = {pool.submit(run, row): int(row["line"]) for row in pending}
        for future, line in futures.items():
            try:
                result = future.result()
            except JobAbort:
                continue  # the rows queued after it return at once, not started; those in flight are collected
            except RowUncertain as exc:
                uncertain[line] = exc.since
            except Exception as exc:
                failure = failure or exc
            else:
                if result is not None:
                    results[line] = result
    return failure
