"""Intercom's error envelope (schema ``error`` of the 2.14 description).

Every error the sandbox answers has the shape::

    {"type": "error.list", "request_id": "<uuid>", "errors": [{"code": "...", "message": "..."}]}
"""

from __future__ import annotations

from typing import Any

# Default code and message for a status, used by injected faults and generic failures. The codes are
# from Intercom's error-codes page; 502 has no documented code, so it reuses ``server_error``.
DEFAULT_ERRORS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "Bad Request"),
    401: ("unauthorized", "Access Token Invalid"),
    403: ("api_plan_restricted", "Active subscription needed."),
    404: ("not_found", "Resource Not Found"),
    406: ("media_type_not_acceptable", "The Accept header should send a media type of application/json"),
    408: ("request_timeout", "Request Timeout"),
    409: ("conflict", "Conflict"),
    415: ("unsupported_media_type", "The Content-Type header should be application/json"),
    422: ("unprocessable_entity", "Unprocessable Entity"),
    429: ("rate_limit_exceeded", "Too Many Requests"),
    500: ("server_error", "Server Error"),
    502: ("server_error", "Bad Gateway"),
    503: ("service_unavailable", "Service Unavailable"),
    504: ("server_timeout", "Server Timeout"),
}


class ApiError(Exception):
    """An Intercom API error: HTTP status plus one ``errors[]`` entry."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field

    @classmethod
    def for_status(cls, status: int, code: str | None = None, message: str | None = None) -> ApiError:
        """An error with Intercom's usual code and message for ``status`` unless given."""
        default_code, default_message = DEFAULT_ERRORS.get(
            status, ("server_error" if status >= 500 else "client_error", "Error")
        )
        return cls(status, code or default_code, message or default_message)

    def envelope(self, request_id: str) -> dict[str, Any]:
        entry: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.field is not None:
            entry["field"] = self.field
        return {"type": "error.list", "request_id": request_id, "errors": [entry]}


def bad_parameter(name: str) -> ApiError:
    """``400 bad_request "bad '<name>' parameter"``, Intercom's answer to an unknown body key."""
    return ApiError(400, "bad_request", f"bad '{name}' parameter")


def invalid(message: str, field: str | None = None) -> ApiError:
    """``400 parameter_invalid``."""
    return ApiError(400, "parameter_invalid", message, field)


def type_mismatch(message: str, field: str | None = None) -> ApiError:
    """``400 type_mismatch`` ("The JSON value type is incorrect for the field")."""
    return ApiError(400, "type_mismatch", message, field)


def contact_not_found() -> ApiError:
    return ApiError(404, "not_found", "Contact Not Found")


def user_not_found() -> ApiError:
    """The sub-resource endpoints (tags, companies of a contact) say "User Not Found"."""
    return ApiError(404, "not_found", "User Not Found")


def company_not_found() -> ApiError:
    return ApiError(404, "company_not_found", "Company Not Found")


def resource_not_found() -> ApiError:
    return ApiError(404, "not_found", "Resource Not Found")
