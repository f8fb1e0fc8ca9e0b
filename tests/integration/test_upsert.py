"""The upsert's decisions (upsert.py), one behaviour per test: the real ``IntercomClient`` against the Intercom
sandbox over HTTP.

Each test seeds the sandbox through its API, runs one chunk through ``import_rows`` and asserts the rows'
``RowResult``s and what Intercom ended up with: its state, the calls it answered (``by_route``, seeding not
counted) and the exact bodies the client sent (a recording session). The sandbox's clock is fake, so a
contact's ``created_at`` is set by moving the clock, never by sleeping.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from intercom_importer.errors import IntercomAuthError, IntercomForbiddenError, IntercomServerError
from intercom_importer.upsert import (
    CREATED,
    FAILED,
    SKIPPED,
    UPDATED,
    ChunkInterrupted,
    JobAbort,
    RowResult,
)
from intercom_importer.upsert.records import UNCHANGED
from intercom_sandbox import SandboxServer
from sandbox_fixtures import FakeClock, clocked_sandbox_fixtures
from upsert_world import (
    ATTACH,
    CREATE,
    FIND_COMPANY,
    GET,
    PUT,
    RETRIES,
    SEARCH,
    START,
    TAGS,
    UPSERT_COMPANY,
    Intercom,
    row,
)

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

clock, server, fresh = clocked_sandbox_fixtures(START)


@pytest.fixture
def w(fresh: SandboxServer, clock: FakeClock) -> Iterator[Intercom]:
    world = Intercom(fresh, clock)
    yield world
    world.api.close()
    world.recording.close()


def without_request_id(error: str | None) -> str:
    return re.sub(r"request_id [0-9a-f-]{36}", "request_id <id>", error or "")


def unknown_id_error(contact_id: str) -> str:
    return (
        f"no Intercom contact has the id {contact_id!r} (a wrong id, or the contact was deleted or merged): "
        "correct the id (the contact's Intercom id, from its URL in Intercom), or leave the id cell empty "
        "to match the row by email or external_id"
    )


# ================================================================== people: create
def test_row_matching_no_contact_is_created_as_a_user(w: Intercom):
    (result,) = w.people([row(2, email="ada@example.com", external_id="u-1", name="Ada")])

    (contact,) = w.state()["contacts"]
    assert result == RowResult(2, CREATED, contact["id"])
    assert w.sent("POST", "/contacts") == [
        {"role": "user", "email": "ada@example.com", "external_id": "u-1", "name": "Ada"}
    ]
    assert (contact["role"], contact["email"], contact["external_id"], contact["name"]) == (
        "user",
        "ada@example.com",
        "u-1",
        "Ada",
    )
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}}


def test_row_without_email_or_external_id_is_created_as_a_lead_after_a_search_by_its_phone(w: Intercom):
    (result,) = w.people([row(2, name="Anon", phone="+441234567")])

    (contact,) = w.state()["contacts"]
    assert result == RowResult(2, CREATED, contact["id"])
    assert w.sent("POST", "/contacts") == [{"role": "lead", "name": "Anon", "phone": "+441234567"}]
    assert contact["role"] == "lead"
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}}


def test_custom_attribute_inferred_as_text_is_sent_in_its_type(w: Intercom):
    w.seed("POST", "/data_attributes", {"name": "seats", "model": "contact", "data_type": "integer"})

    (result,) = w.people([row(2, email="ada@example.com", seats="12")], custom_types={"seats": "integer"})

    assert result.outcome == CREATED
    assert w.sent("POST", "/contacts") == [
        {"role": "user", "email": "ada@example.com", "custom_attributes": {"seats": 12}}
    ]
    assert w.stored(str(result.contact_id))["custom_attributes"] == {"seats": 12}


# ================================================================== people: update and skip
def test_row_matching_a_user_by_external_id_updates_it(w: Intercom):
    user = w.contact(role="user", external_id="u-1", email="old@example.com", name="Old")

    (result,) = w.people([row(2, external_id="u-1", email="new@example.com", name="New")])

    assert result == RowResult(2, UPDATED, user["id"])
    # only the changed values: not the external_id it was matched by
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"email": "new@example.com", "name": "New"}]
    stored = w.stored(user["id"])
    assert (stored["email"], stored["name"]) == ("new@example.com", "New")
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}


def test_row_matching_a_lead_and_a_user_by_email_updates_the_user(w: Intercom):
    lead = w.contact(role="lead", email="ada@example.com", name="Lead")
    user = w.contact(role="user", email="ada@example.com", name="User")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")])

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.stored(user["id"])["name"] == "Ada"
    assert w.stored(lead["id"])["name"] == "Lead"
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}


def test_existing_contact_under_existing_skip_is_skipped_without_a_write_or_a_tag(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", name="Old")

    (result,) = w.people([row(2, email="ada@example.com", name="New")], existing="skip", tags=("vip",))

    assert result == RowResult(2, SKIPPED, user["id"])
    assert w.stored(user["id"])["name"] == "Old"
    assert w.calls() == {SEARCH: {"200": 1}}
    assert w.state()["tags"] == []


def test_lead_matched_by_email_is_converted_to_a_user_by_a_user_import(w: Intercom):
    lead = w.contact(role="lead", email="ada@example.com")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], role="user")

    assert result == RowResult(2, UPDATED, lead["id"])
    assert w.sent("PUT", f"/contacts/{lead['id']}") == [{"name": "Ada", "role": "user"}]
    assert w.stored(lead["id"])["role"] == "user"
    assert len(w.state()["contacts"]) == 1


def test_update_of_a_user_sends_no_role(w: Intercom):
    user = w.contact(role="user", email="ada@example.com")

    w.people([row(2, email="ada@example.com", name="Ada")], role="user")

    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]


def test_lead_matched_by_email_stays_a_lead_under_a_lead_import(w: Intercom):
    lead = w.contact(role="lead", email="ada@example.com")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], role="lead")

    assert result == RowResult(2, UPDATED, lead["id"])
    assert w.sent("PUT", f"/contacts/{lead['id']}") == [{"name": "Ada"}]
    assert w.stored(lead["id"])["role"] == "lead"


# ================================================================== people: fail
def test_email_of_a_user_with_another_external_id_fails_the_row_and_writes_nothing(w: Intercom):
    user = w.contact(role="user", external_id="u-1", email="ada@example.com", name="Ada")

    (result,) = w.people([row(2, external_id="u-2", email="ada@example.com", name="Someone")])

    assert result == RowResult(
        2,
        FAILED,
        error=(
            "the email belongs to an existing user whose external_id is 'u-1', not 'u-2': "
            "correct the external_id or the email"
        ),
        column="email",
    )
    assert w.calls() == {SEARCH: {"200": 1}}
    assert w.stored(user["id"])["name"] == "Ada"


def test_identity_trap_under_attach_gives_the_matched_contact_the_rows_external_id(w: Intercom):
    user = w.contact(role="user", email="ada@example.com")

    (result,) = w.people([row(2, external_id="u-9", email="ada@example.com", name="Ada")], identity_trap="attach")

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"external_id": "u-9", "name": "Ada"}]
    assert w.stored(user["id"])["external_id"] == "u-9"
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}  # no create attempted


def test_identity_trap_under_report_fails_the_row_with_the_explanation(w: Intercom):
    user = w.contact(role="user", email="ada@example.com")

    (result,) = w.people([row(2, external_id="u-9", email="ada@example.com", name="Ada")], identity_trap="report")

    assert result == RowResult(
        2,
        FAILED,
        error=(
            "an existing contact has this email but no external_id; Intercom would not match them and would "
            "create a duplicate. Import with identity_trap=attach to give that contact this external_id, or "
            "remove the external_id from the row"
        ),
        column="email",
    )
    assert w.stored(user["id"])["external_id"] is None
    assert w.calls() == {SEARCH: {"200": 1}}


def test_archived_contact_with_the_rows_email_fails_the_row_asking_to_unarchive_it(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", name="Ada")
    w.seed("POST", f"/contacts/{user['id']}/archive")

    (result,) = w.people([row(2, email="ada@example.com", name="New")])

    assert result == RowResult(
        2,
        FAILED,
        user["id"],
        "an archived contact already has this email/external_id: unarchive it in Intercom, then import the row again",
    )
    stored = w.stored(user["id"])
    assert (stored["archived"], stored["name"]) == (True, "Ada")
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}}


def test_value_intercom_refuses_fails_the_row_with_its_message_and_column(w: Intercom):
    (result,) = w.people([row(2, email="ada@example.com", owner_id=42)])

    assert (result.outcome, result.contact_id, result.column) == (FAILED, None, "owner_id")
    assert without_request_id(result.error) == (
        "Intercom refused the row: Intercom refused the data: The owner specified is not a member of the "
        "workspace [HTTP 400, code parameter_invalid, field owner_id, request_id <id>, POST /contacts]"
    )
    assert w.state()["contacts"] == []


def test_update_onto_another_users_email_fails_the_row_with_intercoms_conflict(w: Intercom):
    first = w.contact(role="user", external_id="u-1", email="ada@example.com")
    second = w.contact(role="user", external_id="u-2", email="bob@example.com")

    (result,) = w.people([row(2, external_id="u-1", email="bob@example.com")])

    assert (result.outcome, result.contact_id, result.column) == (FAILED, None, "")
    assert without_request_id(result.error) == (
        "Intercom refused the row: A user with this email or external_id already exists in Intercom: A contact "
        f"matching those details already exists with id={second['id']} [HTTP 409, code conflict, "
        "request_id <id>, PUT /contacts/{contact_id}]"
    )
    assert w.stored(first["id"])["email"] == "ada@example.com"


def test_conflict_without_an_id_fails_only_its_row(w: Intercom):
    # a 409 whose message carries no id (Intercom's wording changed): the row fails with Intercom's message,
    # the chunk goes on (not retried)
    w.server.add_fault(
        method="POST",
        path="/contacts",
        status=409,
        code="conflict",
        message="A contact matching those details already exists",
    )

    first, second = w.people([row(2, email="ada@example.com"), row(3, email="bob@example.com")], threads=1)

    assert (first.outcome, first.contact_id, first.column) == (FAILED, None, "")
    assert without_request_id(first.error) == (
        "Intercom refused the row: A user with this email or external_id already exists in Intercom: "
        "A contact matching those details already exists [HTTP 409, code conflict, request_id <id>, POST /contacts]"
    )
    (bob,) = w.by_email("bob@example.com")
    assert second == RowResult(3, CREATED, bob["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1, "200": 1}}


# ================================================================== people: search lag (409 on create)
def test_user_hidden_by_search_lag_is_looked_up_after_the_conflict_and_updated(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    user = w.contact(just_now=True, role="user", email="ada@example.com")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")])

    assert result == RowResult(2, UPDATED, user["id"])
    # the conflicting contact is looked up: the row is compared with it, only the changed value is sent
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}, PUT: {"200": 1}}
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]
    assert w.stored(user["id"])["name"] == "Ada"


def test_user_hidden_by_search_lag_that_already_holds_the_rows_values_is_unchanged_after_the_conflict(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    user = w.contact(just_now=True, role="user", email="ada@example.com", name="Ada")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")])

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}}  # nothing written


def test_user_hidden_by_search_lag_under_existing_skip_is_skipped_after_the_conflict(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    user = w.contact(just_now=True, role="user", email="ada@example.com", name="Old")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="New")], existing="skip")

    assert result == RowResult(2, SKIPPED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}}  # the conflict is looked up
    assert w.stored(user["id"])["name"] == "Old"


# Intercom documents matching by email only when no external_id is sent, but not whether a user create with a
# new external_id and a taken email is refused (409) [UNCONFIRMED]: these take that less convenient reading.
def test_conflict_on_the_email_of_a_user_with_another_external_id_fails_the_row_without_writing(w: Intercom):
    w.server.configure(search_lag_seconds=600, email_conflicts="always")
    user = w.contact(just_now=True, role="user", email="ada@example.com", external_id="u-1", name="Ada")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", external_id="u-2", name="Imposter")])

    assert result == RowResult(
        2,
        FAILED,
        user["id"],
        "the email belongs to an existing user whose external_id is 'u-1', not 'u-2': correct the external_id "
        "or the email",
        "email",
    )
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}}
    assert (w.stored(user["id"])["external_id"], w.stored(user["id"])["name"]) == ("u-1", "Ada")


@pytest.mark.parametrize(("trap", "outcome"), [("attach", UPDATED), ("report", FAILED)], ids=["attach", "report"])
def test_conflict_on_the_email_of_a_user_without_external_id_follows_the_identity_trap(
    w: Intercom, trap: str, outcome: str
):
    w.server.configure(search_lag_seconds=600, email_conflicts="always")
    user = w.contact(just_now=True, role="user", email="ada@example.com", name="Ada")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", external_id="u-2")], identity_trap=trap)

    assert (result.outcome, result.contact_id) == (outcome, user["id"])
    writes = {PUT: {"200": 1}} if trap == "attach" else {}
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}, **writes}
    assert w.stored(user["id"])["external_id"] == ("u-2" if trap == "attach" else None)


def test_conflict_on_the_rows_own_external_id_updates_the_contact(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    user = w.contact(just_now=True, role="user", email="old@example.com", external_id="u-1")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="new@example.com", external_id="u-1")])

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}, PUT: {"200": 1}}
    assert w.stored(user["id"])["email"] == "new@example.com"


# ================================================================== people: tags
def test_created_and_updated_contacts_are_tagged_in_one_call_per_tag_per_50(w: Intercom):
    existing = w.contact(role="user", email="user0@example.com")
    rows = [row(i + 2, email=f"user{i}@example.com") for i in range(51)]

    results = w.people(rows, tags=("vip", "csv"))

    ids = [str(r.contact_id) for r in results]
    assert ids[0] == existing["id"] and [r.outcome for r in results] == [UPDATED] + [CREATED] * 50
    assert w.sent("POST", "/tags") == [
        {"name": tag, "users": [{"id": i} for i in batch]} for tag in ("vip", "csv") for batch in (ids[:50], ids[50:])
    ]
    assert sorted(w.tagged("vip")) == sorted(w.tagged("csv")) == sorted(ids)


def test_skipped_and_failed_rows_are_not_tagged(w: Intercom):
    w.contact(role="user", email="skip@example.com")

    skipped, failed, created = w.people(
        [
            row(2, email="skip@example.com"),
            row(3, email="bad@example.com", owner_id=42),
            row(4, email="new@example.com"),
        ],
        existing="skip",
        tags=("vip",),
    )

    assert (skipped.outcome, failed.outcome, created.outcome) == (SKIPPED, FAILED, CREATED)
    assert w.sent("POST", "/tags") == [{"name": "vip", "users": [{"id": created.contact_id}]}]
    assert w.tagged("vip") == [created.contact_id]


def test_tagging_failure_keeps_every_rows_result_in_the_interruption(w: Intercom):
    existing = w.contact(role="user", external_id="u-1")
    w.server.add_fault(method="POST", path="/tags", status=503, times=RETRIES + 1)

    with pytest.raises(ChunkInterrupted) as interrupted:
        w.people([row(2, email="new@example.com"), row(3, external_id="u-1", name="Up")], tags=("vip",))

    (new,) = w.by_email("new@example.com")
    assert interrupted.value.done == {2: RowResult(2, CREATED, new["id"]), 3: RowResult(3, UPDATED, existing["id"])}
    assert isinstance(interrupted.value.cause, IntercomServerError)
    assert w.calls()[TAGS] == {"503": RETRIES + 1}


def test_chunk_retried_after_a_tagging_failure_only_tags_its_rows(w: Intercom):
    existing = w.contact(role="user", external_id="u-1")
    rows = [row(2, email="new@example.com"), row(3, external_id="u-1", name="Up")]
    w.server.add_fault(method="POST", path="/tags", status=503, times=RETRIES + 1)
    with pytest.raises(ChunkInterrupted) as interrupted:
        w.people(rows, tags=("vip",))

    results = w.people(rows, tags=("vip",), done=interrupted.value.done)

    (new,) = w.by_email("new@example.com")
    assert results == [RowResult(2, CREATED, new["id"]), RowResult(3, UPDATED, existing["id"])]
    assert w.calls() == {SEARCH: {"200": 1}, TAGS: {"200": 1}}  # no row written again
    assert sorted(w.tagged("vip")) == sorted([new["id"], existing["id"]])


# ================================================================== people: unsubscribed_from_emails
def test_update_does_not_resubscribe_an_unsubscribed_contact(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", unsubscribed_from_emails=True)

    (result,) = w.people([row(2, email="ada@example.com", name="Ada", unsubscribed_from_emails=False)])

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]
    assert w.stored(user["id"])["unsubscribed_from_emails"] is True


@pytest.mark.parametrize("cell", [False, None], ids=["false", "cleared"])
def test_row_whose_only_difference_is_a_resubscription_not_allowed_is_unchanged(w: Intercom, cell: bool | None):
    user = w.contact(role="user", email="ada@example.com", unsubscribed_from_emails=True)

    (result,) = w.people([row(2, email="ada@example.com", unsubscribed_from_emails=cell)])

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == []
    assert w.calls() == {SEARCH: {"200": 1}}
    assert w.stored(user["id"])["unsubscribed_from_emails"] is True


def test_cleared_unsubscribed_cell_does_not_resubscribe_an_unsubscribed_contact(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", unsubscribed_from_emails=True)

    w.people([row(2, email="ada@example.com", name="Ada", unsubscribed_from_emails=None)])

    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]
    assert w.stored(user["id"])["unsubscribed_from_emails"] is True


def test_update_resubscribes_a_contact_when_the_mapping_allows_it(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", unsubscribed_from_emails=True)

    (result,) = w.people([row(2, email="ada@example.com", unsubscribed_from_emails=False)], allow_resubscribe=True)

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"unsubscribed_from_emails": False}]
    assert w.stored(user["id"])["unsubscribed_from_emails"] is False


def test_id_row_does_not_resubscribe_the_unsubscribed_contact_it_looked_up(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", unsubscribed_from_emails=True)

    (result,) = w.people([row(2, id=user["id"], unsubscribed_from_emails=False)])

    # the lookup shows the contact unsubscribed: the row's false is dropped, and nothing else changes
    assert result == RowResult(2, UNCHANGED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == []
    assert w.calls() == {GET: {"200": 1}}
    assert w.stored(user["id"])["unsubscribed_from_emails"] is True


# ================================================================== people: id rows
def test_id_row_looks_that_contact_up_and_updates_it_without_a_search(w: Intercom):
    user = w.contact(role="user", email="ada@example.com")

    (result,) = w.people([row(2, id=user["id"], name="Ada")])

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]
    assert w.calls() == {GET: {"200": 1}, PUT: {"200": 1}}
    assert w.stored(user["id"])["name"] == "Ada"

    (again,) = w.people([row(2, id=user["id"], name="Ada")])  # the same row again: the contact holds it

    assert again == RowResult(2, UNCHANGED, user["id"])
    assert w.calls() == {GET: {"200": 1}}


def test_id_row_under_existing_skip_is_looked_up_and_skipped(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", name="Old")

    (result,) = w.people([row(2, id=user["id"], name="New")], existing="skip")

    assert result == RowResult(2, SKIPPED, user["id"], calls=1)
    assert w.calls() == {GET: {"200": 1}}
    assert w.stored(user["id"])["name"] == "Old"


def test_id_row_for_an_unknown_contact_fails_with_the_fix(w: Intercom):
    (result,) = w.people([row(2, id="0123456789abcdef01234567", name="Ada")])

    assert result == RowResult(2, FAILED, error=unknown_id_error("0123456789abcdef01234567"), column="id", calls=1)
    assert w.calls() == {GET: {"404": 1}}  # the lookup: nothing is written


def test_id_row_for_an_unknown_contact_fails_with_the_fix_in_the_dry_run(w: Intercom):
    (result,) = w.people([row(2, id="0123456789abcdef01234567", name="Ada")], dry_run=True)

    assert result == RowResult(2, FAILED, error=unknown_id_error("0123456789abcdef01234567"), column="id", calls=1)
    assert w.calls() == {GET: {"404": 1}}


def merged_away(w: Intercom) -> dict[str, Any]:
    """A contact Intercom merged into another: the sandbox has no merge, so its lookup and its update answer
    410 as 2.16 documents (``contact_merged``)."""
    contact = w.contact(role="lead", email="ada@example.com", name="Lead")
    for method in ("GET", "PUT"):
        w.server.add_fault(
            method=method,
            path=f"/contacts/{contact['id']}",
            status=410,
            code="contact_merged",
            message="The contact was merged into another contact",
        )
    return contact


def test_id_row_for_a_merged_contact_fails_with_the_fix(w: Intercom):
    merged = merged_away(w)

    (result,) = w.people([row(2, id=merged["id"], name="Ada")])

    assert result == RowResult(2, FAILED, error=unknown_id_error(merged["id"]), column="id", calls=1)
    assert w.calls() == {GET: {"410": 1}}
    assert w.stored(merged["id"])["name"] == "Lead"


def test_id_row_for_a_merged_contact_fails_with_the_fix_in_the_dry_run(w: Intercom):
    merged = merged_away(w)

    (result,) = w.people([row(2, id=merged["id"], name="Ada")], dry_run=True)

    assert result == RowResult(2, FAILED, error=unknown_id_error(merged["id"]), column="id", calls=1)
    assert w.calls() == {GET: {"410": 1}}


# ================================================================== people: dry runs
def test_dry_run_classifies_each_row_with_the_calls_it_would_need_and_writes_nothing(w: Intercom):
    first = w.contact(role="user", external_id="u-1")
    second = w.contact(role="user", external_id="u-2")
    third = w.contact(role="user", external_id="u-3", email="taken@example.com")
    before = w.state()

    results = w.people(
        [
            row(2, email="new@example.com"),
            row(3, email="new-co@example.com", company_id="acme"),
            row(4, external_id="u-1", name="Up"),
            row(5, external_id="u-2", name="Up", company_id="acme"),
            row(6, id=third["id"], name="By id"),
            row(7, id=third["id"], company_id="acme"),
            row(8, external_id="u-4", email="taken@example.com"),
            row(9, external_id="u-2", company_id="acme"),
            row(10, external_id="u-2"),
            row(11, id=third["id"], email="taken@example.com"),
        ],
        dry_run=True,
    )

    assert results == [
        RowResult(2, CREATED, calls=1),
        RowResult(3, CREATED, calls=2),  # the create and the attachment
        RowResult(4, UPDATED, first["id"], calls=1),
        RowResult(5, UPDATED, second["id"], calls=2),  # the update and the attachment
        RowResult(6, UPDATED, third["id"], calls=2),  # the lookup and the update
        RowResult(7, UPDATED, third["id"], calls=2),  # the lookup and the attachment
        RowResult(
            8,
            FAILED,
            error=(
                "the email belongs to an existing user whose external_id is 'u-3', not 'u-4': "
                "correct the external_id or the email"
            ),
            column="email",
        ),
        RowResult(9, UPDATED, second["id"], calls=1),  # nothing changes but the attachment
        RowResult(10, UNCHANGED, second["id"], calls=0),  # nothing to write
        RowResult(11, UNCHANGED, third["id"], calls=1),  # only the lookup
    ]
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 3}}  # the search, and the lookups of the id rows
    assert w.state() == before


def test_dry_run_under_existing_skip_counts_no_write_for_a_skipped_row(w: Intercom):
    user = w.contact(role="user", external_id="u-1")

    results = w.people(
        [row(2, external_id="u-1", company_id="acme"), row(3, id=user["id"]), row(4, email="new@example.com")],
        dry_run=True,
        existing="skip",
    )

    assert results == [
        RowResult(2, SKIPPED, user["id"], calls=0),
        RowResult(3, SKIPPED, user["id"], calls=1),  # the real run looks an id row up too
        RowResult(4, CREATED, calls=1),
    ]


def test_dry_run_counts_one_tag_call_per_tag_per_50_written_rows_on_the_first_result(w: Intercom):
    w.contact(role="user", email="skip@example.com")
    rows = [row(2, email="skip@example.com")] + [row(i + 3, email=f"user{i}@example.com") for i in range(51)]

    results = w.people(rows, dry_run=True, existing="skip", tags=("vip", "csv"))

    assert [r.calls for r in results] == [0, 1 + 2 * 2] + [1] * 50  # 51 tagged rows: 2 calls per tag
    assert w.calls() == {SEARCH: {"200": 1}}
    assert w.state()["tags"] == []


# ================================================================== people: redelivered chunks
@pytest.mark.friendly_sandbox(
    "the retry's search finds the dead attempt's create (no lag); the lag's 409 path is the conflict_on_a_redelivered_chunk tests"
)
def test_contact_created_after_the_first_delivery_is_finished_as_created(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")
    w.clock.advance(5)
    user = w.contact(just_now=True, role="user", email="ada@example.com")  # the dead attempt's create
    w.clock.advance(60)

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada", company_id="acme")],
        redelivered_since=START + 0.5,
        companies={"acme": acme["id"]},
        tags=("vip",),
    )

    assert result == RowResult(2, CREATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"name": "Ada"}]  # the value the dead attempt did not set
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}, ATTACH: {"200": 1}, TAGS: {"200": 1}}
    assert w.tagged("vip") == [user["id"]]


def test_contact_created_in_the_second_of_the_first_delivery_counts_as_created(w: Intercom):
    user = w.contact(
        just_now=True, role="user", email="ada@example.com"
    )  # created_at == START, delivered at START + 0.9

    (result,) = w.people([row(2, email="ada@example.com")], redelivered_since=START + 0.9)

    assert result == RowResult(2, CREATED, user["id"])


def test_contact_created_before_the_first_delivery_is_updated_on_a_redelivered_chunk(w: Intercom):
    user = w.contact(just_now=True, role="user", email="ada@example.com", name="Old")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="New")], redelivered_since=START + 1)

    assert result == RowResult(2, UPDATED, user["id"])


@pytest.mark.friendly_sandbox(
    "the retry's search finds the dead attempt's create (no lag); the lag's 409 path is the conflict_on_a_redelivered_chunk tests"
)
def test_contact_created_after_the_first_delivery_counts_as_created_even_under_existing_skip(w: Intercom):
    w.clock.advance(5)
    user = w.contact(just_now=True, role="user", email="ada@example.com")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], redelivered_since=START, existing="skip")

    assert result == RowResult(2, CREATED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}


def test_conflict_on_a_redelivered_chunk_fetches_the_contact_and_finishes_its_create(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    w.clock.advance(5)
    user = w.contact(
        just_now=True, role="user", email="ada@example.com"
    )  # the dead attempt's create, not searchable yet
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], redelivered_since=START)

    assert result == RowResult(2, CREATED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}, PUT: {"200": 1}}


def test_conflict_on_a_redelivered_chunk_with_an_older_contact_updates_it(w: Intercom):
    w.server.configure(search_lag_seconds=600)
    user = w.contact(just_now=True, role="user", email="ada@example.com")
    w.clock.advance(60)

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], redelivered_since=START + 30)

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"409": 1}, GET: {"200": 1}, PUT: {"200": 1}}


@pytest.mark.friendly_sandbox(
    "a lead never conflicts: the chunk's search finds the dead attempt's lead (made outside the ledger here); "
    "a lag hides it from search, which is what the ledger is for (test_ledger.py)"
)
def test_redelivered_chunk_takes_over_the_lead_its_first_attempt_created_for_an_anonymous_row(w: Intercom):
    w.clock.advance(5)
    lead = w.contact(just_now=True, role="lead", name="Ann", phone="+441234567")  # the dead attempt's create
    w.clock.advance(60)

    (result,) = w.people([row(2, name="Ann", phone="+441234567")], redelivered_since=START)

    assert result == RowResult(2, CREATED, lead["id"])
    assert w.calls() == {SEARCH: {"200": 1}}  # the lead holds the row's values already: nothing to write
    # one search for the chunk: the phones of its rows with neither email nor external_id
    assert w.sent("POST", "/contacts/search")[0]["query"] == {
        "field": "phone",
        "operator": "IN",
        "value": ["+441234567"],
    }
    assert len(w.state()["contacts"]) == 1


@pytest.mark.friendly_sandbox(
    "a lead never conflicts: the chunk's search finds the dead attempt's lead (made outside the ledger here)"
)
def test_recovered_lead_is_taken_by_one_row_only(w: Intercom):
    w.clock.advance(5)
    lead = w.contact(just_now=True, role="lead", name="Ann", phone="+441234567")
    w.clock.advance(60)

    first, second = w.people(
        [row(2, name="Ann", phone="+441234567"), row(3, name="Ann", phone="+441234567")], redelivered_since=START
    )

    assert first == RowResult(2, CREATED, lead["id"])
    assert second.outcome == CREATED and second.contact_id not in (None, lead["id"])
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}}  # the recovered lead holds its row's values


@pytest.mark.parametrize("identifier", [{"email": "ann@example.com"}, {"external_id": "lead-1"}])
def test_lead_with_an_identifier_is_not_taken_for_an_anonymous_row(w: Intercom, identifier: dict[str, str]):
    w.clock.advance(5)
    w.contact(just_now=True, role="lead", name="Ann", phone="+441234567", **identifier)
    w.clock.advance(60)

    (result,) = w.people([row(2, name="Ann", phone="+441234567")], redelivered_since=START)

    assert result.outcome == CREATED
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}}
    assert len(w.state()["contacts"]) == 2


def test_lead_with_another_name_is_not_taken_for_an_anonymous_row(w: Intercom):
    w.clock.advance(5)
    w.contact(just_now=True, role="lead", name="Bob", phone="+441234567")
    w.clock.advance(60)

    (result,) = w.people([row(2, name="Ann", phone="+441234567")], redelivered_since=START)

    assert result.outcome == CREATED
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}}


@pytest.mark.friendly_sandbox("the existing lead is found by the chunk's search (no lag)")
def test_lead_created_before_the_first_delivery_is_updated_not_counted_as_created(w: Intercom):
    lead = w.contact(just_now=True, role="lead", name="Ann", phone="+441234567")  # created_at START: before
    w.clock.advance(60)

    (result,) = w.people(
        [row(2, name="Ann", phone="+441234567", signed_up_at=1_600_000_000)], redelivered_since=START + 1
    )

    assert result == RowResult(2, UPDATED, lead["id"])
    assert w.sent("PUT", f"/contacts/{lead['id']}") == [{"signed_up_at": 1_600_000_000}]
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}
    assert len(w.state()["contacts"]) == 1


@pytest.mark.friendly_sandbox("the existing lead is found by the chunk's search (no lag)")
def test_lead_created_before_the_first_delivery_holding_the_rows_values_is_unchanged_not_created(w: Intercom):
    lead = w.contact(just_now=True, role="lead", name="Ann", phone="+441234567")  # created_at START: before
    w.clock.advance(60)

    (result,) = w.people([row(2, name="Ann", phone="+441234567")], redelivered_since=START + 1)

    assert result == RowResult(2, UNCHANGED, lead["id"])
    assert w.calls() == {SEARCH: {"200": 1}}
    assert len(w.state()["contacts"]) == 1


def test_lead_with_the_rows_phone_and_name_is_updated_not_created_again(w: Intercom):
    lead = w.contact(role="lead", name="Ann", phone="+44 1234 567")

    (result,) = w.people([row(2, name="ann", phone="+44 1234 567")])

    assert result == RowResult(2, UPDATED, lead["id"])
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}
    assert len(w.state()["contacts"]) == 1


def test_row_with_a_name_only_is_created_without_a_search(w: Intercom):
    w.contact(role="lead", name="Ann")

    (result,) = w.people([row(2, name="Ann")])

    assert result.outcome == CREATED
    assert w.calls() == {CREATE: {"200": 1}}
    assert len(w.state()["contacts"]) == 2


# ================================================================== people: companies
def test_contact_is_attached_to_the_company_the_import_mapped(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")

    (result,) = w.people(
        [row(2, email="ada@example.com", company_id="acme", company_name="Renamed")], companies={"acme": acme["id"]}
    )

    assert result.outcome == CREATED
    assert w.sent("POST", f"/contacts/{result.contact_id}/companies") == [{"id": acme["id"]}]
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}, ATTACH: {"200": 1}}
    assert w.state()["attachments"] == [{"contact_id": result.contact_id, "company_id": acme["id"]}]


def test_company_missing_from_the_map_is_upserted_once_for_many_rows_on_many_threads(w: Intercom):
    # the first upsert is held a moment, so the other threads ask for the company while it is under way
    w.server.add_fault(method="POST", path="/companies", kind="latency", delay_ms=300)
    rows = [row(i + 2, email=f"user{i}@example.com", company_id="acme", company_name="Acme") for i in range(12)]

    results = w.people(rows, threads=6)

    (acme,) = w.state()["companies"]
    assert [r.outcome for r in results] == [CREATED] * 12
    assert w.sent("POST", "/companies") == [{"company_id": "acme", "name": "Acme"}]
    assert w.calls()[ATTACH] == {"200": 12}
    assert sorted(a["contact_id"] for a in w.state()["attachments"] if a["company_id"] == acme["id"]) == sorted(
        str(r.contact_id) for r in results
    )


def test_company_upserted_for_an_earlier_chunk_is_not_upserted_again_in_the_same_import(w: Intercom):
    w.people([row(2, email="ada@example.com", company_id="acme", company_name="Acme")])

    w.people([row(3, email="bob@example.com", company_id="acme", company_name="Acme")])

    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}, ATTACH: {"200": 1}}


def test_existing_company_under_existing_skip_is_looked_up_and_not_rewritten(w: Intercom):
    acme = w.company(company_id="acme", name="Old")

    (result,) = w.people([row(2, email="ada@example.com", company_id="acme", company_name="New")], existing="skip")

    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}, FIND_COMPANY: {"200": 1}, ATTACH: {"200": 1}}
    assert [c["name"] for c in w.state()["companies"]] == ["Old"]
    assert w.state()["attachments"] == [{"contact_id": result.contact_id, "company_id": acme["id"]}]


# ================================================================== people: the job aborted
@pytest.mark.parametrize("status, error", [(401, IntercomAuthError), (403, IntercomForbiddenError)])
def test_refused_token_on_a_row_aborts_and_no_further_row_starts(w: Intercom, status: int, error: type):
    w.server.add_fault(method="POST", path="/contacts", status=status)

    with pytest.raises(JobAbort) as aborted:
        w.people([row(i + 2, email=f"user{i}@example.com") for i in range(3)], threads=1)

    assert isinstance(aborted.value.cause, error)
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {str(status): 1}}
    assert w.state()["contacts"] == []


def test_rows_written_before_a_refused_token_travel_with_the_abort(w: Intercom):
    grace = w.contact(role="user", email="grace@example.com")
    w.server.add_fault(method="PUT", path="/contacts/{contact_id}", status=401)

    with pytest.raises(JobAbort) as aborted:
        w.people([row(2, email="ada@example.com"), row(3, email="grace@example.com", name="G")], threads=1)

    (ada,) = [c for c in w.state()["contacts"] if c["email"] == "ada@example.com"]
    # line 2 is in Intercom: it counts as created, not "not imported"; line 3 was refused
    assert aborted.value.done == {2: RowResult(2, CREATED, ada["id"])}
    assert grace["id"] != ada["id"]


@pytest.mark.parametrize("status, error", [(401, IntercomAuthError), (403, IntercomForbiddenError)])
def test_refused_token_on_the_chunks_search_aborts_before_any_row(w: Intercom, status: int, error: type):
    w.server.add_fault(method="POST", path="/contacts/search", status=status)

    with pytest.raises(JobAbort) as aborted:
        w.people([row(2, email="ada@example.com")])

    assert isinstance(aborted.value.cause, error)
    assert w.calls() == {SEARCH: {str(status): 1}}


@pytest.mark.parametrize("status, error", [(401, IntercomAuthError), (403, IntercomForbiddenError)])
def test_refused_token_on_tagging_aborts_the_job(w: Intercom, status: int, error: type):
    w.server.add_fault(method="POST", path="/tags", status=status)

    with pytest.raises(JobAbort) as aborted:
        w.people([row(2, email="ada@example.com")], tags=("vip",))

    assert isinstance(aborted.value.cause, error)
    assert w.calls()[TAGS] == {str(status): 1}
    (ada,) = w.state()["contacts"]
    assert aborted.value.done == {2: RowResult(2, CREATED, ada["id"])}  # written, only its tag is missing


# ================================================================== companies
def test_company_created_since_the_import_started_counts_as_created(w: Intercom):
    w.clock.advance(100)

    (result,) = w.companies([row(2, company_id="acme", name="Acme")], started_at=START + 100)

    (acme,) = w.state()["companies"]
    assert result == RowResult(2, CREATED, acme["id"])
    assert w.sent("POST", "/companies") == [{"company_id": "acme", "name": "Acme"}]
    assert w.calls() == {UPSERT_COMPANY: {"200": 1}}


def test_company_created_in_the_second_before_the_import_started_counts_as_created(w: Intercom):
    acme = w.company(company_id="acme")  # created_at START
    w.clock.advance(100)

    (result,) = w.companies([row(2, company_id="acme", name="Acme")], started_at=START + 1)

    assert result == RowResult(2, CREATED, acme["id"])


def test_company_created_before_the_import_started_counts_as_updated(w: Intercom):
    acme = w.company(company_id="acme", name="Old")
    w.clock.advance(100)

    (result,) = w.companies([row(2, company_id="acme", name="New")], started_at=START + 1.5)

    assert result == RowResult(2, UPDATED, acme["id"])
    assert [c["name"] for c in w.state()["companies"]] == ["New"]


def test_existing_company_under_existing_skip_is_skipped_after_one_lookup(w: Intercom):
    acme = w.company(company_id="acme", name="Old")

    (result,) = w.companies([row(2, company_id="acme", name="New")], started_at=START, existing="skip")

    assert result == RowResult(2, SKIPPED, acme["id"], calls=1)
    assert w.calls() == {FIND_COMPANY: {"200": 1}}
    assert [c["name"] for c in w.state()["companies"]] == ["Old"]


def test_missing_company_under_existing_skip_is_looked_up_then_created(w: Intercom):
    (result,) = w.companies([row(2, company_id="acme", name="Acme")], started_at=START, existing="skip")

    (acme,) = w.state()["companies"]
    assert result == RowResult(2, CREATED, acme["id"])
    assert w.calls() == {FIND_COMPANY: {"404": 1}, UPSERT_COMPANY: {"200": 1}}


def test_dry_run_classifies_companies_by_one_lookup_each_and_writes_nothing(w: Intercom):
    w.company(company_id="acme")
    before = w.state()

    results = w.companies(
        [row(2, company_id="acme", name="A"), row(3, company_id="globex", name="G")], started_at=START, dry_run=True
    )

    assert results == [RowResult(2, UPDATED, calls=1), RowResult(3, CREATED, calls=1)]
    assert w.calls() == {FIND_COMPANY: {"200": 1, "404": 1}}
    assert w.state() == before


def test_dry_run_under_existing_skip_counts_the_lookup_and_the_create(w: Intercom):
    acme = w.company(company_id="acme")

    results = w.companies(
        [row(2, company_id="acme"), row(3, company_id="globex")], started_at=START, dry_run=True, existing="skip"
    )

    assert results == [RowResult(2, SKIPPED, acme["id"], calls=1), RowResult(3, CREATED, calls=2)]
    assert w.calls() == {FIND_COMPANY: {"200": 1, "404": 1}}


def test_company_value_intercom_refuses_fails_the_row_with_its_message_and_column(w: Intercom):
    (result,) = w.companies([row(2, company_id="acme", monthly_spend=3_000_000_000)], started_at=START)

    assert (result.outcome, result.contact_id, result.column) == (FAILED, None, "monthly_spend")
    assert without_request_id(result.error) == (
        "Intercom refused the row: Intercom refused the data: monthly_spend must be between 0 and 2147483647 "
        "[HTTP 400, code parameter_invalid, field monthly_spend, request_id <id>, POST /companies]"
    )
    assert w.state()["companies"] == []


def test_companies_written_are_tagged_and_skipped_ones_not(w: Intercom):
    w.company(company_id="acme")

    skipped, created = w.companies(
        [row(2, company_id="acme"), row(3, company_id="globex")], started_at=START, existing="skip", tags=("vip",)
    )

    assert (skipped.outcome, created.outcome) == (SKIPPED, CREATED)
    assert w.sent("POST", "/tags") == [{"name": "vip", "companies": [{"id": created.contact_id}]}]
    assert w.tagged("vip") == [created.contact_id]


def test_refused_token_on_a_company_row_aborts_the_job(w: Intercom):
    w.server.add_fault(method="POST", path="/companies", status=401)

    with pytest.raises(JobAbort) as aborted:
        w.companies([row(i + 2, company_id=f"c{i}") for i in range(3)], started_at=START, threads=1)

    assert isinstance(aborted.value.cause, IntercomAuthError)
    assert w.calls() == {UPSERT_COMPANY: {"401": 1}}
