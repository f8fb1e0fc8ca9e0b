"""``POST /contacts/search`` semantics of the sandbox: operators, groups, limits, pagination, lag."""

from __future__ import annotations

import random
from typing import Any

import pytest

from intercom_sandbox.errors import ApiError
from intercom_sandbox.search import compile_query
from intercom_sandbox.state import Workspace
from sandbox_fixtures import FakeClock

pytestmark = pytest.mark.unit

DAY = 86_400
MIDNIGHT = 1_700_006_400  # 2023-11-15 00:00:00 UTC


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=MIDNIGHT + 9 * 3600)  # 09:00 UTC


@pytest.fixture
def ws(clock: FakeClock) -> Workspace:
    workspace = Workspace(clock)
    workspace.create_data_attribute({"name": "seats", "model": "contact", "data_type": "integer"})
    workspace.create_data_attribute({"name": "renewal", "model": "contact", "data_type": "date"})
    return workspace


@pytest.fixture
def people(ws: Workspace) -> dict[str, str]:
    """Four contacts by nickname -> id."""
    rows = {
        "ann": {"email": "Ann@Example.com", "external_id": "u1", "name": "Ann Lee", "custom_attributes": {"seats": 3}},
        "bob": {"email": "bob@example.org", "external_id": "u2", "name": "Bob", "custom_attributes": {"seats": 10}},
        "cat": {"role": "lead", "email": "cat@example.com", "name": "Cat"},
        "dan": {"external_id": "u4", "phone": "+4412345"},
    }
    return {nick: ws.create_contact(body)["id"] for nick, body in rows.items()}


def search(ws: Workspace, query: object, **pagination: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"query": query}
    if pagination:
        body["pagination"] = pagination
    return ws.search_contacts(body)


def found(ws: Workspace, people: dict[str, str], query: object) -> set[str]:
    by_id = {v: k for k, v in people.items()}
    return {by_id[c["id"]] for c in search(ws, query)["data"]}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"field": "email", "operator": "=", "value": "ann@example.com"}, {"ann"}),
        ({"field": "email", "operator": "=", "value": "ANN@EXAMPLE.COM"}, {"ann"}),
        ({"field": "email", "operator": "!=", "value": "ann@example.com"}, {"bob", "cat", "dan"}),
        ({"field": "email", "operator": "IN", "value": ["bob@example.org", "CAT@example.com"]}, {"bob", "cat"}),
        ({"field": "external_id", "operator": "NIN", "value": ["u1", "u2"]}, {"cat", "dan"}),
        ({"field": "name", "operator": "~", "value": "Lee"}, {"ann"}),
        ({"field": "name", "operator": "!~", "value": "a"}, {"ann", "bob", "dan"}),
        ({"field": "name", "operator": "^", "value": "Bo"}, {"bob"}),
        ({"field": "email", "operator": "$", "value": "@example.com"}, {"ann", "cat"}),
        ({"field": "email_domain", "operator": "=", "value": "example.org"}, {"bob"}),
        ({"field": "role", "operator": "=", "value": "lead"}, {"cat"}),
        ({"field": "phone", "operator": "=", "value": None}, {"ann", "bob", "cat"}),
        ({"field": "phone", "operator": "!=", "value": None}, {"dan"}),
        ({"field": "custom_attributes.seats", "operator": ">", "value": 3}, {"bob"}),
        ({"field": "custom_attributes.seats", "operator": ">=", "value": 3}, {"ann", "bob"}),
        ({"field": "custom_attributes.seats", "operator": "<", "value": 10}, {"ann"}),
        ({"field": "custom_attributes.seats", "operator": "<=", "value": "10"}, {"ann", "bob"}),
        ({"field": "custom_attributes.seats", "operator": "IN", "value": [3, 4]}, {"ann"}),
        ({"field": "unsubscribed_from_emails", "operator": "=", "value": False}, {"ann", "bob", "cat", "dan"}),
    ],
)
def test_operator_matches(ws: Workspace, people: dict[str, str], query: dict, expected: set[str]) -> None:
    assert found(ws, people, query) == expected


def test_or_of_in_filters_is_the_importers_chunk_lookup(ws: Workspace, people: dict[str, str]) -> None:
    query = {
        "operator": "OR",
        "value": [
            {"field": "email", "operator": "IN", "value": ["ann@example.com", "nobody@example.com"]},
            {"field": "external_id", "operator": "IN", "value": ["u2", "u4"]},
        ],
    }
    assert found(ws, people, query) == {"ann", "bob", "dan"}


def test_and_of_or_groups_nests_two_levels(ws: Workspace, people: dict[str, str]) -> None:
    query = {
        "operator": "AND",
        "value": [
            {
                "operator": "OR",
                "value": [
                    {"field": "role", "operator": "=", "value": "user"},
                    {"field": "name", "operator": "=", "value": "Cat"},
                ],
            },
            {
                "operator": "OR",
                "value": [
                    {"field": "email", "operator": "$", "value": ".com"},
                    {"field": "external_id", "operator": "=", "value": "u4"},
                ],
            },
        ],
    }
    assert found(ws, people, query) == {"ann", "cat", "dan"}


def test_three_levels_of_groups_are_refused(ws: Workspace) -> None:
    leaf = {"field": "role", "operator": "=", "value": "user"}
    query = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}]}
    with pytest.raises(ApiError, match="max 2 nested filters"):
        search(ws, query)


def test_group_holds_at_most_15_filters(ws: Workspace) -> None:
    leaf = {"field": "external_id", "operator": "=", "value": "x"}
    assert search(ws, {"operator": "OR", "value": [leaf] * 15})["total_count"] == 0
    with pytest.raises(ApiError, match="max 15 filters"):
        search(ws, {"operator": "OR", "value": [leaf] * 16})


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"field": "email", "operator": "IN", "value": "a@example.com"}, "non-empty array"),
        ({"field": "email", "operator": "<", "value": "a"}, "not supported"),
        ({"field": "created_at", "operator": "!=", "value": MIDNIGHT}, "not supported"),
        ({"field": "created_at", "operator": ">=", "value": MIDNIGHT}, "not supported"),
        ({"field": "created_at", "operator": "IN", "value": [MIDNIGHT]}, "not supported"),
        ({"field": "created_at", "operator": ">", "value": "foobar"}, "numeric"),
        ({"field": "tag_id", "operator": "IN", "value": ["1"]}, "not supported"),
        ({"field": "shoe_size", "operator": "=", "value": 9}, "not a searchable"),
        ({"field": "custom_attributes.nope", "operator": "=", "value": 1}, "does not exist"),
        ({"field": "email", "operator": "LIKE", "value": "a"}, "not a valid operator"),
        ({"operator": "XOR", "value": []}, "AND or OR"),
        ({"operator": "AND", "value": []}, "non-empty array"),
        ("email = a", "must be an object"),
    ],
)
def test_invalid_queries_are_400_parameter_invalid(ws: Workspace, query: object, message: str) -> None:
    with pytest.raises(ApiError, match=f"^400 parameter_invalid: .*{message}"):
        search(ws, query)


def test_date_fields_match_by_utc_calendar_day(ws: Workspace, clock: FakeClock) -> None:
    today = ws.create_contact({"external_id": "today"})["id"]  # 09:00 on MIDNIGHT's day
    clock.advance(DAY)
    tomorrow = ws.create_contact({"external_id": "tomorrow"})["id"]
    nine_am = MIDNIGHT + 9 * 3600

    def ids(operator: str, value: int | str) -> set[str]:
        return {c["id"] for c in search(ws, {"field": "created_at", "operator": operator, "value": value})["data"]}

    assert ids("=", MIDNIGHT) == {today}
    assert ids("=", MIDNIGHT + 23 * 3600) == {today}  # any instant of the day means the whole day
    assert ids(">", nine_am - 3600) == {tomorrow}  # ">" starts at the next day, not at 08:00
    assert ids("<", MIDNIGHT + DAY + 3600) == {today}  # "<" ends before the start of that day
    assert ids("=", str(MIDNIGHT)) == {today}  # the spec's example sends the timestamp as a string


def test_date_custom_attribute_matches_by_day(ws: Workspace) -> None:
    hit = ws.create_contact({"external_id": "a", "custom_attributes": {"renewal": MIDNIGHT + 60}})["id"]
    ws.create_contact({"external_id": "b", "custom_attributes": {"renewal": MIDNIGHT + DAY}})

    result = search(ws, {"field": "custom_attributes.renewal", "operator": "=", "value": MIDNIGHT})
    assert [c["id"] for c in result["data"]] == [hit]


def test_tag_id_supports_equal_and_not_equal(ws: Workspace, people: dict[str, str]) -> None:
    tag = ws.create_tag({"name": "vip", "users": [{"id": people["ann"]}]})

    assert found(ws, people, {"field": "tag_id", "operator": "=", "value": tag["id"]}) == {"ann"}
    assert found(ws, people, {"field": "tag_id", "operator": "!=", "value": tag["id"]}) == {"bob", "cat", "dan"}


def test_archived_contacts_are_not_returned(ws: Workspace, people: dict[str, str]) -> None:
    ws.archive_contact(people["ann"])
    assert found(ws, people, {"field": "external_id", "operator": "IN", "value": ["u1", "u2"]}) == {"bob"}


def test_pagination_is_read_from_the_body(ws: Workspace) -> None:
    ids = [ws.create_contact({"external_id": f"u{i:02}"})["id"] for i in range(7)]
    query = {"field": "external_id", "operator": "^", "value": "u"}

    seen: list[str] = []
    page = search(ws, query, per_page=3)
    pages = [page]
    while "next" in page["pages"] and len(pages) < 5:
        page = search(ws, query, per_page=3, starting_after=page["pages"]["next"]["starting_after"])
        pages.append(page)
    for p in pages:
        seen += [c["id"] for c in p["data"]]

    assert seen == ids
    assert [p["pages"]["page"] for p in pages] == [1, 2, 3]
    assert {p["total_count"] for p in pages} == {7}
    assert pages[0]["pages"]["total_pages"] == 3
    assert pages[0]["pages"]["next"]["per_page"] == 3


def test_default_per_page_is_50_and_maximum_150(ws: Workspace) -> None:
    query = {"field": "role", "operator": "=", "value": "user"}
    assert search(ws, query)["pages"]["per_page"] == 50
    assert search(ws, query, per_page=150)["pages"]["per_page"] == 150
    with pytest.raises(ApiError, match="per_page"):
        search(ws, query, per_page=151)


def test_invalid_cursor_is_refused(ws: Workspace) -> None:
    with pytest.raises(ApiError, match="starting_after"):
        search(ws, {"field": "role", "operator": "=", "value": "user"}, starting_after="not a cursor")


def test_new_contacts_are_invisible_during_search_lag(ws: Workspace, clock: FakeClock) -> None:
    contact = ws.create_contact({"email": "new@example.com"})
    query = {"query": {"field": "email", "operator": "=", "value": "new@example.com"}}

    assert ws.search_contacts(query, lag_seconds=60)["total_count"] == 0
    assert ws.get_contact(contact["id"])["id"] == contact["id"]  # direct reads have no lag
    clock.advance(59.9)
    assert ws.search_contacts(query, lag_seconds=60)["total_count"] == 0
    clock.advance(0.2)
    assert [c["id"] for c in ws.search_contacts(query, lag_seconds=60)["data"]] == [contact["id"]]


def test_indexed_lookup_returns_what_a_full_scan_returns(ws: Workspace) -> None:
    """The email/external_id/id index only narrows candidates; random queries must agree with a scan."""
    rng = random.Random(7)
    for i in range(60):
        body: dict[str, Any] = {"role": rng.choice(["user", "lead"])}
        if rng.random() < 0.8:
            body["email"] = f"p{rng.randrange(25)}@Example.com"
        if rng.random() < 0.6 or (body["role"] == "user" and "email" not in body):
            body["external_id"] = f"x{i}"
        try:
            ws.create_contact(body)
        except ApiError:
            continue
    contacts = ws.dump()["contacts"]
    all_ids = [c["id"] for c in contacts]

    def random_filter() -> dict[str, Any]:
        field = rng.choice(["email", "external_id", "id"])
        pool = {
            "email": [f"P{n}@example.COM" for n in range(30)],
            "external_id": [f"x{n}" for n in range(70)],
            "id": [*all_ids, "0" * 24],
        }[field]
        if rng.random() < 0.5:
            return {"field": field, "operator": "=", "value": rng.choice(pool)}
        return {"field": field, "operator": "IN", "value": rng.sample(pool, 5)}

    for _ in range(200):
        shape = rng.choice(["single", "or", "and"])
        if shape == "single":
            query: dict[str, Any] = random_filter()
        else:
            children = [random_filter() for _ in range(rng.randint(1, 3))]
            if shape == "and":
                children.append({"field": "role", "operator": "=", "value": "user"})
            query = {"operator": shape.upper(), "value": children}
        predicate = compile_query(query, lambda _name: None)
        scanned = [c["id"] for c in contacts if predicate(ws._contacts[c["id"]])]
        result = ws.search_contacts({"query": query, "pagination": {"per_page": 150}})
        assert [c["id"] for c in result["data"]] == scanned, query
