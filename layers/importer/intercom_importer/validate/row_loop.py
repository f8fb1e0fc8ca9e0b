"""The row loop: rows validated in blocks (one duplicate lookup per block), counted, valid ones written to
chunks and invalid ones spooled, until the file ends (then ``finish``) or the invocation's deadline passes at a
block boundary (then a checkpoint and a continuation)."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, TypeVar

from intercom_importer.csv_reader import CsvStream, Row
from intercom_importer.ledger import recognisable
from intercom_importer.mapping import PEOPLE
from intercom_importer.schema import OTHER_PROBLEMS, Problem, RowValidator
from intercom_importer.seen import SeenKeys
from intercom_importer.upsert import company_attributes
from intercom_importer.validate.checkpoint import save_checkpoint
from intercom_importer.validate.chunk_writer import ChunkWriter
from intercom_importer.validate.context import Context
from intercom_importer.validate.deadline import Deadline
from intercom_importer.validate.duplicates import find_duplicates, identity_columns
from intercom_importer.validate.finish import finish
from intercom_importer.validate.invalid import spool_invalid, write_invalid
from intercom_importer.validate.outcome import Outcome
from intercom_importer.validate.state import ReadPlan, ReadState

SAMPLE_PROBLEMS = 25
MAX_PROBLEM_KINDS = 50  # kinds of problem counted one by one on the job; the rest are OTHER_PROBLEMS
PROGRESS_EVERY_SECONDS = 2.0
BLOCK_ROWS = 1000  # rows validated together (one duplicate lookup per block)

T = TypeVar("T")


def read_rows(
    ctx: Context,
    plan: ReadPlan,
    state: ReadState,
    stream: CsvStream,
    restore_seen: Callable[[str], None] | None,
    deadline: Deadline,
) -> Outcome:
    """Validate rows until the file ends (then finish the job) or the deadline passes (then checkpoint)."""
    job_id = plan.job_id
    writer = ChunkWriter(ctx.s3, ctx.bucket, job_id, ctx.settings.chunk_rows, count=state.chunks, pending=state.pending)
    identity = identity_columns(plan.columns, plan.import_type)
    started = time.monotonic()
    try:
        with tempfile.TemporaryFile("w+b") as spool, SeenKeys(restore_from=restore_seen) as seen:
            sorter = _Sorter(plan, state, writer, spool, seen, identity, width=len(stream.header))
            if not _read_until(ctx, job_id, sorter, stream, deadline, started):
                save_checkpoint(ctx, plan, state, stream, writer, spool, seen if identity else None)
                return Outcome.CONTINUED
            invalid_file = None
            if state.counts["invalid"]:
                invalid_file = write_invalid(ctx.s3, ctx.bucket, job_id, state.invalid_parts, spool)
        return finish(ctx, plan, state, stream, writer, invalid_file)
    finally:
        writer.close()


def _read_until(
    ctx: Context, job_id: str, sorter: _Sorter, stream: CsvStream, deadline: Deadline, last_progress: float
) -> bool:
    """Read blocks until the file ends (True) or the deadline passes after a full block (False); the progress
    is recorded on the job every few seconds."""
    for block in _blocks(stream, BLOCK_ROWS):
        sorter.take(block)
        if time.monotonic() - last_progress > PROGRESS_EVERY_SECONDS:
            ctx.store.update(job_id, {"rows_read": sorter.count, "bytes_read": stream.bytes_read})
            last_progress = time.monotonic()
        if len(block) == BLOCK_ROWS and deadline.expired():  # a short block is the end of the file
            return False
    return True


def _blocks(rows: Iterable[T], size: int) -> Iterator[list[T]]:
    block: list[T] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


class _Sorter:
    """Sorts the rows of one invocation: each counted on the state, a valid one given to the chunk writer (unless
    an invalid row already rejected the file), an invalid one spooled with its problems."""

    def __init__(
        self,
        plan: ReadPlan,
        state: ReadState,
        writer: ChunkWriter,
        spool: IO[bytes],
        seen: SeenKeys,
        identity: dict[str, str],
        *,
        width: int,
    ) -> None:
        self._validator = RowValidator(plan.columns, plan.import_type, day_first=plan.day_first)
        self._people = plan.import_type == PEOPLE
        self._reject_all = plan.options.invalid_rows == "reject_file"
        self._state = state
        self._writer = writer
        self._spool = spool
        self._seen = seen
        self._identity = identity
        self._width = width

    @property
    def count(self) -> int:
        return self._state.counts["rows"]

    def take(self, block: list[Row]) -> None:
        checked = [(row, *self._validator.check(row.line, row.cells, self._width)) for row in block]
        duplicates = find_duplicates(self._seen, checked, self._identity)
        for row, record, problems in checked:
            self._state.counts["rows"] += 1
            problems = problems or duplicates.get(row.line, [])
            if problems:
                self._refuse(row, problems)
                continue
            assert record is not None  # a row without problems always has its record
            self._accept(row, record)

    def _refuse(self, row: Row, problems: list[Problem]) -> None:
        counts, kinds, sample = self._state.counts, self._state.kinds, self._state.sample
        counts["invalid"] += 1
        spool_invalid(self._spool, row.line, row.cells, problems)
        for problem in problems:
            kind = problem.kind
            if kind not in kinds and len(kinds) >= MAX_PROBLEM_KINDS:
                kind = OTHER_PROBLEMS  # the job record stays small; the error file has them all
            kinds[kind] += 1
            if len(sample) < SAMPLE_PROBLEMS:
                sample.append(problem.to_dict())

    def _accept(self, row: Row, record: dict[str, Any]) -> None:
        state = self._state
        state.counts["valid"] += 1
        if self._people and not recognisable(record):
            state.counts["unrecognisable"] += 1  # nothing finds its contact again: a re-run creates it again
        for target, sniffer in state.sniffers.items():
            if record.get(target) is not None:
                sniffer.add(record[target])
        if self._people and record.get("company_id"):
            # the first value given for each attribute of the company wins
            known = state.companies.setdefault(str(record["company_id"]), {})
            for attribute, value in company_attributes(record).items():
                known.setdefault(attribute, value)
        if not (self._reject_all and state.counts["invalid"]):
            self._writer.add(row.line, row.cells, record)
