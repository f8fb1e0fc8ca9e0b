"""The suite's sandbox profile (tests/conftest.py): where it matters, the sandbox behaves as Intercom documents
(search lag, e-mail matched only without an external_id) unless a test is marked friendly_sandbox."""

from __future__ import annotations

import pytest

from intercom_sandbox import SandboxServer

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]


@pytest.fixture(scope="module")
def sandbox():
    """One sandbox for the module, as e2e modules have: a test's profile must not leak into the next test."""
    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


@pytest.fixture(autouse=True)
def empty(sandbox: SandboxServer):
    sandbox.reset()


def test_a_test_where_it_matters_gets_intercoms_documented_behaviour(sandbox: SandboxServer, request):
    documented = request.config.getoption("--sandbox-profile") == "documented"

    assert (sandbox.config.email_conflicts, sandbox.config.search_lag_seconds >= 600) == (
        ("without_external_id", True) if documented else ("always", False)
    )


def test_an_email_sent_with_an_external_id_makes_a_second_user_only_under_the_documented_profile(
    sandbox_session, request
):
    documented = request.config.getoption("--sandbox-profile") == "documented"
    first = sandbox_session.post("/contacts", json={"email": "ann@example.com"})
    second = sandbox_session.post("/contacts", json={"email": "ann@example.com", "external_id": "u-1"})
    search = sandbox_session.post(
        "/contacts/search", json={"query": {"field": "email", "operator": "=", "value": "ann@example.com"}}
    )

    assert (first.status_code, second.status_code) == (200, 200 if documented else 409)
    assert search.json()["total_count"] == (0 if documented else 1)  # younger than the search lag, or not


@pytest.mark.friendly_sandbox("pins the marker itself: the sandbox as its fixture configured it")
def test_a_test_marked_friendly_after_a_documented_one_gets_the_sandbox_as_configured(sandbox: SandboxServer):
    assert (sandbox.config.email_conflicts, sandbox.config.search_lag_seconds) == ("always", 0.0)
