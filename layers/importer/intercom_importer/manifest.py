"""The import manifest: per-import settings and the column mapping, validated by a JSON Schema.

A manifest is a JSON document uploaded next to the file as ``<file>.json`` (e.g.
``incoming/people.csv.json``, uploaded *before* the CSV) or given to ``intercom-import run --mapping``.
Simple settings can also travel as S3 object metadata; the manifest wins where both are given.

    {
      "import_type": "people",                  # people | companies (default: from the header)
      "existing": "update",                     # update | skip
      "role": "user",                           # user | lead (new contacts)
      "invalid_rows": "reject_file",            # reject_file | skip_rows
      "tags": ["spring-campaign"],              # tag every created/updated contact
      "auto_tag": true,                         # also tag with import-YYYY-MM-DD-<job>
      "dry_run": false,                         # validate and look up only, write nothing
      "identity_trap": "attach",                # attach | report (see README)
      "create_attributes": "auto",              # auto | explicit: only columns the mapping names create attributes
      "mapping": {
        "columns": {
          "Customer Number": "external_id",     # column -> attribute
          "Plan Tier": {"attribute": "plan_tier", "type": "string", "options": ["free", "pro"]},
          "Seats": {"type": "integer"},         # custom attribute named like the column, typed
          "Phone": {"empty": "clear"},          # an empty cell clears the value instead of keeping it
          "Internal Notes": {"ignore": true}
        },
        "ignore": ["Row ID"],
        "day_first": true,                      # 03/04/2026 is 3 April (false: 4 March)
        "allow_resubscribe": false              # never set unsubscribed_from_emails true -> false unless true
      }
    }
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from intercom_importer.errors import FileRejectedError

CUSTOM_TYPES = ("string", "integer", "float", "boolean", "date")

_COLUMN = {
    "oneOf": [
        {"type": "string", "minLength": 1, "description": "the attribute this column fills"},
        {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "attribute": {"type": "string", "minLength": 1},
                "type": {"enum": list(CUSTOM_TYPES)},
                "options": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": True},
                "ignore": {"type": "boolean"},
                "empty": {
                    "enum": ["keep", "clear"],
                    "description": "an empty cell: keep leaves the value unchanged, clear erases it (refused on "
                    "identifiers, role, a people file's company columns and the company numbers size, "
                    "monthly_spend, remote_created_at, which Intercom cannot erase)",
                },
            },
        },
    ]
}

MAPPING_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "columns": {"type": "object", "additionalProperties": _COLUMN},
        "ignore": {"type": "array", "items": {"type": "string"}},
        "day_first": {"type": "boolean"},
        "allow_resubscribe": {"type": "boolean"},
    },
}

MANIFEST_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Intercom import manifest",
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "import_type": {"enum": ["people", "companies"]},
        "existing": {"enum": ["update", "skip"]},
        "role": {"enum": ["user", "lead"]},
        "invalid_rows": {"enum": ["reject_file", "skip_rows"]},
        "tags": {"type": "array", "items": {"type": "string", "minLength": 1, "maxLength": 200}, "maxItems": 20},
        "auto_tag": {"type": "boolean"},
        "dry_run": {"type": "boolean"},
        "identity_trap": {"enum": ["attach", "report"]},
        "create_attributes": {"enum": ["auto", "explicit"]},
        "mapping": MAPPING_SCHEMA,
    },
}

_VALIDATOR = Draft202012Validator(MANIFEST_SCHEMA)

_FIXES = {
    "enum": "use one of {allowed}",
    "additionalProperties": "remove it or check its spelling; allowed keys: {allowed}",
    "type": "it must be {allowed}",
    "minItems": "list at least {allowed} values",
    "minLength": "it must not be empty",
    "uniqueItems": "list each value once",
    "oneOf": 'give the attribute name as a string, or an object like {{"attribute": "plan", "type": "string"}}',
}


def explain_error(error: Any) -> str:
    """One schema error as '<path>: <what is wrong>: <how to fix it>'."""
    where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
    if error.validator == "additionalProperties":
        allowed = ", ".join(sorted(error.schema.get("properties", {})))
        extra = ", ".join(sorted(set(error.instance) - set(error.schema.get("properties", {}))))
        return f"{where}: unknown key {extra}: " + _FIXES["additionalProperties"].format(allowed=allowed)
    if error.validator == "enum":
        allowed = ", ".join(str(v) for v in error.validator_value)
        return f"{where}: {json.dumps(error.instance)} is not allowed: " + _FIXES["enum"].format(allowed=allowed)
    if error.validator == "pattern":
        wanted = error.schema.get("description", f"text matching {error.validator_value}")
        return f"{where}: {json.dumps(error.instance)} is not {wanted}: correct it"
    if error.validator == "required":
        return f"{where}: {error.message}: add it"
    fix = _FIXES.get(str(error.validator), "")
    return f"{where}: {error.message}" + (": " + fix.format(allowed=error.validator_value) if fix else "")


def parse_manifest(text: str | bytes, *, source: str = "the manifest") -> dict[str, Any]:
    """Parse and validate a manifest; ``FileRejectedError`` lists every problem with its path and fix."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise FileRejectedError(f"{source} is not valid JSON ({exc}). Fix the syntax and upload it again.") from exc
    errors = list(_VALIDATOR.iter_errors(data))
    if errors:
        messages = [message for e in errors for message in _explain(e)]
        raise FileRejectedError(f"{source} is invalid: " + "; ".join(sorted(set(messages))) + ".")
    return data


def _explain(error: Any) -> list[str]:
    """A column's ``oneOf`` (a name, or an object) is explained through the branch of the value's own JSON
    type, so ``{"type": "int"}`` names the key and the allowed types; other errors by their best match."""
    if error.validator != "oneOf":
        return [explain_error(best_match([error]))]
    kind = "object" if isinstance(error.instance, dict) else "string" if isinstance(error.instance, str) else None
    branch = [e for e in error.context if _branch_type(error, e) == kind]
    return [explain_error(e) for e in branch] or [explain_error(error)]


def _branch_type(error: Any, sub: Any) -> str | None:
    """The JSON type of the ``oneOf`` branch a sub-error comes from."""
    index = sub.relative_schema_path[0] if sub.relative_schema_path else None
    branches = error.validator_value
    return branches[index].get("type") if isinstance(index, int) and index < len(branches) else None


def validate_mapping(mapping: dict[str, Any], *, source: str = "the mapping file") -> dict[str, Any]:
    """Validate a mapping document on its own (``intercom-import run --mapping FILE``)."""
    return parse_manifest(json.dumps({"mapping": mapping}), source=source)["mapping"]
