"""Check an HTTP exchange against the pinned Intercom OpenAPI description (2.14).

Used by ``tests/contract`` for the sandbox, and reusable for the importer's own client tests::

    spec = load_spec()
    response = session.post(f"{sandbox.url}/contacts", json={...})
    validate_exchange(spec, response)

The request and the response are validated with openapi-core. Where real Intercom answers a status the
description does not document for an operation (the 409 of ``POST /contacts`` is the known one), the
status must be listed in :data:`UNDOCUMENTED_STATUSES` (or :data:`ANY_OPERATION_STATUSES`) and the body
is validated against the description's ``error`` schema instead. Known defects of the description itself
are listed in :data:`REQUEST_SPEC_DEFECTS`.

Needs openapi-core (a dev dependency); the sandbox itself does not import this module.
"""

from __future__ import annotations

import functools
from typing import Any

import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.paths.finders import APICallPathFinder
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_schema_validator import OAS30Validator

from intercom_openapi import SPEC_PATH

# The description only knows Intercom's hosts; validate local URLs as if they were the US host.
SPEC_HOST = "https://api.intercom.io"

# Statuses real Intercom (or the sandbox, deliberately) answers that the 2.14 description does not list
# for the operation. Their bodies must still match the ``error`` schema.
UNDOCUMENTED_STATUSES: dict[tuple[str, str], frozenset[int]] = {
    # 409: duplicate user (Intercom docs 2.1-2.6, open OpenAPI PR #543); 400: invalid fields.
    ("POST", "/contacts"): frozenset({400, 409}),
    # 404 "Contact Not Found", 409 onto another user's keys, 400 user->lead (legacy 2.4/2.6 docs).
    ("PUT", "/contacts/{contact_id}"): frozenset({400, 404, 409}),
    ("GET", "/contacts/{contact_id}"): frozenset({404}),
    ("DELETE", "/contacts/{contact_id}"): frozenset({404}),
    ("GET", "/contacts"): frozenset({400}),
    ("POST", "/contacts/search"): frozenset({400}),
    ("GET", "/contacts/find_by_external_id/{external_id}"): frozenset({404}),
    ("POST", "/contacts/{contact_id}/archive"): frozenset({401, 404}),
    ("POST", "/contacts/{contact_id}/unarchive"): frozenset({401, 404}),
    ("GET", "/contacts/{contact_id}/companies"): frozenset({400}),
    ("POST", "/contacts/{contact_id}/tags"): frozenset({400}),
    ("GET", "/companies"): frozenset({400}),
    ("GET", "/companies/{company_id}/contacts"): frozenset({400}),
    ("GET", "/data_attributes"): frozenset({400}),
    ("GET", "/me"): frozenset({401}),
}
# Any operation: wrong Accept (406), wrong Content-Type (415), rate limit (429), outages (5xx).
ANY_OPERATION_STATUSES = frozenset({406, 415, 429, 500, 502, 503, 504})

# Requests that are right for Intercom but invalid under the description:
# - POST /tags with ``users`` (or ``companies``) matches two ``oneOf`` branches, because
#   ``create_or_update_tag_request`` does not forbid extra keys;
# - a search group mixing filters and groups matches neither ``multiple_filter_search_request`` branch.
# Responses shaped like Intercom's that the description rejects: ``company.custom_attributes`` is
# typed ``additionalProperties: string``, but Intercom (and the sandbox) return integer, float and
# boolean company attributes as JSON numbers and booleans. Contract tests use string-typed ones.
RESPONSE_SPEC_DEFECTS = ("company.custom_attributes with a non-string value",)
REQUEST_SPEC_DEFECTS = (
    "POST /tags with users/companies: the body is valid under two oneOf branches",
    "POST /contacts/search with a group mixing filters and groups: valid under no oneOf branch",
)


@functools.cache
def load_spec() -> OpenAPI:
    """The 2.14 description, loaded once per process (~0.5 s); the strict spec check is off because
    an unrelated reporting endpoint fails it."""
    return OpenAPI.from_file_path(str(SPEC_PATH), config=Config(spec_validator_cls=None))


class _IntercomHostRequest(RequestsOpenAPIRequest):
    @property
    def host_url(self) -> str:
        return SPEC_HOST


@functools.cache
def _error_validator() -> OAS30Validator:
    schema = (load_spec().spec / "components" / "schemas" / "error").read_value()
    return OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER)


def operation_template(spec: OpenAPI, method: str, path: str) -> str:
    """The description's path template for a concrete path (``/contacts/abc`` -> ``/contacts/{contact_id}``)."""
    result = APICallPathFinder(spec.spec, base_url=None).find(method.lower(), f"{SPEC_HOST}{path}")
    return str(result.path.parts[-1])


def validate_error_body(body: Any) -> None:
    """Raise unless ``body`` is Intercom's error envelope (schema ``error``, ``type == "error.list"``)."""
    _error_validator().validate(body)
    if body.get("type") != "error.list" or not body.get("errors"):
        raise AssertionError(f"not an Intercom error envelope: {body!r}")


def validate_exchange(spec: OpenAPI, response: requests.Response, *, check_request: bool = True) -> str:
    """Validate ``response.request`` and ``response`` against ``spec``.

    Returns ``"documented"`` when the description covers the status, ``"undocumented"`` when the body
    was checked against the ``error`` schema because the status is a listed exception. Raises on any
    violation. ``check_request=False`` skips the request (e.g. a deliberately missing token).
    """
    prepared = response.request
    if prepared is None:
        raise ValueError("the response has no request")
    request = _IntercomHostRequest(prepared)
    if check_request:
        spec.validate_request(request)
    try:
        spec.validate_response(request, RequestsOpenAPIResponse(response))
    except ResponseNotFound:
        template = operation_template(spec, request.method, request.path)
        allowed = UNDOCUMENTED_STATUSES.get((request.method.upper(), template), frozenset())
        if response.status_code not in allowed | ANY_OPERATION_STATUSES:
            raise
        validate_error_body(response.json())
        return "undocumented"
    if response.status_code >= 400:
        validate_error_body(response.json())
    return "documented"
