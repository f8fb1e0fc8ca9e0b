"""The identity ledger (ledger.py) and what it changes in the upsert (upsert/known.py, people.py): re-runs and
concurrent imports inside Intercom's search lag update the contacts instead of creating them again.

The ledger's table is template.yaml's, on a moto server; Intercom is the sandbox over HTTP on a fake clock,
with the documented behaviour (search lag of minutes, leads never conflict, email matched only without an
external_id). "A re-run" is the same rows imported again by another job while the first job's creates are
still invisible to search.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from intercom_importer.errors import LedgerUnavailableError
from intercom_importer.ledger import IdentityLedger, LedgerEntry, identity_keys, normalise_phone
from intercom_importer.upsert import CREATED, FAILED, SKIPPED, UPDATED, ChunkSetAside, RowResult
from intercom_importer.upsert.records import UNCHANGED
from intercom_sandbox import SandboxServer
from moto_server import create_ledger_table, moto_server_fixture, session
from sandbox_fixtures import FakeClock, clocked_sandbox_fixtures
from upsert_world import CREATE, GET, PUT, SEARCH, START, Intercom, row

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

LAG = 600.0  # Intercom's search lag ("a few minutes")

moto_url = moto_server_fixture()
clock, server, fresh = clocked_sandbox_fixtures(START)


@pytest.fixture(scope="module")
def table(moto_url: str) -> Any:
    return create_ledger_table(session().resource("dynamodb", endpoint_url=moto_url), "ledger")


@pytest.fixture
def ledger(table: Any, clock: FakeClock) -> IdentityLedger:
    """A ledger of its own workspace for each test (the table is the module's)."""
    return IdentityLedger(table, f"ws-{uuid.uuid4().hex[:8]}", ttl_days=7, clock=clock, sleep=lambda _s: None)


@pytest.fixture
def w(fresh: SandboxServer, clock: FakeClock) -> Iterator[Intercom]:
    fresh.configure(search_lag_seconds=LAG, email_conflicts="without_external_id")
    world = Intercom(fresh, clock)
    yield world
    world.api.close()
    world.recording.close()


def run(w: Intercom, ledger: IdentityLedger, rows: list[dict[str, Any]], **ctx: Any) -> list[RowResult]:
    return w.people(rows, ledger=ledger, job_id=ctx.pop("job_id", "job-1"), **ctx)


# ================================================================== the ledger itself
def test_keys_of_a_row_are_its_external_id_and_email_or_its_phone_with_its_name():
    assert identity_keys({"external_id": "u-1", "email": " Ada@Example.COM "}) == [
        "external_id:u-1",
        "email:ada@example.com",
    ]
    assert identity_keys({"phone": "+44 (20) 7946-0958", "name": "Ann  LEE"}) == ["phone:+442079460958|ann lee"]
    assert identity_keys({"phone": "+441234567"}) == []  # a phone alone may be shared
    assert identity_keys({"name": "Ann"}) == []  # a name alone is too common
    assert identity_keys({"email": "a@x.io", "phone": "+441234567", "name": "Ann"}) == ["email:a@x.io"]


@pytest.mark.parametrize(
    ("written", "normalised"),
    [("+44 20 7946 0958", "+442079460958"), ("0044 20 7946 0958", "+442079460958"), ("020 7946 0958", "02079460958")],
)
def test_phone_is_normalised_to_its_digits_with_the_international_plus(written: str, normalised: str):
    assert normalise_phone(written) == normalised


def test_entries_are_read_back_per_workspace_with_their_expiry(table: Any, ledger: IdentityLedger, clock: FakeClock):
    entry = LedgerEntry("email:ada@example.com", "c-1", "user", email="ada@example.com", created_at=123, job_id="j")
    ledger.record([entry])

    assert ledger.find(["email:ada@example.com", "email:other@example.com"]) == {"email:ada@example.com": entry}
    other = IdentityLedger(table, "another-workspace")
    assert other.find(["email:ada@example.com"]) == {}
    (item,) = [i for i in table.scan()["Items"] if i["pk"].endswith("#email:ada@example.com")]
    assert int(item["expires_at"]) == int(clock.now) + 7 * 86_400
    assert set(item) == {"pk", "contact_id", "role", "email", "created_at", "job_id", "expires_at"}


def test_more_keys_than_one_batch_are_all_read(ledger: IdentityLedger):
    entries = [LedgerEntry(f"external_id:u-{i}", f"c-{i}", "user", external_id=f"u-{i}") for i in range(130)]
    ledger.record(entries)

    found = ledger.find(e.key for e in entries)

    assert sorted(found) == sorted(e.key for e in entries)


def test_forget_removes_a_key_only_while_it_names_that_contact(ledger: IdentityLedger):
    ledger.record([LedgerEntry("email:a@x.io", "c-1", "lead"), LedgerEntry("email:b@x.io", "c-2", "lead")])

    ledger.forget(["email:a@x.io", "email:b@x.io"], "c-1")

    assert list(ledger.find(["email:a@x.io", "email:b@x.io"])) == ["email:b@x.io"]


# ================================================================== re-runs inside the search lag
@pytest.mark.parametrize(
    ("record", "role", "change"),
    [
        # leads never conflict: search is all there is
        ({"email": "ada@example.com", "name": "Ada"}, "lead", {"name": "Ada Lovelace"}),
        # a lead known only by phone and name (both its key: another value changes)
        ({"name": "Ann", "phone": "+44 1234 567"}, "user", {"signed_up_at": 1_600_000_000}),
        ({"email": "bo@example.com", "external_id": "u-2", "name": "Bo"}, "user", {"name": "Bo Diddley"}),
    ],
)
def test_a_re_run_inside_the_search_lag_updates_the_contact_the_first_run_created(
    w: Intercom, ledger: IdentityLedger, record: dict[str, Any], role: str, change: dict[str, Any]
):
    (first,) = run(w, ledger, [row(2, **record)], role=role)
    w.clock.advance(30)  # the second run comes well inside the lag: search does not show the contact yet

    (second,) = run(w, ledger, [row(2, **{**record, **change})], role=role, job_id="job-2")

    assert first.outcome == CREATED
    assert second == RowResult(2, UPDATED, first.contact_id)
    assert len(w.state()["contacts"]) == 1
    # the contact only the ledger knows is looked up, then sent only what changed
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}, PUT: {"200": 1}}
    assert w.sent("PUT", f"/contacts/{first.contact_id}") == [change]
    assert {k: w.stored(str(first.contact_id))[k] for k in change} == change

    w.clock.advance(30)  # still inside the lag: the same rows again hold nothing new
    (third,) = run(w, ledger, [row(2, **{**record, **change})], role=role, job_id="job-3")

    assert third == RowResult(2, UNCHANGED, first.contact_id)
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}
    assert len(w.state()["contacts"]) == 1


def test_an_identical_re_run_inside_the_search_lag_leaves_the_contact_unchanged(w: Intercom, ledger: IdentityLedger):
    (first,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada")], role="lead")
    w.clock.advance(30)

    (second,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada")], role="lead", job_id="job-2")

    assert second == RowResult(2, UNCHANGED, first.contact_id)  # once counted updated: nothing is written now
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}
    assert len(w.state()["contacts"]) == 1


def test_without_the_ledger_the_same_re_run_duplicates_the_lead(w: Intercom):
    """The reason the ledger exists: Intercom as documented (search lag, leads never 409) duplicates leads."""
    (first,) = w.people([row(2, email="ada@example.com", name="Ada")], role="lead")
    w.clock.advance(30)

    (second,) = w.people([row(2, email="ada@example.com", name="Ada")], role="lead")

    assert (first.outcome, second.outcome) == (CREATED, CREATED)
    assert len(w.by_email("ada@example.com")) == 2


def test_a_re_run_after_the_lag_finds_the_contact_by_search_and_the_ledger_agrees(w: Intercom, ledger: IdentityLedger):
    (first,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada")], role="lead")
    w.clock.advance(LAG + 1)

    (second,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada Lovelace")], role="lead")

    assert second == RowResult(2, UPDATED, first.contact_id)
    assert w.stored(first.contact_id)["name"] == "Ada Lovelace"
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}


def test_a_concurrent_import_of_the_same_people_updates_what_the_other_created(w: Intercom, ledger: IdentityLedger):
    rows = [row(2, email="ada@example.com"), row(3, name="Ann", phone="+441234567"), row(4, email="cy@example.com")]
    first = run(w, ledger, rows, role="lead", job_id="job-a")
    w.clock.advance(1)

    # the same people: two with a value the other import did not write, one exactly as it wrote it
    second = run(
        w,
        ledger,
        [row(2, email="ada@example.com", name="Ada"), row(3, name="Ann", phone="+441234567"),
         row(4, email="cy@example.com", name="Cy")],
        role="lead",
        job_id="job-b",
    )  # fmt: skip

    assert [r.outcome for r in first] == [CREATED] * 3
    assert second == [
        RowResult(2, UPDATED, first[0].contact_id),
        RowResult(3, UNCHANGED, first[1].contact_id),
        RowResult(4, UPDATED, first[2].contact_id),
    ]
    assert len(w.state()["contacts"]) == 3
    assert w.calls()[GET] == {"200": 3} and w.calls()[PUT] == {"200": 2} and CREATE not in w.calls()


def test_skip_looks_up_a_contact_only_the_ledger_knows(w: Intercom, ledger: IdentityLedger):
    (first,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead")

    (second,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead", existing="skip")

    assert second == RowResult(2, SKIPPED, first.contact_id, calls=1)
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}


@pytest.mark.parametrize(
    ("name", "outcome", "calls"),
    [("Ada", UPDATED, 2), (None, UNCHANGED, 1)],
    ids=["changed: the lookup and the update", "unchanged: the lookup"],
)
def test_a_dry_run_counts_a_contact_only_the_ledger_knows_as_updated_or_unchanged(
    w: Intercom, ledger: IdentityLedger, name: str | None, outcome: str, calls: int
):
    (first,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead")
    values = {"name": name} if name else {}

    (second,) = run(w, ledger, [row(2, email="ada@example.com", **values)], role="lead", dry_run=True)

    assert second == RowResult(2, outcome, first.contact_id, calls=calls)
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}
    assert len(w.state()["contacts"]) == 1
    assert w.stored(str(first.contact_id))["name"] is None


def test_a_contact_deleted_since_is_forgotten_and_the_row_created_again(w: Intercom, ledger: IdentityLedger):
    (first,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada")], role="lead")
    w.seed("DELETE", f"/contacts/{first.contact_id}")

    (second,) = run(w, ledger, [row(2, email="ada@example.com", name="Ada")], role="lead")

    assert second.outcome == CREATED and second.contact_id != first.contact_id
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"404": 1}, CREATE: {"200": 1}}  # its lookup found it gone
    assert ledger.find(["email:ada@example.com"])["email:ada@example.com"].contact_id == second.contact_id


def test_a_failed_row_writes_nothing_to_the_ledger(w: Intercom, ledger: IdentityLedger):
    (result,) = run(w, ledger, [row(2, email="ada@example.com", id="0" * 24)])

    assert result.outcome == FAILED
    assert ledger.find(["email:ada@example.com"]) == {}


def test_a_dry_run_writes_nothing_to_the_ledger(w: Intercom, ledger: IdentityLedger):
    run(w, ledger, [row(2, email="ada@example.com")], dry_run=True)

    assert ledger.find(["email:ada@example.com"]) == {}


def test_rows_with_only_a_name_are_created_again_by_a_re_run(w: Intercom, ledger: IdentityLedger):
    run(w, ledger, [row(2, name="Ann")])

    (second,) = run(w, ledger, [row(2, name="Ann")])

    assert second.outcome == CREATED
    assert len(w.state()["contacts"]) == 2  # documented limit: nothing can recognise them


def test_a_deleted_user_the_ledger_remembers_does_not_fail_a_row_with_another_external_id(
    w: Intercom, ledger: IdentityLedger
):
    (first,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-1")])
    w.seed("DELETE", f"/contacts/{first.contact_id}")

    (second,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-2")])

    assert second.outcome == CREATED
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"404": 1}, CREATE: {"200": 1}}
    assert ledger.find(["external_id:u-1"]) == {}
    assert ledger.find(["email:ada@example.com"])["email:ada@example.com"].external_id == "u-2"


def test_a_user_the_ledger_remembers_with_another_external_id_fails_the_row(w: Intercom, ledger: IdentityLedger):
    run(w, ledger, [row(2, email="ada@example.com", external_id="u-1")])

    (second,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-2")])

    assert second.outcome == FAILED and "external_id is 'u-1', not 'u-2'" in (second.error or "")
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}
    assert [c["external_id"] for c in w.state()["contacts"]] == ["u-1"]


class Throttling:
    """A table whose batch calls leave everything unprocessed ``times`` times, then do the work on ``table``."""

    def __init__(self, table: Any, times: int) -> None:
        self.name = table.name
        self.meta = self
        self.client = self
        self._real = table.meta.client
        self.left = times
        self.calls = 0

    def _maybe(self, name: str, leftover: str, RequestItems: dict[str, Any]) -> dict[str, Any]:
        self.calls += 1
        if self.left:
            self.left -= 1
            return {leftover: RequestItems}
        return dict(getattr(self._real, name)(RequestItems=RequestItems))

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        return self._maybe("batch_get_item", "UnprocessedKeys", RequestItems)

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        return self._maybe("batch_write_item", "UnprocessedItems", RequestItems)


def test_what_dynamodb_leaves_unprocessed_is_sent_again_with_backoff(table: Any):
    waits: list[float] = []
    throttled = Throttling(table, times=2)
    ledger = IdentityLedger(throttled, "ws-throttled", sleep=waits.append)

    ledger.record([LedgerEntry("email:a@x.io", "c-1", "lead")])
    throttled.left = 2
    found = ledger.find(["email:a@x.io"])

    assert found["email:a@x.io"].contact_id == "c-1"
    assert throttled.calls == 6 and waits == [0.05, 0.1, 0.05, 0.1]


def test_a_ledger_that_keeps_throttling_makes_the_chunk_retry(table: Any):
    ledger = IdentityLedger(Throttling(table, times=99), "ws-throttled", sleep=lambda _s: None)

    with pytest.raises(LedgerUnavailableError, match="kept throttling"):
        ledger.find(["email:a@x.io"])


# ================================================================== claims: a run that died between create and answer
def test_a_lead_create_is_claimed_before_it_is_sent_and_its_contact_replaces_the_claim(
    w: Intercom, ledger: IdentityLedger
):
    claims: list[dict[str, Any]] = []
    real_claim = ledger.claim

    def claim(keys: Any, **where: Any) -> None:
        claims.append({"keys": list(keys), **where, "contacts_then": len(w.state()["contacts"])})
        real_claim(keys, **where)

    ledger.claim = claim  # type: ignore[method-assign]

    (result,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead")

    # claimed before the create was sent: Intercom had no contact yet
    assert claims == [
        {"keys": ["email:ada@example.com"], "job_id": "job-1", "line": 2, "sent_at": START, "contacts_then": 0}
    ]
    entry = ledger.find(["email:ada@example.com"])["email:ada@example.com"]
    assert (entry.contact_id, entry.pending) == (result.contact_id, False)


# another job's create holds the row's values: this job writes nothing (not counted as its create)
@pytest.mark.parametrize(
    ("job", "outcome"), [("job-1", CREATED), ("job-other", UNCHANGED)], ids=["own", "another job's"]
)
def test_a_claimed_lead_create_without_outcome_sets_the_row_aside_until_search_can_show_it(
    w: Intercom, ledger: IdentityLedger, job: str, outcome: str
):
    # the dead attempt: its claim is written, its create carried out, and it died before it heard back
    ledger.claim(["email:ada@example.com"], job_id=job, line=2, sent_at=START)
    lead = w.contact(just_now=True, role="lead", email="ada@example.com")
    w.clock.advance(30)

    with pytest.raises(ChunkSetAside) as caught:  # search cannot show the lead yet: creating again could duplicate it
        run(w, ledger, [row(2, email="ada@example.com")], role="lead", search_lag_seconds=LAG)

    assert caught.value.uncertain == {2: START} and CREATE not in w.calls()
    w.clock.advance(LAG)

    (again,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead", search_lag_seconds=LAG)

    assert again == RowResult(2, outcome, lead["id"])  # this job's own create counts as created
    assert len(w.state()["contacts"]) == 1
    assert CREATE not in w.calls() and PUT not in w.calls()  # the lead holds the row's values


def test_a_claim_older_than_the_search_lag_with_no_contact_is_created_again(w: Intercom, ledger: IdentityLedger):
    ledger.claim(["email:ada@example.com"], job_id="job-1", line=2, sent_at=START)  # that create never happened
    w.clock.advance(LAG + 1)

    (result,) = run(w, ledger, [row(2, email="ada@example.com")], role="lead", search_lag_seconds=LAG)

    assert result.outcome == CREATED
    assert len(w.state()["contacts"]) == 1


# ================================================================== what is remembered
def test_a_contact_search_showed_under_the_rows_keys_is_not_written_to_the_ledger_again(
    w: Intercom, ledger: IdentityLedger
):
    user = w.contact(role="user", email="ada@example.com", external_id="u-1")  # a day old: search shows it

    (result,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-1", name="Ada")])

    assert result == RowResult(2, UPDATED, user["id"])
    # a later search shows it as well: only the update is noted, for a search that may show it from before
    found = ledger.find(["email:ada@example.com", "external_id:u-1"])
    assert {k: (e.contact_id, e.created_at, e.written_at) for k, e in found.items()} == {
        key: (user["id"], None, w.stored(user["id"])["updated_at"])
        for key in ("email:ada@example.com", "external_id:u-1")
    }


def test_a_row_that_changes_nothing_notes_nothing(w: Intercom, ledger: IdentityLedger):
    w.contact(role="user", email="ada@example.com", external_id="u-1", name="Ada")

    (result,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-1", name="Ada")])

    assert result.outcome == UNCHANGED
    assert ledger.find(["email:ada@example.com", "external_id:u-1"]) == {}


def test_only_the_key_the_search_did_not_show_is_written(w: Intercom, ledger: IdentityLedger):
    user = w.contact(role="user", email="ada@example.com")  # no external_id yet: the row gives it one (attach)

    (result,) = run(w, ledger, [row(2, email="ada@example.com", external_id="u-1")])

    assert result == RowResult(2, UPDATED, user["id"])
    found = ledger.find(["email:ada@example.com", "external_id:u-1"])
    assert found["external_id:u-1"].contact_id == user["id"]
    assert found["email:ada@example.com"].written_at == found["external_id:u-1"].written_at  # the update, noted


# ================================================================== updates the search does not show yet
# Intercom documents when a new contact reaches search, not when an update does: the documented profile takes the
# less convenient reading, search showing a contact's values from before an update as long as it misses a new one.
def test_a_file_sent_right_after_an_update_is_compared_with_intercom_not_with_the_stale_search(
    w: Intercom, ledger: IdentityLedger, clock: FakeClock
):
    w.server.configure(search_update_lag_seconds=LAG)
    user = w.contact(role="user", email="ada@example.com", external_id="u-1", name="Ada Lovelace")
    (wrong,) = run(w, ledger, [row(2, external_id="u-1", name="Ada Wrong")], job_id="job-wrong")
    assert wrong == RowResult(2, UPDATED, user["id"])
    clock.advance(60)  # the corrected file, a minute later: search still shows "Ada Lovelace"

    (corrected,) = run(w, ledger, [row(2, external_id="u-1", name="Ada Lovelace")], job_id="job-corrected")

    assert corrected == RowResult(2, UPDATED, user["id"])  # without the ledger's note: unchanged, and left wrong
    assert w.stored(user["id"])["name"] == "Ada Lovelace"
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}, PUT: {"200": 1}}


def _renamed_old_to_new(w: Intercom, ledger: IdentityLedger, clock: FakeClock, *, seconds_ago: float) -> dict[str, Any]:
    """A user "Old", renamed "New" by an import ``seconds_ago``, under a search that shows updates after ``LAG``."""
    w.server.configure(search_update_lag_seconds=LAG)
    user = w.contact(role="user", external_id="u-1", name="Old")
    run(w, ledger, [row(2, external_id="u-1", name="New")])
    clock.advance(seconds_ago)
    return user


def test_a_row_equal_to_the_update_search_does_not_show_yet_is_unchanged_after_a_read(
    w: Intercom, ledger: IdentityLedger, clock: FakeClock
):
    user = _renamed_old_to_new(w, ledger, clock, seconds_ago=60)

    (again,) = run(w, ledger, [row(2, external_id="u-1", name="New")], job_id="job-2")

    assert again == RowResult(2, UNCHANGED, user["id"])  # without the read: an update sending "New" again
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}}


def test_once_search_shows_the_update_the_contact_is_not_read_again(
    w: Intercom, ledger: IdentityLedger, clock: FakeClock
):
    user = _renamed_old_to_new(w, ledger, clock, seconds_ago=LAG + 1)

    (again,) = run(w, ledger, [row(2, external_id="u-1", name="New")], job_id="job-2")

    assert again == RowResult(2, UNCHANGED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}}  # search shows the update's updated_at: no read


def test_a_skip_does_not_read_a_contact_search_shows_from_before_an_update(
    w: Intercom, ledger: IdentityLedger, clock: FakeClock
):
    user = _renamed_old_to_new(w, ledger, clock, seconds_ago=60)

    (skipped,) = run(w, ledger, [row(2, external_id="u-1", name="Newer")], job_id="job-2", existing="skip")

    assert skipped == RowResult(2, SKIPPED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}}


def _updated_in_the_second_it_was_created(w: Intercom, ledger: IdentityLedger) -> dict[str, Any]:
    """A user "Ada Lovelace" created and, within the same second, renamed "Ada Wrong" by an import: Intercom's
    ``updated_at`` counts seconds, so the version before the update and the update's show the same time."""
    user = w.contact(just_now=True, role="user", email="ada@example.com", external_id="u-1", name="Ada Lovelace")
    w.server.settle()  # search shows it, as created
    w.server.configure(search_update_lag_seconds=LAG)
    (wrong,) = run(w, ledger, [row(2, external_id="u-1", name="Ada Wrong")], job_id="job-wrong")
    assert (wrong.outcome, w.stored(user["id"])["updated_at"]) == (UPDATED, user["updated_at"])
    return user


def test_an_update_in_the_second_the_contact_was_created_is_told_apart_by_its_values(
    w: Intercom, ledger: IdentityLedger
):
    user = _updated_in_the_second_it_was_created(w, ledger)

    (corrected,) = run(w, ledger, [row(2, external_id="u-1", name="Ada Lovelace")], job_id="job-corrected")

    # search shows "Ada Lovelace" at the update's own updated_at: by time alone the corrected row was unchanged
    assert corrected == RowResult(2, UPDATED, user["id"])
    assert w.stored(user["id"])["name"] == "Ada Lovelace"
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 1}, PUT: {"200": 1}}


def test_a_search_showing_the_values_the_same_second_update_sent_is_not_read(w: Intercom, ledger: IdentityLedger):
    user = _updated_in_the_second_it_was_created(w, ledger)
    w.server.settle()  # search has caught up with the update

    (again,) = run(w, ledger, [row(2, external_id="u-1", name="Ada Wrong")], job_id="job-2")

    assert again == RowResult(2, UNCHANGED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}}


def test_noting_an_update_keeps_the_keys_item_and_leaves_a_claim_or_another_contact_alone(ledger: IdentityLedger):
    ledger.record([LedgerEntry("email:a@x.io", "c-1", "user", created_at=100, job_id="j-1")])
    ledger.claim(["email:b@x.io"], job_id="j-1", line=2, sent_at=1.5)
    ledger.record([LedgerEntry("email:c@x.io", "c-3", "user")])

    for key, contact in (("email:a@x.io", "c-1"), ("email:b@x.io", "c-2"), ("email:c@x.io", "c-2")):
        ledger.note_written(LedgerEntry(key, contact, "user", job_id="j-2", written_at=200))

    found = ledger.find(["email:a@x.io", "email:b@x.io", "email:c@x.io"])
    assert (found["email:a@x.io"].created_at, found["email:a@x.io"].written_at) == (100, 200)
    assert found["email:b@x.io"].pending and found["email:b@x.io"].written_at is None  # the claim stands
    assert (found["email:c@x.io"].contact_id, found["email:c@x.io"].written_at) == ("c-3", None)
