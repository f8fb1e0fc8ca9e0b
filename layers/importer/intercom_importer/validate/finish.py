"""A file read to its end: its columns' final types, the custom attributes to create, every count on the job,
then rejected (its chunks deleted) or accepted (the last chunk written, Intercom prepared); either way the job
leaves validation with its hand-over due."""

from __future__ import annotations

from typing import Any

from intercom_importer import jobs
from intercom_importer.attributes import finalise
from intercom_importer.csv_reader import CsvStream
from intercom_importer.mapping import Column
from intercom_importer.observability import logger
from intercom_importer.validate.checkpoint import remove_checkpoint_files
from intercom_importer.validate.chunk_writer import ChunkWriter
from intercom_importer.validate.context import Context
from intercom_importer.validate.handover import leaving_validation
from intercom_importer.validate.outcome import Outcome
from intercom_importer.validate.prepare import prepare_intercom
from intercom_importer.validate.state import ReadPlan, ReadState


def finish(
    ctx: Context,
    plan: ReadPlan,
    state: ReadState,
    stream: CsvStream,
    writer: ChunkWriter,
    invalid_file: str | None,
) -> Outcome:
    """The whole file is read: reject it, or write the last chunk and prepare Intercom."""
    columns = finalise(plan.columns, {target: sniffer.result() for target, sniffer in state.sniffers.items()})
    unused = _unused_attributes(plan, state)
    new_attributes = _new_attributes(columns, set(plan.create) - unused)
    counts = state.counts
    fields: dict[str, Any] = {
        "rows": counts["rows"],
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "blank_lines": stream.blank_lines,  # since the start of the file (the stream's checkpoints carry it)
        "unrecognisable_rows": counts["unrecognisable"],  # since the start of the file (the checkpoints' counts)
        "rows_read": counts["rows"],
        "bytes_read": stream.bytes_read,
        "problem_kinds": dict(state.kinds),
        "problems_sample": state.sample,
        "invalid_key": invalid_file or "",
        "columns": [c.to_dict() for c in columns],
        "new_attributes": new_attributes,
        "companies_total": len(state.companies),
    }
    skipped_attributes = [c for c in columns if c.target in unused and c.target in plan.create]
    if skipped_attributes:
        fields["attribute_notes"] = list(ctx.store.get(plan.job_id).attribute_notes) + [
            f"Column '{c.header}' is empty in every row, so no custom attribute was created for it"
            for c in skipped_attributes
        ]
    if plan.options.invalid_rows == "reject_file" and counts["invalid"]:
        return _reject(ctx, plan, state, writer, fields)
    return _accept(ctx, plan, state, writer, fields, columns)


def _unused_attributes(plan: ReadPlan, state: ReadState) -> set[str]:
    """A new attribute whose column is empty in every row would take one of the workspace's 250 slots for
    nothing (no value is ever written to it): it is not created."""
    return {
        c.target
        for c in plan.columns
        if c.empty == "keep" and c.target in state.sniffers and not state.sniffers[c.target].seen
    }


def _new_attributes(columns: list[Column], created: set[str]) -> list[dict[str, Any]]:
    return [
        {"name": c.target, "data_type": c.intercom_type(), "options": list(c.options) if c.options else None}
        for c in columns
        if c.target in created
    ]


def _reject(ctx: Context, plan: ReadPlan, state: ReadState, writer: ChunkWriter, fields: dict[str, Any]) -> Outcome:
    """Under ``reject_file`` an invalid row rejects the file: no chunk of it is kept."""
    counts = state.counts
    writer.discard()
    fields.update(
        skipped=counts["valid"],  # valid rows not imported because of the policy: every row counted once
        status=jobs.REJECTED,
        **leaving_validation(Outcome.REJECTED),
        rejection=(
            f"{counts['invalid']} of {counts['rows']} rows are invalid and this import rejects the whole "
            "file when any row is invalid (invalid_rows=reject_file), so nothing was imported. Fix the rows "
            "listed in the error file and upload the file again, or upload with invalid_rows=skip_rows "
            "to import the valid rows."
        ),
    )
    ctx.store.update(plan.job_id, fields)
    remove_checkpoint_files(ctx, plan, state)
    return Outcome.REJECTED


def _accept(
    ctx: Context,
    plan: ReadPlan,
    state: ReadState,
    writer: ChunkWriter,
    fields: dict[str, Any],
    columns: list[Column],
) -> Outcome:
    """The last chunk written and Intercom prepared: the job goes on to the import."""
    chunks_total = writer.flush()
    ctx.store.update(plan.job_id, fields)  # the counts are known even if preparing Intercom fails below
    prepared = prepare_intercom(ctx, plan, columns, fields["new_attributes"], state.companies, chunks_total)
    if prepared.companies_key is not None:
        fields["companies_key"] = prepared.companies_key
    if prepared.tag_ids:
        fields["tag_ids"] = prepared.tag_ids
    fields.update(
        status=jobs.IMPORTING,
        chunks_total=chunks_total,
        prepare_calls=prepared.calls,
        chunks_queued=0,
        **leaving_validation(Outcome.ACCEPTED),
    )
    ctx.store.update(plan.job_id, fields)
    remove_checkpoint_files(ctx, plan, state)
    counts = state.counts
    logger.info(
        "file accepted",
        rows=counts["rows"],
        invalid=counts["invalid"],
        blank_lines=fields["blank_lines"],
        chunks=chunks_total,
    )
    return Outcome.ACCEPTED
