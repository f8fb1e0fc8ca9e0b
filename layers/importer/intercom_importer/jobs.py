"""The job store: one DynamoDB table holds each import's record and its per-chunk results.

Items (single-table design):
- ``pk=JOB#<id>, sk=META``: the import's record (source, settings, status, counters, task token), read as a
  ``job_record.Job``.
  ``gsi1pk=JOBS, gsi1sk=<created_at>#<id>`` makes the history listable newest first.
- ``pk=PARTNER#<name>, sk=ACTIVITY``: a partner's latest upload (schedule expectations), kept by
  ``partner_activity.py``.
- ``pk=JOB#<id>, sk=CHUNK#<nnnnnn>``: written once per chunk, in the same transaction that adds the
  chunk's counts to the record. Its condition (``attribute_not_exists``) is what makes a chunk count
  exactly once however often SQS delivers it. It names the delivery that won (``attempt``) and the keys of
  what that delivery wrote (``result_key``, ``changes_key``), read as a ``job_record.ChunkRecord``.
- ``pk=JOB#<id>, sk=ATTEMPT#<nnnnnn>``: the last error of a chunk that failed, for the report when
  the chunk ends in the dead-letter queue.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from intercom_importer import aws
from intercom_importer.errors import JobNotFoundError, JobStoreUnavailableError
from intercom_importer.job_record import ChunkRecord, Job

if TYPE_CHECKING:
    from intercom_importer.settings import Settings

# A chunk's rows by outcome (``upsert.records.Outcome``), added to the job's counters of the same names exactly once.
COUNTERS = ("created", "updated", "unchanged", "skipped", "failed")

# Job statuses. Terminal ones end with the summary email.
VALIDATING = "validating"
IMPORTING = "importing"
REJECTED = "rejected"
COMPLETED = "completed"
COMPLETED_WITH_ERRORS = "completed_with_errors"
FAILED = "failed"
INCOMPLETE = "incomplete"
TERMINAL = (REJECTED, COMPLETED, COMPLETED_WITH_ERRORS, FAILED, INCOMPLETE)

# The hand-over of a job that left validation (``handover``): its state machine started and, for an accepted
# file, its chunks queued. Set to "pending" in the same write that ends the validation, "done" once finished.
HANDOVER_PENDING = "pending"
HANDOVER_DONE = "done"


def job_id_for(bucket: str, key: str, version: str | None) -> str:
    """Deterministic job id: the same object version always maps to the same job."""
    digest = hashlib.sha256(f"{bucket}\0{key}\0{version or ''}".encode()).hexdigest()
    return f"job-{digest[:20]}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def plain(value: Any) -> Any:
    """DynamoDB values as JSON-friendly Python (Decimals to int/float, sets to sorted lists)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set):
        return sorted(plain(v) for v in value)
    return value


def _pk(job_id: str) -> str:
    return f"JOB#{job_id}"


def _chunk_sk(index: int) -> str:
    return f"CHUNK#{index:06d}"


class JobStore:
    def __init__(self, table: Any, *, retention_days: int = 90) -> None:
        self._table = table
        self._retention = retention_days * 86400

    @classmethod
    def from_settings(cls, settings: Settings) -> JobStore:
        """The job store of this environment: the settings' table (one cached resource) and retention."""
        return cls(aws.table(settings.jobs_table), retention_days=settings.job_retention_days)

    # ---------------------------------------------------------------- record
    def create(self, job_id: str, fields: Mapping[str, Any]) -> bool:
        """Create the job record; ``False`` when it already exists (a repeated S3 event)."""
        created_at = now_iso()
        item = {
            "pk": _pk(job_id),
            "sk": "META",
            "job_id": job_id,
            "created_at": created_at,
            "updated_at": created_at,
            "gsi1pk": "JOBS",
            "gsi1sk": f"{created_at}#{job_id}",
            "expires_at": int(time.time()) + self._retention,
            "chunks_total": 0,
            "chunks_done": 0,
            **{c: 0 for c in COUNTERS},
            **fields,
        }
        try:
            self._table.put_item(Item=_dynamo(item), ConditionExpression="attribute_not_exists(pk)")
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        return True

    def get(self, job_id: str) -> Job:
        try:
            item = self._table.get_item(Key={"pk": _pk(job_id), "sk": "META"}, ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise _unavailable(exc) from exc
        if item is None:
            raise JobNotFoundError(f"Import job {job_id} does not exist (it may have expired).")
        return Job.from_item(plain(item))

    def update(self, job_id: str, fields: Mapping[str, Any], *, expect_status: str | None = None) -> None:
        """Set fields on the record (and ``updated_at``); :meth:`update_and_get` also returns the record."""
        self._update(job_id, fields, expect_status, "NONE")

    def update_and_get(self, job_id: str, fields: Mapping[str, Any], *, expect_status: str | None = None) -> Job:
        """Like :meth:`update`; returns the record after the update."""
        return Job.from_item(plain(self._update(job_id, fields, expect_status, "ALL_NEW")))

    def _update(
        self, job_id: str, fields: Mapping[str, Any], expect_status: str | None, return_values: str
    ) -> dict[str, Any]:
        expr, names, attr_values = _set_clause({**fields, "updated_at": now_iso()})
        condition = "attribute_exists(pk)"
        if expect_status is not None:
            names["#status"] = "status"
            attr_values[":expected"] = expect_status
            condition += " AND #status = :expected"
        try:
            result = self._table.update_item(
                Key={"pk": _pk(job_id), "sk": "META"},
                UpdateExpression=expr,
                ConditionExpression=condition,
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=attr_values,
                ReturnValues=return_values,
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                raise JobNotFoundError(
                    f"Import job {job_id} does not exist or is not {expect_status or 'present'}."
                ) from exc
            raise _unavailable(exc) from exc
        return dict(result.get("Attributes") or {})

    def claim(self, job_id: str, lease_seconds: int) -> bool:
        """Take over a job stuck in validation (its previous invocation died): ``True`` if the lease was free."""
        now = int(time.time())
        try:
            self._table.update_item(
                Key={"pk": _pk(job_id), "sk": "META"},
                UpdateExpression="SET lease_until = :until, updated_at = :now_iso",
                # a validation that saved a checkpoint goes on in its own continuation invocations
                ConditionExpression="#status = :validating AND lease_until < :now AND attribute_not_exists(checkpoint_seq)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":until": now + lease_seconds,
                    ":now": now,
                    ":validating": VALIDATING,
                    ":now_iso": now_iso(),
                },
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        return True

    def save_checkpoint(self, job_id: str, seq: int, fields: Mapping[str, Any]) -> bool:
        """Record validation checkpoint ``seq`` (and progress fields). Only the invocation that continued from
        checkpoint ``seq - 1`` (0: the upload's) may: ``False`` when another one took the job over."""
        return self._set_if(
            job_id,
            {**fields, "checkpoint_seq": seq},
            "#status = :validating AND claimed_seq = :owner",
            {":validating": VALIDATING, ":owner": seq - 1},
        )

    def claim_checkpoint(self, job_id: str, seq: int, lease_seconds: int) -> bool:
        """Take checkpoint ``seq`` to continue the validation from: ``False`` for a repeated or stale
        continuation event (the checkpoint is already taken by a live invocation, or superseded)."""
        now = int(time.time())
        try:
            self._table.update_item(
                Key={"pk": _pk(job_id), "sk": "META"},
                UpdateExpression="SET claimed_seq = :seq, lease_until = :until, updated_at = :now_iso "
                "ADD validate_invocations :one",
                ConditionExpression="#status = :validating AND checkpoint_seq = :seq "
                "AND (claimed_seq < :seq OR lease_until < :now)",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":seq": seq,
                    ":until": now + lease_seconds,
                    ":now": now,
                    ":validating": VALIDATING,
                    ":now_iso": now_iso(),
                    ":one": 1,
                },
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        return True

    # ---------------------------------------------------------------- chunks
    def is_chunk_recorded(self, job_id: str, index: int) -> bool:
        try:
            response = self._table.get_item(
                Key={"pk": _pk(job_id), "sk": _chunk_sk(index)},
                ConsistentRead=True,
                ProjectionExpression="pk",
            )
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return "Item" in response

    def record_chunk(
        self,
        job_id: str,
        index: int,
        counts: Mapping[str, int],
        *,
        result_key: str | None,
        source: str,
        extra: Mapping[str, int] | None = None,
        changes_key: str | None = None,
        attempt: str | None = None,
    ) -> bool:
        """Add one chunk's counts to the job exactly once, with the keys of what the delivery ``attempt`` wrote.
        ``False`` if the chunk was already recorded (by another delivery: botocore sends its own retries of the
        transaction with one ``ClientRequestToken``, so a retry of this one that had committed succeeds)."""
        # The resource's client serialises plain Python values itself (boto3's transformation hooks).
        client = self._table.meta.client
        chunk_item = {
            "pk": _pk(job_id),
            "sk": _chunk_sk(index),
            "chunk": index,
            "source": source,
            "recorded_at": now_iso(),
            "expires_at": int(time.time()) + self._retention,
            **{c: int(counts.get(c, 0)) for c in COUNTERS},
        }
        extra = {k: int(v) for k, v in (extra or {}).items()}
        chunk_item.update(extra)
        outputs = {"result_key": result_key, "changes_key": changes_key, "attempt": attempt}
        chunk_item.update({k: v for k, v in outputs.items() if v})
        added = {**{c: int(counts.get(c, 0)) for c in COUNTERS}, **extra}
        add = ", ".join(f"#{c} :{c}" for c in added)
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self._table.name,
                            "Item": _dynamo(chunk_item),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self._table.name,
                            "Key": {"pk": _pk(job_id), "sk": "META"},
                            "UpdateExpression": f"ADD chunks_done :one, {add} SET updated_at = :now",
                            "ConditionExpression": "attribute_exists(pk)",
                            "ExpressionAttributeNames": {f"#{c}": c for c in added},
                            "ExpressionAttributeValues": {
                                ":one": 1,
                                ":now": now_iso(),
                                **{f":{c}": v for c, v in added.items()},
                            },
                        }
                    },
                ]
            )
        except ClientError as exc:
            if aws.error_code(exc) == "TransactionCanceledException":
                reasons = [r.get("Code") for r in exc.response.get("CancellationReasons", [])]
                if reasons and reasons[0] == "ConditionalCheckFailed":
                    return False
                if len(reasons) > 1 and reasons[1] == "ConditionalCheckFailed":
                    raise JobNotFoundError(f"Import job {job_id} does not exist (it may have expired).") from exc
            raise _unavailable(exc) from exc
        return True

    def note_chunk_error(self, job_id: str, index: int, error: str, message: str) -> None:
        """Remember why a chunk attempt failed (used if the chunk ends in the dead-letter queue)."""
        try:
            self._table.update_item(
                Key={"pk": _pk(job_id), "sk": f"ATTEMPT#{index:06d}"},
                UpdateExpression="SET #e = :e, #m = :m, at_time = :t, expires_at = :x ADD attempts :one",
                ExpressionAttributeNames={"#e": "error", "#m": "message"},
                ExpressionAttributeValues={
                    ":e": error,
                    ":m": message[:1000],
                    ":t": now_iso(),
                    ":x": int(time.time()) + self._retention,
                    ":one": 1,
                },
            )
        except ClientError as exc:
            raise _unavailable(exc) from exc

    def chunk_error(self, job_id: str, index: int) -> dict[str, Any] | None:
        try:
            item = self._table.get_item(Key={"pk": _pk(job_id), "sk": f"ATTEMPT#{index:06d}"}).get("Item")
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return plain(item) if item else None

    def chunks(self, job_id: str) -> Iterator[dict[str, Any]]:
        """Every recorded chunk of the job, in order."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": _pk(job_id), ":prefix": "CHUNK#"},
            "ConsistentRead": True,
        }
        while True:
            try:
                page = self._table.query(**kwargs)
            except ClientError as exc:
                raise _unavailable(exc) from exc
            for item in page.get("Items", []):
                yield plain(item)
            if "LastEvaluatedKey" not in page:
                return
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def chunk_records(self, job_id: str) -> Iterator[ChunkRecord]:
        """Every recorded chunk of the job, in order, as the readers of its outputs take them."""
        return (ChunkRecord.from_item(item) for item in self.chunks(job_id))

    # ---------------------------------------------------------------- completion
    def park_task_token(self, job_id: str, token: str) -> None:
        """Store the state machine's task token on the job."""
        self.update(job_id, {"task_token": token})

    def history(self, limit: int = 50) -> list[Job]:
        """The newest jobs first."""
        try:
            page = self._table.query(
                IndexName="by-created",
                KeyConditionExpression="gsi1pk = :jobs",
                ExpressionAttributeValues={":jobs": "JOBS"},
                ScanIndexForward=False,
                Limit=limit,
            )
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return [Job.from_item(plain(i)) for i in page.get("Items", [])]

    # ---------------------------------------------------------------- abandoned validations
    def fail_abandoned(self, job_id: str, fields: Mapping[str, Any], now: int) -> bool:
        """Mark a validation failed if nobody holds it any more (still validating, lease expired before
        ``now``): ``False`` when it finished meanwhile or a live invocation holds it."""
        return self._set_if(
            job_id,
            {**fields, "status": FAILED},
            "#status = :validating AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            {":validating": VALIDATING, ":now": now},
        )

    # ---------------------------------------------------------------- hand-over
    def claim_handover(self, job_id: str, lease_seconds: int) -> bool:
        """Take over a job's unfinished hand-over (nobody holds the job's lease any more): ``False`` when it is
        finished or a live invocation holds it."""
        now = int(time.time())
        return self._set_if(
            job_id,
            {"lease_until": now + lease_seconds},
            "handover = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            {":pending": HANDOVER_PENDING, ":now": now},
        )

    def release_handover(self, job_id: str) -> bool:
        """Give up the lease of a hand-over that failed, so a retry of its event (or the sweep) finishes it now
        rather than when the lease expires."""
        return self._set_if(job_id, {"lease_until": 0}, "handover = :pending", {":pending": HANDOVER_PENDING})

    def hold(self, job_id: str, holder: str, lease_seconds: int) -> bool:
        """Take (or renew) the lease of a job run outside the pipeline (an undo) for ``holder``: ``False`` while
        another holder's lease runs."""
        now = int(time.time())
        return self._set_if(
            job_id,
            {"lease_until": now + lease_seconds, "lease_holder": holder},
            "attribute_not_exists(lease_until) OR lease_until < :now OR lease_holder = :holder",
            {":now": now, ":holder": holder},
        )

    def let_go(self, job_id: str, holder: str) -> bool:
        """Give up ``holder``'s lease (a run that stopped): the next run need not wait for it to run out."""
        return self._set_if(job_id, {"lease_until": 0}, "lease_holder = :holder", {":holder": holder})

    def unfinished_handovers(self, created_since: str, now: int) -> list[Job]:
        """Jobs created since ``created_since`` (ISO) whose hand-over is unfinished and nobody holds."""
        return self._query_jobs(
            created_since,
            "handover = :pending AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            {":pending": HANDOVER_PENDING, ":now": now},
        )

    def _set_if(self, job_id: str, fields: Mapping[str, Any], condition: str, values: Mapping[str, Any]) -> bool:
        """Set ``fields`` (and ``updated_at``) if ``condition`` holds (``#status`` names the status); ``False``
        when it does not."""
        expr, names, attr_values = _set_clause({**fields, "updated_at": now_iso()})
        try:
            self._table.update_item(
                Key={"pk": _pk(job_id), "sk": "META"},
                UpdateExpression=expr,
                ConditionExpression=condition,
                # DynamoDB refuses a name the expressions do not use
                ExpressionAttributeNames={**names, **({"#status": "status"} if "#status" in condition else {})},
                ExpressionAttributeValues={**attr_values, **values},
            )
        except ClientError as exc:
            if aws.error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise _unavailable(exc) from exc
        return True

    def stale_validations(self, created_since: str, now: int) -> list[Job]:
        """Jobs created since ``created_since`` (ISO) still validating with their lease expired before ``now``."""
        return self._query_jobs(
            created_since,
            "#status = :validating AND (attribute_not_exists(lease_until) OR lease_until < :now)",
            {":validating": VALIDATING, ":now": now},
        )

    def _query_jobs(self, created_since: str, condition: str, values: Mapping[str, Any]) -> list[Job]:
        """Jobs created since ``created_since`` (ISO) matching ``condition`` (``#status`` names the status)."""
        kwargs: dict[str, Any] = {
            "IndexName": "by-created",
            "KeyConditionExpression": "gsi1pk = :jobs AND gsi1sk >= :since",
            "FilterExpression": condition,
            "ExpressionAttributeValues": {":jobs": "JOBS", ":since": created_since, **values},
        }
        if "#status" in condition:
            kwargs["ExpressionAttributeNames"] = {"#status": "status"}
        found: list[Job] = []
        while True:
            try:
                page = self._table.query(**kwargs)
            except ClientError as exc:
                raise _unavailable(exc) from exc
            found.extend(Job.from_item(plain(i)) for i in page.get("Items", []))
            if "LastEvaluatedKey" not in page:
                return found
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---------------------------------------------------------------- the table
    @property
    def table(self) -> Any:
        """The jobs table (a boto3 ``Table``), for what it holds besides jobs (``partner_activity.py``)."""
        return self._table


def is_complete(job: Job) -> bool:
    """Every chunk of an accepted job has been recorded (by a worker or the dead-letter handler)."""
    return job.status == IMPORTING and job.chunks_done >= job.chunks_total


def _unavailable(exc: ClientError) -> JobStoreUnavailableError:
    return JobStoreUnavailableError(f"The job store could not be reached: {aws.error_code(exc) or exc}")


def _set_clause(values: Mapping[str, Any]) -> tuple[str, dict[str, str], dict[str, Any]]:
    """``SET #f0 = :v0, ...`` with its names and values, for any field names."""
    names = {f"#f{i}": k for i, k in enumerate(values)}
    attr_values = {f":v{i}": _dynamo(v) for i, v in enumerate(values.values())}
    return "SET " + ", ".join(f"#f{i} = :v{i}" for i in range(len(values))), names, attr_values


def _dynamo(value: Any) -> Any:
    """Python values as the boto3 resource layer wants them (floats as Decimal)."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _dynamo(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_dynamo(v) for v in value]
    return value
