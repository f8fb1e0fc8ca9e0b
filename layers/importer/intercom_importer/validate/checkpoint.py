"""Checkpoints of a file read across several invocations: the ``Checkpoint`` record (the object under
``keys.checkpoint``, one ``to_item``/``from_item`` pair), saving one and invoking the continuation, claiming and
loading one to read on, and removing their files once the job has left validation."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import IO, Any

from intercom_importer import keys
from intercom_importer.csv_reader import CsvStream, StreamCheckpoint
from intercom_importer.mapping import Column
from intercom_importer.observability import logger
from intercom_importer.options import ImportOptions
from intercom_importer.schema import TypeSniffer
from intercom_importer.seen import SeenKeys
from intercom_importer.validate.chunk_writer import ChunkWriter
from intercom_importer.validate.context import Context
from intercom_importer.validate.invalid import save_part
from intercom_importer.validate.state import ReadPlan, ReadState
from intercom_importer.validate.upload import Upload

CHECKPOINT_FORMAT = 1


@dataclass
class Checkpoint:
    """Checkpoint ``seq`` of a job: where the stream stopped, the plan and everything counted up to there, and
    the key of the duplicate-detection database (None when the file has no identifier column)."""

    seq: int
    plan: ReadPlan
    state: ReadState
    position: StreamCheckpoint
    seen_key: str | None = None

    def to_item(self) -> dict[str, Any]:
        plan, state = self.plan, self.state
        return {
            "v": CHECKPOINT_FORMAT,
            "job_id": plan.job_id,
            "seq": self.seq,
            "upload": plan.upload.to_item(),
            "stream": self.position.to_dict(),
            "import_type": plan.import_type,
            "options": plan.options.to_dict(),
            "columns": [c.to_dict() for c in plan.columns],
            "create": plan.create,
            "day_first": plan.day_first,
            "counts": dict(state.counts),
            "kinds": dict(state.kinds),
            "sample": state.sample,
            "sniffers": {t: {"candidates": sorted(s.candidates), "seen": s.seen} for t, s in state.sniffers.items()},
            "companies": state.companies,
            "chunks": state.chunks,
            "pending": state.pending,
            "invalid_parts": state.invalid_parts,
            "seen_key": self.seen_key,
        }

    @classmethod
    def from_item(cls, item: Mapping[str, Any], *, function_arn: str = "") -> Checkpoint:
        """The checkpoint, its plan set to continue from it (``function_arn``: the invocation's own function)."""
        seq, day_first = int(item["seq"]), bool(item["day_first"])
        plan = ReadPlan(
            job_id=str(item["job_id"]),
            upload=Upload.from_item(item["upload"]),
            import_type=item["import_type"],
            options=ImportOptions.from_dict(item["options"]),
            columns=[Column.from_dict(c) for c in item["columns"]],
            create=list(item["create"]),
            day_first=day_first,
            seq=seq,
            function_arn=function_arn,
        )
        state = ReadState(
            counts=Counter(item["counts"]),
            kinds=Counter(item["kinds"]),
            sample=list(item["sample"]),
            sniffers={t: _sniffer(day_first, s) for t, s in item["sniffers"].items()},
            companies={k: _saved_company(v) for k, v in item["companies"].items()},
            chunks=int(item["chunks"]),
            pending=list(item["pending"]),
            invalid_parts=list(item["invalid_parts"]),
        )
        return cls(seq, plan, state, StreamCheckpoint.from_dict(item["stream"]), item.get("seen_key"))


def _sniffer(day_first: bool, saved: Mapping[str, Any]) -> TypeSniffer:
    sniffer = TypeSniffer(day_first)
    sniffer.candidates = set(saved["candidates"])
    sniffer.seen = int(saved["seen"])
    return sniffer


def _saved_company(saved: Any) -> dict[str, Any]:
    """A company of a checkpoint: its attributes (a checkpoint written before company attributes holds
    only its name)."""
    if isinstance(saved, dict):
        return dict(saved)
    return {"name": saved} if saved else {}


def save_checkpoint(
    ctx: Context,
    plan: ReadPlan,
    state: ReadState,
    stream: CsvStream,
    writer: ChunkWriter,
    spool: IO[bytes],
    seen: SeenKeys | None,
) -> None:
    """Make everything read so far durable, record the checkpoint on the job, and invoke the continuation."""
    s3, bucket, job_id = ctx.s3, ctx.bucket, plan.job_id
    seq = plan.seq + 1
    state.chunks, state.pending = writer.checkpoint()  # the chunk PUTs in flight are done
    part = save_part(s3, bucket, job_id, seq, spool)
    if part is not None:
        state.invalid_parts.append(part)
    seen_key = _save_seen(ctx, job_id, seq, seen)
    checkpoint = Checkpoint(seq, plan, state, stream.checkpoint(), seen_key)
    key = keys.checkpoint(job_id, seq)
    body = json.dumps(checkpoint.to_item(), separators=(",", ":")).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    progress = {"checkpoint_key": key, "rows_read": state.counts["rows"], "bytes_read": stream.bytes_read}
    if not ctx.store.save_checkpoint(job_id, seq, progress):
        logger.warning("another invocation took this validation over; stopping", seq=seq)
        return
    if plan.seq:  # the previous checkpoint can no longer be claimed: its database copy is not needed
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": keys.checkpoint_seen(job_id, plan.seq)}], "Quiet": True}
        )
    _invoke_continuation(ctx, plan.function_arn, {"job_id": job_id, "seq": seq, "checkpoint_key": key})
    logger.info(
        "checkpoint saved; the file continues in a new invocation",
        seq=seq,
        rows=state.counts["rows"],
        offset=checkpoint.position.offset,
        chunks=state.chunks,
    )


def _save_seen(ctx: Context, job_id: str, seq: int, seen: SeenKeys | None) -> str | None:
    """The duplicate-detection database copied for checkpoint ``seq``: its key (None: the file has none)."""
    if seen is None:
        return None
    seen_key = keys.checkpoint_seen(job_id, seq)
    ctx.s3.upload_file(seen.path, ctx.bucket, seen_key)
    return seen_key


def _invoke_continuation(ctx: Context, function_arn: str, request: dict[str, Any]) -> None:
    """The validator's own asynchronous event that reads on from the checkpoint (``entry.handle_continue``)."""
    payload = json.dumps({"continue": request}).encode()
    ctx.clients.lambda_.invoke(FunctionName=function_arn, InvocationType="Event", Payload=payload)


def claim_checkpoint(ctx: Context, job_id: str, seq: int, lease: int) -> tuple[int, bool]:
    """Claim the job's latest checkpoint, not only ``seq`` (the event's): when an invocation died after recording
    a newer checkpoint but before invoking its continuation, Lambda's retry of this (older) event takes over.
    Whichever event claims the latest checkpoint first goes on (``True``); every other is a no-op."""
    latest = max(seq, ctx.store.get(job_id).checkpoint_seq)
    return latest, ctx.store.claim_checkpoint(job_id, latest, lease)


def load_checkpoint(ctx: Context, job_id: str, seq: int, function_arn: str = "") -> Checkpoint:
    body = ctx.s3.get_object(Bucket=ctx.bucket, Key=keys.checkpoint(job_id, seq))["Body"].read()
    return Checkpoint.from_item(json.loads(body), function_arn=function_arn)


def seen_restorer(ctx: Context, checkpoint: Checkpoint) -> Callable[[str], None] | None:
    """What copies the checkpoint's duplicate-detection database to a local path (None: it has none)."""
    seen_key = checkpoint.seen_key
    if not seen_key:
        return None
    return lambda path: ctx.s3.download_file(ctx.bucket, seen_key, path)


def remove_checkpoint_files(ctx: Context, plan: ReadPlan, state: ReadState) -> None:
    """The last checkpoint's duplicate database and the invalid-row parts, once the job has left validation.
    Not earlier: an invocation dying before that is retried from the checkpoint, which needs them. (What a
    death right here leaves behind, the work/ lifecycle rule removes.)"""
    files = [*state.invalid_parts, *([keys.checkpoint_seen(plan.job_id, plan.seq)] if plan.seq else [])]
    if files:
        ctx.s3.delete_objects(Bucket=ctx.bucket, Delete={"Objects": [{"Key": k} for k in files], "Quiet": True})
