"""``POST /contacts/search`` queries: validation and evaluation.

Faithful to the 2.14 ``SearchContacts`` description:
- a query is one filter ``{field, operator, value}`` or a group ``{operator: AND|OR, value: [...]}``;
  groups nest at most 2 levels and hold at most 15 filters each;
- operators by field type: strings ``= != IN NIN ~ !~ ^ $``, integers ``= != IN NIN < > <= >=``,
  booleans ``= != IN NIN``, ``tag_id`` ``= !=``, dates ``= < >`` only;
- dates (standard timestamps, ``date``/``datetime`` custom attributes) are matched by calendar day in
  the workspace time zone (UTC here): ``=`` matches the whole day, ``>`` starts at the next day, ``<``
  ends before the day;
- a value of the wrong type (``"foobar"`` for a date) fails the query.

Sandbox choices: ``email`` and ``email_domain`` compare case-insensitively, other strings exactly;
an unknown field, a bad operator or a malformed query gives ``400 parameter_invalid`` with sandbox
wording; ``segment_id`` matches nothing (the sandbox has no segments).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from intercom_sandbox.errors import invalid

MAX_NESTING = 2
MAX_FILTERS_PER_GROUP = 15
SECONDS_PER_DAY = 86_400

STRING_FIELDS = frozenset(
    {
        "id",
        "role",
        "name",
        "avatar",
        "email",
        "email_domain",
        "phone",
        "external_id",
        "language_override",
        "browser",
        "browser_language",
        "os",
        "location.country",
        "location.region",
        "location.city",
        "ios_app_version",
        "ios_device",
        "ios_app_device",
        "ios_os_version",
        "ios_app_name",
        "ios_sdk_version",
        "android_app_version",
        "android_device",
        "android_app_name",
        "andoid_sdk_version",
        "android_sdk_version",
    }
)
INTEGER_FIELDS = frozenset({"owner_id"})
BOOLEAN_FIELDS = frozenset({"unsubscribed_from_emails", "marked_email_as_spam", "has_hard_bounced"})
DATE_FIELDS = frozenset(
    {
        "created_at",
        "signed_up_at",
        "updated_at",
        "last_seen_at",
        "last_contacted_at",
        "last_replied_at",
        "last_email_opened_at",
        "last_email_clicked_at",
        "ios_last_seen_at",
        "android_last_seen_at",
    }
)
MEMBERSHIP_FIELDS = frozenset({"tag_id", "segment_id"})
CASE_INSENSITIVE_FIELDS = frozenset({"email", "email_domain"})

OPERATORS_BY_KIND: dict[str, frozenset[str]] = {
    "string": frozenset({"=", "!=", "IN", "NIN", "~", "!~", "^", "$"}),
    "number": frozenset({"=", "!=", "IN", "NIN", "<", ">", "<=", ">="}),
    "boolean": frozenset({"=", "!=", "IN", "NIN"}),
    "date": frozenset({"=", "<", ">"}),
    "membership": frozenset({"=", "!="}),
}
ALL_OPERATORS = frozenset().union(*OPERATORS_BY_KIND.values())
_CUSTOM_KIND = {
    "string": "string",
    "options": "string",
    "integer": "number",
    "float": "number",
    "boolean": "boolean",
    "date": "date",
    "datetime": "date",
}


class Searchable(Protocol):
    """What a predicate reads from a contact."""

    def search_value(self, field: str) -> Any: ...


Predicate = Callable[[Searchable], bool]
# Resolves ``custom_attributes.<name>`` to the attribute's data_type, or None when it does not exist.
CustomTypeLookup = Callable[[str], str | None]


def compile_query(query: object, custom_type: CustomTypeLookup) -> Predicate:
    """Validate ``query`` and return a predicate over contacts; raises ``ApiError`` (400)."""
    return _compile(query, custom_type, depth=1)


def _compile(node: object, custom_type: CustomTypeLookup, depth: int) -> Predicate:
    if not isinstance(node, dict):
        raise invalid("query must be an object with field/operator/value or operator/value")
    if "field" in node:
        return _compile_filter(node, custom_type)
    operator = node.get("operator")
    if operator not in ("AND", "OR"):
        raise invalid(f"Invalid operator '{operator}' for a filter group: use AND or OR")
    if depth > MAX_NESTING:
        raise invalid(f"There's a limit of max {MAX_NESTING} nested filters")
    children = node.get("value")
    if not isinstance(children, list) or not children:
        raise invalid(f"{operator} needs a non-empty array of filters as its value")
    if len(children) > MAX_FILTERS_PER_GROUP:
        raise invalid(f"There's a limit of max {MAX_FILTERS_PER_GROUP} filters for each AND or OR group")
    compiled = [_compile(child, custom_type, depth + 1) for child in children]
    if operator == "AND":
        return lambda c: all(p(c) for p in compiled)
    return lambda c: any(p(c) for p in compiled)


def _field_kind(field: str, custom_type: CustomTypeLookup) -> str:
    if field.startswith("custom_attributes."):
        name = field.removeprefix("custom_attributes.")
        data_type = custom_type(name)
        if data_type is None:
            raise invalid(f"Custom attribute '{name}' does not exist", field)
        return _CUSTOM_KIND[data_type]
    if field in STRING_FIELDS:
        return "string"
    if field in INTEGER_FIELDS:
        return "number"
    if field in BOOLEAN_FIELDS:
        return "boolean"
    if field in DATE_FIELDS:
        return "date"
    if field in MEMBERSHIP_FIELDS:
        return "membership"
    raise invalid(f"'{field}' is not a searchable contact field", field)


def _compile_filter(node: dict[str, Any], custom_type: CustomTypeLookup) -> Predicate:
    field = node.get("field")
    if not isinstance(field, str) or not field:
        raise invalid("field must be a non-empty string")
    operator = node.get("operator")
    if operator not in ALL_OPERATORS:
        raise invalid(f"'{operator}' is not a valid operator", field)
    kind = _field_kind(field, custom_type)
    if operator not in OPERATORS_BY_KIND[kind]:
        raise invalid(f"The operator '{operator}' is not supported on the field '{field}'", field)
    if "value" not in node:
        raise invalid(f"value is required for the filter on '{field}'", field)
    value = node["value"]

    if operator in ("IN", "NIN"):
        if not isinstance(value, list) or not value:
            raise invalid(f"{operator} needs a non-empty array of values", field)
        wanted = {_coerce(kind, field, v, allow_none=False) for v in value}
        if operator == "IN":
            return lambda c: _get(c, field, kind) in wanted
        return lambda c: _get(c, field, kind) not in wanted

    target = _coerce(kind, field, value, allow_none=operator in ("=", "!="))
    if kind == "membership":
        if operator == "=":
            return lambda c: target in c.search_value(field)
        return lambda c: target not in c.search_value(field)
    return _comparison(kind, field, operator, target)


def _comparison(kind: str, field: str, operator: str, target: Any) -> Predicate:
    if operator == "=":
        if target is None:
            return lambda c: _get(c, field, kind) in (None, "")
        return lambda c: _get(c, field, kind) == target
    if operator == "!=":
        if target is None:
            return lambda c: _get(c, field, kind) not in (None, "")
        return lambda c: _get(c, field, kind) != target
    tests: dict[str, Callable[[Any], bool]] = {
        "<": lambda v: v < target,
        ">": lambda v: v > target,
        "<=": lambda v: v <= target,
        ">=": lambda v: v >= target,
        "~": lambda v: target in v,
        "!~": lambda v: target not in v,
        "^": lambda v: v.startswith(target),
        "$": lambda v: v.endswith(target),
    }
    test = tests[operator]
    # A contact without the value matches only "doesn't contain".
    missing = operator == "!~"

    def predicate(c: Searchable) -> bool:
        v = _get(c, field, kind)
        return missing if v is None else test(v)

    return predicate


def _get(contact: Searchable, field: str, kind: str) -> Any:
    value = contact.search_value(field)
    if value is None:
        return None
    if kind == "date":
        return value // SECONDS_PER_DAY
    if kind == "string":
        value = str(value)
        return value.lower() if field in CASE_INSENSITIVE_FIELDS else value
    return value


def _coerce(kind: str, field: str, value: object, *, allow_none: bool) -> Any:
    if value is None:
        if allow_none:
            return None
        raise invalid(f"null is not a valid value for this operator on '{field}'", field)
    if kind in ("string", "membership"):
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise invalid(f"'{field}' needs a string value", field)
        text = str(value)
        return text.lower() if field in CASE_INSENSITIVE_FIELDS else text
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise invalid(f"'{field}' needs a boolean value", field)
    number = _number(value)
    if number is None:
        raise invalid(f"'{field}' needs a numeric value, got {value!r}", field)
    if kind == "date":
        return int(number) // SECONDS_PER_DAY
    return number


def _number(value: object) -> int | float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return value
    if isinstance(value, str):
        try:
            return int(value)
        except ValueError:
            try:
                return float(value)
            except ValueError:
                return None
    return None


# Fields with an exact-match index in the workspace (values as ``_coerce`` returns them).
INDEXED_FIELDS = frozenset({"id", "email", "external_id"})
IndexLookup = Callable[[str, set[str]], set[str]]


def index_candidates(query: object, lookup: IndexLookup) -> set[str] | None:
    """Contact ids that can possibly match an already validated ``query``, or ``None`` (scan all).

    Covers the importer's lookups (``email``/``external_id``/``id`` with ``=`` or ``IN``, alone, OR-ed,
    or inside an AND): the predicate is still applied to every candidate, so this only saves time.
    """
    if not isinstance(query, dict):
        return None
    if "field" in query:
        field, operator, value = query.get("field"), query.get("operator"), query.get("value")
        if field not in INDEXED_FIELDS or operator not in ("=", "IN") or value is None:
            return None
        values = value if isinstance(value, list) else [value]
        keys = {str(v).lower() if field == "email" else str(v) for v in values}
        return lookup(field, keys)
    children = [index_candidates(child, lookup) for child in query.get("value") or []]
    if query.get("operator") == "OR":
        if any(c is None for c in children):
            return None
        return set().union(*(c for c in children if c is not None))
    narrowed = [c for c in children if c is not None]
    return min(narrowed, key=len) if narrowed else None
