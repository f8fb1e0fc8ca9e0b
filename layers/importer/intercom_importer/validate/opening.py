"""Opening a new upload: where its settings come from (the object's metadata, the sidecar manifest, the
partner whose prefix it is in, the job whose error file it is), how its header maps to Intercom attributes and
which custom attributes it needs, all recorded on the job; the ``ReadPlan`` the row loop then follows."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws, jobs
from intercom_importer.csv_reader import CsvStream
from intercom_importer.errors import FileRejectedError, JobNotFoundError, PartnerConfigError
from intercom_importer.job_record import Job
from intercom_importer.manifest import parse_manifest
from intercom_importer.mapping import INFER, error_file_of
from intercom_importer.options import ImportOptions
from intercom_importer.partner_activity import PartnerActivityLog
from intercom_importer.partners import Partner, load_partner, partner_of_key
from intercom_importer.schema import TypeSniffer
from intercom_importer.validate.context import Context
from intercom_importer.validate.header import check_explicit, header_of, plan_header
from intercom_importer.validate.state import ReadPlan, ReadState
from intercom_importer.validate.upload import Upload, open_upload

# The name the error file downloads under (report.py): "<job id>-errors.csv"; a browser may add " (1)".
_ERROR_FILE_NAME = re.compile(r"(job-[0-9a-f]{20})-errors\b")


def open_file(
    ctx: Context, job_id: str, upload: Upload, function_arn: str = ""
) -> tuple[ReadPlan, ReadState, CsvStream]:
    """Open the upload, resolve its options, map its header and plan its custom attributes, all recorded on
    the job: the plan and the empty state its rows are read with, and the stream at its first row."""
    obj = open_upload(ctx.s3, upload)
    partner = _load_partner(ctx, job_id, upload)
    manifest = _load_manifest(ctx.s3, upload.bucket, upload.key)
    stream = CsvStream(obj["Body"])
    header = header_of(stream)
    fixes = fixed_error_file_of(upload.key, header, ctx.store)
    previous = ImportOptions.from_dict(fixes.options) if fixes else None
    options = ImportOptions.from_sources(obj.get("Metadata") or {}, manifest, ctx.settings, partner, previous)
    planned = plan_header(header, options, ctx.clients.intercom)
    check_explicit(planned)
    import_type, attributes = planned.import_type, planned.attributes
    options = replace(options, import_type=import_type, tags=_tags(options, job_id))
    ctx.store.update(
        job_id,
        {
            "options": options.to_dict(),
            "fixes_job": fixes.job_id if fixes else "",
            "mapping_source": _mapping_source(options, manifest, partner, fixes),
            "import_type": import_type,
            "dry_run": options.dry_run,
            "header": header,
            "columns": [c.to_dict() for c in attributes.columns],
            "encoding": stream.dialect.encoding_label,
            "delimiter": stream.dialect.delimiter,
            "attribute_notes": attributes.notes,
        },
    )
    day_first = bool((options.mapping or {}).get("day_first", True))
    plan = ReadPlan(
        job_id=job_id,
        upload=upload,
        import_type=import_type,
        options=options,
        columns=list(attributes.columns),
        create=[c.target for c in attributes.create],
        day_first=day_first,
        function_arn=function_arn,
    )
    state = ReadState(sniffers={c.target: TypeSniffer(day_first) for c in plan.columns if c.type == INFER})
    return plan, state, stream


def auto_tag_name(job_id: str) -> str:
    """The automatic import tag: ``import-YYYY-MM-DD-<job>``, to build a segment of this import."""
    return f"import-{time.strftime('%Y-%m-%d', time.gmtime())}-{job_id.removeprefix('job-')[:8]}"


def _tags(options: ImportOptions, job_id: str) -> tuple[str, ...]:
    tags = list(options.tags)
    if options.auto_tag:
        tags.append(auto_tag_name(job_id))
    return tuple(tags)


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
    fixes: Job | None = None,
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
        return f"{what} (as job {fixes.job_id}, whose error file this is)"
    return what


def fixed_error_file_of(key: str, header: Sequence[str], store: jobs.JobStore) -> Job | None:
    """The job whose error file this upload is (fixed and uploaded again): named by the file's last column
    (``import job-<id>``), or, for an error file written before it had that column, by its download name. Its rows
    are then read with that job's settings, mapping and tags. An error file that cannot be tied to an import this
    stack knows is refused: imported with other settings, its columns could become new custom attributes."""
    is_error_file, job_id = error_file_of(header)
    if not is_error_file:
        return None
    if job_id is None:
        by_name = _ERROR_FILE_NAME.search(key.rsplit("/", 1)[-1])
        job_id = by_name.group(1) if by_name else None
    if job_id is None:
        raise FileRejectedError(_UNTIED.format(why="it does not say which import it is of"))
    try:
        job = store.get(job_id)
    except JobNotFoundError as exc:
        why = f"it is of import {job_id}, which this stack does not know (expired, or another stack's)"
        raise FileRejectedError(_UNTIED.format(why=why)) from exc
    if not job.options:
        raise FileRejectedError(_UNTIED.format(why=f"the record of import {job_id} holds no settings"))
    return job


_UNTIED = (
    "This file is an error file (its last columns are error_line, error_column and error), but {why}. Its rows were "
    "meant to be imported with that import's settings, mapping and tags; with any others its columns could be "
    "imported differently or become new custom attributes. Nothing was imported. Fix: download the error file again "
    "(intercom-import errors JOB: its last column names the import), correct the rows and upload it; or, to import "
    "the rows as a new file with the settings of this upload, delete the error columns first."
)


def _load_partner(ctx: Context, job_id: str, upload: Upload) -> Partner | None:
    """The partner whose prefix the upload is in (None outside any registered partner's prefix). Its
    recipients go on the job first, so even a rejection reaches the partner; the upload counts for
    the partner's schedule expectation whatever happens next."""
    name = partner_of_key(upload.key)
    if name is None:
        return None
    try:
        partner = load_partner(ctx.s3, upload.bucket, name)
    except PartnerConfigError as exc:
        raise FileRejectedError(
            f"{exc.message}. Nothing was imported: fix them with `intercom-import partner add {name} "
            "--config FILE --replace`, then upload the file again."
        ) from exc
    if partner is None:
        return None
    ctx.store.update(job_id, {"partner": name, "recipients": partner.recipients(ctx.settings.notify_recipients)})
    PartnerActivityLog.of(ctx.store).touch(name, job_id=job_id, key=upload.key)
    return partner
