"""The sandbox's request pipeline without sockets: auth, Accept, rate-limit windows, faults, admin API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from intercom_sandbox.app import Request, Response, SandboxApp, accepts_json, resolve
from intercom_sandbox.config import ConfigError, SandboxConfig
from intercom_sandbox.faults import FaultQueue, FaultSpecError, path_pattern
from intercom_sandbox.ratelimit import FixedWindowLimiter
from sandbox_fixtures import FakeClock

pytestmark = pytest.mark.unit

HEADERS = {"authorization": "Bearer t", "accept": "application/json", "content-type": "application/json"}


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_700_000_000.0)  # a multiple of 10: the start of a window


@pytest.fixture
def slept() -> list[float]:
    return []


@pytest.fixture
def app(clock: FakeClock, slept: list[float]) -> SandboxApp:
    return SandboxApp(SandboxConfig(), clock=clock, sleep=slept.append)


def call(app: SandboxApp, method: str, target: str, body: Any = None, **headers: str) -> Response:
    merged = {**HEADERS, **{k.replace("_", "-"): v for k, v in headers.items()}}
    raw = json.dumps(body).encode() if body is not None else b""
    return app.handle(Request(method, target, {k: v for k, v in merged.items() if v}, raw))


def header(response: Response, name: str) -> str | None:
    return next((v for k, v in response.headers if k.lower() == name.lower()), None)


# ---------------------------------------------------------------- rate-limit windows


def test_limiter_counts_per_fixed_window_and_refills_at_the_boundary(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(clock)
    clock.advance(3.2)  # 3.2 s into a 10 s window

    decisions = [limiter.check(3, 10.0) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.remaining for d in decisions] == [2, 1, 0, 0]
    assert {d.reset for d in decisions} == {1_700_000_010}

    clock.advance(6.7)  # 9.9 s: same window
    assert limiter.check(3, 10.0).allowed is False
    clock.advance(0.1)  # 10.0 s: next window
    fresh = limiter.check(3, 10.0)
    assert (fresh.allowed, fresh.remaining, fresh.reset) == (True, 2, 1_700_000_020)


def test_limiter_reset_is_rounded_up_to_whole_epoch_seconds(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(clock)
    clock.advance(0.3)

    decision = limiter.check(5, 0.25)  # window [0.25, 0.5) ends at .5 -> header says the next second
    assert decision.reset == 1_700_000_001
    assert isinstance(decision.reset, int)


def test_limiter_starts_over_when_the_window_length_changes(clock: FakeClock) -> None:
    limiter = FixedWindowLimiter(clock)
    limiter.check(1, 10.0)
    assert limiter.check(1, 10.0).allowed is False
    assert limiter.check(1, 5.0).allowed is True


def test_rate_limited_call_gets_429_with_headers_and_intercoms_message(app: SandboxApp) -> None:
    app.configure(rate_limit_per_window=2)
    ok = [call(app, "GET", "/me") for _ in range(2)]
    limited = call(app, "GET", "/me")

    assert [r.status for r in ok] == [200, 200]
    assert [header(r, "X-RateLimit-Remaining") for r in ok] == ["1", "0"]
    assert limited.status == 429
    assert header(limited, "X-RateLimit-Limit") == "2"
    assert header(limited, "X-RateLimit-Remaining") == "0"
    assert header(limited, "X-RateLimit-Reset") == "1700000010"
    assert limited.json()["errors"] == [
        {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 2 in 10_seconds"}
    ]
    assert app.stats.snapshot()["rate_limited"] == 1


def test_no_rate_limit_headers_without_valid_credentials(app: SandboxApp) -> None:
    app.configure(rate_limit_per_window=1)
    response = call(app, "GET", "/me", authorization="")

    assert response.status == 401
    assert header(response, "X-RateLimit-Limit") is None
    assert call(app, "GET", "/me").status == 200  # the 401 did not use the allowance


def test_unlimited_sends_no_rate_limit_headers(app: SandboxApp) -> None:
    assert header(call(app, "GET", "/me"), "X-RateLimit-Limit") is None


# ---------------------------------------------------------------- auth, accept, routing


def test_any_bearer_token_is_accepted_when_no_token_is_configured(app: SandboxApp) -> None:
    assert call(app, "GET", "/me", authorization="Bearer whatever").status == 200


@pytest.mark.parametrize("authorization", ["", "Bearer", "Basic dDp0", "Bearer wrong"])
def test_only_the_configured_token_is_accepted(app: SandboxApp, authorization: str) -> None:
    app.configure(token="right")
    response = call(app, "GET", "/me", authorization=authorization)

    assert response.status == 401
    body = response.json()
    assert body["errors"] == [{"code": "unauthorized", "message": "Access Token Invalid"}]
    assert body["request_id"] == header(response, "X-Request-Id")
    assert call(app, "GET", "/me", authorization="Bearer right").status == 200


@pytest.mark.parametrize(
    ("accept", "ok"),
    [
        ("application/json", True),
        ("*/*", True),
        ("text/html, application/json;q=0.9", True),
        ("application/*", True),
        ("application/json;q=0", False),
        ("text/html", False),
        (None, False),
    ],
)
def test_accept_must_allow_json(accept: str | None, ok: bool) -> None:
    assert accepts_json(accept) is ok


def test_not_acceptable_is_406_media_type_not_acceptable(app: SandboxApp) -> None:
    response = call(app, "GET", "/me", accept="text/html")
    assert response.status == 406
    assert response.json()["errors"][0]["code"] == "media_type_not_acceptable"


def test_every_response_has_a_fresh_request_id(app: SandboxApp) -> None:
    ids = {header(call(app, "GET", "/me"), "X-Request-Id") for _ in range(3)}
    assert len(ids) == 3


def test_routes_resolve_to_spec_templates() -> None:
    assert resolve("GET", "/contacts/find_by_external_id/a%2Fb")[0] == "/contacts/find_by_external_id/{external_id}"
    assert resolve("GET", "/contacts/find_by_external_id/a%2Fb")[2] == {"external_id": "a/b"}
    assert resolve("POST", "/contacts/search")[0] == "/contacts/search"
    assert resolve("POST", "/contacts/abc/tags")[0] == "/contacts/{contact_id}/tags"
    template, route, _ = resolve("PATCH", "/contacts/abc")
    assert (template, route) == ("/contacts/{contact_id}", None)


def test_unknown_route_or_method_is_404(app: SandboxApp) -> None:
    assert call(app, "GET", "/nothing").json()["errors"][0]["code"] == "not_found"
    assert call(app, "PATCH", "/contacts/abc").status == 404


def test_body_must_be_json(app: SandboxApp) -> None:
    wrong_type = app.handle(Request("POST", "/contacts", {**HEADERS, "content-type": "text/plain"}, b"{}"))
    broken = app.handle(Request("POST", "/contacts", HEADERS, b"{not json"))

    assert wrong_type.status == 415
    assert (broken.status, broken.json()["errors"][0]["code"]) == (400, "parameter_invalid")


def test_latency_and_jitter_sleep_before_handling(app: SandboxApp, slept: list[float]) -> None:
    app.configure(latency_ms=40, jitter_ms=10)
    call(app, "GET", "/me")
    assert len(slept) == 1
    assert 0.040 <= slept[0] <= 0.050


# ---------------------------------------------------------------- faults


def test_path_pattern_matches_templates_and_concrete_paths() -> None:
    assert path_pattern("/contacts/{id}").fullmatch("/contacts/abc")
    assert path_pattern("/contacts/{id}").fullmatch("/contacts/abc/tags") is None
    assert path_pattern("/contacts/abc").fullmatch("/contacts/abc")
    assert path_pattern("/contacts").fullmatch("/contacts/abc") is None


def test_fault_fires_given_times_on_matching_calls_only(app: SandboxApp) -> None:
    app.faults.add({"match": {"method": "PUT", "path": "/contacts/{contact_id}"}, "status": 503, "times": 2})
    contact = call(app, "POST", "/contacts", {"email": "a@example.com"}).json()

    statuses = [call(app, "PUT", f"/contacts/{contact['id']}", {"name": "x"}).status for _ in range(3)]
    assert statuses == [503, 503, 200]
    assert call(app, "GET", f"/contacts/{contact['id']}").status == 200
    assert app.stats.snapshot()["faults_injected"] == 2


def test_status_fault_before_commit_writes_nothing(app: SandboxApp) -> None:
    app.faults.add({"match": {"path": "/contacts"}, "status": 500})
    response = call(app, "POST", "/contacts", {"email": "a@example.com"})

    assert response.status == 500
    assert response.json()["errors"][0]["code"] == "server_error"
    assert app.workspace.dump()["contacts"] == []


def test_after_commit_fault_applies_the_write_then_fails(app: SandboxApp) -> None:
    app.faults.add({"match": {"method": "POST", "path": "/contacts"}, "status": 502, "after_commit": True})
    response = call(app, "POST", "/contacts", {"email": "a@example.com"})

    assert response.status == 502
    assert [c["email"] for c in app.workspace.dump()["contacts"]] == ["a@example.com"]


def test_reset_fault_answers_nothing(app: SandboxApp) -> None:
    app.faults.add({"kind": "reset"})
    response = call(app, "GET", "/me")
    assert response.reset is True
    assert app.stats.snapshot()["by_status"] == {"reset": 1}


def test_timeout_fault_waits_then_handles(app: SandboxApp, slept: list[float]) -> None:
    app.faults.add({"kind": "timeout", "delay_ms": 2500})
    response = call(app, "POST", "/contacts", {"email": "a@example.com"})
    assert slept == [2.5]
    assert response.status == 200


def test_injected_429_carries_rate_limit_headers(app: SandboxApp) -> None:
    app.faults.add({"status": 429})
    response = call(app, "GET", "/me")

    assert response.status == 429
    assert header(response, "X-RateLimit-Remaining") == "0"
    assert header(response, "X-RateLimit-Reset") == "1700000010"
    assert response.json()["errors"][0]["code"] == "rate_limit_exceeded"


def test_status_fault_may_set_code_and_message(app: SandboxApp) -> None:
    app.faults.add({"status": 403, "code": "token_revoked", "message": "gone"})
    assert call(app, "GET", "/me").json()["errors"] == [{"code": "token_revoked", "message": "gone"}]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "explode"}, "kind"),
        ({"status": 200}, "between 400 and 599"),
        ({"kind": "reset", "status": 500}, "only applies"),
        ({"times": 0}, "positive"),
        ({"delay_ms": -1}, "non-negative"),
        ({"match": {"path": "contacts"}}, "starting with /"),
        ({"match": {"host": "x"}}, "optional method and path"),
        ({"after_commit": "yes"}, "boolean"),
        ({"surprise": 1}, "unknown fault field"),
        ([], "JSON object"),
    ],
)
def test_invalid_fault_specs_are_refused(spec: object, message: str) -> None:
    with pytest.raises(FaultSpecError, match=message):
        FaultQueue().add(spec)


# ---------------------------------------------------------------- config and admin API


@pytest.mark.parametrize(
    "changes",
    [
        {"rate_limit_per_window": 0},
        {"rate_limit_per_window": True},
        {"window_seconds": 0},
        {"latency_ms": -1},
        {"search_lag_seconds": float("nan")},
        {"attribute_cap": -1},
        {"token": ""},
        {"email_conflicts": "never"},
        {"colour": "blue"},
    ],
)
def test_invalid_config_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        SandboxConfig().replace(**changes)


def test_configured_email_conflicts_reach_the_user_create(app: SandboxApp) -> None:
    call(app, "POST", "/contacts", {"email": "ann@example.com"})

    friendly = call(app, "POST", "/contacts", {"email": "ann@example.com", "external_id": "u-2"})
    app.configure(email_conflicts="without_external_id")
    documented = call(app, "POST", "/contacts", {"email": "ann@example.com", "external_id": "u-2"})

    assert (friendly.status, documented.status) == (409, 200)


def test_admin_api_needs_no_auth_and_is_not_counted(app: SandboxApp) -> None:
    app.configure(token="secret", rate_limit_per_window=1)
    bare: dict[str, str] = {}

    config = app.handle(Request("POST", "/__sandbox/config", bare, b'{"search_lag_seconds": 2.5}'))
    state = app.handle(Request("GET", "/__sandbox/state", bare))
    stats = app.handle(Request("GET", "/__sandbox/stats", bare))

    assert config.json()["search_lag_seconds"] == 2.5
    assert app.config.search_lag_seconds == 2.5
    assert set(state.json()) >= {"contacts", "companies", "attachments", "tags", "data_attributes"}
    assert stats.json()["total_requests"] == 0


def test_admin_api_rejects_bad_input_with_400_and_unknown_endpoints_with_404(app: SandboxApp) -> None:
    bad_config = app.handle(Request("POST", "/__sandbox/config", {}, b'{"window_seconds": "ten"}'))
    bad_fault = app.handle(Request("POST", "/__sandbox/faults", {}, b'{"kind": "explode"}'))
    unknown = app.handle(Request("GET", "/__sandbox/nothing", {}))

    assert (bad_config.status, bad_fault.status, unknown.status) == (400, 400, 404)


def test_admin_reset_clears_state_faults_stats_and_window(app: SandboxApp) -> None:
    app.configure(rate_limit_per_window=1)
    call(app, "POST", "/contacts", {"email": "a@example.com"})
    app.faults.add({"status": 500})

    app.handle(Request("POST", "/__sandbox/reset", {}))

    assert app.workspace.dump()["contacts"] == []
    assert app.faults.pending() == []
    assert app.stats.snapshot()["total_requests"] == 0
    assert call(app, "GET", "/me").status == 200
    assert app.config.rate_limit_per_window == 1  # config survives a reset


def test_stats_count_by_route_template_status_and_second(app: SandboxApp, clock: FakeClock) -> None:
    call(app, "GET", "/contacts/abc")
    clock.advance(1)
    call(app, "GET", "/contacts/def")
    call(app, "GET", "/me")

    snapshot = app.stats.snapshot()
    assert snapshot["total_requests"] == 3
    assert snapshot["by_route"] == {"GET /contacts/{contact_id}": {"404": 2}, "GET /me": {"200": 1}}
    assert [(t["second"], t["requests"]) for t in snapshot["timeline"]] == [
        (1_700_000_000, 1),
        (1_700_000_001, 2),
    ]


# ---------------------------------------------------------------- search update lag (not documented by Intercom)


def test_search_shows_a_contacts_values_from_before_an_update_while_the_update_lag_lasts(app, clock) -> None:
    app.configure(search_update_lag_seconds=30)
    ada = call(app, "POST", "/contacts", {"role": "user", "email": "ada@example.com", "name": "Ada"}).json()
    query = {"query": {"field": "email", "operator": "=", "value": "ada@example.com"}}

    def shown() -> tuple[str, int]:
        found = call(app, "POST", "/contacts/search", query).json()["data"]
        return found[0]["name"], len(found)

    clock.advance(5)
    call(app, "PUT", f"/contacts/{ada['id']}", {"name": "Ada King"})
    clock.advance(10)
    call(app, "PUT", f"/contacts/{ada['id']}", {"name": "Ada Lovelace"})
    assert call(app, "GET", f"/contacts/{ada['id']}").json()["name"] == "Ada Lovelace"  # a lookup is current

    assert shown() == ("Ada", 1)  # both updates are younger than 30 s
    clock.advance(21)  # the first update is 31 s old, the second 21 s
    assert shown() == ("Ada King", 1)
    clock.advance(10)
    assert shown() == ("Ada Lovelace", 1)


def test_without_an_update_lag_search_shows_current_values(app, clock) -> None:
    ada = call(app, "POST", "/contacts", {"role": "user", "email": "ada@example.com", "name": "Ada"}).json()
    call(app, "PUT", f"/contacts/{ada['id']}", {"name": "Ada King"})
    found = call(
        app, "POST", "/contacts/search", {"query": {"field": "email", "operator": "=", "value": "ada@example.com"}}
    )
    assert found.json()["data"][0]["name"] == "Ada King"
