"""``partner add|list|show|remove`` and ``presign``: partners' settings in the import bucket.

The settings documents are the ones the validator reads (``intercom_importer.partners``): the CLI
validates with the same schema before it stores anything, so what ``partner add`` accepts is what
an upload will use.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from importer_cli.errors import CliError
from importer_cli.targets import Target
from intercom_importer import partners
from intercom_importer.errors import PartnerConfigError
from intercom_importer.partner_activity import PartnerActivityLog

PRESIGN_MAX_SECONDS = 7 * 24 * 3600  # SigV4 presigned URLs live at most 7 days


def read_config(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise CliError(
            f"--config {path}: no such file. Give a JSON file of partner settings (docs/partner.schema.json)"
        )
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except ValueError as exc:
        raise CliError(f"--config {path} is not valid JSON ({exc}); fix the syntax") from exc
    if not isinstance(data, dict):
        raise CliError(f'--config {path}: the settings must be a JSON object, e.g. {{"import_type": "people"}}')
    return data


def parse(name: str, document: dict[str, Any], *, source: str) -> partners.Partner:
    try:
        return partners.parse_partner(name, document, source=source)
    except PartnerConfigError as exc:
        raise CliError(str(exc)) from exc


def add(target: Target, name: str, config_path: str, *, replace: bool) -> dict[str, Any]:
    """Validate and store the partner's settings; returns what the partner needs to start uploading."""
    try:
        partners.check_name(name)
    except PartnerConfigError as exc:
        raise CliError(str(exc)) from exc
    partner = parse(name, read_config(config_path), source=f"the settings in {config_path}")
    s3, bucket = target.client("s3"), target.output("ImportBucketName")
    existing = _load(target, name, tolerate_invalid=True)
    if existing is not None and not replace:
        raise CliError(
            f"partner {name} already exists; add --replace to overwrite its settings "
            f"(see them with `intercom-import partner show {name}`)"
        )
    put = partners.save_partner(s3, bucket, partner)
    return {
        "partner": name,
        "replaced": existing is not None,
        "settings_key": f"s3://{bucket}/{partner.config_key}",
        "settings_version": put.get("VersionId"),
        **onboarding(target, partner),
    }


def onboarding(target: Target, partner: partners.Partner) -> dict[str, Any]:
    bucket = target.output("ImportBucketName")
    return {
        "bucket": bucket,
        "prefix": partner.prefix,
        "upload_example": f"aws s3 cp people.csv s3://{bucket}/{partner.prefix}people.csv",
        "cli_example": f"intercom-import upload people.csv --partner {partner.name}",
        "presign_example": f"intercom-import presign {partner.name} people.csv",
        "recipients": partner.recipients(_stack_recipients(target)),
        "expectation": _expect_text(partner),
    }


def _stack_recipients(target: Target) -> tuple[str, ...]:
    """The stack's default recipients, when the target tells them (the NotificationRecipients output)."""
    raw = target.outputs.get("NotificationRecipients") or ""
    return tuple(a.strip() for a in raw.split(",") if a.strip())


def _expect_text(partner: partners.Partner) -> str | None:
    if partner.expect_every_hours is None:
        return None
    grace = f" (+{partner.grace_hours:g} h grace)" if partner.grace_hours else ""
    return f"an upload every {partner.expect_every_hours:g} h{grace}"


def _load(target: Target, name: str, *, tolerate_invalid: bool = False) -> partners.Partner | None:
    try:
        return partners.load_partner(target.client("s3"), target.output("ImportBucketName"), name)
    except PartnerConfigError as exc:
        if tolerate_invalid:
            return partners.Partner(name=name, settings={})
        raise CliError(
            f"{exc}; store valid settings with `intercom-import partner add {name} --config FILE --replace`"
        ) from exc


def require(target: Target, name: str) -> partners.Partner:
    try:
        partners.check_name(name)
    except PartnerConfigError as exc:
        raise CliError(str(exc)) from exc
    partner = _load(target, name)
    if partner is None:
        raise CliError(
            f"no partner {name} in {target.label}; add one with `intercom-import partner add {name} --config FILE` "
            "(list them with `intercom-import partner list`)"
        )
    return partner


def show(target: Target, name: str) -> dict[str, Any]:
    partner = require(target, name)
    latest = PartnerActivityLog.of(target.job_store()).latest(name)
    return {
        "partner": name,
        "settings": partner.document,
        "settings_key": f"s3://{target.output('ImportBucketName')}/{partner.config_key}",
        **onboarding(target, partner),
        "last_upload_at": latest.last_upload_at if latest else None,
        "last_job_id": latest.last_job_id if latest else None,
        "uploads": latest.uploads if latest else 0,
    }


def list_all(target: Target, now: float | None = None) -> list[dict[str, Any]]:
    now = time.time() if now is None else now
    activity = PartnerActivityLog.of(target.job_store())
    rows = []
    for entry in partners.list_partners(target.client("s3"), target.output("ImportBucketName")):
        latest = activity.latest(entry.name)
        last = latest.last_upload_at if latest else None
        row: dict[str, Any] = {
            "partner": entry.name,
            "valid": entry.error is None,
            "error": str(entry.error) if entry.error else None,
            "import_type": None,
            "enabled": None,
            "recipients": [],
            "expectation": None,
            "overdue": None,
            "last_upload_at": last,
            "uploads": latest.uploads if latest else 0,
        }
        if entry.partner is not None:
            partner = entry.partner
            expect = partners.expectation(partner, float(last) if last is not None else None, entry.saved_at, now)
            row.update(
                import_type=partner.settings.get("import_type"),
                enabled=partner.enabled,
                recipients=partner.recipients(_stack_recipients(target)),
                expectation=_expect_text(partner),
                overdue=expect.overdue if expect else None,
            )
        rows.append(row)
    return rows


def remove(target: Target, name: str) -> dict[str, Any]:
    require(target, name)
    partners.delete_partner(target.client("s3"), target.output("ImportBucketName"), name)
    return {"partner": name, "removed": True}


def presign(target: Target, name: str, file_name: str, *, expires: int, metadata: dict[str, str]) -> dict[str, Any]:
    """A presigned PUT URL for ``incoming/<partner>/<file name>``: the partner uploads with plain HTTP."""
    if not 60 <= expires <= PRESIGN_MAX_SECONDS:
        raise CliError(
            f"--expires {expires}: give 60..{PRESIGN_MAX_SECONDS} seconds (S3 presigned URLs last 7 days at most)"
        )
    partner = require(target, name)
    base = Path(file_name).name
    if not base or base in (".", ".."):
        raise CliError(f"{file_name!r}: give the name the file will have, e.g. people.csv")
    key = f"{partner.prefix}{base}"
    params: dict[str, Any] = {"Bucket": target.output("ImportBucketName"), "Key": key}
    if metadata:
        params["Metadata"] = metadata
    url = target.client("s3").generate_presigned_url("put_object", Params=params, ExpiresIn=expires, HttpMethod="PUT")
    headers = {f"x-amz-meta-{k}": v for k, v in metadata.items()}
    header_flags = "".join(f" -H '{k}: {v}'" for k, v in headers.items())
    return {
        "partner": name,
        "key": key,
        "url": url,
        "method": "PUT",
        "headers": headers,
        "expires_in": expires,
        "expires_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + expires)),
        "curl": f"curl --fail -X PUT -T {base}{header_flags} '{url}'",
    }
