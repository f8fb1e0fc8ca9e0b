"""Change-aware imports (issue #13; upsert/diff.py, people.py): each people row is compared with the contact
Intercom holds, only the changed values are written, a row that changes nothing is ``unchanged`` and costs no
call, and each row written carries its change-log line (``RowResult.change``).

The real ``IntercomClient`` against the Intercom sandbox over HTTP (the world of ``test_upsert.py``): the calls
it answered (``by_route``, seeding not counted), the bodies the client sent, and what Intercom ended up with.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from intercom_importer.upsert import CREATED, UPDATED, RowResult
from intercom_importer.upsert.records import UNCHANGED
from intercom_sandbox import SandboxServer
from sandbox_fixtures import FakeClock, clocked_sandbox_fixtures
from upsert_world import ATTACH, CREATE, GET, PUT, SEARCH, START, TAGS, UPSERT_COMPANY, Intercom, row

pytestmark = [pytest.mark.integration, pytest.mark.documented_intercom]

clock, server, fresh = clocked_sandbox_fixtures(START)

JAN_15_2024 = 1_705_276_800  # 2024-01-15T00:00:00Z


@pytest.fixture
def w(fresh: SandboxServer, clock: FakeClock) -> Iterator[Intercom]:
    world = Intercom(fresh, clock)
    yield world
    world.api.close()
    world.recording.close()


def attribute(w: Intercom, name: str, data_type: str) -> None:
    w.seed("POST", "/data_attributes", {"name": name, "model": "contact", "data_type": data_type})


def tag(w: Intercom, name: str, *contact_ids: str) -> str:
    """Tag the contacts with ``name`` (seeding); returns the tag's Intercom id."""
    return str(w.seed("POST", "/tags", {"name": name, "users": [{"id": c} for c in contact_ids]})["id"])


# ================================================================== (a) an identical row
def test_row_identical_to_the_contact_is_unchanged_and_costs_only_the_search(w: Intercom):
    attribute(w, "plan", "string")
    user = w.contact(
        role="user", email="ada@example.com", external_id="u-1", name="Ada", phone="+441234567",
        custom_attributes={"plan": "pro"},
    )  # fmt: skip
    w.client.reset_stats()

    (result,) = w.people(
        [row(2, email="ada@example.com", external_id="u-1", name="Ada", phone="+441234567", plan="pro")],
        custom_types={"plan": "string"},
    )

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert result.change is None  # nothing logged: nothing to undo
    assert w.calls() == {SEARCH: {"200": 1}}
    assert w.client.stats.calls == 1
    assert w.stored(user["id"])["updated_at"] == user["updated_at"]


# ================================================================== (b) only what changed is sent
def test_only_the_changed_custom_attribute_is_sent(w: Intercom):
    attribute(w, "plan", "string")
    attribute(w, "seats", "integer")
    user = w.contact(role="user", email="ada@example.com", name="Ada", custom_attributes={"plan": "free", "seats": 3})

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada", plan="pro", seats="3")],
        custom_types={"plan": "string", "seats": "integer"},
    )

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [{"custom_attributes": {"plan": "pro"}}]
    assert w.stored(user["id"])["custom_attributes"] == {"plan": "pro", "seats": 3}
    assert w.calls() == {SEARCH: {"200": 1}, PUT: {"200": 1}}


def test_lead_converted_by_a_user_import_with_nothing_else_changed_sends_only_the_role(w: Intercom):
    lead = w.contact(role="lead", email="ada@example.com", name="Ada")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], role="user")

    assert result == RowResult(2, UPDATED, lead["id"])
    assert w.sent("PUT", f"/contacts/{lead['id']}") == [{"role": "user"}]
    assert result.change is not None and result.change["fields"] == {"role": ["lead", "user"]}
    assert w.stored(lead["id"])["role"] == "user"


# ================================================================== (c) equal by type
@pytest.mark.parametrize(
    ("attributes", "held", "record", "types"),
    [
        pytest.param({"score": "float"}, {"custom_attributes": {"score": 10.0}}, {"score": "10"},
                     {"score": "integer"}, id="integer 10 and float 10.0"),
        pytest.param({"renewal": "date"}, {"custom_attributes": {"renewal": JAN_15_2024}}, {"renewal": "2024-01-15"},
                     {"renewal": "date"}, id="a date cell and unix seconds"),
        pytest.param({}, {"signed_up_at": JAN_15_2024}, {"signed_up_at": JAN_15_2024}, {},
                     id="a standard date in unix seconds"),
        pytest.param({}, {"email": "Ada@Example.COM"}, {}, {}, id="an email differing only in case"),
        pytest.param({}, {"phone": "+44 1234 567"}, {"phone": "+441234567"}, {}, id="a phone formatted otherwise"),
        pytest.param({}, {}, {"name": None}, {}, id="a cleared name and no name"),
        pytest.param({}, {"name": ""}, {"name": None}, {}, id="a cleared name and an empty one"),
        pytest.param({"plan": "string"}, {}, {"plan": None}, {"plan": "string"},
                     id="a cleared custom attribute and none"),
        pytest.param({"plan": "string"}, {"custom_attributes": {"plan": ""}}, {"plan": None}, {"plan": "string"},
                     id="a cleared custom attribute and an empty one"),
        pytest.param({"vip": "boolean"}, {"custom_attributes": {"vip": True}}, {"vip": "true"}, {"vip": "boolean"},
                     id="a boolean custom attribute"),
        pytest.param({}, {"unsubscribed_from_emails": False}, {"unsubscribed_from_emails": False}, {},
                     id="a boolean standard attribute"),
    ],
)  # fmt: skip
def test_value_equal_by_its_type_leaves_the_row_unchanged(
    w: Intercom, attributes: dict[str, str], held: dict[str, Any], record: dict[str, Any], types: dict[str, str]
):
    for name, data_type in attributes.items():
        attribute(w, name, data_type)
    user = w.contact(role="user", **{"email": "ada@example.com", **held})

    (result,) = w.people([row(2, email="ada@example.com", **record)], custom_types=types)

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert w.calls() == {SEARCH: {"200": 1}}


@pytest.mark.parametrize(
    ("attributes", "held", "record", "types", "sent"),
    [
        pytest.param({"score": "float"}, {"custom_attributes": {"score": 10.5}}, {"score": "10"}, {"score": "integer"},
                     {"custom_attributes": {"score": 10}}, id="10 and 10.5"),
        pytest.param({"vip": "boolean"}, {"custom_attributes": {"vip": False}}, {"vip": "true"}, {"vip": "boolean"},
                     {"custom_attributes": {"vip": True}}, id="true and false"),
        pytest.param({}, {"name": "Ada"}, {"name": None}, {}, {"name": None}, id="a name cleared"),
        pytest.param({}, {"signed_up_at": JAN_15_2024}, {"signed_up_at": JAN_15_2024 + 1}, {},
                     {"signed_up_at": JAN_15_2024 + 1}, id="a second later"),
    ],
)  # fmt: skip
def test_value_that_differs_by_its_type_is_sent(
    w: Intercom,
    attributes: dict[str, str],
    held: dict[str, Any],
    record: dict[str, Any],
    types: dict[str, str],
    sent: dict[str, Any],
):
    """The counterpart of the equalities above: they must not hide a real change."""
    for name, data_type in attributes.items():
        attribute(w, name, data_type)
    user = w.contact(role="user", **{"email": "ada@example.com", **held})

    (result,) = w.people([row(2, email="ada@example.com", **record)], custom_types=types)

    assert result == RowResult(2, UPDATED, user["id"])
    assert w.sent("PUT", f"/contacts/{user['id']}") == [sent]


# ================================================================== (d) the company
def test_contact_already_attached_to_the_rows_company_is_not_attached_again(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")
    user = w.contact(role="user", email="ada@example.com", name="Ada")
    w.seed("POST", f"/contacts/{user['id']}/companies", {"id": acme["id"]})

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada", company_id="acme")], companies={"acme": acme["id"]}
    )

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert ATTACH not in w.calls() and w.calls() == {SEARCH: {"200": 1}}


def test_contact_not_attached_to_the_rows_company_is_attached_and_updated(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")
    user = w.contact(role="user", email="ada@example.com", name="Ada")

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada", company_id="acme")], companies={"acme": acme["id"]}
    )

    assert result == RowResult(2, UPDATED, user["id"])
    assert result.change == {
        "line": 2,
        "kind": "contact",
        "id": user["id"],
        "outcome": "updated",
        "company": acme["id"],
    }
    assert w.calls() == {SEARCH: {"200": 1}, ATTACH: {"200": 1}}  # no PUT: no value changed
    assert w.sent("POST", f"/contacts/{user['id']}/companies") == [{"id": acme["id"]}]
    assert w.state()["attachments"] == [{"contact_id": user["id"], "company_id": acme["id"]}]


# ================================================================== (e) tags
def test_contact_already_tagged_is_not_tagged_again(w: Intercom):
    user = w.contact(role="user", email="ada@example.com", name="Ada")
    vip = tag(w, "vip", user["id"])

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], tags=("vip",), tag_ids={"vip": vip})

    assert result == RowResult(2, UNCHANGED, user["id"])
    assert TAGS not in w.calls() and w.calls() == {SEARCH: {"200": 1}}


def test_untagged_contact_is_tagged_and_its_change_names_the_tag(w: Intercom):
    other = w.contact(role="user", email="other@example.com")
    vip = tag(w, "vip", other["id"])  # the tag exists; Ada lacks it
    user = w.contact(role="user", email="ada@example.com", name="Ada")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")], tags=("vip",), tag_ids={"vip": vip})

    assert result == RowResult(2, UPDATED, user["id"])
    assert result.change is not None and result.change["tags"] == {"vip": vip}
    assert "fields" not in result.change  # no value changed
    assert w.sent("POST", "/tags") == [{"name": "vip", "users": [{"id": user["id"]}]}]
    assert w.calls() == {SEARCH: {"200": 1}, TAGS: {"200": 1}}
    assert sorted(w.tagged("vip")) == sorted([other["id"], user["id"]])


def test_each_tag_goes_only_to_the_written_contacts_that_lack_it(w: Intercom):
    tagged_one = w.contact(role="user", email="ada@example.com", name="Ada")
    bare = w.contact(role="user", email="bob@example.com", name="Bob")
    vip = tag(w, "vip", tagged_one["id"])
    csv = tag(w, "csv", tagged_one["id"], bare["id"])

    ada, bob, cy = w.people(
        [row(2, email="ada@example.com", name="Ada L"), row(3, email="bob@example.com", name="Bob"),
         row(4, email="cy@example.com")],
        tags=("vip", "csv"),
        tag_ids={"vip": vip, "csv": csv},
        threads=1,
    )  # fmt: skip

    assert [r.outcome for r in (ada, bob, cy)] == [UPDATED, UPDATED, CREATED]
    assert w.sent("POST", "/tags") == [
        {"name": "vip", "users": [{"id": bob.contact_id}, {"id": cy.contact_id}]},  # Ada has it
        {"name": "csv", "users": [{"id": cy.contact_id}]},  # only the new contact lacks it
    ]
    assert bob.change is not None and bob.change["tags"] == {"vip": vip}
    assert ada.change is not None and "tags" not in ada.change


# ================================================================== (f) the change log line
def test_change_of_an_update_has_the_before_and_after_of_each_changed_value(w: Intercom):
    attribute(w, "plan", "string")
    attribute(w, "seats", "integer")
    user = w.contact(
        role="user", email="ada@example.com", name="Ada", phone="+441234567",
        custom_attributes={"plan": "free", "seats": 3},
    )  # fmt: skip

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada Lovelace", phone="+441234567", plan="pro", seats="3")],
        custom_types={"plan": "string", "seats": "integer"},
    )

    assert result == RowResult(2, UPDATED, user["id"])
    assert result.change == {
        "line": 2,
        "kind": "contact",
        "id": user["id"],
        "outcome": "updated",
        "fields": {"name": ["Ada", "Ada Lovelace"]},
        "custom_attributes": {"plan": ["free", "pro"]},
    }


def test_change_of_an_update_from_no_value_has_a_null_before(w: Intercom):
    user = w.contact(role="user", email="ada@example.com")

    (result,) = w.people([row(2, email="ada@example.com", name="Ada")])

    assert result == RowResult(2, UPDATED, user["id"])
    assert result.change is not None and result.change["fields"] == {"name": [None, "Ada"]}


def test_change_of_a_create_has_every_value_with_a_null_before(w: Intercom):
    attribute(w, "plan", "string")

    (result,) = w.people(
        [row(2, email="ada@example.com", name="Ada", phone="+441234567", plan="pro")], custom_types={"plan": "string"}
    )

    (contact,) = w.state()["contacts"]
    assert result == RowResult(2, CREATED, contact["id"])
    assert result.change == {
        "line": 2,
        "kind": "contact",
        "id": contact["id"],
        "outcome": "created",
        "fields": {"email": [None, "ada@example.com"], "name": [None, "Ada"], "phone": [None, "+441234567"]},
        "custom_attributes": {"plan": [None, "pro"]},
    }


def test_change_of_a_create_names_its_company_and_tags(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")
    w.seed("POST", "/tags", {"name": "vip"})

    (result,) = w.people(
        [row(2, email="ada@example.com", company_id="acme")], companies={"acme": acme["id"]}, tags=("vip",)
    )

    assert result.outcome == CREATED
    assert result.change is not None
    assert (result.change["company"], result.change["tags"]) == (acme["id"], {"vip": ""})  # the tag's id not given
    assert w.calls() == {SEARCH: {"200": 1}, CREATE: {"200": 1}, ATTACH: {"200": 1}, TAGS: {"200": 1}}


def test_company_rows_carry_their_change_with_the_values_written(w: Intercom):
    old = w.company(company_id="acme", name="Old")
    w.clock.advance(100)

    updated, created = w.companies(
        [row(2, company_id="acme", name="New"), row(3, company_id="globex", name="Globex")], started_at=START + 50
    )

    (globex,) = [c for c in w.state()["companies"] if c["company_id"] == "globex"]
    assert (updated, created) == (RowResult(2, UPDATED, old["id"]), RowResult(3, CREATED, globex["id"]))
    # a company is written without a lookup: what an update replaced is not known
    assert updated.change == {
        "line": 2,
        "kind": "company",
        "id": old["id"],
        "outcome": "updated",
        "fields": {"company_id": [None, "acme"], "name": [None, "New"]},
        "before_known": False,
    }
    assert created.change == {
        "line": 3,
        "kind": "company",
        "id": globex["id"],
        "outcome": "created",
        "fields": {"company_id": [None, "globex"], "name": [None, "Globex"]},
    }
    assert w.calls() == {UPSERT_COMPANY: {"200": 2}}


# ================================================================== (g) dry runs
def test_dry_run_tells_updated_from_unchanged_and_counts_the_calls_each_would_make(w: Intercom):
    acme = w.company(company_id="acme", name="Acme")
    same = w.contact(role="user", email="same@example.com", name="Same")
    renamed = w.contact(role="user", email="renamed@example.com", name="Old")
    joining = w.contact(role="user", email="joining@example.com", name="Joining")
    both = w.contact(role="user", email="both@example.com", name="Old")
    member = w.contact(role="user", email="member@example.com", name="Member")
    w.seed("POST", f"/contacts/{member['id']}/companies", {"id": acme["id"]})
    by_id = w.contact(role="user", email="byid@example.com", name="By id")
    before = w.state()

    results = w.people(
        [
            row(2, email="same@example.com", name="Same"),
            row(3, email="renamed@example.com", name="New"),
            row(4, email="joining@example.com", name="Joining", company_id="acme"),
            row(5, email="both@example.com", name="New", company_id="acme"),
            row(6, email="member@example.com", name="Member", company_id="acme"),
            row(7, id=by_id["id"], name="By id"),
            row(8, id=by_id["id"], name="Renamed by id"),
        ],
        companies={"acme": acme["id"]},
        dry_run=True,
    )

    assert results == [
        RowResult(2, UNCHANGED, same["id"], calls=0),
        RowResult(3, UPDATED, renamed["id"], calls=1),  # the update
        RowResult(4, UPDATED, joining["id"], calls=1),  # the attachment
        RowResult(5, UPDATED, both["id"], calls=2),  # the update and the attachment
        RowResult(6, UNCHANGED, member["id"], calls=0),  # attached already
        RowResult(7, UNCHANGED, by_id["id"], calls=1),  # the lookup
        RowResult(8, UPDATED, by_id["id"], calls=2),  # the lookup and the update
    ]
    assert w.calls() == {SEARCH: {"200": 1}, GET: {"200": 2}}
    assert w.state() == before


def test_dry_run_counts_tag_calls_only_for_the_written_contacts_lacking_the_tag(w: Intercom):
    tagged_one = w.contact(role="user", email="ada@example.com", name="Ada")
    vip = tag(w, "vip", tagged_one["id"])
    w.contact(role="user", email="bob@example.com", name="Bob")

    results = w.people(
        [row(2, email="ada@example.com", name="Ada"), row(3, email="bob@example.com", name="Bob")],
        tags=("vip",),
        tag_ids={"vip": vip},
        dry_run=True,
    )

    # Ada has the tag and changes nothing; Bob lacks it: he is updated by his tag, one call
    assert [(r.outcome, r.calls) for r in results] == [(UNCHANGED, 0), (UPDATED, 1)]
    assert TAGS not in w.calls()
