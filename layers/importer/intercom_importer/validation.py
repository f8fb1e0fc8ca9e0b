"""From an uploaded object to a started job: stream, validate, split into chunks, queue, start.

Design (see README, "Why the validator starts the state machine"):
1. The job id is derived from bucket, key and version, and the job record is created with a
   condition, so a repeated S3 event never starts a second import.
2. The file is streamed once. Valid rows are written to S3 as chunk objects while reading (the
   claim-check pattern: SQS messages stay tiny whatever the row width); invalid rows go to a local
   spool file and then to S3, for the error file.
3. Only after the whole file is read is anything queued: under ``reject_file`` a single invalid
   row means no chunk is ever sent, so nothing is written to Intercom.
4. The state machine is started for every job (accepted, rejected or failed), so every upload ends
   in exactly one summary email.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from intercom_importer import jobs
from intercom_importer.attributes import AttributePlan, finalise, model_of, plan_attributes
from intercom_importer.csv_reader import CsvStream
from intercom_importer.errors import FileRejectedError, ImporterError, IntercomAuthError, IntercomValidationError
from intercom_importer.manifest import parse_manifest
from intercom_importer.mapping import COMPANIES, INFER, PEOPLE, Column, map_header, normalise
from intercom_importer.observability import logger
from intercom_importer.options import ImportOptions
from intercom_importer.schema import Problem, RowValidator, TypeSniffer
from intercom_importer.seen import SeenKeys
from intercom_importer.settings import Settings

CHUNK_FORMAT = 1
SAMPLE_PROBLEMS = 25
PROGRESS_EVERY_SECONDS = 2.0
SQS_BATCH = 10
BLOCK_ROWS = 1000  # rows validated together (one duplicate lookup per block)
_PEOPLE_IDS = {"email", "e_mail", "email_address", "external_id", "user_id", "userid", "id", "intercom_id"}


@dataclass
class Upload:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None


@dataclass
class Clients:
    s3: Any
    sqs: Any
    sfn: Any
    intercom: Callable[[], Any]  # builds the Intercom client on first need (custom attributes, companies)


def chunk_key(job_id: str, index: int) -> str:
    return f"work/{job_id}/chunks/{index:06d}.json"


def invalid_key(job_id: str) -> str:
    return f"work/{job_id}/invalid.jsonl"


def guess_import_type(header: list[str]) -> str:
    keys = {normalise(h) for h in header}
    if keys & _PEOPLE_IDS:
        return PEOPLE
    return COMPANIES if "company_id" in keys else PEOPLE


def handle_upload(
    upload: Upload,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    remaining_ms: Callable[[], int],
) -> dict[str, Any]:
    """Validate one uploaded object and start its job. Returns a short summary for the log."""
    job_id = jobs.job_id_for(upload.bucket, upload.key, upload.version_id or upload.etag)
    lease = max(60, remaining_ms() // 1000 + 30)
    fields = {
        "status": jobs.VALIDATING,
        "bucket": upload.bucket,
        "key": upload.key,
        "version_id": upload.version_id or "",
        "etag": upload.etag or "",
        "size": upload.size or 0,
        "lease_until": int(time.time()) + lease,
    }
    if not store.create(job_id, fields) and not store.claim(job_id, lease):
        logger.info("duplicate upload event ignored", job_id=job_id)
        return {"job_id": job_id, "duplicate": True}
    logger.append_keys(job_id=job_id)
    try:
        outcome = _validate(job_id, upload, settings=settings, store=store, clients=clients)
    except FileRejectedError as exc:
        logger.info("file rejected", reason=exc.message)
        store.update(job_id, {"status": jobs.REJECTED, "rejection": exc.message})
        outcome = "rejected"
    except ImporterError as exc:
        logger.exception("validation failed")
        message = exc.message
        if isinstance(exc, IntercomAuthError):
            message = (
                "Intercom refused the access token (HTTP 401): the token is invalid, expired or revoked. Store a "
                "valid token in the Intercom token secret and upload the file again. Nothing was imported."
            )
        # rows that passed validation but were never imported count as failed (every row accounted for)
        valid = int(store.get(job_id).get("valid", 0))
        store.update(
            job_id,
            {"status": jobs.FAILED, "failed": valid, "failure": {"error": type(exc).__name__, "message": message}},
        )
        outcome = "failed"
    except Exception as exc:  # any bug still ends in an email, never in silence
        logger.exception("validation crashed")
        store.update(
            job_id,
            {
                "status": jobs.FAILED,
                "failure": {"error": type(exc).__name__, "message": "The validator failed unexpectedly."},
            },
        )
        outcome = "failed"
    _start_execution(clients.sfn, settings, job_id, outcome)
    if outcome == "accepted":
        _queue_chunks(clients.sqs, settings, job_id, store.get(job_id)["chunks_total"])
    return {"job_id": job_id, "outcome": outcome}


def _load_manifest(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The sidecar manifest ``<key>.json`` if one was uploaded (it must arrive before the file)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key + ".json")["Body"].read()
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code", "") in ("NoSuchKey", "404", "AccessDenied"):
            return None
        raise
    return parse_manifest(body, source=f"The manifest {key}.json")


def _validate(job_id: str, upload: Upload, *, settings: Settings, store: jobs.JobStore, clients: Clients) -> str:
    try:
        obj = clients.s3.get_object(
            Bucket=upload.bucket,
            Key=upload.key,
            **({"VersionId": upload.version_id} if upload.version_id else {}),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise FileRejectedError(f"The uploaded file {upload.key} no longer exists in the bucket.") from exc
        raise
    manifest = _load_manifest(clients.s3, upload.bucket, upload.key)
    options = ImportOptions.from_sources(obj.get("Metadata") or {}, manifest, settings)
    stream = CsvStream(obj["Body"])
    import_type = options.import_type or guess_import_type(stream.header)
    mapping = options.mapping or {}
    day_first = bool(mapping.get("day_first", True))
    columns = map_header(stream.header, import_type, mapping)
    plan = AttributePlan(columns=list(columns))
    if any(c.custom for c in columns):
        client = clients.intercom()
        model = model_of(import_type)
        other = "company" if model == "contact" else "contact"
        plan = plan_attributes(
            columns, import_type, client.list_data_attributes(model), client.list_data_attributes(other)
        )
        columns = plan.columns
    tags = list(options.tags)
    if options.auto_tag:
        tags.append(auto_tag_name(job_id))
    options = replace(options, import_type=import_type, tags=tuple(tags))
    store.update(
        job_id,
        {
            "options": options.to_dict(),
            "import_type": import_type,
            "dry_run": options.dry_run,
            "header": stream.header,
            "columns": [c.to_dict() for c in columns],
            "encoding": stream.dialect.encoding_label,
            "delimiter": stream.dialect.delimiter,
            "attribute_notes": plan.notes,
        },
    )
    validator = RowValidator(columns, import_type, day_first=day_first)
    sniffers = {c.target: TypeSniffer(day_first) for c in columns if c.type == INFER}
    writer = _ChunkWriter(clients.s3, settings.import_bucket, job_id, settings.chunk_rows)
    counts = Counter[str]()
    kinds = Counter[str]()
    sample: list[dict[str, Any]] = []
    reject_all = options.invalid_rows == "reject_file"
    last_progress = time.monotonic()
    identity = _identity_columns(columns, import_type)
    companies: dict[str, str] = {}
    width = len(stream.header)
    with tempfile.TemporaryFile("w+", encoding="utf-8") as spool, SeenKeys() as seen:
        for block in _blocks(stream, BLOCK_ROWS):
            checked = [(row, *validator.check(row.line, row.cells, width)) for row in block]
            duplicates = _duplicates(seen, checked, identity)
            for row, record, problems in checked:
                counts["rows"] += 1
                problems = problems or duplicates.get(row.line, [])
                if problems:
                    counts["invalid"] += 1
                    _spool_invalid(spool, row.line, row.cells, problems)
                    for problem in problems:
                        kinds[_kind(problem)] += 1
                        if len(sample) < SAMPLE_PROBLEMS:
                            sample.append(problem.to_dict())
                    continue
                counts["valid"] += 1
                for target, sniffer in sniffers.items():
                    if record.get(target) is not None:
                        sniffer.add(record[target])
                if import_type == PEOPLE and record.get("company_id"):
                    companies.setdefault(str(record["company_id"]), str(record.get("company_name") or ""))
                if not (reject_all and counts["invalid"]):
                    writer.add(row.line, row.cells, record)
            if time.monotonic() - last_progress > PROGRESS_EVERY_SECONDS:
                store.update(job_id, {"rows_read": counts["rows"], "bytes_read": stream.bytes_read})
                last_progress = time.monotonic()
        invalid_file = None
        if counts["invalid"]:
            spool.seek(0)
            invalid_file = invalid_key(job_id)
            clients.s3.put_object(
                Bucket=settings.import_bucket,
                Key=invalid_file,
                Body=spool.read().encode("utf-8"),
                ContentType="application/x-ndjson",
            )
    columns = finalise(columns, {target: sniffer.result() for target, sniffer in sniffers.items()})
    created_names = {c.target for c in plan.create}
    new_attributes = [
        {"name": c.target, "data_type": c.intercom_type(), "options": list(c.options) if c.options else None}
        for c in columns
        if c.target in created_names
    ]
    fields: dict[str, Any] = {
        "rows": counts["rows"],
        "valid": counts["valid"],
        "invalid": counts["invalid"],
        "rows_read": counts["rows"],
        "bytes_read": stream.bytes_read,
        "problem_kinds": dict(kinds),
        "problems_sample": sample,
        "invalid_key": invalid_file or "",
        "columns": [c.to_dict() for c in columns],
        "new_attributes": new_attributes,
        "companies_total": len(companies),
    }
    if reject_all and counts["invalid"]:
        writer.discard()
        fields.update(
            skipped=counts["valid"],  # valid rows not imported because of the policy: every row counted once
            status=jobs.REJECTED,
            rejection=(
                f"{counts['invalid']} of {counts['rows']} rows are invalid and this import rejects the whole "
                "file when any row is invalid (invalid_rows=reject_file), so nothing was imported. Fix the rows "
                "listed in the error file and upload the file again, or upload with invalid_rows=skip_rows "
                "to import the valid rows."
            ),
        )
        store.update(job_id, fields)
        return "rejected"
    chunks_total = writer.flush()
    store.update(job_id, fields)  # the counts are known even if preparing Intercom fails below
    prepare_calls = 2 if plan.create or any(c.custom for c in columns) else 0
    if not options.dry_run and chunks_total:
        client = clients.intercom()
        before = client.stats.calls
        create_attributes(client, model_of(import_type), new_attributes)
        if companies:
            fields["companies_key"] = _upsert_companies(client, clients.s3, settings, job_id, companies)
        prepare_calls += client.stats.calls - before
    else:
        prepare_calls += len(new_attributes) + len(companies)
    fields.update(status=jobs.IMPORTING, chunks_total=chunks_total, prepare_calls=prepare_calls)
    store.update(job_id, fields)
    logger.info("file accepted", rows=counts["rows"], invalid=counts["invalid"], chunks=chunks_total)
    return "accepted"


def auto_tag_name(job_id: str) -> str:
    """The automatic import tag: ``import-YYYY-MM-DD-<job>``, to build a segment of this import."""
    return f"import-{time.strftime('%Y-%m-%d', time.gmtime())}-{job_id.removeprefix('job-')[:8]}"


def create_attributes(client: Any, model: str, attributes: list[dict[str, Any]]) -> None:
    """Create the planned custom attributes (an attribute created meanwhile by someone else is fine)."""
    for attribute in attributes:
        try:
            client.create_data_attribute(
                attribute["name"],
                model,
                "options" if attribute.get("options") else attribute["data_type"],
                options=attribute.get("options"),
                description="Created by the CSV importer",
            )
        except IntercomValidationError as exc:
            names = {a["name"] for a in client.list_data_attributes(model)}
            if attribute["name"] not in names:
                raise FileRejectedError(
                    f"Intercom refused to create the custom attribute '{attribute['name']}': {exc.message}"
                ) from exc


def companies_key(job_id: str) -> str:
    return f"work/{job_id}/companies.json"


def _upsert_companies(client: Any, s3: Any, settings: Settings, job_id: str, companies: dict[str, str]) -> str:
    """Companies of a people file are upserted once per import, before any contact is written."""

    def one(item: tuple[str, str]) -> tuple[str, str]:
        company_id, name = item
        body = {"company_id": company_id, **({"name": name} if name else {})}
        return company_id, str(client.upsert_company(body)["id"])

    with ThreadPoolExecutor(max_workers=max(1, settings.worker_threads)) as pool:
        ids = dict(pool.map(one, companies.items()))
    key = companies_key(job_id)
    s3.put_object(Bucket=settings.import_bucket, Key=key, Body=json.dumps(ids).encode(), ContentType="application/json")
    return key


def _identity_columns(columns: list[Column], import_type: str) -> dict[str, str]:
    """Identifier targets present in the file -> their column header."""
    wanted = ("email", "external_id", "id") if import_type == PEOPLE else ("company_id",)
    return {c.target: c.header for c in columns if c.target in wanted}


def _blocks(rows: Iterable[Any], size: int) -> Iterator[list[Any]]:
    block: list[Any] = []
    for row in rows:
        block.append(row)
        if len(block) >= size:
            yield block
            block = []
    if block:
        yield block


def _duplicates(
    seen: SeenKeys, checked: list[tuple[Any, dict[str, Any] | None, list[Problem]]], identity: dict[str, str]
) -> dict[int, list[Problem]]:
    """Rows of the block whose identifier appeared earlier in the file -> their problems."""
    if not identity:
        return {}
    entries = []
    for row, record, problems in checked:
        if record is None or problems:
            continue
        for target in identity:
            value = record.get(target)
            if value is not None:
                entries.append((row.line, f"{target}\0{str(value).strip().lower()}"))
    found: dict[int, list[Problem]] = {}
    for line, key, first in seen.check_block(entries):
        target, _, value = key.partition("\0")
        found.setdefault(line, []).append(
            Problem(
                line,
                identity[target],
                value[:80],
                f"duplicates line {first} (same {target}): a contact or company may appear once per file; "
                "merge the two rows",
            )
        )
    return found


def _kind(problem: Problem) -> str:
    """A grouping key for the email's "top problems": the column and what is wrong with it."""
    what = problem.message.split(":")[0]
    return f"{problem.column}: {what}" if problem.column else what


def _spool_invalid(spool: Any, line: int, cells: list[str], problems: list[Problem]) -> None:
    spool.write(json.dumps({"line": line, "cells": cells, "problems": [p.to_dict() for p in problems]}) + "\n")


class _ChunkWriter:
    """Accumulates valid rows and writes each full chunk to S3."""

    def __init__(self, s3: Any, bucket: str, job_id: str, rows_per_chunk: int) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._job_id = job_id
        self._size = rows_per_chunk
        self._rows: list[dict[str, Any]] = []
        self.count = 0

    def add(self, line: int, cells: list[str], record: dict[str, Any]) -> None:
        self._rows.append({"line": line, "cells": cells, "record": record})
        if len(self._rows) >= self._size:
            self._write()

    def _write(self) -> None:
        self.count += 1
        body = json.dumps(
            {"v": CHUNK_FORMAT, "job_id": self._job_id, "chunk": self.count, "rows": self._rows},
            separators=(",", ":"),
        ).encode("utf-8")
        self._s3.put_object(
            Bucket=self._bucket,
            Key=chunk_key(self._job_id, self.count),
            Body=body,
            ContentType="application/json",
        )
        self._rows = []

    def flush(self) -> int:
        if self._rows:
            self._write()
        return self.count

    def discard(self) -> None:
        """Delete the chunks written so far (the file was rejected)."""
        keys = [{"Key": chunk_key(self._job_id, i)} for i in range(1, self.count + 1)]
        for start in range(0, len(keys), 1000):
            self._s3.delete_objects(Bucket=self._bucket, Delete={"Objects": keys[start : start + 1000], "Quiet": True})
        self._rows = []
        self.count = 0


def chunk_message(job_id: str, index: int) -> str:
    return json.dumps({"v": CHUNK_FORMAT, "job_id": job_id, "chunk": index, "key": chunk_key(job_id, index)})


def _queue_chunks(sqs: Any, settings: Settings, job_id: str, chunks_total: int) -> None:
    for start in range(1, chunks_total + 1, SQS_BATCH):
        entries = [
            {"Id": str(i), "MessageBody": chunk_message(job_id, i)}
            for i in range(start, min(start + SQS_BATCH, chunks_total + 1))
        ]
        response = sqs.send_message_batch(QueueUrl=settings.chunk_queue_url, Entries=entries)
        failed = response.get("Failed") or []
        for entry in failed:  # one retry per refused entry, then surface the problem
            sqs.send_message(QueueUrl=settings.chunk_queue_url, MessageBody=chunk_message(job_id, int(entry["Id"])))


def _start_execution(sfn: Any, settings: Settings, job_id: str, outcome: str) -> None:
    payload = {"job_id": job_id, "status": outcome, "timeout_seconds": settings.job_timeout_seconds}
    try:
        sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=job_id, input=json.dumps(payload))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
            raise
        logger.info("execution already started", job_id=job_id)


def handle_validator_failure(
    destination_record: Mapping[str, Any], *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> list[dict[str, Any]]:
    """An upload the validator never finished (crash, timeout, out of memory, after Lambda's retries).

    Lambda's on-failure destination hands over the original S3 event and the error. Every job in it that
    is not terminal is marked failed (rows that were read count as failed) and its state machine is
    started with status ``failed``, so the user still gets exactly one email saying what happened.
    """
    event = destination_record.get("requestPayload") or {}
    response = destination_record.get("responsePayload") or {}
    error = str(response.get("errorType") or "ValidatorFailed")
    detail = str(response.get("errorMessage") or "the validator stopped without an answer")[:300]
    outcomes = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        obj = s3.get("object") or {}
        key = unquote_plus(obj.get("key", ""))
        if not key or key.endswith("/") or key.lower().endswith(".json"):
            continue
        job_id = jobs.job_id_for(bucket, key, obj.get("versionId") or obj.get("eTag"))
        message = (
            f"The file could not be validated: the validator failed after retries ({error}: {detail}). "
            "Nothing was written to Intercom. If the file is very large or unusual, check it with "
            "`intercom-import validate`, then upload it again."
        )
        fields = {"status": jobs.FAILED, "failure": {"error": error, "message": message}}
        if not store.create(job_id, {**fields, "bucket": bucket, "key": key, "version_id": obj.get("versionId") or ""}):
            job = store.get(job_id)
            if job.get("status") in jobs.TERMINAL or job.get("status") == jobs.IMPORTING:
                outcomes.append({"job_id": job_id, "outcome": "already-handled"})
                continue  # the validator got as far as starting the import; its execution follows it
            store.update(job_id, {**fields, "failed": int(job.get("valid", 0) or 0)})
        _start_execution(clients.sfn, settings, job_id, "failed")
        outcomes.append({"job_id": job_id, "outcome": "failed"})
    return outcomes
