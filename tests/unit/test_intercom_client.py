"""IntercomClient: error mapping, retry policy, headers, logging hygiene, pagination and batching.

Most tests drive the client through a scripted ``requests`` transport adapter (no sockets). The few
tests that need real socket behaviour (read timeout, connection reset, connection refused) use a
tiny HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import urllib3.exceptions
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

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
    SettingsError,
)
from intercom_importer.intercom import (
    DEFAULT_TIMEOUT,
    INTERCOM_VERSION,
    REGION_URLS,
    IntercomClient,
    RetryPolicy,
    build_client,
    make_session,
    parse_conflict,
    resolve_base_url,
)

pytestmark = pytest.mark.unit

TOKEN = "dG9rOnNlY3JldC10b2tlbi0xMjM0NTY="  # a fake token the tests look for in the logs
BASE = "https://api.intercom.io"
EMAIL = "Jane.Doe@Example.com"


# --- scripted transport --------------------------------------------------------------------------

Step = tuple[int, Any, dict[str, str]] | BaseException | Callable[[requests.PreparedRequest], Any]


class ScriptedAdapter(BaseAdapter):
    """Answers each request with the next scripted step and records what was sent."""

    def __init__(self, steps: list[Step] | None = None) -> None:
        super().__init__()
        self.steps: deque[Step] = deque(steps or [])
        self.sent: list[requests.PreparedRequest] = []
        self.timeouts: list[Any] = []
        self._lock = threading.Lock()

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        with self._lock:
            self.sent.append(request)
            self.timeouts.append(timeout)
            step = self.steps.popleft() if self.steps else (200, {}, {})
        if callable(step) and not isinstance(step, BaseException):
            step = step(request)
        if isinstance(step, BaseException):
            raise step
        status, body, headers = step
        return _response(request, status, body, headers)

    def close(self) -> None:
        pass

    def bodies(self) -> list[Any]:
        return [json.loads(r.body) if r.body else None for r in self.sent]


def _response(request, status: int, body: Any, headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {200: "OK", 404: "Not Found", 502: "Bad Gateway"}.get(status, "")
    response.request = request
    response.url = request.url
    response.headers = CaseInsensitiveDict(headers)
    if isinstance(body, bytes | str):
        response._content = body.encode() if isinstance(body, str) else body
    else:
        response._content = json.dumps(body).encode()
        response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
    response.encoding = "utf-8"
    return response


def ok(body: Any = None, **headers: str) -> tuple[int, Any, dict[str, str]]:
    return 200, body if body is not None else {}, dict(headers)


def err(status: int, code: str, message: str | None, *, field: str | None = None, **headers: str):
    error: dict[str, Any] = {"code": code, "message": message}
    if field:
        error["field"] = field
    envelope = {"type": "error.list", "request_id": f"req-{status}", "errors": [error]}
    return status, envelope, {k.replace("_", "-"): v for k, v in headers.items()}


class Recorder:
    """Fake sleep/clock/rand: records sleeps, never sleeps for real."""

    def __init__(self, now: float = 1_000.0, rand: float = 0.5) -> None:
        self.now = now
        self.rand_value = rand
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def clock(self) -> float:
        return self.now

    def rand(self) -> float:
        return self.rand_value


def make_client(steps: list[Step] | None = None, **kwargs: Any) -> tuple[IntercomClient, ScriptedAdapter, Recorder]:
    adapter = ScriptedAdapter(steps)
    session = requests.Session()
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    fake = Recorder()
    client = IntercomClient(
        TOKEN,
        kwargs.pop("base_url", BASE),
        session=session,
        sleep=fake.sleep,
        clock=fake.clock,
        rand=fake.rand,
        **kwargs,
    )
    return client, adapter, fake


# --- headers, configuration ----------------------------------------------------------------------


def test_every_call_sends_auth_accept_version_and_user_agent():
    client, adapter, _ = make_client([ok({"type": "admin"}), ok({"type": "contact", "id": "1"})])
    client.me()
    client.create_contact({"role": "user", "email": "a@b.co"})
    for request in adapter.sent:
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.headers["Accept"] == "application/json"
        assert request.headers["Intercom-Version"] == INTERCOM_VERSION == "2.14"
        assert request.headers["User-Agent"].startswith("intercom-csv-importer/")
    assert "Content-Type" not in adapter.sent[0].headers
    assert adapter.sent[1].headers["Content-Type"] == "application/json"


def test_every_call_has_connect_and_read_timeouts():
    client, adapter, _ = make_client([ok(), ok()])
    client.me()
    assert adapter.timeouts == [DEFAULT_TIMEOUT]
    custom, custom_adapter, _ = make_client([ok()], timeout=(1.0, 2.0))
    custom.me()
    assert custom_adapter.timeouts == [(1.0, 2.0)]


def test_base_url_is_used_without_trailing_slash():
    client, adapter, _ = make_client([ok()], base_url="http://127.0.0.1:4010/")
    client.me()
    assert adapter.sent[0].url == "http://127.0.0.1:4010/me"


@pytest.mark.parametrize(
    ("region", "base_url", "expected"),
    [
        ("US", None, "https://api.intercom.io"),
        ("eu", None, "https://api.eu.intercom.io"),
        (" AU ", None, "https://api.au.intercom.io"),
        (None, None, "https://api.intercom.io"),
        ("EU", "http://localhost:4010/", "http://localhost:4010"),
    ],
)
def test_resolve_base_url_picks_region_host_or_explicit_url(region, base_url, expected):
    assert resolve_base_url(region, base_url) == expected


@pytest.mark.parametrize(("region", "base_url"), [("CA", None), ("US", "ftp://example.com"), (None, "nohost")])
def test_resolve_base_url_rejects_unknown_region_or_bad_url(region, base_url):
    with pytest.raises(SettingsError):
        resolve_base_url(region, base_url)


def test_region_urls_are_intercoms_hosts():
    assert REGION_URLS == {
        "US": "https://api.intercom.io",
        "EU": "https://api.eu.intercom.io",
        "AU": "https://api.au.intercom.io",
    }


def test_empty_token_is_a_settings_error():
    with pytest.raises(SettingsError):
        IntercomClient("  ", BASE, session=requests.Session())


def test_repr_does_not_show_the_token():
    client, _, _ = make_client()
    assert TOKEN not in repr(client)


def test_make_session_is_cached_with_configured_pool_and_no_urllib3_retries():
    session = make_session(7)
    assert make_session(7) is session
    adapter = session.get_adapter("https://api.intercom.io")
    assert adapter._pool_maxsize == 7
    assert adapter.max_retries.total == 0
    assert session.trust_env is False


def test_build_client_reuses_the_cached_session():
    first = build_client(token=TOKEN, base_url=BASE, pool_size=9)
    second = build_client(token=TOKEN, base_url=BASE, pool_size=9)
    assert first._session is second._session is make_session(9)


# --- error mapping -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "message", "error_class"),
    [
        (400, "parameter_invalid", "The owner specified is not a member of the workspace", IntercomValidationError),
        (401, "unauthorized", "Access Token Invalid", IntercomAuthError),
        (403, "api_plan_restricted", "Active subscription needed.", IntercomForbiddenError),
        (404, "not_found", "Contact Not Found", IntercomNotFoundError),
        (410, "contact_merged", "Contact has been merged", IntercomGoneError),
        (422, "data_invalid", "Custom attribute 'plan' does not exist", IntercomValidationError),
        (406, "media_type_not_acceptable", "The Accept header should send application/json", IntercomPermanentError),
    ],
)
def test_status_maps_to_named_error_with_envelope_details(status, code, message, error_class):
    client, _, _ = make_client([err(status, code, message, field="owner_id")])
    with pytest.raises(error_class) as caught:
        client.update_contact("abc", {"owner_id": 1})
    error = caught.value
    assert type(error) is error_class
    assert (error.status, error.code, error.request_id, error.field) == (status, code, f"req-{status}", "owner_id")
    assert message in error.message
    assert "/contacts/{contact_id}" in error.message
    assert f"request_id req-{status}" in error.message


def test_conflict_carries_existing_id_of_a_live_user():
    message = "A contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"
    client, _, _ = make_client([err(409, "conflict", message)])
    with pytest.raises(IntercomConflictError) as caught:
        client.create_contact({"role": "user", "email": "a@b.co"})
    assert caught.value.existing_id == "6762f0dd1bb69f9f2193bb83"
    assert caught.value.archived is False
    assert caught.value.status == 409
    assert caught.value.code == "conflict"


def test_conflict_with_an_archived_user_is_flagged_archived():
    message = "An archived contact matching those details already exists with id=5f9a0c1d2e3b4a5c6d7e8f90"
    client, _, _ = make_client([err(409, "conflict", message)])
    with pytest.raises(IntercomConflictError) as caught:
        client.create_contact({"role": "user", "external_id": "u1"})
    assert caught.value.existing_id == "5f9a0c1d2e3b4a5c6d7e8f90"
    assert caught.value.archived is True
    assert caught.value.message.startswith("An archived contact")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("A contact matching those details already exists with id=abc123", ("abc123", False)),
        ("An archived contact matching those details already exists with id=a1b2", ("a1b2", True)),
        ("Multiple existing users match this email address", (None, False)),
        (None, (None, False)),
    ],
)
def test_parse_conflict_reads_id_and_archived_flag(message, expected):
    assert parse_conflict(message) == expected


def test_rate_limit_error_after_retries_carries_reset_at():
    client, adapter, _ = make_client(
        [err(429, "rate_limit_exceeded", "Exceeded rate limit of 167 in 10_seconds", X_RateLimit_Reset="1007")] * 3,
        retry=RetryPolicy(max_rate_limit_retries=2),
    )
    with pytest.raises(IntercomRateLimitError) as caught:
        client.get_contact("abc")
    assert caught.value.reset_at == 1007.0
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.retryable is True
    assert len(adapter.sent) == 3


@pytest.mark.parametrize("status", [500, 502, 503, 504, 507, 520, 599])
def test_server_errors_map_to_server_error_after_retries(status):
    client, adapter, _ = make_client([err(status, "server_error", "Something broke")] * 4)
    with pytest.raises(IntercomServerError) as caught:
        client.get_contact("abc")
    assert caught.value.status == status
    assert caught.value.retryable is True
    assert "after 3 retries" in caught.value.message
    assert len(adapter.sent) == 4


def test_not_implemented_is_not_retried():
    client, adapter, _ = make_client([err(501, "not_implemented", "No such feature")] * 4)
    with pytest.raises(IntercomServerError) as caught:
        client.get_contact("abc")
    assert caught.value.status == 501
    assert len(adapter.sent) == 1


def test_non_json_error_body_still_maps_to_named_error():
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    client, _, _ = make_client(
        [(502, html, {"Content-Type": "text/html", "X-Request-Id": "edge-1"})] * 4,
    )
    with pytest.raises(IntercomServerError) as caught:
        client.me()
    error = caught.value
    assert (error.status, error.code, error.request_id) == (502, None, "edge-1")
    assert "not JSON" in error.message
    assert "<html>" not in error.message


def test_json_error_without_envelope_is_handled():
    client, _, _ = make_client([(400, {"unexpected": True}, {})])
    with pytest.raises(IntercomValidationError) as caught:
        client.me()
    assert caught.value.code is None
    assert caught.value.status == 400


def test_success_that_is_not_json_is_a_server_error():
    client, _, _ = make_client([(200, "not json", {"Content-Type": "text/plain"})])
    with pytest.raises(IntercomServerError):
        client.me()


def test_empty_success_body_returns_empty_dict():
    client, _, _ = make_client([(200, b"", {})])
    assert client.archive_contact("abc") == {}


# --- retry policy --------------------------------------------------------------------------------


def test_server_error_then_success_is_retried_with_full_jitter_backoff():
    client, adapter, fake = make_client([err(503, "service_unavailable", "x"), err(500, "e", "x"), ok({"id": "1"})])
    assert client.get_contact("1") == {"id": "1"}
    assert len(adapter.sent) == 3
    # rand() = 0.5 of a ceiling of 0.5 * 2**(n-1) seconds
    assert fake.sleeps == [0.25, 0.5]
    stats = client.stats
    assert stats.retries == 2
    assert stats.by_status == {503: 1, 500: 1, 200: 1}
    assert stats.calls == 3
    assert stats.seconds_waited == pytest.approx(0.75)


def test_backoff_is_capped():
    client, _, fake = make_client(
        [err(500, "e", "x")] * 5 + [ok()],
        retry=RetryPolicy(max_retries=5, backoff_base=1.0, backoff_max=3.0),
    )
    fake.rand_value = 1.0
    client.me()
    assert fake.sleeps == [1.0, 2.0, 3.0, 3.0, 3.0]


def test_client_errors_are_not_retried():
    client, adapter, fake = make_client([err(400, "parameter_invalid", "bad")])
    with pytest.raises(IntercomValidationError):
        client.update_contact("1", {"name": "x"})
    assert len(adapter.sent) == 1
    assert fake.sleeps == []


def test_lead_create_is_not_retried_after_a_server_error():
    client, adapter, fake = make_client([err(500, "server_error", "boom"), ok({"id": "dup"})])
    with pytest.raises(IntercomServerError):
        client.create_contact({"role": "lead", "email": "a@b.co"})
    assert len(adapter.sent) == 1
    assert fake.sleeps == []


def test_lead_create_is_not_retried_after_a_read_timeout():
    client, adapter, _ = make_client([requests.ReadTimeout("read timed out"), ok({"id": "dup"})])
    with pytest.raises(IntercomConnectionError) as caught:
        client.create_contact({"role": "lead", "email": "a@b.co"})
    assert "may or may not have taken effect" in caught.value.message
    assert len(adapter.sent) == 1


def test_lead_create_is_retried_when_the_connection_was_never_made():
    refused = requests.ConnectionError(
        urllib3.exceptions.MaxRetryError(
            None, "/contacts", urllib3.exceptions.NewConnectionError(None, "Connection refused")
        )
    )
    client, adapter, _ = make_client([requests.ConnectTimeout("connect timed out"), refused, ok({"id": "n"})])
    assert client.create_contact({"role": "lead", "email": "a@b.co"}) == {"id": "n"}
    assert len(adapter.sent) == 3
    assert client.stats.connection_errors == 2


def test_lead_create_is_retried_after_rate_limit():
    client, adapter, _ = make_client([err(429, "rate_limit_exceeded", "slow down"), ok({"id": "n"})])
    assert client.create_contact({"role": "lead", "email": "a@b.co"}) == {"id": "n"}
    assert len(adapter.sent) == 2


def test_user_create_is_retried_after_a_read_timeout():
    client, adapter, _ = make_client([requests.ReadTimeout("read timed out"), ok({"id": "u"})])
    assert client.create_contact({"role": "user", "email": "a@b.co"}) == {"id": "u"}
    assert len(adapter.sent) == 2


def test_contact_without_role_is_a_user_and_retried():
    client, adapter, _ = make_client([err(502, "bad_gateway", None), ok({"id": "u"})])
    client.create_contact({"external_id": "u1"})
    assert len(adapter.sent) == 2


def test_retry_on_ambiguous_true_retries_a_lead_create():
    client, adapter, _ = make_client([err(504, "server_timeout", None), ok({"id": "x"})])
    assert client.create_contact({"role": "lead", "email": "a@b.co"}, retry_on_ambiguous=True) == {"id": "x"}
    assert len(adapter.sent) == 2


def test_retry_on_ambiguous_false_stops_a_user_create():
    client, adapter, _ = make_client([err(504, "server_timeout", None), ok({"id": "x"})])
    with pytest.raises(IntercomServerError):
        client.create_contact({"role": "user", "email": "a@b.co"}, retry_on_ambiguous=False)
    assert len(adapter.sent) == 1


def test_connection_errors_exhausted_raise_connection_error():
    client, adapter, _ = make_client([requests.ConnectionError("reset")] * 4)
    with pytest.raises(IntercomConnectionError) as caught:
        client.get_contact("1")
    assert "after 3 retries" in caught.value.message
    assert len(adapter.sent) == 4


def test_rate_limited_call_sleeps_until_reset_plus_jitter():
    client, adapter, fake = make_client(
        [err(429, "rate_limit_exceeded", "x", X_RateLimit_Reset="1007", X_RateLimit_Remaining="0"), ok({"id": "1"})]
    )
    assert client.get_contact("1") == {"id": "1"}
    assert fake.sleeps == [pytest.approx(7.5)]  # reset 1007 - now 1000 + rand 0.5 * jitter 1.0
    stats = client.stats
    assert stats.rate_limited_waits == 1
    assert stats.retries == 0
    assert stats.seconds_waited == pytest.approx(7.5)
    assert len(adapter.sent) == 2


def test_rate_limit_without_reset_header_backs_off_exponentially():
    client, _, fake = make_client([err(429, "rate_limit_exceeded", "x")] * 3 + [ok()])
    client.me()
    # ceiling 2, 4, 8 s; wait = ceiling/2 + rand 0.5 * ceiling/2
    assert fake.sleeps == [1.5, 3.0, 6.0]


def test_rate_limit_reset_in_the_past_backs_off_instead_of_spinning():
    client, _, fake = make_client([err(429, "rate_limit_exceeded", "x", X_RateLimit_Reset="990"), ok()])
    client.me()
    assert fake.sleeps == [1.5]


def test_rate_limit_wait_is_capped_against_a_skewed_reset():
    client, _, fake = make_client(
        [err(429, "rate_limit_exceeded", "x", X_RateLimit_Reset="999999"), ok()],
        retry=RetryPolicy(max_rate_limit_wait=30.0, rate_limit_jitter=0.0),
    )
    client.me()
    assert fake.sleeps == [30.0]


class RecordingLimiter:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def acquire(self, n: int = 1) -> None:
        self.events.append(("acquire", n))

    def observe(self, limit, remaining, reset_at, status) -> None:
        self.events.append(("observe", limit, remaining, reset_at, status))


def test_limiter_is_acquired_before_each_attempt_and_fed_every_response():
    limiter = RecordingLimiter()
    headers = {"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1010"}
    client, _, _ = make_client(
        [
            (429, {"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}, headers),
            requests.ConnectTimeout("x"),
            ok({}, **{"X-RateLimit-Limit": "167", "X-RateLimit-Remaining": "166", "X-RateLimit-Reset": "1020"}),
        ],
        limiter=limiter,
    )
    client.me()
    assert limiter.events == [
        ("acquire", 1),
        ("observe", 167, 0, 1010.0, 429),
        ("acquire", 1),
        ("acquire", 1),
        ("observe", 167, 166, 1020.0, 200),
    ]


def test_garbled_rate_limit_headers_are_ignored():
    limiter = RecordingLimiter()
    client, _, _ = make_client([ok({}, **{"X-RateLimit-Limit": "lots", "X-RateLimit-Reset": ""})], limiter=limiter)
    client.me()
    assert limiter.events[-1] == ("observe", None, None, None, 200)


# --- logging hygiene -----------------------------------------------------------------------------


def _record_text(record: logging.LogRecord) -> str:
    return record.getMessage() + " " + repr(record.__dict__)


def test_token_email_and_body_never_appear_in_logs(caplog):
    caplog.set_level(logging.DEBUG)
    body = {"role": "user", "email": EMAIL, "name": "Jane Doe", "custom_attributes": {"secret_note": "s3cr3t"}}
    client, _, _ = make_client(
        [
            err(503, "service_unavailable", "try again"),
            err(409, "conflict", "A contact matching those details already exists with id=abc"),
            err(401, "unauthorized", "Access Token Invalid"),
        ]
    )
    with pytest.raises(IntercomConflictError):
        client.create_contact(body)
    with pytest.raises(IntercomAuthError):
        client.find_contact_by_external_id("ext-" + EMAIL)
    assert caplog.records, "the client should log its retries and failures"
    for record in caplog.records:
        text = _record_text(record)
        assert TOKEN not in text
        assert EMAIL not in text and EMAIL.lower() not in text
        assert "s3cr3t" not in text
    failures = [r for r in caplog.records if r.getMessage() == "Intercom call failed"]
    assert [(r.http_method, r.route, r.status, r.intercom_request_id) for r in failures] == [
        ("POST", "/contacts", 409, "req-409"),
        ("GET", "/contacts/find_by_external_id/{external_id}", 401, "req-401"),
    ]
    assert failures[1].levelno == logging.WARNING


def test_expected_not_found_is_logged_at_debug_only(caplog):
    caplog.set_level(logging.DEBUG, logger="intercom_importer.intercom")
    client, _, _ = make_client([err(404, "not_found", "User Not Found")])
    assert client.find_contact_by_external_id("u-404") is None
    assert [r.levelno for r in caplog.records] == [logging.DEBUG]
    assert "u-404" not in _record_text(caplog.records[0])


# --- paths, pagination, batching -----------------------------------------------------------------


def test_path_parameters_are_percent_encoded():
    client, adapter, _ = make_client([ok({"id": "1"})])
    client.find_contact_by_external_id("a/b c@x?y")
    assert urlsplit(adapter.sent[0].url).path == "/contacts/find_by_external_id/a%2Fb%20c%40x%3Fy"


def test_empty_path_parameter_is_refused_before_any_call():
    client, adapter, _ = make_client()
    with pytest.raises(ValueError):
        client.get_contact("")
    assert adapter.sent == []


def _contact(i: int) -> dict[str, Any]:
    return {"type": "contact", "id": f"c{i}", "email": f"u{i}@x.co", "role": "user"}


def _page(items: list[dict], cursor: str | None) -> dict[str, Any]:
    pages: dict[str, Any] = {"type": "pages", "per_page": 150}
    if cursor:
        pages["next"] = {"per_page": 150, "starting_after": cursor}
    return {"type": "list", "data": items, "total_count": 5, "pages": pages}


def test_search_follows_starting_after_in_the_body():
    client, adapter, _ = make_client(
        [
            ok(_page([_contact(1), _contact(2)], "cur-1")),
            ok(_page([_contact(3), _contact(4)], "cur-2")),
            ok(_page([_contact(5)], None)),
        ]
    )
    query = {"field": "email", "operator": "IN", "value": ["u1@x.co"]}
    found = list(client.search_contacts(query))
    assert [c["id"] for c in found] == ["c1", "c2", "c3", "c4", "c5"]
    assert [r.url for r in adapter.sent] == [f"{BASE}/contacts/search"] * 3
    assert [b["pagination"] for b in adapter.bodies()] == [
        {"per_page": 150},
        {"per_page": 150, "starting_after": "cur-1"},
        {"per_page": 150, "starting_after": "cur-2"},
    ]
    assert all(b["query"] == query for b in adapter.bodies())


def test_search_stops_when_a_cursor_repeats():
    client, _, _ = make_client([ok(_page([_contact(1)], "same")), ok(_page([_contact(2)], "same"))])
    with pytest.raises(IntercomServerError):
        list(client.search_contacts({"field": "role", "operator": "=", "value": "user"}))


def test_search_rejects_page_sizes_over_150():
    client, _, _ = make_client()
    with pytest.raises(ValueError):
        list(client.search_contacts({"field": "role", "operator": "=", "value": "user"}, per_page=151))


def test_list_contacts_passes_the_cursor_in_the_query_string():
    client, adapter, _ = make_client([ok(_page([_contact(1)], "cur-1")), ok(_page([_contact(2)], None))])
    assert [c["id"] for c in client.list_contacts(per_page=50)] == ["c1", "c2"]
    queries = [parse_qs(urlsplit(r.url).query) for r in adapter.sent]
    assert queries == [{"per_page": ["50"]}, {"per_page": ["50"], "starting_after": ["cur-1"]}]
    assert all(r.method == "GET" and r.body is None for r in adapter.sent)


def test_list_companies_walks_page_numbers():
    def companies(page: int, total: int) -> dict[str, Any]:
        data = [{"type": "company", "id": f"co{page}", "company_id": f"ext{page}"}]
        return {"type": "list", "data": data, "pages": {"type": "pages", "page": page, "total_pages": total}}

    client, adapter, _ = make_client([ok(companies(1, 2)), ok(companies(2, 2))])
    assert [c["id"] for c in client.list_companies(per_page=20)] == ["co1", "co2"]
    queries = [parse_qs(urlsplit(r.url).query) for r in adapter.sent]
    assert queries == [{"page": ["1"], "per_page": ["20"]}, {"page": ["2"], "per_page": ["20"]}]
    assert all(r.method == "POST" for r in adapter.sent)


def _echo_search(request: requests.PreparedRequest) -> tuple[int, Any, dict[str, str]]:
    """Answer a search with one contact per email value of the query."""
    query = json.loads(request.body)["query"]
    filters = query["value"] if "operator" in query and query["operator"] in ("OR", "AND") else [query]
    contacts = [
        {"type": "contact", "id": f"id-{v}", "email": v} for f in filters if f["field"] == "email" for v in f["value"]
    ]
    return ok(_page(contacts, None))


def test_search_by_identifiers_splits_values_into_in_filters_of_at_most_100():
    emails = [f"User{i}@Example.com" for i in range(250)]
    ext_ids = [f"ext-{i}" for i in range(30)]
    client, adapter, _ = make_client([_echo_search])
    found = client.search_by_identifiers(emails, ext_ids)
    assert len(adapter.sent) == 1
    query = adapter.bodies()[0]["query"]
    assert query["operator"] == "OR"
    filters = query["value"]
    assert [(f["field"], f["operator"], len(f["value"])) for f in filters] == [
        ("email", "IN", 100),
        ("email", "IN", 100),
        ("email", "IN", 50),
        ("external_id", "IN", 30),
    ]
    assert filters[0]["value"][0] == "user0@example.com"
    assert all(v == v.lower() for f in filters[:3] for v in f["value"])
    assert adapter.bodies()[0]["pagination"] == {"per_page": 150}
    assert len(found) == 250


def test_search_by_identifiers_makes_one_search_per_15_filters():
    emails = [f"u{i}@x.co" for i in range(1_650)]  # 17 IN filters
    client, adapter, _ = make_client([_echo_search, _echo_search])
    found = client.search_by_identifiers(emails, [])
    groups = [b["query"]["value"] for b in adapter.bodies()]
    assert [len(g) for g in groups] == [15, 2]
    assert all(len(f["value"]) <= 100 for g in groups for f in g)
    assert len(found) == 1_650


def test_search_by_identifiers_dedupes_inputs_and_results():
    contact = {"type": "contact", "id": "same", "email": "a@x.co", "external_id": "e1"}
    client, adapter, _ = make_client([ok(_page([contact, dict(contact)], None))])
    found = client.search_by_identifiers([" A@x.co", "a@X.CO", ""], ["e1", "e1"])
    assert found == [contact]
    filters = adapter.bodies()[0]["query"]["value"]
    assert [f["value"] for f in filters] == [["a@x.co"], ["e1"]]


def test_search_by_identifiers_uses_a_single_filter_when_only_one_is_needed():
    client, adapter, _ = make_client([ok(_page([], None))])
    client.search_by_identifiers([], ["e1", "e2"])
    assert adapter.bodies()[0]["query"] == {"field": "external_id", "operator": "IN", "value": ["e1", "e2"]}


def test_search_by_identifiers_without_values_makes_no_call():
    client, adapter, _ = make_client()
    assert client.search_by_identifiers([], []) == []
    assert adapter.sent == []


def test_tag_contacts_sends_batches_of_at_most_50_distinct_ids():
    ids = [f"c{i}" for i in range(120)] + ["c0", "c1"]
    tag = {"type": "tag", "id": "17", "name": "Imported"}
    client, adapter, _ = make_client([ok(tag), ok(tag), ok(tag)])
    assert client.tag_contacts("Imported", ids) == tag
    bodies = adapter.bodies()
    assert [len(b["users"]) for b in bodies] == [50, 50, 20]
    assert all(b["name"] == "Imported" for b in bodies)
    sent_ids = [u["id"] for b in bodies for u in b["users"]]
    assert sent_ids == [f"c{i}" for i in range(120)]
    assert all(r.url == f"{BASE}/tags" and r.method == "POST" for r in adapter.sent)


def test_tag_contacts_without_ids_only_creates_the_tag():
    client, adapter, _ = make_client([ok({"type": "tag", "id": "1", "name": "T"})])
    client.tag_contacts("T", [])
    assert adapter.bodies() == [{"name": "T"}]


def test_tag_batch_size_over_50_is_refused():
    client, _, _ = make_client()
    with pytest.raises(ValueError):
        client.tag_contacts("T", ["1"], batch_size=51)


def test_create_data_attribute_sends_options_as_value_objects():
    client, adapter, _ = make_client([ok({"type": "data_attribute", "name": "size"})])
    client.create_data_attribute("size", "company", "options", options=["1-10", "11-50"], description="Band")
    assert adapter.bodies() == [
        {
            "name": "size",
            "model": "company",
            "data_type": "options",
            "options": [{"value": "1-10"}, {"value": "11-50"}],
            "description": "Band",
        }
    ]


def test_create_data_attribute_is_not_retried_after_an_ambiguous_failure():
    client, adapter, _ = make_client([err(500, "server_error", None), ok()])
    with pytest.raises(IntercomServerError):
        client.create_data_attribute("plan", "contact", "string")
    assert len(adapter.sent) == 1


def test_upsert_company_is_retried_only_with_a_company_id():
    client, adapter, _ = make_client([err(500, "e", None), ok({"id": "co"})])
    client.upsert_company({"company_id": "acme", "name": "Acme"})
    assert len(adapter.sent) == 2
    bare, bare_adapter, _ = make_client([err(500, "e", None), ok({"id": "co"})])
    with pytest.raises(IntercomServerError):
        bare.upsert_company({"name": "Acme"})
    assert len(bare_adapter.sent) == 1


def test_attach_contact_to_company_posts_the_intercom_company_id():
    client, adapter, _ = make_client([ok({"type": "company", "id": "co1"})])
    client.attach_contact_to_company("c1", "co1")
    assert adapter.sent[0].url == f"{BASE}/contacts/c1/companies"
    assert adapter.bodies() == [{"id": "co1"}]


def test_list_data_attributes_passes_model_and_returns_the_data():
    client, adapter, _ = make_client([ok({"type": "list", "data": [{"name": "plan"}]})])
    assert client.list_data_attributes("company") == [{"name": "plan"}]
    assert parse_qs(urlsplit(adapter.sent[0].url).query) == {"model": ["company"]}
    with pytest.raises(ValueError):
        client.list_data_attributes("conversation")  # type: ignore[arg-type]


# --- concurrency ---------------------------------------------------------------------------------


def test_one_client_is_safe_to_share_between_threads():
    client, adapter, _ = make_client([])
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                client.me()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    stats = client.stats
    assert stats.calls == 400
    assert stats.by_status == {200: 400}
    assert len(adapter.sent) == 400


def test_stats_snapshot_is_detached_and_resettable():
    client, _, _ = make_client([ok()])
    client.me()
    snapshot = client.stats
    client.reset_stats()
    assert snapshot.calls == 1
    assert client.stats.calls == 0
    assert snapshot.as_dict()["by_status"] == {"200": 1}


# --- real sockets on 127.0.0.1 -------------------------------------------------------------------


class _StubHandler(BaseHTTPRequestHandler):
    behaviour = "ok"
    seen: list[str]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        self.server.seen.append(self.path)  # type: ignore[attr-defined]
        behaviour = self.server.behaviour  # type: ignore[attr-defined]
        if behaviour == "hang":  # no answer until the test is over: every read timeout of the client fires
            self.server.over.wait(timeout=30)  # type: ignore[attr-defined]
            self.close_connection = True
            return
        if behaviour == "drop":
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        payload = json.dumps({"type": "contact", "id": "c1"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def stub_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StubHandler)
    server.daemon_threads = True
    server.seen = []  # type: ignore[attr-defined]
    server.behaviour = "ok"  # type: ignore[attr-defined]
    server.over = threading.Event()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.over.set()  # type: ignore[attr-defined]
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def _socket_client(url: str, **kwargs: Any) -> IntercomClient:
    return IntercomClient(
        TOKEN,
        url,
        session=make_session(4),
        timeout=(0.5, 0.15),
        retry=RetryPolicy(max_retries=2),
        sleep=lambda _s: None,
        **kwargs,
    )


def _url(server: ThreadingHTTPServer) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}"


def _requests_seen(server: ThreadingHTTPServer, count: int) -> list[str]:
    """The paths the server received, once it has (at least) ``count``: its handler threads may still be
    reading requests the client has given up on. A bounded wait, not a timing assertion."""
    deadline = time.monotonic() + 10
    while len(server.seen) < count and time.monotonic() < deadline:  # type: ignore[attr-defined]
        time.sleep(0.01)
    return list(server.seen)  # type: ignore[attr-defined]


def test_real_socket_success_round_trip(stub_server):
    assert _socket_client(_url(stub_server)).create_contact({"role": "lead", "email": "a@b.co"})["id"] == "c1"


def test_real_read_timeout_on_lead_create_is_not_retried(stub_server):
    stub_server.behaviour = "hang"
    client = _socket_client(_url(stub_server))
    with pytest.raises(IntercomConnectionError) as caught:
        client.create_contact({"role": "lead", "email": "a@b.co"})
    assert "may or may not" in caught.value.message
    assert client.stats.calls == 1
    assert _requests_seen(stub_server, 1) == ["/contacts"]


def test_real_read_timeout_on_user_create_is_retried(stub_server):
    stub_server.behaviour = "hang"
    client = _socket_client(_url(stub_server))
    with pytest.raises(IntercomConnectionError):
        client.create_contact({"role": "user", "email": "a@b.co"})
    assert client.stats.calls == 3
    assert _requests_seen(stub_server, 3) == ["/contacts"] * 3


def test_real_connection_drop_after_sending_is_ambiguous_for_leads(stub_server):
    stub_server.behaviour = "drop"
    client = _socket_client(_url(stub_server))
    with pytest.raises(IntercomConnectionError):
        client.create_contact({"role": "lead", "email": "a@b.co"})
    assert stub_server.seen == ["/contacts"]


def test_real_refused_connection_is_retried_even_for_leads():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = _socket_client(f"http://127.0.0.1:{port}")
    with pytest.raises(IntercomConnectionError) as caught:
        client.create_contact({"role": "lead", "email": "a@b.co"})
    assert "could not connect" in caught.value.message
    assert "may or may not" not in caught.value.message
    assert client.stats.connection_errors == 3


def test_errors_are_intercom_errors():
    assert issubclass(IntercomConnectionError, IntercomError)
