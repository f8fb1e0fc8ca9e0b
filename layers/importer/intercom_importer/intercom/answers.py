"""Intercom's answers read, and failures translated into the named errors of ``intercom_importer.errors``.

A 2xx gives its JSON object; any other status gives the ``Intercom*Error`` of that status, with Intercom's
error code, field, message and ``request_id``, and a message a person can act on; a request that got no
answer gives ``IntercomConnectionError`` saying whether it may have taken effect. Also here: the
rate-limit and request-id headers, and the log level a failure deserves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
import urllib3.exceptions

from intercom_importer.errors import (
    IntercomAuthError,
    IntercomConflictError,
    IntercomConnectionError,
    IntercomError,
    IntercomForbiddenError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomPermanentError,
    IntercomRateLimitError,
    IntercomServerError,
    IntercomValidationError,
)

JSONDict = dict[str, Any]

_CONFLICT_ID = re.compile(r"id=(\w+)")

_SUMMARIES: Mapping[int, str] = {
    400: "Intercom refused the data",
    401: "Intercom rejected the access token; check that it is current and the app is still installed",
    403: "Intercom refused the call: the app lacks a permission or the workspace plan lacks this API",
    404: "Intercom could not find the record",
    409: "A user with this email or external_id already exists in Intercom",
    410: "The contact was merged into another contact",
    422: "Intercom refused the data",
    429: "Intercom kept refusing calls for exceeding the rate limit; lower the concurrency or retry later",
}

_ERROR_CLASSES: Mapping[int, type[IntercomError]] = {
    400: IntercomValidationError,
    401: IntercomAuthError,
    403: IntercomForbiddenError,
    404: IntercomNotFoundError,
    409: IntercomConflictError,
    410: IntercomGoneError,
    422: IntercomValidationError,
    429: IntercomRateLimitError,
}


@dataclass(frozen=True)
class _ErrorDetail:
    code: str | None
    message: str | None
    field: str | None
    request_id: str | None


def parse_conflict(message: str | None) -> tuple[str | None, bool]:
    """``(existing_id, archived)`` from a 409 message such as
    ``"An archived contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"``."""
    if not message:
        return None, False
    match = _CONFLICT_ID.search(message)
    return (match.group(1) if match else None), message.startswith("An archived")


def int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def request_id_header(response: requests.Response) -> str | None:
    return response.headers.get("X-Request-Id") or response.headers.get("X-Intercom-Request-Id")


def parse_success(response: requests.Response, method: str, route: str) -> JSONDict:
    """The JSON object of a 2xx (``{}`` for an empty body); ``IntercomServerError`` for anything else."""
    if not response.content:
        return {}
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise IntercomServerError(
            f"Intercom answered {method} {route} with HTTP {response.status_code} but not with a JSON object.",
            status=response.status_code,
            request_id=request_id_header(response),
        )
    return parsed


def never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach Intercom (connect timeout, refused, DNS)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.SSLError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
        # NewConnectionError (refused, DNS failure) subclasses ConnectTimeoutError in urllib3 2.x.
        return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
    return False


def connection_error(
    exc: requests.RequestException, method: str, route: str, not_sent: bool, retries: int
) -> IntercomConnectionError:
    """The named error of a call that got no answer; it says when the call may have taken effect."""
    if isinstance(exc, requests.ConnectTimeout):
        what = "timed out connecting to Intercom"
    elif isinstance(exc, requests.Timeout):
        what = "timed out waiting for Intercom's answer"
    elif not_sent:
        what = "could not connect to Intercom"
    else:
        what = "lost the connection to Intercom"
    outcome = "" if not_sent else " The call may or may not have taken effect."
    after = f" after {retries} retries" if retries else ""
    return IntercomConnectionError(f"The importer {what} ({method} {route}, {type(exc).__name__}){after}.{outcome}")


def error_from_response(
    response: requests.Response, method: str, route: str, *, retries: int, ambiguous_since: float | None = None
) -> IntercomError:
    """The named error for a non-2xx response, with a message a person can act on. ``ambiguous_since`` goes on
    a 409 (see ``IntercomConflictError``)."""
    status = response.status_code
    detail = _error_detail(response)
    message = _error_message(response, detail, method, route, retries)
    common: dict[str, Any] = {
        "status": status,
        "code": detail.code,
        "request_id": detail.request_id,
        "field": detail.field,
    }
    if status == 409:
        existing_id, archived = parse_conflict(detail.message)
        return IntercomConflictError(
            message, existing_id=existing_id, archived=archived, ambiguous_since=ambiguous_since, **common
        )
    if status == 429:
        reset_at = float_header(response.headers, "X-RateLimit-Reset")
        return IntercomRateLimitError(message, reset_at=reset_at, **common)
    cls = _ERROR_CLASSES.get(status)
    if cls is None:
        cls = IntercomServerError if status >= 500 or status == 408 else IntercomPermanentError
    return cls(message, **common)


def failure_level(status: int, expected: tuple[int, ...]) -> int:
    """The log level of a failed call: DEBUG for a status the caller expects (a lookup's 404)."""
    if status in expected:
        return logging.DEBUG
    if status in (401, 403, 429) or status >= 500:
        return logging.WARNING
    return logging.INFO


def _error_message(response: requests.Response, detail: _ErrorDetail, method: str, route: str, retries: int) -> str:
    status = response.status_code
    if status >= 500 or status == 408:
        summary = f"Intercom had a server error (HTTP {status})"
    else:
        summary = _SUMMARIES.get(status, f"Intercom refused the call (HTTP {status} {response.reason or ''})")
    if status == 409 and detail.message and detail.message.startswith("An archived"):
        summary = "An archived contact with this email or external_id already exists in Intercom"
    parts = [f"HTTP {status}"]
    if detail.code:
        parts.append(f"code {detail.code}")
    if detail.field:
        parts.append(f"field {detail.field}")
    if detail.request_id:
        parts.append(f"request_id {detail.request_id}")
    parts.append(f"{method} {route}")
    if retries:
        parts.append(f"after {retries} retries")
    said = f": {detail.message}" if detail.message else ""
    if not detail.message and not _is_json(response):
        said = f" (the answer was not JSON, {len(response.content)} bytes)"
    return f"{summary}{said} [{', '.join(parts)}]"


def _error_detail(response: requests.Response) -> _ErrorDetail:
    """Code, message and field of the first error of Intercom's ``error.list`` envelope."""
    header_id = request_id_header(response)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _ErrorDetail(None, None, None, header_id)
    errors = payload.get("errors")
    items = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    first = items[0] if items else {}
    messages = [str(e["message"]) for e in items if e.get("message")]
    if not messages and isinstance(payload.get("message"), str):
        messages = [payload["message"]]
    request_id = payload.get("request_id")
    return _ErrorDetail(
        code=str(first["code"]) if first.get("code") else None,
        message="; ".join(messages) or None,
        field=str(first["field"]) if first.get("field") else None,
        request_id=str(request_id) if request_id else header_id,
    )


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "")
