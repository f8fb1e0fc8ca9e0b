"""Per-import settings: what the uploader asked for, with the stack's defaults for the rest.

Sources, later ones winning: the stack parameters (``Settings``), S3 object metadata of the upload
(``aws s3 cp --metadata import-type=companies,existing=skip``), and the sidecar manifest
``<file>.json`` (see ``manifest.py``), which alone can carry a column mapping. Uploads under a
registered partner's prefix start from the partner's settings instead (see ``partners.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import IMPORT_TYPES
from intercom_importer.partners import Partner
from intercom_importer.settings import (
    CREATE_ATTRIBUTES_POLICIES,
    EXISTING_POLICIES,
    IDENTITY_TRAP_POLICIES,
    INVALID_ROW_POLICIES,
    ROLES,
    Settings,
)

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


@dataclass(frozen=True)
class ImportOptions:
    import_type: str | None  # None: decided from the header
    existing: str
    role: str
    invalid_rows: str
    tags: tuple[str, ...] = field(default=())
    auto_tag: bool = False
    dry_run: bool = False
    identity_trap: str = "attach"
    mapping: dict[str, Any] | None = None
    create_attributes: str = "auto"  # auto | explicit (settings.CREATE_ATTRIBUTES_POLICIES)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImportOptions:
        return cls(
            import_type=data.get("import_type"),
            existing=data["existing"],
            role=data["role"],
            invalid_rows=data["invalid_rows"],
            tags=tuple(data.get("tags") or ()),
            auto_tag=bool(data.get("auto_tag", False)),
            dry_run=bool(data.get("dry_run", False)),
            identity_trap=data.get("identity_trap") or "attach",
            mapping=data.get("mapping") or None,
            create_attributes=data.get("create_attributes") or "auto",
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], settings: Settings) -> ImportOptions:
        """Read the options from S3 object metadata (keys lower-case, without ``x-amz-meta-``)."""
        return cls.from_sources(metadata, None, settings)

    @classmethod
    def from_sources(
        cls,
        metadata: Mapping[str, str],
        manifest: Mapping[str, Any] | None,
        settings: Settings,
        partner: Partner | None = None,
        previous: ImportOptions | None = None,
    ) -> ImportOptions:
        """The stack's defaults, then the partner's settings, then what the upload itself asks for
        (metadata, then the sidecar manifest) — for a partner, only its ``overridable`` fields.

        ``previous``: the settings of the import whose error file this upload is (fixed and uploaded
        again). They replace the stack's defaults, so the rows are read with the same mapping and land
        with the same tags (its automatic import tag included, none added); it is never a dry run."""
        values: dict[str, Any] = {
            "import_type": None,
            "existing": settings.default_existing,
            "role": settings.default_role,
            "invalid_rows": settings.default_invalid_rows,
            "tags": settings.default_tags,
            "auto_tag": settings.default_auto_tag,
            "dry_run": False,
            "identity_trap": settings.default_identity_trap,
            "mapping": None,
            "create_attributes": settings.default_create_attributes,
        }
        if previous is not None:
            values.update(previous.to_dict(), dry_run=False, auto_tag=False)
        asked = {**_from_metadata(metadata), **(manifest or {})}
        if partner is not None:
            if not partner.enabled:
                raise FileRejectedError(
                    f"Partner {partner.name} is paused (enabled=false in its settings), so its uploads are not "
                    f"imported. Enable it with `intercom-import partner add {partner.name} --config FILE --replace` "
                    "and upload the file again."
                )
            refused = sorted(set(asked) - set(partner.overridable))
            if refused:
                allowed = ", ".join(partner.overridable) or "none"
                raise FileRejectedError(
                    f"The upload sets {', '.join(refused)}, which partner {partner.name}'s settings do not let an "
                    f"upload change (overridable: {allowed}). Remove {'them' if len(refused) > 1 else 'it'} from "
                    "the file's manifest or metadata, or add it to the partner's overridable list."
                )
            values.update(partner.settings)
        values.update(asked)
        values["tags"] = tuple(values.get("tags") or ())
        return cls(**values)


_METADATA_CHOICES = {
    "import-type": ("import_type", IMPORT_TYPES),
    "existing": ("existing", EXISTING_POLICIES),
    "role": ("role", ROLES),
    "invalid-rows": ("invalid_rows", INVALID_ROW_POLICIES),
    "identity-trap": ("identity_trap", IDENTITY_TRAP_POLICIES),
    "create-attributes": ("create_attributes", CREATE_ATTRIBUTES_POLICIES),
}
_METADATA_FLAGS = {"auto-tag": "auto_tag", "dry-run": "dry_run"}


def _from_metadata(metadata: Mapping[str, str]) -> dict[str, Any]:
    """The settings an upload's S3 metadata gives (only those present), named like manifest keys."""
    meta = {k.lower().replace("_", "-"): v.strip() for k, v in metadata.items()}
    problems: list[str] = []
    given: dict[str, Any] = {}
    for key, (name, allowed) in _METADATA_CHOICES.items():
        value = meta.get(key, "").lower()
        if not value:
            continue
        if value not in allowed:
            problems.append(f"metadata {key}={value!r} must be one of {', '.join(allowed)}")
        given[name] = value
    for key, name in _METADATA_FLAGS.items():
        value = meta.get(key, "").lower()
        if value and value not in _TRUE + _FALSE:
            # a typo must not turn a dry run into real writes
            problems.append(f"metadata {key}={value!r} must be true or false")
        elif value:
            given[name] = value in _TRUE
    tags = tuple(t.strip() for t in meta.get("tags", "").split(",") if t.strip())
    if tags:
        given["tags"] = tags
    if problems:
        raise FileRejectedError("The upload's settings are invalid: " + "; ".join(problems) + ".")
    return given
