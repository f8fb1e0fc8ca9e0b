"""What a request is checked against before it reaches the workspace: body fields and their JSON types,
``per_page``/``page``, and the opaque cursors of cursor pagination (``starting_after``)."""

from __future__ import annotations

import base64
import binascii
import bisect
import json
import math
from dataclasses import dataclass
from typing import Any

from intercom_sandbox.errors import bad_parameter, invalid, type_mismatch
from intercom_sandbox.models import DEFAULT_PER_PAGE, MAX_PER_PAGE, Json


@dataclass(frozen=True)
class _Field:
    """A writable body field: accepted JSON types, whether null is allowed, and the stored type."""

    types: tuple[type, ...]
    nullable: bool


CONTACT_FIELDS: dict[str, _Field] = {
    "role": _Field((str,), False),
    "external_id": _Field((str,), True),
    "email": _Field((str,), True),
    "phone": _Field((str,), True),
    "name": _Field((str,), True),
    "avatar": _Field((str,), True),
    "signed_up_at": _Field((int,), True),
    "last_seen_at": _Field((int,), True),
    "owner_id": _Field((int,), True),
    "unsubscribed_from_emails": _Field((bool,), True),
    "custom_attributes": _Field((dict,), True),
}
COMPANY_FIELDS: dict[str, _Field] = {
    "company_id": _Field((str,), False),
    "name": _Field((str,), True),
    "plan": _Field((str,), True),
    "size": _Field((int,), True),
    "website": _Field((str,), True),
    "industry": _Field((str,), True),
    "custom_attributes": _Field((dict,), True),
    "remote_created_at": _Field((int,), True),
    "monthly_spend": _Field((int, float), True),
}
_TYPE_WORDS = {str: "a string", int: "an integer", bool: "a boolean", dict: "an object", float: "a number"}


def check_fields(body: Json, fields: dict[str, _Field]) -> None:
    """Unknown key -> ``400 bad_request "bad '<key>' parameter"``; wrong JSON type -> ``type_mismatch``."""
    for key, value in body.items():
        spec = fields.get(key)
        if spec is None:
            raise bad_parameter(key)
        if value is None:
            if not spec.nullable:
                raise type_mismatch(f"{key} can't be null", key)
            continue
        ok = isinstance(value, spec.types) and not (isinstance(value, bool) and bool not in spec.types)
        if not ok:
            raise type_mismatch(f"{key} must be {_TYPE_WORDS[spec.types[0]]}", key)


def json_object(body: object) -> Json:
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("The request body must be a JSON object")
    return body


def _encode_cursor(seq: int, item_id: str, page: int) -> str:
    raw = json.dumps([seq, item_id, page], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode()


def _decode_cursor(cursor: str) -> tuple[int, int]:
    """(sequence number of the last item seen, page number of the next page)."""
    try:
        seq, _item_id, page = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, TypeError, UnicodeEncodeError) as exc:
        raise invalid("starting_after is not a valid cursor", "starting_after") from exc
    if not isinstance(seq, int) or not isinstance(page, int):
        raise invalid("starting_after is not a valid cursor", "starting_after")
    return seq, page


def parse_per_page(value: object, default: int = DEFAULT_PER_PAGE) -> int:
    """``per_page`` from a body (int) or a query string (str); 1..150."""
    if value is None:
        return default
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PER_PAGE:
        raise invalid(f"per_page must be an integer between 1 and {MAX_PER_PAGE}", "per_page")
    return value


def parse_page(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, str) and value.strip().isdigit() and int(value) >= 1:
        return int(value)
    raise invalid("page must be a positive integer", "page")


def cursor_page(items: list[Any], per_page: int, starting_after: str | None) -> tuple[list[Any], Json]:
    """Cursor pagination over ``items`` (ordered by ``seq``), returning the page and ``pages``."""
    page, start = 1, 0
    if starting_after:
        last_seq, page = _decode_cursor(starting_after)
        start = bisect.bisect_right(items, last_seq, key=lambda item: item.seq)
    chunk = items[start : start + per_page]
    pages: Json = {
        "type": "pages",
        "page": page,
        "per_page": per_page,
        "total_pages": math.ceil(len(items) / per_page),
    }
    if start + per_page < len(items):
        last = chunk[-1]
        pages["next"] = {"per_page": per_page, "starting_after": _encode_cursor(last.seq, last.id, page + 1)}
    return chunk, pages
