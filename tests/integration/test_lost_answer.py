"""A user create Intercom applied but whose answer was lost (connection reset, read timeout, 5xx after the
write): the client sends it again, Intercom answers 409 with the id of the contact the first attempt made, and
the row is still this import's create, not an update.

The real ``IntercomClient`` against the Intercom sandbox over HTTP, faults injected by the sandbox. The sandbox
and the client share one fake clock, so a contact's ``created_at`` is set by moving it, never by sleeping.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from intercom_importer.errors import IntercomConflictError
from intercom_importer.intercom import IntercomClient
from intercom_importer.mapping import PEOPLE
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.upsert import CREATED, SKIPPED, UPDATED, ChunkContext, ChunkSetAside, RowResult, import_rows
from intercom_sandbox import SandboxServer
from sandbox_fixtures import FakeClock, SandboxSession, clocked_sandbox_fixtures

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

START = 1_700_000_000.5
SEARCH, CREATE = "POST /contacts/search", "POST /contacts"
GET, PUT = "GET /contacts/{contact_id}", "PUT /contacts/{contact_id}"

# the kinds of lost answer after which a user create is repeated: the write was applied each time
LOST = {
    "reset": {"kind": "reset"},
    "read timeout": {"kind": "timeout", "delay_ms": 1_000},
    "5xx": {"status": 503},
}


clock, server, sandbox = clocked_sandbox_fixtures(START)


@pytest.fixture
def client(sandbox: SandboxServer, clock: FakeClock) -> IntercomClient:
    # a read timeout well under the sandbox's 1 s "timeout" fault; no backoff sleeps
    return IntercomClient(
        "lost-answer-token",
        sandbox.url,
        limiter=NullRateLimiter(),
        timeout=(2.0, 0.3),
        sleep=lambda _seconds: None,
        clock=clock,
    )


def people(client: IntercomClient, sandbox: SandboxServer, *records: dict[str, Any], **ctx: Any) -> list[RowResult]:
    sandbox.reset_stats()
    rows = [{"line": line, "cells": list(r.values()), "record": r} for line, r in enumerate(records, start=2)]
    context = ChunkContext(**{"existing": "update", "role": "user", **ctx})
    return import_rows(client, PEOPLE, rows, context, scope=uuid.uuid4().hex, threads=1, started_at=START)


def contacts(sandbox: SandboxServer) -> dict[str, dict[str, Any]]:
    return {c["email"]: c for c in sandbox.state()["contacts"]}


def calls_once_answered(sandbox: SandboxServer, total: int) -> dict[str, dict[str, int]]:
    """Route -> status -> calls, once the sandbox has counted ``total`` (it counts a call when its answer is
    written: the one a read-timeout fault delays comes after the client has moved on)."""
    deadline = time.monotonic() + 5
    while sandbox.stats()["total_requests"] < total and time.monotonic() < deadline:
        time.sleep(0.02)
    return dict(sandbox.stats()["by_route"])


def seed(sandbox: SandboxServer, path: str = "/contacts", **fields: Any) -> dict[str, Any]:
    with SandboxSession(sandbox.url) as api:
        response = api.post(path, json=fields)
    assert response.status_code == 200, response.text
    return dict(response.json())


# ------------------------------------------------------------------------------ the client
def test_conflict_after_an_attempt_whose_answer_was_lost_says_when_that_attempt_was_sent(sandbox, client, clock):
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)

    with pytest.raises(IntercomConflictError) as caught:
        client.create_contact({"role": "user", "email": "ada@example.com"})

    (ada,) = sandbox.state()["contacts"]
    assert (caught.value.existing_id, caught.value.ambiguous_since) == (ada["id"], START)


def test_conflict_of_a_create_whose_every_attempt_was_answered_has_no_ambiguous_attempt(sandbox, client):
    existing = seed(sandbox, role="user", email="ada@example.com")
    sandbox.add_fault(method="POST", path="/contacts", status=429, times=1)  # refused: nothing happened

    with pytest.raises(IntercomConflictError) as caught:
        client.create_contact({"role": "user", "email": "ada@example.com"})

    assert (caught.value.existing_id, caught.value.ambiguous_since) == (existing["id"], None)


# ------------------------------------------------------------------------------ the row
@pytest.mark.parametrize("lost", LOST.values(), ids=LOST.keys())
def test_user_created_by_an_attempt_whose_answer_was_lost_counts_as_created(sandbox, client, lost):
    seed(sandbox, "/data_attributes", name="plan", model="contact", data_type="string")
    sandbox.add_fault(method="POST", path="/contacts", after_commit=True, times=1, **lost)
    record = {"email": "ada@example.com", "name": "Ada", "plan": "pro"}

    results = people(client, sandbox, record, custom_types={"plan": "string"})

    (ada,) = sandbox.state()["contacts"]
    assert results == [RowResult(2, CREATED, ada["id"])]
    assert (ada["name"], ada["custom_attributes"]) == ("Ada", {"plan": "pro"})
    # the first create's status as the sandbox counts it: a read timeout's is the 200 the client gave up on
    first = {"reset": "reset", "timeout": "200"}.get(lost.get("kind", ""), "503")
    # no PUT: the row is finished as a create is (as on a redelivered chunk), and the lost attempt already
    # wrote every value of the row
    assert calls_once_answered(sandbox, 4) == {
        SEARCH: {"200": 1},
        CREATE: {first: 1, "409": 1},  # the retry: Intercom names the contact the first attempt made
        GET: {"200": 1},  # its created_at: not before the first attempt was sent; its values: the row's
    }


def test_user_created_by_a_lost_attempt_counts_as_created_under_existing_skip(sandbox, client):
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)

    results = people(client, sandbox, {"email": "ada@example.com", "name": "Ada"}, existing="skip")

    (ada,) = sandbox.state()["contacts"]
    assert results == [RowResult(2, CREATED, ada["id"])]  # this import made it: not an existing contact to skip


def test_user_created_in_the_second_of_the_lost_attempt_counts_as_created(sandbox, client, clock):
    # Intercom's created_at has whole seconds: a contact created later in the second the attempt was sent in
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)

    results = people(client, sandbox, {"email": "ada@example.com"})

    (ada,) = sandbox.state()["contacts"]
    assert ada["created_at"] == int(START) < START
    assert results == [RowResult(2, CREATED, ada["id"])]


def test_older_user_behind_the_conflict_after_a_lost_attempt_is_updated(sandbox, client, clock):
    # The user existed before this import (created 10 s earlier) but search lag hid it; the first create was
    # never applied (reset before Intercom handled it): the 409 names an older contact, so the row updates it.
    older = seed(sandbox, role="user", email="ada@example.com", name="Old")
    clock.advance(10)
    sandbox.configure(search_lag_seconds=600.0)
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", times=1)

    results = people(client, sandbox, {"email": "ada@example.com", "name": "Ada"})

    assert results == [RowResult(2, UPDATED, older["id"])]
    assert contacts(sandbox)["ada@example.com"]["name"] == "Ada"
    assert sandbox.stats()["by_route"] == {
        SEARCH: {"200": 1},
        CREATE: {"reset": 1, "409": 1},
        GET: {"200": 1},
        PUT: {"200": 1},
    }


def test_older_user_behind_a_conflict_after_a_lost_attempt_is_skipped_under_existing_skip(sandbox, client, clock):
    older = seed(sandbox, role="user", email="ada@example.com", name="Old")
    clock.advance(10)
    sandbox.configure(search_lag_seconds=600.0)
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", times=1)

    results = people(client, sandbox, {"email": "ada@example.com", "name": "Ada"}, existing="skip")

    assert results == [RowResult(2, SKIPPED, older["id"])]
    assert contacts(sandbox)["ada@example.com"]["name"] == "Old"


# ------------------------------------------------------------------------------ a lead: set aside, checked again
# Intercom never refuses a second lead, so a lead's create is not repeated: a create without an answer sets its row
# aside (the rest of the chunk completes), and the chunk's next run, after the search lag, looks for it first.
LEADS = [{"email": "lead1@example.com", "name": "One"}, {"name": "Two", "phone": "+441234567"}]


@pytest.mark.parametrize("lost", LOST.values(), ids=LOST.keys())
@pytest.mark.parametrize("lead", LEADS, ids=["by email", "by phone and name"])
def test_lead_whose_create_was_applied_but_unanswered_is_set_aside_then_counted_as_created(
    sandbox, client, clock, lost, lead
):
    sandbox.add_fault(method="POST", path="/contacts", after_commit=True, times=1, **lost)
    other = {"email": "other@example.com", "name": "Other"}

    with pytest.raises(ChunkSetAside) as caught:
        people(client, sandbox, lead, other, role="lead")

    made = {c["id"] for c in sandbox.state()["contacts"]}
    assert caught.value.uncertain == {2: START} and list(caught.value.done) == [3]  # the other row ended
    assert caught.value.done[3].outcome == CREATED
    # the search and both creates, once counted (a read timeout's create is counted when its delayed answer is
    # written): none of them is counted as the next run's
    unanswered = {"reset": {"reset": 1, "200": 1}, "timeout": {"200": 2}}.get(
        lost.get("kind", ""), {"503": 1, "200": 1}
    )
    assert calls_once_answered(sandbox, 3) == {SEARCH: {"200": 1}, CREATE: unanswered}
    clock.advance(sandbox.config.search_lag_seconds + 1)  # the chunk runs again once search shows the lead

    again = people(client, sandbox, lead, other, role="lead", done=caught.value.done, uncertain=caught.value.uncertain)

    (lead_id,) = made - {caught.value.done[3].contact_id}
    assert again == [RowResult(2, CREATED, lead_id), caught.value.done[3]]
    assert {c["id"] for c in sandbox.state()["contacts"]} == made  # no second lead
    # the search only: the lead its lost create made holds the row's values already
    assert calls_once_answered(sandbox, 1) == {SEARCH: {"200": 1}}


def test_lead_whose_create_was_refused_is_set_aside_then_created_once(sandbox, client, clock):
    sandbox.add_fault(method="POST", path="/contacts", status=503, times=1)  # not carried out

    with pytest.raises(ChunkSetAside) as caught:
        people(client, sandbox, {"email": "lead1@example.com"}, role="lead")

    assert sandbox.state()["contacts"] == [] and caught.value.uncertain == {2: START}
    clock.advance(sandbox.config.search_lag_seconds + 1)

    (again,) = people(client, sandbox, {"email": "lead1@example.com"}, role="lead", uncertain=caught.value.uncertain)

    (lead,) = sandbox.state()["contacts"]
    assert again == RowResult(2, CREATED, lead["id"])
    assert calls_once_answered(sandbox, 2) == {SEARCH: {"200": 1}, CREATE: {"200": 1}}


def test_set_aside_lead_takes_the_lead_its_create_made_not_an_older_one_with_its_phone_and_name(sandbox, client, clock):
    clock.advance(-60)
    older = seed(sandbox, role="lead", name="Two", phone="+441234567")  # a minute old: search does not show it yet
    clock.advance(60)
    sandbox.add_fault(method="POST", path="/contacts", kind="reset", after_commit=True, times=1)
    row = {"name": "Two", "phone": "+441234567"}

    with pytest.raises(ChunkSetAside) as caught:
        people(client, sandbox, row, role="lead")
    clock.advance(sandbox.config.search_lag_seconds + 1)  # both leads are searchable now

    (again,) = people(client, sandbox, row, role="lead", uncertain=caught.value.uncertain)

    (made,) = {c["id"] for c in sandbox.state()["contacts"]} - {older["id"]}
    assert again == RowResult(2, CREATED, made)  # the lead the lost create made, not the older one
