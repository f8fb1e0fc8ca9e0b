"""A row's record as the JSON bodies Intercom takes: the contact body, the company body (in the types of the
2.14 contract), the attributes a people row gives its company, and the update rule that never re-subscribes
someone unless the mapping allows it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from intercom_importer.mapping import PEOPLE_COMPANY_COLUMNS
from intercom_importer.schema import coerce
from intercom_importer.upsert.records import ChunkContext

CONTACT_FIELDS = (
    "email",
    "external_id",
    "name",
    "phone",
    "avatar",
    "signed_up_at",
    "last_seen_at",
    "owner_id",
    "unsubscribed_from_emails",
)
COMPANY_FIELDS = ("company_id", "name", "plan", "size", "website", "industry", "monthly_spend", "remote_created_at")
COMPANY_TEXT_FIELDS = ("name", "plan", "website", "industry")  # typed ``string`` (not nullable) in 2.14


def request_body(record: Mapping[str, Any], standard: Sequence[str], ctx: ChunkContext) -> dict[str, Any]:
    """The ``standard`` fields of the record, and its custom attributes (typed) under ``custom_attributes``."""
    body = {k: record[k] for k in standard if k in record}
    attrs = {}
    for name, kind in ctx.custom_types.items():
        if name not in record:
            continue
        value = record[name]
        # inferred attributes arrive as text; their type was only known after the whole file was read
        if isinstance(value, str) and kind not in ("string", "infer"):
            value = coerce(kind, value, day_first=ctx.day_first)
        attrs[name] = value
    if attrs:
        body["custom_attributes"] = attrs
    return body


def safe_update(body: Mapping[str, Any], existing: Mapping[str, Any] | None, ctx: ChunkContext) -> dict[str, Any]:
    """Never re-subscribe someone (true -> false) unless the mapping allows it.

    ``None`` (an empty cell of a column mapped with ``"empty": "clear"``) re-subscribes too: Intercom stores a
    cleared ``unsubscribed_from_emails`` as false. Unless the contact is known to be subscribed already, the
    value is left out of the update."""
    update = dict(body)
    if (
        "unsubscribed_from_emails" in update
        and update["unsubscribed_from_emails"] in (False, None)
        and not ctx.allow_resubscribe
        and (existing is None or existing.get("unsubscribed_from_emails") is not False)
    ):
        update.pop("unsubscribed_from_emails")
    return update


def company_attributes(record: Mapping[str, Any]) -> dict[str, Any]:
    """The attributes a people row gives its company (its ``company_*`` columns), named and typed as
    ``POST /companies`` takes them (``monthly_spend`` an integer: Intercom truncates decimals anyway)."""
    body = {
        attribute: record[column]
        for column, attribute in PEOPLE_COMPANY_COLUMNS.items()
        if record.get(column) not in (None, "")
    }
    if "monthly_spend" in body:
        body["monthly_spend"] = int(body["monthly_spend"])
    return body


def company_body(record: Mapping[str, Any], ctx: ChunkContext) -> dict[str, Any]:
    """The ``POST /companies`` body of a row, in the types of the 2.14 contract.

    - ``monthly_spend`` is an integer (Intercom truncates a float; sending the int says so);
    - the standard text fields are non-nullable strings: a cleared one (``"empty": "clear"``) is sent as "";
      the numeric ones cannot be cleared (the mapping refuses ``clear`` on them), a ``None`` is left out;
    - custom attributes are typed ``additionalProperties: string``: each value is sent as the canonical text
      of its attribute's type (``as_text``), which Intercom stores as that type; a cleared one as "".
    """
    body = request_body(record, COMPANY_FIELDS, ctx)
    for key, value in list(body.items()):
        if value is None:
            if key in COMPANY_TEXT_FIELDS:
                body[key] = ""
            else:
                del body[key]
    if "monthly_spend" in body:
        body["monthly_spend"] = int(body["monthly_spend"])
    if "custom_attributes" in body:
        body["custom_attributes"] = {k: as_text(v) for k, v in body["custom_attributes"].items()}
    return body


def as_text(value: Any) -> str:
    """A coerced cell as the canonical text of its type: ``true``/``false``; integers (and dates, in unix
    seconds) without a fraction; floats as Python's shortest round-trip form (``99.5``, ``10.0``); ``None``
    (a cleared cell) as ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)
