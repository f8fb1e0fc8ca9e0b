"""Per-import settings as command-line flags, and as the S3 object metadata an upload carries.

``run`` and ``upload`` share these flags. To add a setting: add its flag in
:func:`add_import_options` and its metadata key (as ``intercom_importer.options`` reads it) in
:func:`metadata`; both commands pick it up.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from importer_cli.errors import CliError

# flag dest -> metadata key (values are passed through as given)
SIMPLE_SETTINGS = (("existing", "existing"), ("role", "role"), ("invalid_rows", "invalid-rows"))


def add_import_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("import settings (sent as S3 object metadata; defaults from the stack)")
    group.add_argument("--type", choices=("people", "companies"), help="import type (default: from the header)")
    group.add_argument("--existing", choices=("update", "skip"), help="what happens to contacts/companies that exist")
    group.add_argument("--role", choices=("user", "lead"), help="role of new contacts")
    group.add_argument(
        "--tag", action="append", metavar="NAME", help="tag every created or updated contact (repeatable)"
    )
    group.add_argument(
        "--invalid-rows",
        dest="invalid_rows",
        choices=("reject_file", "skip_rows"),
        help="reject_file: any invalid row fails the import; skip_rows: the valid rows import",
    )
    group.add_argument(
        "--dry-run",
        dest="dry_run",
        action="store_true",
        help="validate and look up only, write nothing; report what would happen and the calls it would take",
    )
    group.add_argument("--auto-tag", dest="auto_tag", action="store_true", help="also tag with import-DATE-JOB")
    group.add_argument(
        "--identity-trap",
        dest="identity_trap",
        choices=("attach", "report"),
        help="a row with email + new external_id whose email belongs to a contact without external_id: "
        "attach (update that contact) or report (fail the row)",
    )
    group.add_argument(
        "--create-attributes",
        dest="create_attributes",
        choices=("auto", "explicit"),
        help="explicit: only columns the mapping names may create custom attributes (any other new column refuses "
        "the file); auto: any column that is no attribute creates one",
    )
    group.add_argument(
        "--mapping",
        metavar="FILE",
        help="JSON column mapping (see docs/manifest.schema.json, key 'mapping'); uploaded as the file's manifest",
    )


def load_config(path: str | None) -> dict[str, Any]:
    """``--config FILE``: import settings and template parameters, e.g. ``{"parameters": {...}, "existing": "skip"}``."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"--config {path}: no such file") from exc
    except ValueError as exc:
        raise CliError(f"--config {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CliError(f'--config {path}: must be a JSON object like {{"parameters": {{...}}, "existing": "skip"}}')
    return data


def metadata(args: argparse.Namespace, config: dict[str, Any] | None = None) -> dict[str, str]:
    """Per-import settings as S3 object metadata, exactly as a deployed upload would carry them.

    Flags win over the ``--config`` file's values.
    """
    config = config or {}
    meta: dict[str, str] = {}
    import_type = getattr(args, "type", None) or config.get("import_type")
    if import_type:
        meta["import-type"] = str(import_type)
    for key, meta_key in SIMPLE_SETTINGS:
        value = getattr(args, key, None) or config.get(key)
        if value:
            meta[meta_key] = str(value)
    tags = [str(t).strip() for t in list(getattr(args, "tag", None) or []) or list(config.get("tags") or [])]
    for tag in tags:
        if not tag or "," in tag:
            raise CliError(f"--tag {tag!r}: a tag name must be non-empty and without commas (give --tag once per tag)")
        if not tag.isascii():
            raise CliError(f"--tag {tag!r}: S3 metadata carries ASCII only; use an ASCII tag name")
    if tags:
        meta["tags"] = ",".join(tags)
    for key, meta_key in (("dry_run", "dry-run"), ("auto_tag", "auto-tag")):
        if getattr(args, key, False) or config.get(key):
            meta[meta_key] = "true"
    trap = getattr(args, "identity_trap", None) or config.get("identity_trap")
    if trap:
        meta["identity-trap"] = str(trap)
    create = getattr(args, "create_attributes", None) or config.get("create_attributes")
    if create:
        meta["create-attributes"] = str(create)
    return meta


def manifest(args: argparse.Namespace, config: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """The sidecar manifest to upload before the file: the column mapping (``--mapping`` or the config's
    ``mapping``), checked here with the validator's own schema so mistakes are reported before uploading."""
    from intercom_importer.errors import FileRejectedError
    from intercom_importer.manifest import validate_mapping

    config = config or {}
    path = getattr(args, "mapping", None)
    if path:
        try:
            mapping = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise CliError(f"--mapping {path}: no such file") from exc
        except ValueError as exc:
            raise CliError(f"--mapping {path}: not valid JSON ({exc})") from exc
    else:
        mapping = config.get("mapping")
    if mapping is None:
        return None
    try:
        return {"mapping": validate_mapping(mapping, source=f"--mapping {path or '(config)'}")}
    except FileRejectedError as exc:
        raise CliError(exc.message) from exc
