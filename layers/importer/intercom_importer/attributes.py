"""Custom data attributes: checked against the workspace before anything is written, created before rows.

Intercom refuses a write to a custom attribute that does not exist, so every custom column is planned
up front from ``GET /data_attributes`` (both models: names are unique across people and companies):

- a column named like an existing custom attribute of this model takes that attribute's type (its
  values are validated and coerced to it; a list attribute's values must be among its options);
- a new one is created (``POST /data_attributes``) after the file validated and before the first row
  is written, with the type declared in the mapping or inferred from all of its values;
- refused before anything is written: names of this model's standard/reserved attributes (a company
  attribute name such as ``industry`` is a fine contact custom attribute), names used by the other
  model, names Intercom's rules refuse, and going over the workspace's cap of 250 custom attributes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from intercom_importer.errors import FileRejectedError
from intercom_importer.mapping import INFER, INTERCOM_TYPES, PEOPLE, Column

CAP = 250
# Intercom refuses '.', '$' and these characters in attribute names (older docs; see the API brief 3.2)
REFUSED_CHARACTERS = re.compile(r"[.$~`!@#%^&*'{}|\\\x00]")
# Standard attribute names a custom attribute must not take, per model (Intercom refuses a standard name
# for its own model only: ``industry`` is a company attribute, and free as a contact custom attribute).
# Besides these, the workspace's own listing (``custom: false``) is checked.
_SHARED_RESERVED = frozenset(
    {
        "id",
        "type",
        "name",
        "created_at",
        "updated_at",
        "tags",
        "notes",
        "companies",
        "segments",
        "company_id",
        "session_count",
        "last_request_at",
        "app_id",
        "workspace_id",
    }
)
RESERVED: dict[str, frozenset[str]] = {
    "contact": _SHARED_RESERVED
    | {
        "role",
        "email",
        "email_domain",
        "external_id",
        "user_id",
        "phone",
        "avatar",
        "owner_id",
        "signed_up_at",
        "last_seen_at",
        "last_replied_at",
        "last_contacted_at",
        "last_email_opened_at",
        "last_email_clicked_at",
        "unsubscribed_from_emails",
        "marked_email_as_spam",
        "has_hard_bounced",
        "language_override",
        "browser",
        "browser_version",
        "browser_language",
        "os",
        "location",
        "social_profiles",
    },
    "company": _SHARED_RESERVED
    | {"plan", "size", "website", "industry", "monthly_spend", "user_count", "remote_created_at"},
}
_EXISTING_TYPES = {"string": "string", "integer": "integer", "float": "number", "boolean": "boolean", "date": "date"}


@dataclass
class AttributePlan:
    columns: list[Column]  # custom columns carry their final (or "infer") type
    create: list[Column] = field(default_factory=list)  # new attributes, created after validation
    notes: list[str] = field(default_factory=list)  # what the report should say about attributes


def model_of(import_type: str) -> str:
    return "contact" if import_type == PEOPLE else "company"


def plan_attributes(
    columns: Sequence[Column],
    import_type: str,
    own: Iterable[Mapping[str, Any]],
    other: Iterable[Mapping[str, Any]],
) -> AttributePlan:
    """Check every custom column against the workspace's attributes; raise with every problem found."""
    own = list(own)
    other = list(other)
    model = model_of(import_type)
    other_model = "company" if model == "contact" else "people"
    # Intercom compares attribute names case-insensitively: "seats" is the existing "Seats"
    existing = {str(a["name"]).lower(): a for a in own if a.get("custom") and not a.get("archived")}
    standard = {str(a["name"]).lower() for a in own if not a.get("custom")} | RESERVED[model]
    other_names = {str(a["name"]).lower() for a in other if a.get("custom") and not a.get("archived")}
    in_use = len(set(existing) | other_names)
    problems: list[str] = []
    plan = AttributePlan(columns=[])
    for column in columns:
        if not column.custom:
            plan.columns.append(column)
            continue
        name = column.target
        where = f"column {column.index + 1} ({column.header!r})"
        if name.lower() in standard or name.lower().replace(" ", "_") in standard:
            problems.append(
                f"{where} would be a custom attribute named like Intercom's standard attribute '{name}': "
                "map it to a standard attribute, rename the column, or ignore it in the mapping file"
            )
            continue
        if REFUSED_CHARACTERS.search(name):
            problems.append(f"{where}: Intercom refuses attribute names with . $ or symbols: rename the column")
            continue
        if name.lower() in other_names:
            problems.append(
                f"{where}: '{name}' is already a custom attribute of {other_model} data, and names are unique "
                "across people and companies: rename the column or map it to another attribute"
            )
            continue
        found = existing.get(name.lower())
        if found is not None:
            kind = _EXISTING_TYPES.get(str(found.get("data_type")), "string")
            options = tuple(
                str(o.get("value", o)) if isinstance(o, dict) else str(o) for o in found.get("options") or ()
            )
            if column.type not in (INFER, kind) and not (column.type == "string" and options):
                plan.notes.append(
                    f"'{name}' exists in Intercom as {found.get('data_type')}; the column's values are checked "
                    f"as {found.get('data_type')} instead of the declared type"
                )
            # written under the existing attribute's own spelling
            plan.columns.append(
                replace(column, target=str(found["name"]), type=kind, options=options or column.options)
            )
            continue
        plan.columns.append(column)
        plan.create.append(column)
    if in_use + len(plan.create) > CAP:
        problems.append(
            f"the file would create {len(plan.create)} new custom attributes, but the workspace already has "
            f"{in_use} of Intercom's maximum {CAP}: ignore some columns in the mapping file or archive unused "
            "attributes in Intercom"
        )
    if problems:
        raise FileRejectedError("The file's columns cannot be imported into Intercom: " + "; ".join(problems) + ".")
    return plan


def finalise(columns: Sequence[Column], inferred: Mapping[str, str]) -> list[Column]:
    """Replace "infer" with the type inferred from the values (Intercom data type names)."""
    return [
        replace(c, type=INTERCOM_TYPES[inferred.get(c.target, "string")]) if c.type == INFER else c for c in columns
    ]
