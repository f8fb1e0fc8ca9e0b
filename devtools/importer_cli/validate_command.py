"""``intercom-import validate FILE``: the validator Lambda's own code run on a local file, nothing imported.

The file goes through ``intercom_importer.validate`` exactly as an upload does (decoding, header,
mapping, custom-attribute checks, every row against the JSON Schema, duplicate identifiers, the
invalid-rows policy, chunking), against an in-process moto (a scratch bucket and jobs table that
vanish afterwards). Intercom is only read, never written: with ``--intercom-url`` the workspace's
data attributes are listed (so the attribute cap, types and names are checked for real); without it,
the checks run against a workspace with no custom attributes and the report says so.
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from importer_cli.errors import CliError
from intercom_importer.job_record import Job
from intercom_importer.settings import Settings

BUCKET = "icimport-validate-local"
TABLE = "icimport-validate-jobs"
REGION = "us-east-1"
_TEMPLATE_DEFAULTS = {
    "DefaultExisting": "update",
    "DefaultRole": "user",
    "DefaultInvalidRows": "reject_file",
    "DefaultTags": "",
    "DefaultAutoTag": "false",
    "DefaultIdentityTrap": "attach",
    "DefaultCreateAttributes": "auto",
    "ChunkRows": "100",
    "IntercomRateLimitPerMinute": "10000",
}


class _NoCustomAttributes:
    """Stands in for Intercom when no workspace is given: it has no custom data attributes yet."""

    def list_data_attributes(self, model: str, **_: Any) -> list[dict[str, Any]]:
        return []


def template_defaults(parameters: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The stack parameters the validator's settings come from: template.yaml's defaults, then ``parameters``."""
    from importer_cli.local_stack import TEMPLATE
    from local_runtime.stack import load_template

    declared = load_template(TEMPLATE).get("Parameters") or {}
    values = {name: str(declared.get(name, {}).get("Default", default)) for name, default in _TEMPLATE_DEFAULTS.items()}
    for name, value in (parameters or {}).items():
        if name in values:
            values[name] = str(value)
    return values


def template_settings(stack: Mapping[str, str], *, jobs_table: str = "", import_bucket: str = "") -> Settings:
    """The validator's settings on a stack with the parameters ``stack`` (:func:`template_defaults`); no
    queue, state machine, token or email: nothing is imported."""
    return Settings(
        jobs_table=jobs_table,
        import_bucket=import_bucket,
        chunk_queue_url="",
        state_machine_arn="",
        intercom_token_secret="",  # nosec B106 - no secret: validation never reads the token
        intercom_region="US",
        intercom_base_url=None,
        intercom_rate_limit_per_minute=int(stack["IntercomRateLimitPerMinute"]),
        chunk_rows=int(stack["ChunkRows"]),
        worker_threads=1,
        default_existing=stack["DefaultExisting"],
        default_role=stack["DefaultRole"],
        default_invalid_rows=stack["DefaultInvalidRows"],
        default_tags=tuple(t.strip() for t in stack["DefaultTags"].split(",") if t.strip()),
        default_auto_tag=stack["DefaultAutoTag"] == "true",
        default_identity_trap=stack["DefaultIdentityTrap"],
        default_create_attributes=stack["DefaultCreateAttributes"],
        notify_recipients=("(the stack's recipients)",),
        sender_email="",
        job_timeout_seconds=86400,
        job_retention_days=1,
        report_link_expiry_seconds=3600,
    )


@contextlib.contextmanager
def _quiet_lambda_logs() -> Iterator[None]:
    """The validator's structured logs are for CloudWatch; here the report says what happened, and stdout
    must stay one document with --json."""
    from intercom_importer.observability import logger

    disabled = logger._logger.disabled
    logger._logger.disabled = True  # Powertools has no switch; its stdlib logger has one
    try:
        yield
    finally:
        logger._logger.disabled = disabled


@contextlib.contextmanager
def _scratch_aws() -> Iterator[tuple[Any, Any, str, str]]:
    """An in-process moto with a bucket and jobs table of their own, removed afterwards. moto's global
    state is neither reset nor wiped (a moto server may run in this process: the local stack's)."""
    from moto import mock_aws

    from importer_cli.targets import new_session

    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith("AWS_ENDPOINT_URL")}
    mock = mock_aws()
    mock.start(reset=False)
    suffix = uuid.uuid4().hex[:12]
    bucket, table_name = f"{BUCKET}-{suffix}", f"{TABLE}-{suffix}"
    try:
        session = new_session(
            aws_access_key_id="validate",
            aws_secret_access_key="validate",  # noqa: S106  # nosec B106 - the in-process moto's, not a credential
            region_name=REGION,
        )
        s3 = session.client("s3")
        s3.create_bucket(Bucket=bucket)
        table = session.resource("dynamodb").create_table(
            TableName=table_name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        try:
            yield s3, table, bucket, table_name
        finally:
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents") or []]
                if keys:
                    s3.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
            s3.delete_bucket(Bucket=bucket)
            table.delete()
            _untrack_s3_models(bucket)
    finally:
        mock.stop(remove_data=False)
        os.environ.update(saved)


def _untrack_s3_models(bucket: str) -> None:
    """moto keeps every model it made (``instances_tracked``) until it is reset, which the scratch may not do. Its
    keys would outlive their bucket: a leak in a long process, and moto's ``/moto-api/data.json`` answers 500 on a
    key whose bucket is gone, for a moto server in the same process (the local stack's, the tests')."""
    from moto.core.model_instances import model_data

    for model in model_data.get("s3", {}).values():
        tracked = getattr(model, "instances_tracked", None)
        if tracked:
            tracked[:] = [
                m for m in tracked if bucket not in (getattr(m, "bucket_name", None), getattr(m, "name", None))
            ]


def validate_file(
    path: Path,
    *,
    metadata: Mapping[str, str],
    manifest: Mapping[str, Any] | None,
    partner: Any = None,  # intercom_importer.partners.Partner
    intercom: Any = None,  # an IntercomClient to read data attributes from (None: an empty workspace)
    parameters: Mapping[str, Any] | None = None,
    errors_out: Path | None = None,
    problems_shown: int = 20,
) -> dict[str, Any]:
    from intercom_importer import jobs, partners, report
    from intercom_importer.validate.context import Clients
    from intercom_importer.validate.entry import validate_only
    from intercom_importer.validate.outcome import Outcome
    from intercom_importer.validate.upload import Upload

    if not path.is_file():
        raise CliError(f"{path}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    stack = template_defaults(parameters)
    prefix = partner.prefix if partner is not None else "incoming/"
    key = prefix + path.name
    with _quiet_lambda_logs(), _scratch_aws() as (s3, table, bucket, table_name):
        settings = template_settings(stack, jobs_table=table_name, import_bucket=bucket)
        if partner is not None:
            partners.save_partner(s3, bucket, partner)
        if manifest:
            s3.put_object(Bucket=bucket, Key=key + ".json", Body=json.dumps(manifest).encode())
        with path.open("rb") as body:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=dict(metadata))
        upload = Upload(bucket, key, put.get("VersionId"), put["ETag"].strip('"'), path.stat().st_size)
        store = jobs.JobStore(table)
        job_id = jobs.job_id_for(bucket, key, upload.etag)
        store.create(job_id, {"status": jobs.VALIDATING, "bucket": bucket, "key": key})
        clients = Clients(
            s3=s3,
            sqs=None,
            sfn=None,
            intercom=lambda: intercom if intercom is not None else _NoCustomAttributes(),
            intercom_writes=False,
        )
        try:
            outcome = validate_only(job_id, upload, settings=settings, store=store, clients=clients)
        except Exception as exc:  # the validator's named errors carry the message a user sees
            message = getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"
            store.update(job_id, {"status": jobs.REJECTED, "rejection": message})
            outcome = Outcome.REJECTED
        job = store.get(job_id)
        error_rows = _error_rows(s3, bucket, job, problems_shown)
        errors_file = None
        if errors_out is not None and (job.invalid_key or job.invalid):
            written, _ = report.write_error_file(s3, settings, store, job)
            if written:
                errors_out.write_bytes(s3.get_object(Bucket=bucket, Key=written)["Body"].read())
                errors_file = str(errors_out)
    return _result(path, job, outcome, error_rows, errors_file, partner, intercom is not None)


def _error_rows(s3: Any, bucket: str, job: Job, limit: int) -> list[dict[str, Any]]:
    """The first invalid rows with every problem (line, column, value, what to fix)."""
    key = job.invalid_key
    if not key:
        return []
    rows = []
    for raw in s3.get_object(Bucket=bucket, Key=key)["Body"].iter_lines():
        if not raw:
            continue
        entry = json.loads(raw)
        rows.append({"line": entry["line"], "problems": entry["problems"]})
        if len(rows) >= limit:
            break
    return rows


def _result(
    path: Path,
    job: Job,
    outcome: str,
    error_rows: list[dict[str, Any]],
    errors_file: str | None,
    partner: Any,
    workspace_checked: bool,
) -> dict[str, Any]:
    options = job.options
    accepted = outcome == "accepted"
    return {
        "file": str(path),
        "valid": accepted and not job.invalid,
        "outcome": "accepted" if accepted else "rejected",
        "rejection": job.rejection or None,
        "partner": partner.name if partner is not None else None,
        "import_type": job.import_type,
        "encoding": job.encoding,
        "delimiter": job.delimiter,
        "rows": job.rows,
        "valid_rows": job.valid,
        "invalid_rows": job.invalid,
        "blank_lines": job.blank_lines,
        "unrecognisable_rows": job.unrecognisable_rows,
        "chunks": job.chunks_total,
        "companies": job.companies_total,
        "settings": {
            k: options.get(k) for k in ("existing", "role", "invalid_rows", "tags", "dry_run", "identity_trap")
        }
        if options
        else None,
        "columns": [
            {"column": c.get("header"), "attribute": c.get("target"), "type": c.get("type"), "custom": c.get("custom")}
            for c in job.columns
        ],
        "new_attributes": [dict(a) for a in job.new_attributes],
        "attribute_notes": list(job.attribute_notes),
        "workspace_checked": workspace_checked,
        "problem_kinds": dict(job.problem_kinds),
        "errors": error_rows,
        "errors_file": errors_file,
    }
