"""Partners: an upload prefix ``incoming/<partner>/`` with its own import settings and recipients.

A partner's settings are one JSON document in the import bucket, ``config/partners/<partner>.json``
(versioned and encrypted like the uploads; S3 rather than SSM Parameter Store because a column
mapping easily outgrows a parameter's 4 KB). It is validated by ``PARTNER_SCHEMA`` when it is saved
(``intercom-import partner add``) and again whenever an upload uses it, so a hand-edited document
can never half-apply. Published as ``docs/partner.schema.json``.

    {
      "description": "Acme's nightly CRM export",
      "import_type": "people",                   # any manifest setting (see manifest.py) ...
      "existing": "update",
      "tags": ["acme"],
      "mapping": {"columns": {"Customer No": "external_id"}},
      "overridable": ["tags", "dry_run"],        # what a sidecar manifest / object metadata may change
      "recipients": {"partner": ["ops@acme.example"], "team": ["imports@example.com"]},
      "expect": {"every_hours": 24, "grace_hours": 2},   # alarm when no upload arrives in time
      "enabled": true
    }

Uploads outside a registered partner's prefix use the stack's defaults, as before. The partner's
settings win over the stack's; a sidecar manifest ``<file>.json`` or object metadata may then change
only the fields listed in ``overridable`` (default: tags, auto_tag, dry_run) — anything else rejects
the file with a message naming the field, so a partner system cannot switch itself to
``existing=update`` or another mapping by accident.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from intercom_importer import aws, keys
from intercom_importer.errors import PartnerConfigError
from intercom_importer.manifest import MANIFEST_SCHEMA, explain_error

if TYPE_CHECKING:
    from intercom_importer.partner_activity import PartnerActivityLog

NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
SETTING_KEYS = tuple(MANIFEST_SCHEMA["properties"])
DEFAULT_OVERRIDABLE = ("tags", "auto_tag", "dry_run")
MAX_RECIPIENTS = 50  # SES: at most 50 recipients per message

_EMAIL = {
    "type": "string",
    "pattern": r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$",
    "maxLength": 254,
    "description": "an email address like ops@example.com",
}
_EMAILS = {"type": "array", "items": _EMAIL, "uniqueItems": True, "maxItems": MAX_RECIPIENTS}

PARTNER_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Intercom import partner",
    "description": "Settings of one partner: uploads under incoming/<partner>/ are imported with them.",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "description": {"type": "string", "maxLength": 500},
        **MANIFEST_SCHEMA["properties"],
        "overridable": {
            "type": "array",
            "items": {"enum": list(SETTING_KEYS)},
            "uniqueItems": True,
            "description": "settings a sidecar manifest or object metadata may change for one file",
        },
        "recipients": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"partner": _EMAILS, "team": _EMAILS},
            "description": "who receives the summary email; team defaults to the stack's recipients",
        },
        "expect": {
            "type": "object",
            "additionalProperties": False,
            "required": ["every_hours"],
            "properties": {
                "every_hours": {"type": "number", "minimum": 1, "maximum": 744},
                "grace_hours": {"type": "number", "minimum": 0, "maximum": 168},
            },
            "description": "raise the OverduePartners alarm when no upload arrives within every_hours + grace_hours",
        },
        "enabled": {"type": "boolean", "description": "false: uploads are rejected (the partner is paused)"},
    },
}

_VALIDATOR = Draft202012Validator(PARTNER_SCHEMA)
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class Partner:
    name: str
    settings: dict[str, Any]  # manifest keys only: import_type, existing, role, ..., mapping
    overridable: tuple[str, ...] = DEFAULT_OVERRIDABLE
    partner_recipients: tuple[str, ...] = ()
    team_recipients: tuple[str, ...] = ()
    expect_every_hours: float | None = None
    grace_hours: float = 0.0
    enabled: bool = True
    description: str = ""
    document: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def prefix(self) -> str:
        return keys.partner_incoming(self.name)

    @property
    def config_key(self) -> str:
        return config_key(self.name)

    def recipients(self, stack_recipients: Iterable[str]) -> list[str]:
        """The partner's contacts plus its team (the stack's recipients when it names none), each once; at
        most SES's 50 (only the stack's list can push past it: the partner's own are checked on save)."""
        team = self.team_recipients or tuple(stack_recipients)
        seen: dict[str, None] = {}
        for address in (*self.partner_recipients, *team):
            seen.setdefault(address.strip(), None)
        return list(seen)[:MAX_RECIPIENTS]

    @property
    def overdue_after_seconds(self) -> float | None:
        if self.expect_every_hours is None:
            return None
        return (self.expect_every_hours + self.grace_hours) * 3600


def check_name(name: str) -> str:
    if not _NAME.match(name or ""):
        raise PartnerConfigError(
            f"{name!r} is not a valid partner name: use 1-63 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit (it becomes the upload prefix incoming/<partner>/)"
        )
    return name


def config_key(name: str) -> str:
    return keys.partner_config(check_name(name))


def partner_of_key(key: str) -> str | None:
    """``incoming/acme/2026/file.csv`` -> ``acme``; None for a file directly under incoming/."""
    if not key.startswith(keys.INCOMING_PREFIX):
        return None
    first, sep, _ = key[len(keys.INCOMING_PREFIX) :].partition("/")
    return first if sep and _NAME.match(first) else None


def parse_partner(name: str, text: str | bytes | Mapping[str, Any], *, source: str | None = None) -> Partner:
    """Validate a partner document; ``PartnerConfigError`` lists every problem with its path and fix."""
    check_name(name)
    source = source or f"the settings of partner {name}"
    if isinstance(text, Mapping):
        data: Any = dict(text)
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise PartnerConfigError(f"{source} are not valid JSON ({exc}); fix the syntax") from exc
    errors = list(_VALIDATOR.iter_errors(data))
    if errors:
        messages = [explain_error(best_match([e]) if e.validator != "oneOf" else e) for e in errors]
        raise PartnerConfigError(f"{source} are invalid: " + "; ".join(sorted(set(messages))))
    recipients = data.get("recipients") or {}
    everyone = {a.strip().lower() for a in (*recipients.get("partner", ()), *recipients.get("team", ()))}
    if len(everyone) > MAX_RECIPIENTS:
        raise PartnerConfigError(
            f"{source} are invalid: recipients: {len(everyone)} different addresses in partner and team, but one "
            f"email reaches at most {MAX_RECIPIENTS} (SES): use a distribution list for some of them"
        )
    expect = data.get("expect") or {}
    return Partner(
        name=name,
        settings={k: data[k] for k in SETTING_KEYS if k in data},
        overridable=tuple(data.get("overridable", DEFAULT_OVERRIDABLE)),
        partner_recipients=tuple(recipients.get("partner") or ()),
        team_recipients=tuple(recipients.get("team") or ()),
        expect_every_hours=expect.get("every_hours"),
        grace_hours=float(expect.get("grace_hours", 0)),
        enabled=bool(data.get("enabled", True)),
        description=data.get("description", ""),
        document=data,
    )


# ------------------------------------------------------------------------------------------ storage
def load_partner(s3: Any, bucket: str, name: str) -> Partner | None:
    """The partner's validated settings, or None when no partner of that name is registered."""
    key = config_key(name)
    # Listed first: the validator may list config/partners/ only, and without ListBucket on a key S3
    # answers a missing object with 403, which must not read as "no such partner".
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents") or []
    if not any(item["Key"] == key for item in listed):
        return None
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if aws.error_code(exc) in aws.NOT_FOUND:
            return None
        raise
    return parse_partner(name, body, source=f"the settings of partner {name} (s3://{bucket}/{key})")


def save_partner(s3: Any, bucket: str, partner: Partner) -> dict[str, Any]:
    """Store the document (validated again here); returns the PutObject answer (version id)."""
    parse_partner(partner.name, partner.document)
    return s3.put_object(
        Bucket=bucket,
        Key=partner.config_key,
        Body=json.dumps(partner.document, indent=2, sort_keys=True).encode("utf-8"),
        ContentType="application/json",
    )


def delete_partner(s3: Any, bucket: str, name: str) -> None:
    s3.delete_object(Bucket=bucket, Key=config_key(name))


@dataclass(frozen=True)
class PartnerEntry:
    """A registered partner as stored: its settings, or why they no longer validate."""

    name: str
    partner: Partner | None
    error: PartnerConfigError | None
    saved_at: float  # epoch seconds of the document's last save


def list_partners(s3: Any, bucket: str) -> Iterator[PartnerEntry]:
    """Every registered partner, by name."""
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=keys.PARTNER_CONFIG_PREFIX):
        for item in page.get("Contents") or []:
            name = item["Key"][len(keys.PARTNER_CONFIG_PREFIX) :].removesuffix(".json")
            if not item["Key"].endswith(".json") or not _NAME.match(name):
                continue
            saved_at = item["LastModified"].timestamp()
            try:
                partner = load_partner(s3, bucket, name)
            except PartnerConfigError as exc:
                yield PartnerEntry(name, None, exc, saved_at)
                continue
            if partner is not None:
                yield PartnerEntry(name, partner, None, saved_at)


# ------------------------------------------------------------------------------------------ schedule
@dataclass(frozen=True)
class Expectation:
    partner: str
    last_upload_at: float | None  # epoch seconds
    due_by: float  # epoch seconds
    overdue: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "partner": self.partner,
            "last_upload_at": self.last_upload_at,
            "due_by": self.due_by,
            "overdue": self.overdue,
        }


def expectation(partner: Partner, last_upload_at: float | None, registered_at: float, now: float) -> Expectation | None:
    """When the next upload is due and whether it is late. A partner that never uploaded is measured
    from when its expectation was registered, so a new partner is not overdue at once."""
    window = partner.overdue_after_seconds
    if window is None or not partner.enabled:
        return None
    since = last_upload_at if last_upload_at is not None else registered_at
    due_by = since + window
    return Expectation(partner.name, last_upload_at, due_by, now > due_by)


@dataclass(frozen=True)
class ScheduleReport:
    checked: list[Expectation]
    invalid: list[str]  # partners whose stored settings no longer validate

    @property
    def overdue(self) -> list[Expectation]:
        return [e for e in self.checked if e.overdue]

    def to_dict(self) -> dict[str, Any]:
        return {
            "checked": [e.to_dict() for e in self.checked],
            "overdue": [e.partner for e in self.overdue],
            "invalid": self.invalid,
        }


def check_schedules(s3: Any, bucket: str, activity: PartnerActivityLog, now: float) -> ScheduleReport:
    """Every registered partner with an expectation, and whether its next upload is late."""
    checked: list[Expectation] = []
    invalid: list[str] = []
    for entry in list_partners(s3, bucket):
        if entry.partner is None:
            invalid.append(entry.name)
            continue
        if entry.partner.overdue_after_seconds is None:
            continue
        latest = activity.latest(entry.name)
        last = float(latest.last_upload_at) if latest is not None else None
        found = expectation(entry.partner, last, entry.saved_at, now)
        if found is not None:
            checked.append(found)
    return ScheduleReport(checked, invalid)
