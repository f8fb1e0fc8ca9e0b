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
   in exactly one summary email. That hand-over (start the execution, queue the chunks) is recorded on
   the job (``handover``: "pending" in the write that ends the validation, ``execution_started``,
   ``chunks_queued``, then "done"), so whoever finds it unfinished (a retry of the event, the failure
   destination, the sweep) finishes it from where it stopped: StartExecution by name is idempotent and
   each chunk is queued once (a batch interrupted half-sent may be sent again: recording is exactly-once).
5. A file too big for one invocation (Lambda stops at 15 minutes) is read in several: when the time
   budget runs out, at a block boundary, the validator saves a checkpoint under ``work/<job>/checkpoints/``
   (the byte offset of the next row, every counter, the duplicate-detection database, the invalid rows so
   far) and invokes itself asynchronously with ``{"continue": {"job_id", "seq"}}``. The next invocation
   claims that checkpoint with a conditional write (a repeated event is a no-op), reads on from the
   offset with a ranged GET, and so on; only the last one queues chunks and starts the state machine.
"""

from __future__ import annotations

import io
import json
import math
import re
import shutil
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

from botocore.exceptions import ClientError

from intercom_importer import aws, jobs, keys
from intercom_importer.attributes import AttributePlan, finalise, model_of, plan_attributes
from intercom_importer.chunks import CHUNK_FORMAT, chunk_message
from intercom_importer.csv_reader import CsvStream, StreamCheckpoint
from intercom_importer.errors import (
    UNAUTHORIZED_MESSAGE,
    FileRejectedError,
    ImporterError,
    IntercomAuthError,
    IntercomValidationError,
    JobNotFoundError,
    PartnerConfigError,
)
from intercom_importer.manifest import parse_manifest
from intercom_importer.mapping import COMPANIES, ERROR_COLUMNS, INFER, PEOPLE, Column, map_header, normalise
from intercom_importer.observability import bind_job, logger
from intercom_importer.options import ImportOptions
from intercom_importer.partners import Partner, load_partner, partner_of_key
from intercom_importer.schema import OTHER_PROBLEMS, Problem, RowValidator, TypeSniffer, restore_cell
from intercom_importer.seen import SeenKeys
from intercom_importer.settings import Settings
from intercom_importer.upsert import company_attributes

SAMPLE_PROBLEMS = 25
MAX_PROBLEM_KINDS = 50  # kinds of problem counted one by one on the job; the rest are OTHER_PROBLEMS
PROGRESS_EVERY_SECONDS = 2.0
SQS_BATCH = 10
HANDOVER_LEASE_SECONDS = 300  # a hand-over taken over by the failure handler or the sweep (timeouts 30 s, 120 s)
BLOCK_ROWS = 1000  # rows validated together (one duplicate lookup per block)
CHUNK_PUTS_IN_FLIGHT = 8  # chunk objects written concurrently (and at most this many held in memory)
CHECKPOINT_FORMAT = 1
# Kept free at the end of an invocation to write a checkpoint (the duplicate-detection database is the
# biggest part: S3 takes it at ~100 MB/s from Lambda) and invoke the continuation.
CHECKPOINT_MARGIN_SECONDS = 60.0
_PEOPLE_IDS = {"email", "e_mail", "email_address", "external_id", "user_id", "userid", "id", "intercom_id"}


@dataclass
class Upload:
    bucket: str
    key: str
    version_id: str | None
    etag: str | None
    size: int | None
    uploaded_by: str | None = None  # the S3 event's userIdentity.principalId
    source_ip: str | None = None  # the S3 event's requestParameters.sourceIPAddress


@dataclass
class Clients:
    s3: Any
    sqs: Any
    sfn: Any
    intercom: Callable[[], Any]  # builds the Intercom client on first need (custom attributes, companies)
    lambda_: Any = None  # invokes the validator's continuation (None: a file is always read in one go)
    intercom_writes: bool = True  # False: validate only (``intercom-import validate``), Intercom is only read


class Deadline:
    """When an invocation stops reading and hands the rest of the file to a new one (monotonic clock)."""

    def __init__(self, seconds: float) -> None:
        self._at = time.monotonic() + seconds

    @classmethod
    def for_invocation(cls, remaining_ms: Callable[[], int], budget_seconds: float) -> Deadline:
        """The settings' budget, never closer than the safety margin to the invocation's own timeout."""
        return cls(min(budget_seconds, remaining_ms() / 1000 - CHECKPOINT_MARGIN_SECONDS))

    def expired(self) -> bool:
        return time.monotonic() >= self._at


NO_DEADLINE = Deadline(math.inf)


@dataclass
class _Run:
    """What reading the rest of a file needs from its start (saved in every checkpoint)."""

    job_id: str
    upload: Upload
    import_type: str
    options: ImportOptions
    columns: list[Column]
    create: list[str]  # custom attributes to create once the file is validated
    day_first: bool
    seq: int = 0  # the checkpoint this invocation started from (0: the start of the file)
    function_arn: str = ""  # this function, to invoke the continuation ("": no continuation)


@dataclass
class _State:
    """Everything counted so far (saved in every checkpoint)."""

    counts: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)
    sniffers: dict[str, TypeSniffer] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)  # company_id -> its attributes (people)
    chunks: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)  # valid rows not yet in a chunk
    invalid_parts: list[str] = field(default_factory=list)  # invalid rows of earlier invocations


def guess_import_type(header: list[str]) -> str:
    names = {normalise(h) for h in header}
    if names & _PEOPLE_IDS:
        return PEOPLE
    return COMPANIES if "company_id" in names else PEOPLE


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
    job_id = jobs.job_id_for(upload.bucket, upload.key, upload.version_id or upload.etag)
    lease = max(60, remaining_ms() // 1000 + 30)
    fields = {
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
    if not store.create(job_id, fields) and not store.claim(job_id, lease):
        job = store.get(job_id)
        if job.get("handover") == jobs.HANDOVER_PENDING:
            # Lambda retries an upload event whose invocation failed after the validation ended, while starting
            # the job: this event finishes the hand-over (unless a live invocation holds it)
            resumed = _resume_hand_over(job_id, lease, settings=settings, store=store, clients=clients)
            if resumed is not None:
                return {"job_id": job_id, "outcome": resumed, "resumed": True}
        if job.get("status") == jobs.VALIDATING and job.get("checkpoint_seq"):
            # Lambda retries an upload event whose invocation died: if it died after saving a checkpoint
            # but before handing over, nobody else will go on, so this event does (from the checkpoint,
            # never from the start); if a continuation holds the checkpoint, the claim refuses it.
            request = {"job_id": job_id, "seq": int(job["checkpoint_seq"])}
            return handle_continue(
                request,
                settings=settings,
                store=store,
                clients=clients,
                remaining_ms=remaining_ms,
                function_arn=function_arn,
                deadline=deadline,
            )
        logger.info("duplicate upload event ignored", job_id=job_id)
        return {"job_id": job_id, "duplicate": True}
    return _run(
        job_id,
        lambda until: _validate(
            job_id, upload, settings=settings, store=store, clients=clients, deadline=until, function_arn=function_arn
        ),
        settings=settings,
        store=store,
        clients=clients,
        deadline=deadline or _deadline(settings, clients, remaining_ms, function_arn),
    )


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
    job_id = str(request["job_id"])
    # The job's latest checkpoint, not only the event's: when an invocation died after recording a newer
    # checkpoint but before invoking its continuation, Lambda's retry of this (older) event takes over.
    # Whichever event claims the latest checkpoint first goes on; every other is a no-op.
    seq = max(int(request["seq"]), int(store.get(job_id).get("checkpoint_seq") or 0))
    lease = max(60, remaining_ms() // 1000 + 30)
    if not store.claim_checkpoint(job_id, seq, lease):
        if store.get(job_id).get("handover") == jobs.HANDOVER_PENDING:
            # the retry of the last continuation, whose invocation failed while starting the job: finish that
            resumed = _resume_hand_over(job_id, lease, settings=settings, store=store, clients=clients)
            if resumed is not None:
                return {"job_id": job_id, "seq": seq, "outcome": resumed, "resumed": True}
        logger.info("continuation already taken or stale; ignored", job_id=job_id, seq=seq)
        return {"job_id": job_id, "seq": seq, "duplicate": True}
    result = _run(
        job_id,
        lambda until: _continue(
            job_id, seq, settings=settings, store=store, clients=clients, deadline=until, function_arn=function_arn
        ),
        settings=settings,
        store=store,
        clients=clients,
        deadline=deadline or _deadline(settings, clients, remaining_ms, function_arn),
    )
    return {**result, "seq": seq}


def _run(
    job_id: str,
    work: Callable[[Deadline], str],
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    deadline: Deadline,
) -> dict[str, Any]:
    """What an invocation that holds the job does: read (``work``) until done or ``deadline``, any failure
    recorded on the job, then start the job once the whole file is read."""
    bind_job(job_id)
    outcome = _guarded(job_id, store, lambda: work(deadline))
    return _conclude(job_id, outcome, settings=settings, store=store, clients=clients)


def validate_only(job_id: str, upload: Upload, *, settings: Settings, store: jobs.JobStore, clients: Clients) -> str:
    """The validation an upload gets, in one go, without starting the job (``intercom-import validate``):
    "accepted" or "rejected", with the counts, columns and problems on the job record. Errors other than a
    rejection propagate."""
    try:
        return _validate(job_id, upload, settings=settings, store=store, clients=clients)
    except FileRejectedError as exc:
        store.update(job_id, {"status": jobs.REJECTED, "rejection": exc.message})
        return "rejected"


def _deadline(settings: Settings, clients: Clients, remaining_ms: Callable[[], int], function_arn: str) -> Deadline:
    if not function_arn or clients.lambda_ is None:
        return NO_DEADLINE
    return Deadline.for_invocation(remaining_ms, settings.validate_time_budget_seconds)


def _conclude(
    job_id: str, outcome: str, *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> dict[str, Any]:
    """Start the job's state machine once the file is read (not when another invocation continues)."""
    if outcome == "continued":
        return {"job_id": job_id, "outcome": outcome}
    _hand_over_held(job_id, settings=settings, store=store, clients=clients)
    return {"job_id": job_id, "outcome": outcome}


def _leaving_validation(outcome: str) -> dict[str, Any]:
    """The fields written with the status that ends a validation: its hand-over is now due."""
    return {"handover": jobs.HANDOVER_PENDING, "handover_outcome": outcome}


def _hand_over(job_id: str, *, settings: Settings, store: jobs.JobStore, clients: Clients) -> str:
    """Start the state machine of a job that left validation and queue its chunks, each step recorded on the
    job so that a later call goes on where an interrupted one stopped; returns the outcome handed over."""
    job = store.get(job_id)
    outcome = str(job.get("handover_outcome") or "failed")
    if not job.get("execution_started"):
        _start_execution(clients.sfn, settings, job_id, outcome)  # by name: a repeated start is a no-op
        store.update(job_id, {"execution_started": True})
    if outcome == "accepted" and job.get("status") == jobs.IMPORTING:
        _queue_chunks(
            clients.sqs,
            settings,
            job_id,
            int(job.get("chunks_total", 0)),
            first=int(job.get("chunks_queued", 0)) + 1,
            queued=lambda last: store.update(job_id, {"chunks_queued": last}),
        )
    store.update(job_id, {"handover": jobs.HANDOVER_DONE})
    return outcome


def _hand_over_held(job_id: str, *, settings: Settings, store: jobs.JobStore, clients: Clients) -> str:
    """The hand-over by the invocation that holds the job's lease. If it fails the lease is released and the
    error raised: Lambda's retry of the event finishes it at once (the sweep does if the retries run out)."""
    try:
        return _hand_over(job_id, settings=settings, store=store, clients=clients)
    except Exception:
        logger.exception("starting the job failed; a retry or the sweep finishes it")
        try:
            store.release_handover(job_id)
        except Exception:  # the lease then expires by itself
            logger.exception("could not release the hand-over")
        raise


def _resume_hand_over(
    job_id: str, lease: int, *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> str | None:
    """Finish a hand-over that an earlier invocation left unfinished: its outcome, or None when it is finished
    or a live invocation holds it."""
    if not store.claim_handover(job_id, lease):
        return None
    logger.warning("finishing an interrupted hand-over", job_id=job_id)
    return _hand_over_held(job_id, settings=settings, store=store, clients=clients)


def _guarded(job_id: str, store: jobs.JobStore, validate: Callable[[], str]) -> str:
    """Run the validation; any failure is recorded on the job (which still ends in one email)."""
    try:
        outcome = validate()
    except FileRejectedError as exc:
        logger.info("file rejected", reason=exc.message)
        store.update(job_id, {"status": jobs.REJECTED, "rejection": exc.message, **_leaving_validation("rejected")})
        outcome = "rejected"
    except ImporterError as exc:
        logger.exception("validation failed")
        message = exc.message
        if isinstance(exc, IntercomAuthError):
            message = f"{UNAUTHORIZED_MESSAGE} Nothing was imported."
        # rows that passed validation but were never imported count as failed (every row accounted for)
        valid = int(store.get(job_id).get("valid", 0))
        store.update(
            job_id,
            {
                "status": jobs.FAILED,
                "failed": valid,
                "failure": {"error": type(exc).__name__, "message": message},
                **_leaving_validation("failed"),
            },
        )
        outcome = "failed"
    except Exception as exc:  # any bug still ends in an email, never in silence
        logger.exception("validation crashed")
        store.update(
            job_id,
            {
                "status": jobs.FAILED,
                "failure": {"error": type(exc).__name__, "message": "The validator failed unexpectedly."},
                **_leaving_validation("failed"),
            },
        )
        outcome = "failed"
    return outcome


def _load_manifest(s3: Any, bucket: str, key: str) -> dict[str, Any] | None:
    """The sidecar manifest ``<key>.json`` if one was uploaded (it must arrive before the file)."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key + ".json")["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in {*aws.NOT_FOUND, "AccessDenied"}:
            return None
        raise
    return parse_manifest(body, source=f"The manifest {key}.json")


def _mapping_source(
    options: ImportOptions,
    manifest: Mapping[str, Any] | None,
    partner: Partner | None,
    fixes: Mapping[str, Any] | None = None,
) -> str:
    """Where the column mapping came from, for the email ("" when none: automatic matching)."""
    mapping = options.mapping or {}
    if not mapping:
        return ""
    mapped = len(mapping.get("columns") or {})
    what = f"custom, {mapped} column{'s' if mapped != 1 else ''} mapped"
    if manifest and "mapping" in manifest:
        return f"{what} (the file's manifest)"
    if partner is not None and "mapping" in partner.settings:
        return f"{what} (partner {partner.name}'s settings)"
    if fixes:
        return f"{what} (as job {fixes['job_id']}, whose error file this is)"
    return what


# The name the error file downloads under (report.py): "<job id>-errors.csv"; a browser may add " (1)".
_ERROR_FILE_NAME = re.compile(r"(job-[0-9a-f]{20})-errors\b")


def _fixed_error_file_of(key: str, header: Sequence[str], store: jobs.JobStore) -> dict[str, Any] | None:
    """The job whose error file this upload is (fixed and uploaded again), known by the file's name and
    its trailing error columns: its rows are then read with that job's settings and mapping."""
    found = _ERROR_FILE_NAME.search(key.rsplit("/", 1)[-1])
    if found is None or tuple(h.strip().lower() for h in header[-3:]) != ERROR_COLUMNS:
        return None
    try:
        job = store.get(found.group(1))
    except JobNotFoundError:  # expired, or another stack's: the upload's own settings apply
        return None
    return job if job.get("options") else None


def _load_partner(
    job_id: str, upload: Upload, *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> Partner | None:
    """The partner whose prefix the upload is in (None outside any registered partner's prefix). Its
    recipients go on the job first, so even a rejection reaches the partner; the upload counts for
    the partner's schedule expectation whatever happens next."""
    name = partner_of_key(upload.key)
    if name is None:
        return None
    try:
        partner = load_partner(clients.s3, upload.bucket, name)
    except PartnerConfigError as exc:
        raise FileRejectedError(
            f"{exc.message}. Nothing was imported: fix them with `intercom-import partner add {name} "
            "--config FILE --replace`, then upload the file again."
        ) from exc
    if partner is None:
        return None
    store.update(job_id, {"partner": name, "recipients": partner.recipients(settings.notify_recipients)})
    store.touch_partner(name, job_id=job_id, key=upload.key)
    return partner


def _validate(
    job_id: str,
    upload: Upload,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    deadline: Deadline = NO_DEADLINE,
    function_arn: str = "",
) -> str:
    try:
        obj = clients.s3.get_object(
            Bucket=upload.bucket,
            Key=upload.key,
            **({"VersionId": upload.version_id} if upload.version_id else {}),
        )
    except ClientError as exc:
        code = aws.error_code(exc)
        if code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise FileRejectedError(f"The uploaded file {upload.key} no longer exists in the bucket.") from exc
        raise
    partner = _load_partner(job_id, upload, settings=settings, store=store, clients=clients)
    manifest = _load_manifest(clients.s3, upload.bucket, upload.key)
    stream = CsvStream(obj["Body"])
    header = [restore_cell(h) for h in stream.header]  # a header cell our error file neutralised, as it was
    fixes = _fixed_error_file_of(upload.key, header, store)
    previous = ImportOptions.from_dict(fixes["options"]) if fixes else None
    options = ImportOptions.from_sources(obj.get("Metadata") or {}, manifest, settings, partner, previous)
    import_type = options.import_type or guess_import_type(header)
    mapping = options.mapping or {}
    day_first = bool(mapping.get("day_first", True))
    columns = map_header(header, import_type, mapping)
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
            "fixes_job": fixes["job_id"] if fixes else "",
            "mapping_source": _mapping_source(options, manifest, partner, fixes),
            "import_type": import_type,
            "dry_run": options.dry_run,
            "header": header,
            "columns": [c.to_dict() for c in columns],
            "encoding": stream.dialect.encoding_label,
            "delimiter": stream.dialect.delimiter,
            "attribute_notes": plan.notes,
        },
    )
    run = _Run(
        job_id=job_id,
        upload=upload,
        import_type=import_type,
        options=options,
        columns=list(columns),
        create=[c.target for c in plan.create],
        day_first=day_first,
        function_arn=function_arn,
    )
    state = _State(sniffers={c.target: TypeSniffer(day_first) for c in columns if c.type == INFER})
    return _read_rows(run, state, stream, None, settings=settings, store=store, clients=clients, deadline=deadline)


def _continue(
    job_id: str,
    seq: int,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    deadline: Deadline,
    function_arn: str,
) -> str:
    """Resume from checkpoint ``seq``: the plain file from its byte offset (a ranged GET), a gzip file
    decompressed again from its start with the bytes before the offset skipped unparsed."""
    s3, bucket = clients.s3, settings.import_bucket
    saved = json.loads(s3.get_object(Bucket=bucket, Key=keys.checkpoint(job_id, seq))["Body"].read())
    upload = Upload(**saved["upload"])
    position = StreamCheckpoint.from_dict(saved["stream"])
    ranged = {} if position.compressed else {"Range": f"bytes={position.offset}-"}
    try:
        body: Any = s3.get_object(
            Bucket=upload.bucket,
            Key=upload.key,
            **({"VersionId": upload.version_id} if upload.version_id else {}),
            **ranged,
        )["Body"]
    except ClientError as exc:
        code = aws.error_code(exc)
        if code == "InvalidRange":  # the checkpoint was taken after the very last row
            body = io.BytesIO(b"")
        elif code in ("NoSuchKey", "NoSuchVersion", "404"):
            raise FileRejectedError(
                f"The uploaded file {upload.key} was removed from the bucket while it was being validated."
            ) from exc
        else:
            raise
    stream = CsvStream.resume(body, position)
    day_first = bool(saved["day_first"])
    run = _Run(
        job_id=job_id,
        upload=upload,
        import_type=saved["import_type"],
        options=ImportOptions.from_dict(saved["options"]),
        columns=[Column.from_dict(c) for c in saved["columns"]],
        create=list(saved["create"]),
        day_first=day_first,
        seq=seq,
        function_arn=function_arn,
    )
    sniffers = {}
    for target, sniffed in saved["sniffers"].items():
        sniffer = TypeSniffer(day_first)
        sniffer.candidates = set(sniffed["candidates"])
        sniffer.seen = int(sniffed["seen"])
        sniffers[target] = sniffer
    state = _State(
        counts=Counter(saved["counts"]),
        kinds=Counter(saved["kinds"]),
        sample=list(saved["sample"]),
        sniffers=sniffers,
        companies={k: _saved_company(v) for k, v in saved["companies"].items()},
        chunks=int(saved["chunks"]),
        pending=list(saved["pending"]),
        invalid_parts=list(saved["invalid_parts"]),
    )
    seen_key = saved.get("seen_key")
    restore = (lambda path: s3.download_file(bucket, seen_key, path)) if seen_key else None
    logger.info("continuing from a checkpoint", seq=seq, rows=state.counts["rows"], offset=position.offset)
    return _read_rows(run, state, stream, restore, settings=settings, store=store, clients=clients, deadline=deadline)


def _read_rows(
    run: _Run,
    state: _State,
    stream: CsvStream,
    restore_seen: Callable[[str], None] | None,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
    deadline: Deadline,
) -> str:
    """Validate rows until the file ends (then finish the job) or the deadline passes (then checkpoint)."""
    job_id, import_type, columns = run.job_id, run.import_type, run.columns
    validator = RowValidator(columns, import_type, day_first=run.day_first)
    sniffers, companies = state.sniffers, state.companies
    writer = _ChunkWriter(
        clients.s3, settings.import_bucket, job_id, settings.chunk_rows, count=state.chunks, pending=state.pending
    )
    counts, kinds, sample = state.counts, state.kinds, state.sample
    reject_all = run.options.invalid_rows == "reject_file"
    last_progress = time.monotonic()
    identity = _identity_columns(columns, import_type)
    width = len(stream.header)
    try:
        with tempfile.TemporaryFile("w+b") as spool, SeenKeys(restore_from=restore_seen) as seen:
            finished = True
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
                            kind = problem.kind
                            if kind not in kinds and len(kinds) >= MAX_PROBLEM_KINDS:
                                kind = OTHER_PROBLEMS  # the job record stays small; the error file has them all
                            kinds[kind] += 1
                            if len(sample) < SAMPLE_PROBLEMS:
                                sample.append(problem.to_dict())
                        continue
                    assert record is not None  # a row without problems always has its record
                    counts["valid"] += 1
                    for target, sniffer in sniffers.items():
                        if record.get(target) is not None:
                            sniffer.add(record[target])
                    if import_type == PEOPLE and record.get("company_id"):
                        # the first value given for each attribute of the company wins
                        known = companies.setdefault(str(record["company_id"]), {})
                        for attribute, value in company_attributes(record).items():
                            known.setdefault(attribute, value)
                    if not (reject_all and counts["invalid"]):
                        writer.add(row.line, row.cells, record)
                if time.monotonic() - last_progress > PROGRESS_EVERY_SECONDS:
                    store.update(job_id, {"rows_read": counts["rows"], "bytes_read": stream.bytes_read})
                    last_progress = time.monotonic()
                if len(block) == BLOCK_ROWS and deadline.expired():  # a short block is the end of the file
                    finished = False
                    break
            if not finished:
                _save_checkpoint(
                    run, state, stream, writer, spool, seen if identity else None, settings, store, clients
                )
                return "continued"
            invalid_file = None
            if counts["invalid"]:
                invalid_file = _write_invalid(clients.s3, settings.import_bucket, job_id, state.invalid_parts, spool)
        return _finish(run, state, stream, writer, invalid_file, settings=settings, store=store, clients=clients)
    finally:
        writer.close()


def _finish(
    run: _Run,
    state: _State,
    stream: CsvStream,
    writer: _ChunkWriter,
    invalid_file: str | None,
    *,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
) -> str:
    """The whole file is read: reject it, or write the last chunk and prepare Intercom."""
    job_id, import_type, options = run.job_id, run.import_type, run.options
    counts, kinds, sample, companies = state.counts, state.kinds, state.sample, state.companies
    reject_all = options.invalid_rows == "reject_file"
    columns = finalise(run.columns, {target: sniffer.result() for target, sniffer in state.sniffers.items()})
    # a new attribute whose column is empty in every row would take one of the workspace's 250 slots for
    # nothing (no value is ever written to it): it is not created
    unused = {
        c.target
        for c in run.columns
        if c.empty == "keep" and c.target in state.sniffers and not state.sniffers[c.target].seen
    }
    created_names = set(run.create) - unused
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
    skipped_attributes = [c for c in columns if c.target in unused and c.target in run.create]
    if skipped_attributes:
        fields["attribute_notes"] = list(store.get(job_id).get("attribute_notes") or []) + [
            f"Column '{c.header}' is empty in every row, so no custom attribute was created for it"
            for c in skipped_attributes
        ]
    if reject_all and counts["invalid"]:
        writer.discard()
        fields.update(
            skipped=counts["valid"],  # valid rows not imported because of the policy: every row counted once
            status=jobs.REJECTED,
            **_leaving_validation("rejected"),
            rejection=(
                f"{counts['invalid']} of {counts['rows']} rows are invalid and this import rejects the whole "
                "file when any row is invalid (invalid_rows=reject_file), so nothing was imported. Fix the rows "
                "listed in the error file and upload the file again, or upload with invalid_rows=skip_rows "
                "to import the valid rows."
            ),
        )
        store.update(job_id, fields)
        _remove_checkpoint_files(run, state, settings=settings, clients=clients)
        return "rejected"
    chunks_total = writer.flush()
    store.update(job_id, fields)  # the counts are known even if preparing Intercom fails below
    prepare_calls = 2 if run.create or any(c.custom for c in columns) else 0
    skip = options.existing == "skip"
    if clients.intercom_writes and not options.dry_run and chunks_total:
        client = clients.intercom()
        before = client.stats.calls
        create_attributes(client, model_of(import_type), new_attributes)
        if companies:
            fields["companies_key"] = _upsert_companies(client, clients.s3, settings, job_id, companies, skip=skip)
        prepare_calls += client.stats.calls - before
    elif skip and companies and chunks_total and clients.intercom_writes:
        # a dry run looks the companies up as the real run would, to count the creates it would make
        missing = _missing_companies(clients.intercom(), settings, companies)
        prepare_calls += len(new_attributes) + len(companies) + missing
    else:  # validate only (Intercom may not be reachable): under skip, as if every company were new
        prepare_calls += len(new_attributes) + len(companies) * (2 if skip else 1)
    fields.update(
        status=jobs.IMPORTING,
        chunks_total=chunks_total,
        prepare_calls=prepare_calls,
        chunks_queued=0,
        **_leaving_validation("accepted"),
    )
    store.update(job_id, fields)
    _remove_checkpoint_files(run, state, settings=settings, clients=clients)
    logger.info("file accepted", rows=counts["rows"], invalid=counts["invalid"], chunks=chunks_total)
    return "accepted"


def _remove_checkpoint_files(run: _Run, state: _State, *, settings: Settings, clients: Clients) -> None:
    """The last checkpoint's duplicate database and the invalid-row parts, once the job has left validation.
    Not earlier: an invocation dying before that is retried from the checkpoint, which needs them. (What a
    death right here leaves behind, the work/ lifecycle rule removes.)"""
    files = [*state.invalid_parts, *([keys.checkpoint_seen(run.job_id, run.seq)] if run.seq else [])]
    if files:
        clients.s3.delete_objects(
            Bucket=settings.import_bucket, Delete={"Objects": [{"Key": k} for k in files], "Quiet": True}
        )


def _write_invalid(s3: Any, bucket: str, job_id: str, parts: list[str], spool: Any) -> str:
    """The invalid rows of the whole file as one object: earlier invocations' parts, then this one's."""
    key = keys.invalid(job_id)
    with tempfile.TemporaryFile("w+b") as whole:
        source = spool
        if parts:
            for part in parts:
                shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=part)["Body"], whole, 1 << 20)
            spool.seek(0)
            shutil.copyfileobj(spool, whole, 1 << 20)
            source = whole
        source.seek(0)
        s3.put_object(Bucket=bucket, Key=key, Body=source, ContentType="application/x-ndjson")
    return key


def _save_checkpoint(
    run: _Run,
    state: _State,
    stream: CsvStream,
    writer: _ChunkWriter,
    spool: Any,
    seen: SeenKeys | None,
    settings: Settings,
    store: jobs.JobStore,
    clients: Clients,
) -> None:
    """Make everything read so far durable, record the checkpoint on the job, and invoke the continuation."""
    s3, bucket, job_id = clients.s3, settings.import_bucket, run.job_id
    seq = run.seq + 1
    state.chunks, state.pending = writer.checkpoint()  # the chunk PUTs in flight are done
    if spool.tell():
        part = keys.checkpoint_invalid(job_id, seq)
        spool.seek(0)
        s3.put_object(Bucket=bucket, Key=part, Body=spool, ContentType="application/x-ndjson")
        state.invalid_parts.append(part)
    seen_key = None
    if seen is not None:
        seen_key = keys.checkpoint_seen(job_id, seq)
        s3.upload_file(seen.path, bucket, seen_key)
    position = stream.checkpoint()
    saved = {
        "v": CHECKPOINT_FORMAT,
        "job_id": job_id,
        "seq": seq,
        "upload": vars(run.upload),
        "stream": position.to_dict(),
        "import_type": run.import_type,
        "options": run.options.to_dict(),
        "columns": [c.to_dict() for c in run.columns],
        "create": run.create,
        "day_first": run.day_first,
        "counts": dict(state.counts),
        "kinds": dict(state.kinds),
        "sample": state.sample,
        "sniffers": {t: {"candidates": sorted(s.candidates), "seen": s.seen} for t, s in state.sniffers.items()},
        "companies": state.companies,
        "chunks": state.chunks,
        "pending": state.pending,
        "invalid_parts": state.invalid_parts,
        "seen_key": seen_key,
    }
    key = keys.checkpoint(job_id, seq)
    s3.put_object(
        Bucket=bucket, Key=key, Body=json.dumps(saved, separators=(",", ":")).encode(), ContentType="application/json"
    )
    progress = {"checkpoint_key": key, "rows_read": state.counts["rows"], "bytes_read": stream.bytes_read}
    if not store.save_checkpoint(job_id, seq, progress):
        logger.warning("another invocation took this validation over; stopping", seq=seq)
        return
    if run.seq:  # the previous checkpoint can no longer be claimed: its database copy is not needed
        s3.delete_objects(
            Bucket=bucket, Delete={"Objects": [{"Key": keys.checkpoint_seen(job_id, run.seq)}], "Quiet": True}
        )
    clients.lambda_.invoke(
        FunctionName=run.function_arn,
        InvocationType="Event",
        Payload=json.dumps({"continue": {"job_id": job_id, "seq": seq, "checkpoint_key": key}}).encode(),
    )
    logger.info(
        "checkpoint saved; the file continues in a new invocation",
        seq=seq,
        rows=state.counts["rows"],
        offset=position.offset,
        chunks=state.chunks,
    )


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
            names = {str(a["name"]).lower() for a in client.list_data_attributes(model)}
            if attribute["name"].lower() not in names:
                raise FileRejectedError(
                    f"Intercom refused to create the custom attribute '{attribute['name']}': {exc.message}"
                ) from exc


def _upsert_companies(
    client: Any, s3: Any, settings: Settings, job_id: str, companies: dict[str, dict[str, Any]], *, skip: bool
) -> str:
    """Companies of a people file are upserted once per import, before any contact is written, with the
    attributes the file gives them. Under ``existing=skip`` each is looked up first and only the missing
    ones are created: an existing company is left untouched (new contacts are still attached to it).
    Writes the ``company_id -> Intercom id`` map the workers attach contacts with; returns its key."""

    def one(item: tuple[str, dict[str, Any]]) -> tuple[str, str]:
        company_id, attributes = item
        if skip:
            found = client.find_company(company_id)
            if found is not None:
                return company_id, str(found["id"])
        return company_id, str(client.upsert_company({"company_id": company_id, **attributes})["id"])

    with ThreadPoolExecutor(max_workers=max(1, settings.worker_threads)) as pool:
        ids = dict(pool.map(one, companies.items()))
    key = keys.companies(job_id)
    s3.put_object(Bucket=settings.import_bucket, Key=key, Body=json.dumps(ids).encode(), ContentType="application/json")
    return key


def _missing_companies(client: Any, settings: Settings, companies: Mapping[str, Any]) -> int:
    """How many of the companies do not exist in Intercom (one lookup each, nothing written)."""
    with ThreadPoolExecutor(max_workers=max(1, settings.worker_threads)) as pool:
        return sum(found is None for found in pool.map(client.find_company, companies))


def _saved_company(saved: Any) -> dict[str, Any]:
    """A company of a checkpoint: its attributes (a checkpoint written before company attributes holds
    only its name)."""
    if isinstance(saved, dict):
        return dict(saved)
    return {"name": saved} if saved else {}


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
                entries.append((row.line, identity_key(target, value)))
    found: dict[int, list[Problem]] = {}
    for line, key, first in seen.check_block(entries):
        target, _, value = key.partition("\0")
        found.setdefault(line, []).append(
            Problem(
                line,
                identity[target],
                value[:80],
                # the line of the first occurrence after the first ':' so that every duplicate is one kind
                f"duplicates an earlier row's {target}: the same {target} as line {first}; a contact or company "
                "may appear once per file: merge the two rows",
            )
        )
    return found


def identity_key(target: str, value: Any) -> str:
    """The duplicate-detection key of an identifier (the format of the checkpointed database):
    ``target NUL value``, trimmed; only emails are compared case-insensitively (Intercom matches
    emails case-insensitively, ``external_id``, ``id`` and ``company_id`` exactly)."""
    text = str(value).strip()
    return f"{target}\0{text.lower() if target == 'email' else text}"


def _spool_invalid(spool: Any, line: int, cells: list[str], problems: list[Problem]) -> None:
    record = {"line": line, "cells": cells, "problems": [p.to_dict() for p in problems]}
    spool.write((json.dumps(record) + "\n").encode("utf-8"))


class _ChunkWriter:
    """Accumulates valid rows and writes each full chunk to S3, several PUTs at a time.

    Chunk numbers follow the file order (given when a chunk is full). Up to ``in_flight`` PUTs overlap, so S3's
    latency does not bound the validator; a full window waits for its oldest PUT, so at most ``in_flight``
    chunk bodies are held. A failed PUT is raised by the next ``add``/``checkpoint``/``flush``.
    """

    def __init__(
        self,
        s3: Any,
        bucket: str,
        job_id: str,
        rows_per_chunk: int,
        *,
        count: int = 0,
        pending: list[dict[str, Any]] | None = None,
        in_flight: int = CHUNK_PUTS_IN_FLIGHT,
    ) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._job_id = job_id
        self._size = rows_per_chunk
        self._rows: list[dict[str, Any]] = list(pending or [])
        self._limit = max(1, in_flight)
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: deque[Future[None]] = deque()
        self.count = count

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
        self._rows = []
        while self._in_flight and (len(self._in_flight) >= self._limit or self._in_flight[0].done()):
            self._in_flight.popleft().result()  # raises the PUT's error
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self._limit, thread_name_prefix="chunk-put")
        self._in_flight.append(self._pool.submit(self._put, self.count, body))

    def _put(self, index: int, body: bytes) -> None:
        self._s3.put_object(
            Bucket=self._bucket, Key=keys.chunk(self._job_id, index), Body=body, ContentType="application/json"
        )

    def _drain(self) -> None:
        while self._in_flight:
            self._in_flight.popleft().result()

    def checkpoint(self) -> tuple[int, list[dict[str, Any]]]:
        """Chunks written so far (all of them durable on return) and the rows of the next, unfinished one."""
        self._drain()
        return self.count, list(self._rows)

    def flush(self) -> int:
        if self._rows:
            self._write()
        self._drain()
        return self.count

    def discard(self) -> None:
        """Delete the chunks written so far (the file was rejected)."""
        wait(list(self._in_flight))
        self._in_flight.clear()
        chunks = [{"Key": keys.chunk(self._job_id, i)} for i in range(1, self.count + 1)]
        for start in range(0, len(chunks), 1000):
            self._s3.delete_objects(
                Bucket=self._bucket, Delete={"Objects": chunks[start : start + 1000], "Quiet": True}
            )
        self._rows = []
        self.count = 0

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


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
    for start in range(first, chunks_total + 1, SQS_BATCH):
        # MessageGroupId: an SQS fair queue (standard queue) interleaves the chunks of concurrent jobs, so a
        # big import does not hold a small one behind its backlog; ignored where fair queues do not apply.
        entries = [
            {"Id": str(i), "MessageBody": chunk_message(job_id, i), "MessageGroupId": job_id}
            for i in range(start, min(start + SQS_BATCH, chunks_total + 1))
        ]
        response = sqs.send_message_batch(QueueUrl=settings.chunk_queue_url, Entries=entries)
        failed = response.get("Failed") or []
        for entry in failed:  # one retry per refused entry, then surface the problem
            sqs.send_message(
                QueueUrl=settings.chunk_queue_url,
                MessageBody=chunk_message(job_id, int(entry["Id"])),
                MessageGroupId=job_id,
            )
        if queued is not None:
            queued(min(start + SQS_BATCH, chunks_total + 1) - 1)


def _start_execution(sfn: Any, settings: Settings, job_id: str, outcome: str) -> None:
    payload = {"job_id": job_id, "status": outcome, "timeout_seconds": settings.job_timeout_seconds}
    try:
        sfn.start_execution(stateMachineArn=settings.state_machine_arn, name=job_id, input=json.dumps(payload))
    except ClientError as exc:
        if aws.error_code(exc) != "ExecutionAlreadyExists":
            raise
        logger.info("execution already started", job_id=job_id)


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
    event = destination_record.get("requestPayload") or {}
    response = destination_record.get("responsePayload") or {}
    error = str(response.get("errorType") or "ValidatorFailed")
    detail = str(response.get("errorMessage") or "the validator stopped without an answer")[:300]
    context: dict[str, Any] = {"settings": settings, "store": store, "clients": clients}
    continued = event.get("continue") if isinstance(event, Mapping) else None
    if isinstance(continued, Mapping) and continued.get("job_id"):  # a continuation of a big file died
        job_id = str(continued["job_id"])
        return [{"job_id": job_id, "outcome": fail_abandoned(job_id, error, detail, **context)}]
    outcomes = []
    for record in event.get("Records") or []:
        s3 = record.get("s3") or {}
        bucket = (s3.get("bucket") or {}).get("name", "")
        obj = s3.get("object") or {}
        key = unquote_plus(obj.get("key", ""))
        if not key or key.endswith("/") or key.lower().endswith(".json"):
            continue
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
            **_leaving_validation("failed"),
        }
        if store.create(job_id, fields):  # it died before it could record the job
            _hand_over_held(job_id, settings=settings, store=store, clients=clients)
            outcomes.append({"job_id": job_id, "outcome": "failed"})
            continue
        outcomes.append({"job_id": job_id, "outcome": fail_abandoned(job_id, error, detail, **context)})
    return outcomes


def _failure_message(error: str, detail: str) -> str:
    return (
        f"The file could not be validated: the validator failed after retries ({error}: {detail}). Nothing was "
        "written to Intercom. If the file is very large or unusual, check it with `intercom-import validate`, "
        "then upload it again."
    )


def fail_abandoned(
    job_id: str, error: str, detail: str, *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> str:
    """End a validation nobody holds any more as failed and start its email: "failed"; "already-handled"
    when it left validation; "held" while an invocation's lease is live (the dead invocation's own lease
    outlives it by up to 30 s, or another invocation is at work: ask again later). The condition is checked
    by the write, so a late continuation cannot revive the job and two handlers cannot both fail it.

    A job that left validation but whose hand-over is unfinished (the invocation failed or died while starting
    it) has it finished here: "handed-over" ("held" while a live invocation holds it)."""
    now = int(time.time())
    job = store.get(job_id)
    if job.get("status") != jobs.VALIDATING:
        return _finish_hand_over(job_id, job, settings=settings, store=store, clients=clients)
    if int(job.get("lease_until", 0) or 0) >= now:
        return "held"
    fields = {
        "failure": {"error": error, "message": _failure_message(error, detail)},
        "failed": int(job.get("valid", 0) or 0),  # rows found valid so far were never imported
        "lease_until": now + HANDOVER_LEASE_SECONDS,  # this handler holds the job while it starts the email
        **_leaving_validation("failed"),
    }
    if not store.fail_abandoned(job_id, fields, now):
        return "held" if store.get(job_id).get("status") == jobs.VALIDATING else "already-handled"
    _hand_over_held(job_id, settings=settings, store=store, clients=clients)
    return "failed"


def _finish_hand_over(
    job_id: str, job: Mapping[str, Any], *, settings: Settings, store: jobs.JobStore, clients: Clients
) -> str:
    """For a job that left validation: "handed-over" if its unfinished hand-over was finished here, "held" if a
    live invocation holds it, "already-handled" if it was finished."""
    if job.get("handover") != jobs.HANDOVER_PENDING:
        return "already-handled"
    if _resume_hand_over(job_id, HANDOVER_LEASE_SECONDS, settings=settings, store=store, clients=clients):
        return "handed-over"
    return "held" if store.get(job_id).get("handover") == jobs.HANDOVER_PENDING else "already-handled"


SWEEP_LOOKBACK_DAYS = 7


def sweep_abandoned(*, settings: Settings, store: jobs.JobStore, clients: Clients) -> list[str]:
    """Every job of the last days still validating that nobody holds (its lease expired: the invocation died
    in a way no retry or failure destination reported, e.g. killed while its lease was still live and its
    retries were turned away). Each is failed with an email; returns their ids."""
    now = int(time.time())
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - SWEEP_LOOKBACK_DAYS * 86400))
    failed = []
    for job in store.stale_validations(since, now):
        job_id = str(job["job_id"])
        detail = "no invocation was working on it any more (found by the periodic sweep)"
        try:
            outcome = fail_abandoned(
                job_id, "ValidationAbandoned", detail, settings=settings, store=store, clients=clients
            )
        except Exception:  # failed but its email not started: left to ``sweep_handovers``, which raises
            logger.exception("abandoned validation failed; its email not started yet", job_id=job_id)
            continue
        if outcome == "failed":
            logger.warning("abandoned validation failed", job_id=job_id)
            failed.append(job_id)
    return failed


def sweep_handovers(*, settings: Settings, store: jobs.JobStore, clients: Clients) -> list[str]:
    """Every job of the last days that left validation but whose hand-over (start the state machine, queue the
    chunks) nobody finished and nobody holds (the invocation died, or failed and its retries ran out). Each is
    finished; returns their ids. One that fails again is left for the next sweep (the error is raised after
    the others were tried)."""
    now = int(time.time())
    since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now - SWEEP_LOOKBACK_DAYS * 86400))
    finished: list[str] = []
    errors: list[Exception] = []
    for job in store.unfinished_handovers(since, now):
        job_id = str(job["job_id"])
        try:
            if _finish_hand_over(job_id, job, settings=settings, store=store, clients=clients) == "handed-over":
                finished.append(job_id)
        except Exception as exc:
            errors.append(exc)
    if errors:
        raise errors[0]
    return finished
