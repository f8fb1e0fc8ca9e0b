"""Per-import settings: what the uploader asked for, with the stack's defaults for the rest.

Sources, later ones winning: the stack parameters (``Settings``), S3 object metadata of the upload
(``aws s3 cp --metadata import-type=companies,existing=skip``), and the sidecar manifest
``<file>.json`` (see ``manifest.py``), which alone can carry a column mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import IMPORT_TYPES
from intercom_importer.settings import EXISTING_POLICIES, INVALID_ROW_POLICIES, ROLES, Settings

IDENTITY_TRAP_POLICIES = ("attach", "report")
_TRUE = ("1", "true", "yes", "on")


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
        )

    @classmethod
    def from_metadata(cls, metadata: Mapping[str, str], settings: Settings) -> ImportOptions:
        """Read the options from S3 object metadata (keys lower-case, without ``x-amz-meta-``)."""
        return cls.from_sources(metadata, None, settings)

    @classmethod
    def from_sources(
        cls, metadata: Mapping[str, str], manifest: Mapping[str, Any] | None, settings: Settings
    ) -> ImportOptions:
        meta = {k.lower().replace("_", "-"): v.strip() for k, v in metadata.items()}
        problems: list[str] = []

        def pick(key: str, allowed: tuple[str, ...], default: str | None) -> str | None:
            value = meta.get(key, "").lower() or default
            if value is not None and value not in allowed:
                problems.append(f"metadata {key}={value!r} must be one of {', '.join(allowed)}")
            return value

        values: dict[str, Any] = {
            "import_type": pick("import-type", IMPORT_TYPES, None),
            "existing": pick("existing", EXISTING_POLICIES, settings.default_existing) or settings.default_existing,
            "role": pick("role", ROLES, settings.default_role) or settings.default_role,
            "invalid_rows": pick("invalid-rows", INVALID_ROW_POLICIES, settings.default_invalid_rows)
            or settings.default_invalid_rows,
            "tags": tuple(t.strip() for t in meta.get("tags", "").split(",") if t.strip()),
            "auto_tag": meta.get("auto-tag", "").lower() in _TRUE,
            "dry_run": meta.get("dry-run", "").lower() in _TRUE,
            "identity_trap": pick("identity-trap", IDENTITY_TRAP_POLICIES, "attach") or "attach",
            "mapping": None,
        }
        if problems:
            raise FileRejectedError("The upload's settings are invalid: " + "; ".join(problems) + ".")
        for key, value in (manifest or {}).items():
            values[key] = tuple(value) if key == "tags" else value
        return cls(**values)
