"""The Intercom sandbox over real HTTP with ``requests``: errors, rate limit, faults, concurrency, CLI."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from intercom_sandbox import SandboxConfig, SandboxServer
from sandbox_fixtures import INTERCOM_HEADERS, FakeClock, SandboxSession

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START = 1_700_000_000.0  # FakeClock's start: a boundary of 0.5 and 10 s windows


@pytest.fixture
def sandbox_clock() -> FakeClock:
    """The ``sandbox`` runs on a clock that moves only when a test advances it: rate-limit windows, reset times
    and the search lag are exact, whatever the machine's load."""
    return FakeClock(START)


def eventually(predicate: Callable[[], object], what: str, timeout: float = 10.0) -> None:
    """A bounded wait for something another thread does (the verdict is whether it happens, not how fast)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} within {timeout:g} s"
        time.sleep(0.02)


def error_of(response: requests.Response) -> dict[str, str]:
    body = response.json()
    assert body["type"] == "error.list"
    assert body["request_id"] == response.headers["X-Request-Id"]
    assert len(body["errors"]) == 1
    return body["errors"][0]


# ---------------------------------------------------------------- Intercom errors


def test_duplicate_user_409_message_yields_the_existing_id(sandbox_session: SandboxSession) -> None:
    created = sandbox_session.post("/contacts", json={"email": "ann@example.com", "external_id": "u1"})
    duplicate = sandbox_session.post("/contacts", json={"email": "Ann@Example.com"})

    assert duplicate.status_code == 409
    error = error_of(duplicate)
    assert error["code"] == "conflict"
    found = re.search(r"id=(\w+)", error["message"])
    assert found is not None
    assert found.group(1) == created.json()["id"]


def test_archived_duplicate_409_says_archived(sandbox_session: SandboxSession) -> None:
    contact_id = sandbox_session.post("/contacts", json={"external_id": "u1"}).json()["id"]
    assert sandbox_session.post(f"/contacts/{contact_id}/archive").json()["archived"] is True

    duplicate = sandbox_session.post("/contacts", json={"external_id": "u1"})

    assert duplicate.status_code == 409
    assert error_of(duplicate)["message"] == (
        f"An archived contact matching those details already exists with id={contact_id}"
    )


def test_missing_token_is_401_envelope_without_rate_limit_headers(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    sandbox.configure(rate_limit_per_window=100)
    response = sandbox_session.get("/me", headers={"Authorization": None})

    assert response.status_code == 401
    assert error_of(response) == {"code": "unauthorized", "message": "Access Token Invalid"}
    assert "X-RateLimit-Limit" not in response.headers


def test_wrong_token_is_401_when_a_token_is_configured(sandbox: SandboxServer, sandbox_session: SandboxSession) -> None:
    sandbox.configure(token="the-right-one")
    assert sandbox_session.get("/me").status_code == 401
    assert sandbox_session.get("/me", headers={"Authorization": "Bearer the-right-one"}).status_code == 200


def test_non_json_accept_is_406_envelope(sandbox_session: SandboxSession) -> None:
    response = sandbox_session.get("/me", headers={"Accept": "text/html"})

    assert response.status_code == 406
    assert error_of(response)["code"] == "media_type_not_acceptable"


def test_attach_with_company_id_instead_of_intercom_id_is_404_company_not_found(
    sandbox_session: SandboxSession,
) -> None:
    company = sandbox_session.post("/companies", json={"company_id": "acme-1", "name": "Acme"}).json()
    contact_id = sandbox_session.post("/contacts", json={"email": "a@example.com"}).json()["id"]

    wrong = sandbox_session.post(f"/contacts/{contact_id}/companies", json={"id": "acme-1"})
    right = sandbox_session.post(f"/contacts/{contact_id}/companies", json={"id": company["id"]})

    assert wrong.status_code == 404
    assert error_of(wrong) == {"code": "company_not_found", "message": "Company Not Found"}
    assert right.status_code == 200
    assert right.json()["user_count"] == 1


def test_search_pagination_in_query_string_is_ignored(sandbox_session: SandboxSession) -> None:
    for i in range(3):
        sandbox_session.post("/contacts", json={"external_id": f"u{i}"})
    body = {"query": {"field": "role", "operator": "=", "value": "user"}, "pagination": {"per_page": 2}}
    first = sandbox_session.post("/contacts/search", json=body).json()
    cursor = first["pages"]["next"]["starting_after"]

    in_query = sandbox_session.post("/contacts/search", params={"starting_after": cursor}, json=body).json()
    in_body = sandbox_session.post(
        "/contacts/search", json={**body, "pagination": {"per_page": 2, "starting_after": cursor}}
    ).json()

    assert [c["id"] for c in in_query["data"]] == [c["id"] for c in first["data"]]
    assert len(in_body["data"]) == 1
    assert in_body["data"][0]["id"] not in {c["id"] for c in first["data"]}


def test_search_lag_hides_new_contacts_until_it_passes(
    sandbox: SandboxServer, sandbox_session: SandboxSession, sandbox_clock: FakeClock
) -> None:
    sandbox.configure(search_lag_seconds=0.5)
    sandbox_session.post("/contacts", json={"email": "new@example.com"})
    query = {"query": {"field": "email", "operator": "=", "value": "new@example.com"}}

    def found() -> int:
        return int(sandbox_session.post("/contacts/search", json=query).json()["total_count"])

    assert found() == 0
    sandbox_clock.advance(0.25)
    assert found() == 0
    sandbox_clock.advance(0.25)  # the lag has passed
    assert found() == 1


def test_settle_makes_the_contacts_made_so_far_searchable_but_not_later_ones(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    sandbox.configure(search_lag_seconds=600)
    sandbox_session.post("/contacts", json={"email": "seeded@example.com"})
    query = {"query": {"field": "email", "operator": "~", "value": "@example.com"}}

    answer = requests.post(f"{sandbox.url}/__sandbox/settle", timeout=5)
    sandbox_session.post("/contacts", json={"email": "later@example.com"})

    assert (answer.status_code, answer.json()) == (200, {"settled": 1})
    found = sandbox_session.post("/contacts/search", json=query).json()["data"]
    assert [c["email"] for c in found] == ["seeded@example.com"]  # the later one is still inside the lag


# ---------------------------------------------------------------- the documented profile


@pytest.fixture
def documented(sandbox: SandboxServer, sandbox_session: SandboxSession) -> SandboxSession:
    """The sandbox switched to Intercom's documented behaviour the way a developer does it, over the admin API."""
    answer = requests.post(f"{sandbox.url}/__sandbox/config", json={"profile": "documented"}, timeout=5)
    assert answer.status_code == 200, answer.text
    return sandbox_session


def search_email(session: SandboxSession, email: str) -> int:
    query = {"query": {"field": "email", "operator": "=", "value": email}}
    return int(session.post("/contacts/search", json=query).json()["total_count"])


def test_admin_config_applies_the_documented_profile_and_shows_its_values(sandbox: SandboxServer) -> None:
    applied = requests.post(f"{sandbox.url}/__sandbox/config", json={"profile": "documented"}, timeout=5)
    shown = requests.get(f"{sandbox.url}/__sandbox/config", timeout=5)

    assert (
        applied.json()
        == shown.json()
        == {
            "profile": "documented",
            "token": None,
            "rate_limit_per_window": None,
            "window_seconds": 10.0,
            "latency_ms": 0.0,
            "jitter_ms": 0.0,
            "search_lag_seconds": 180.0,
            "search_update_lag_seconds": 180.0,  # Intercom says nothing of updates: the less convenient reading
            "attribute_cap": 250,
            "email_conflicts": "without_external_id",
        }
    )


def test_documented_user_create_with_a_new_external_id_and_an_existing_email_makes_a_second_user(
    sandbox: SandboxServer, documented: SandboxSession
) -> None:
    first = documented.post("/contacts", json={"email": "ann@example.com", "external_id": "u-1"})
    second = documented.post("/contacts", json={"email": "ann@example.com", "external_id": "u-2"})

    assert (first.status_code, second.status_code) == (200, 200)
    users = sorted(
        (c["external_id"], c["role"]) for c in sandbox.state()["contacts"] if c["email"] == "ann@example.com"
    )
    assert users == [("u-1", "user"), ("u-2", "user")]


def test_documented_user_create_without_external_id_and_an_existing_email_is_409_naming_it(
    documented: SandboxSession,
) -> None:
    existing = documented.post("/contacts", json={"email": "ann@example.com", "external_id": "u-1"}).json()["id"]
    duplicate = documented.post("/contacts", json={"email": "Ann@Example.com"})

    assert duplicate.status_code == 409
    assert error_of(duplicate) == {
        "code": "conflict",
        "message": f"A contact matching those details already exists with id={existing}",
    }


def test_documented_lead_with_an_existing_email_is_created(sandbox: SandboxServer, documented: SandboxSession) -> None:
    documented.post("/contacts", json={"email": "ann@example.com"})
    lead = documented.post("/contacts", json={"role": "lead", "email": "ann@example.com"})
    again = documented.post("/contacts", json={"role": "lead", "email": "ann@example.com"})

    assert (lead.status_code, again.status_code) == (200, 200)
    roles = sorted(c["role"] for c in sandbox.state()["contacts"] if c["email"] == "ann@example.com")
    assert roles == ["lead", "lead", "user"]


def test_documented_new_contact_is_invisible_to_search_until_the_lag_passes(
    documented: SandboxSession, sandbox_clock: FakeClock
) -> None:
    documented.post("/contacts", json={"email": "new@example.com"})

    assert search_email(documented, "new@example.com") == 0
    sandbox_clock.advance(179.0)
    assert search_email(documented, "new@example.com") == 0
    sandbox_clock.advance(1.0)  # 180 s: the lag has passed
    assert search_email(documented, "new@example.com") == 1


def test_documented_archived_contact_is_absent_from_search(
    documented: SandboxSession, sandbox_clock: FakeClock
) -> None:
    contact_id = documented.post("/contacts", json={"email": "old@example.com"}).json()["id"]
    sandbox_clock.advance(180.0)
    assert search_email(documented, "old@example.com") == 1

    assert documented.post(f"/contacts/{contact_id}/archive").json()["archived"] is True

    assert search_email(documented, "old@example.com") == 0


# ---------------------------------------------------------------- rate limit


def test_429_after_the_limit_with_headers_then_refills_at_reset(
    sandbox: SandboxServer, sandbox_session: SandboxSession, sandbox_clock: FakeClock
) -> None:
    sandbox.configure(rate_limit_per_window=3, window_seconds=0.5)
    sandbox_clock.advance(0.1)  # 0.1 s into the window [START, START + 0.5)

    responses = [sandbox_session.get("/me") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["2", "1", "0", "0"]
    assert {r.headers["X-RateLimit-Limit"] for r in responses} == {"3"}
    limited = responses[-1]
    assert error_of(limited) == {"code": "rate_limit_exceeded", "message": "Exceeded rate limit of 3 in 0.5_seconds"}
    reset = int(limited.headers["X-RateLimit-Reset"])
    assert reset == START + 1  # the end of the 0.5 s window, rounded up to a whole second

    sandbox_clock.now = reset
    refilled = sandbox_session.get("/me")
    assert refilled.status_code == 200
    assert refilled.headers["X-RateLimit-Remaining"] == "2"
    assert sandbox.stats()["rate_limited"] == 1


def test_default_window_label_is_intercoms_10_seconds(
    sandbox: SandboxServer, sandbox_session: SandboxSession, sandbox_clock: FakeClock
) -> None:
    sandbox.configure(rate_limit_per_window=1)
    sandbox_clock.advance(9.9)
    sandbox_session.get("/me")
    limited = sandbox_session.get("/me")
    assert error_of(limited)["message"] == "Exceeded rate limit of 1 in 10_seconds"
    assert int(limited.headers["X-RateLimit-Reset"]) == START + 10


# ---------------------------------------------------------------- faults


def test_reset_fault_is_a_connection_error_and_the_next_call_works(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    assert sandbox_session.get("/me").status_code == 200  # a pooled keep-alive connection exists
    sandbox.add_fault(kind="reset", method="GET", path="/me")

    with pytest.raises(requests.ConnectionError):
        sandbox_session.get("/me")
    assert sandbox_session.get("/me").status_code == 200


def test_timeout_fault_is_a_read_timeout_and_the_write_lands_afterwards() -> None:
    delays: list[float] = []
    delay_over = threading.Event()

    def delay(seconds: float) -> None:  # the fault's delay lasts until the test ends it
        delays.append(seconds)
        delay_over.wait(timeout=30)

    with SandboxServer(sleep=delay) as sandbox, SandboxSession(sandbox.url) as session:
        sandbox.add_fault(kind="timeout", delay_ms=2500, method="POST", path="/contacts")

        with pytest.raises(requests.ReadTimeout):  # the client gave up while the server was still delaying
            session.post("/contacts", json={"email": "slow@example.com"}, timeout=(1, 0.1))
        eventually(lambda: delays, "the server started the fault's delay")
        assert delays == [2.5]
        assert sandbox.state()["contacts"] == []  # Intercom has not processed it yet ...

        delay_over.set()  # ... but will once its delay is over: the client can't know
        eventually(lambda: sandbox.state()["contacts"], "the delayed write landed")


def test_after_commit_500_writes_the_contact_and_a_retry_gets_409_with_its_id(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    sandbox.add_fault(status=500, after_commit=True, method="POST", path="/contacts")

    failed = sandbox_session.post("/contacts", json={"email": "a@example.com"})
    retried = sandbox_session.post("/contacts", json={"email": "a@example.com"})

    assert failed.status_code == 500
    assert error_of(failed)["code"] == "server_error"
    [written] = sandbox.state()["contacts"]
    assert retried.status_code == 409
    assert re.search(r"id=(\w+)", error_of(retried)["message"]).group(1) == written["id"]  # type: ignore[union-attr]


def test_after_commit_reset_writes_then_drops_the_connection(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    sandbox.add_fault(kind="reset", after_commit=True, method="POST", path="/companies")

    with pytest.raises(requests.ConnectionError):
        sandbox_session.post("/companies", json={"company_id": "c-1"})
    assert [c["company_id"] for c in sandbox.state()["companies"]] == ["c-1"]


def test_status_fault_on_a_template_path_hits_only_that_route(
    sandbox: SandboxServer, sandbox_session: SandboxSession
) -> None:
    contact_id = sandbox_session.post("/contacts", json={"email": "a@example.com"}).json()["id"]
    fault = sandbox.add_fault(status=503, times=2, match={"method": "PUT", "path": "/contacts/{id}"})
    assert fault["times"] == 2

    assert sandbox_session.get(f"/contacts/{contact_id}").status_code == 200
    statuses = [sandbox_session.put(f"/contacts/{contact_id}", json={"name": "x"}).status_code for _ in range(3)]

    assert statuses == [503, 503, 200]
    assert sandbox.faults() == []


def test_injected_429_has_rate_limit_headers(sandbox: SandboxServer, sandbox_session: SandboxSession) -> None:
    sandbox.add_fault(status=429, path="/contacts/search")

    response = sandbox_session.post("/contacts/search", json={"query": {"field": "id", "operator": "=", "value": "x"}})

    assert response.status_code == 429
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert int(response.headers["X-RateLimit-Reset"]) == START + 10  # the end of the current 10 s window
    assert error_of(response)["code"] == "rate_limit_exceeded"


def test_configured_latency_delays_every_call() -> None:
    slept: list[float] = []
    with SandboxServer(sleep=slept.append) as sandbox, SandboxSession(sandbox.url) as session:
        sandbox.configure(latency_ms=120)
        responses = [session.get("/me"), session.post("/contacts", json={"email": "a@example.com"})]

    assert [r.status_code for r in responses] == [200, 200]
    assert slept == [0.12, 0.12]  # the server waited before answering each call


# ---------------------------------------------------------------- admin API over HTTP


def test_admin_api_over_http(sandbox: SandboxServer) -> None:
    admin = requests.Session()
    base = f"{sandbox.url}/__sandbox"

    fault = admin.post(f"{base}/faults", json={"match": {"path": "/me"}, "status": 502}, timeout=5)
    config = admin.post(f"{base}/config", json={"rate_limit_per_window": 50}, timeout=5)
    me = requests.get(f"{sandbox.url}/me", headers=INTERCOM_HEADERS, timeout=5)
    stats = admin.get(f"{base}/stats", timeout=5).json()
    cleared = admin.delete(f"{base}/faults", timeout=5).json()
    reset = admin.post(f"{base}/reset", timeout=5)

    assert fault.status_code == 200
    assert fault.json()["kind"] == "status"
    assert config.json()["rate_limit_per_window"] == 50
    assert me.status_code == 502
    assert me.headers["X-RateLimit-Limit"] == "50"
    assert stats["by_route"] == {"GET /me": {"502": 1}}
    assert cleared == {"cleared": 0}
    assert reset.json() == {"reset": True}
    assert admin.get(f"{base}/config", timeout=5).json()["rate_limit_per_window"] == 50


# ---------------------------------------------------------------- concurrency and lifecycle


def test_concurrent_creates_of_one_user_give_one_contact_and_409s_naming_it(sandbox: SandboxServer) -> None:
    barrier = threading.Barrier(20)

    def create(_: int) -> requests.Response:
        with SandboxSession(sandbox.url) as session:
            barrier.wait(timeout=30)  # all at once; a bounded wait, not a verdict
            return session.post("/contacts", json={"email": "race@example.com"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        responses = list(pool.map(create, range(20)))

    created = [r for r in responses if r.status_code == 200]
    conflicts = [r for r in responses if r.status_code == 409]
    assert len(created) == 1
    assert len(conflicts) == 19
    winner = created[0].json()["id"]
    assert {re.search(r"id=(\w+)", error_of(r)["message"]).group(1) for r in conflicts} == {winner}  # type: ignore[union-attr]


def test_many_keep_alive_workers_are_all_answered_and_counted(sandbox: SandboxServer) -> None:
    def work(worker: int) -> int:
        with SandboxSession(sandbox.url) as session:
            for i in range(10):
                assert session.post("/contacts", json={"external_id": f"w{worker}-{i}"}).status_code == 200
        return worker

    with ThreadPoolExecutor(max_workers=40) as pool:
        assert len(list(pool.map(work, range(40)))) == 40

    assert sandbox.stats()["by_route"] == {"POST /contacts": {"200": 400}}
    assert len(sandbox.state()["contacts"]) == 400


def test_stop_closes_idle_keep_alive_connections() -> None:
    server = SandboxServer(config=SandboxConfig()).start()
    session = SandboxSession(server.url)
    assert session.get("/me").status_code == 200
    server.stop()

    with pytest.raises(requests.ConnectionError):
        session.get("/me", timeout=(1, 1))
    session.close()


def test_context_manager_serves_on_a_free_port() -> None:
    with SandboxServer() as server, SandboxSession(server.url) as session:
        assert server.port > 0
        assert session.get("/me").json()["app"]["region"] == "US"


def test_cli_prints_the_url_and_serves_until_terminated() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "intercom_sandbox", "--port", "0", "--token", "t", "--rate-limit", "5"],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT / "devtools"), "PATH": ""},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        response = requests.get(
            f"{url}/me", headers={"Authorization": "Bearer t", "Accept": "application/json"}, timeout=5
        )
        assert response.status_code == 200
        assert response.headers["X-RateLimit-Limit"] == "5"
    finally:
        process.terminate()
        assert process.wait(timeout=5) == 0
