"""Every sandbox endpoint, success and error answers, validated against Intercom's 2.14 description.

Each scenario drives one route of the sandbox over HTTP and declares the status it expects for every
exchange. Each request and response is then validated with openapi-core
(:func:`intercom_sandbox.contract.validate_exchange`). Statuses that Intercom really answers but the
description does not list (the 409 of ``POST /contacts`` first of all) must appear in
``UNDOCUMENTED_STATUSES`` and are validated against the ``error`` schema instead. Requests that are
deliberately invalid (no token, a missing required field) or hit a defect of the description are
marked ``request_valid=False`` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.validation.response.exceptions import InvalidData

from intercom_sandbox import SandboxServer
from intercom_sandbox.app import ROUTES
from intercom_sandbox.contract import (
    ANY_OPERATION_STATUSES,
    REQUEST_SPEC_DEFECTS,
    UNDOCUMENTED_STATUSES,
    validate_exchange,
)
from sandbox_fixtures import SandboxSession

pytestmark = pytest.mark.contract

NO_TOKEN = {"Authorization": None}
MISSING = "0123456789abcdef01234567"


@dataclass
class Exchange:
    response: requests.Response
    status: int
    request_valid: bool = True
    why: str = ""


Scenario = Callable[[SandboxSession, SandboxServer], list[Exchange]]
SCENARIOS: dict[tuple[str, str], Scenario] = {}


def scenario(method: str, template: str) -> Callable[[Scenario], Scenario]:
    def register(func: Scenario) -> Scenario:
        SCENARIOS[(method, template)] = func
        return func

    return register


def new_user(s: SandboxSession, **body: object) -> dict:
    response = s.post("/contacts", json={"email": "ann@example.com", "external_id": "u-1", **body})
    assert response.status_code == 200, response.text
    return response.json()


def new_company(s: SandboxSession, company_id: str = "acme") -> dict:
    response = s.post("/companies", json={"company_id": company_id, "name": "Acme"})
    assert response.status_code == 200, response.text
    return response.json()


def attribute(s: SandboxSession, name: str, model: str, data_type: str, **extra: object) -> None:
    response = s.post("/data_attributes", json={"name": name, "model": model, "data_type": data_type, **extra})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- scenarios, one per route


@scenario("GET", "/me")
def _me(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    return [
        Exchange(s.get("/me"), 200),
        Exchange(s.get("/me", headers=NO_TOKEN), 401, request_valid=False, why="no token"),
    ]


@scenario("POST", "/contacts")
def _create_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    attribute(s, "plan", "contact", "string")
    attribute(s, "seats", "contact", "integer")
    archived = new_user(s, email="old@example.com", external_id="old")
    s.post(f"/contacts/{archived['id']}/archive")
    full = {
        "role": "user",
        "external_id": "u-1",
        "email": "Ann@Example.com",
        "phone": "+441234",
        "name": "Ann",
        "avatar": "https://example.com/ann.png",
        "signed_up_at": 1_700_000_000,
        "last_seen_at": 1_700_000_100,
        "owner_id": int(s.get("/me").json()["id"]),
        "unsubscribed_from_emails": False,
        "custom_attributes": {"plan": "pro", "seats": 3},
    }
    return [
        Exchange(s.post("/contacts", json=full), 200),
        Exchange(s.post("/contacts", json={"role": "lead", "email": "ann@example.com"}), 200),
        Exchange(s.post("/contacts", json={"role": "lead"}), 200),
        Exchange(s.post("/contacts", json={"external_id": "only-external-id"}), 200),
        Exchange(s.post("/contacts", json={"email": "ann@example.com"}), 409),
        Exchange(s.post("/contacts", json={"external_id": "old"}), 409),
        Exchange(s.post("/contacts", json={"email": "b@example.com", "user_id": "x"}), 400),
        Exchange(s.post("/contacts", json={"email": "b@example.com", "custom_attributes": {"tier": "x"}}), 400),
        Exchange(s.post("/contacts", json={"email": "b@example.com", "custom_attributes": {"seats": "3"}}), 400),
        Exchange(s.post("/contacts", json={"role": "user", "name": "Nobody"}), 400),
        Exchange(s.post("/contacts", json={"email": "b@example.com"}, headers=NO_TOKEN), 401, False, "no token"),
    ]


@scenario("GET", "/contacts")
def _list_contacts(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    for i in range(3):
        new_user(s, email=f"u{i}@example.com", external_id=f"u{i}")
    first = s.get("/contacts", params={"per_page": 2})
    cursor = first.json()["pages"]["next"]["starting_after"]
    return [
        Exchange(first, 200),
        Exchange(s.get("/contacts", params={"per_page": 2, "starting_after": cursor}), 200),
        Exchange(s.get("/contacts", params={"per_page": 151}), 400),
    ]


@scenario("POST", "/contacts/search")
def _search(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    for i in range(3):
        new_user(s, email=f"u{i}@example.com", external_id=f"u{i}")
    lookup = {
        "operator": "OR",
        "value": [
            {"field": "email", "operator": "IN", "value": ["u0@example.com", "u1@example.com"]},
            {"field": "external_id", "operator": "IN", "value": ["u2"]},
        ],
    }
    first = s.post("/contacts/search", json={"query": lookup, "pagination": {"per_page": 2}})
    cursor = first.json()["pages"]["next"]["starting_after"]
    leaf = {"field": "role", "operator": "=", "value": "user"}
    too_deep = {"operator": "AND", "value": [{"operator": "OR", "value": [{"operator": "AND", "value": [leaf]}]}]}
    return [
        Exchange(first, 200),
        Exchange(
            s.post("/contacts/search", json={"query": lookup, "pagination": {"per_page": 2, "starting_after": cursor}}),
            200,
        ),
        Exchange(s.post("/contacts/search", json={"query": {"field": "created_at", "operator": ">", "value": 0}}), 200),
        Exchange(s.post("/contacts/search", json={"query": too_deep}), 400),
        Exchange(s.post("/contacts/search", json={"query": leaf, "pagination": {"per_page": 500}}), 400),
    ]


@scenario("GET", "/contacts/find_by_external_id/{external_id}")
def _find_by_external_id(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    new_user(s)
    return [
        Exchange(s.get("/contacts/find_by_external_id/u-1"), 200),
        Exchange(s.get("/contacts/find_by_external_id/nobody"), 404),
    ]


@scenario("GET", "/contacts/{contact_id}")
def _show_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    s.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    s.post("/tags", json={"name": "vip", "users": [{"id": contact["id"]}]})
    return [Exchange(s.get(f"/contacts/{contact['id']}"), 200), Exchange(s.get(f"/contacts/{MISSING}"), 404)]


@scenario("PUT", "/contacts/{contact_id}")
def _update_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    attribute(s, "seats", "contact", "integer")
    ann = new_user(s)
    bob = new_user(s, email="bob@example.com", external_id="u-2")
    return [
        Exchange(s.put(f"/contacts/{ann['id']}", json={"name": "Ann", "custom_attributes": {"seats": 4}}), 200),
        Exchange(s.put(f"/contacts/{MISSING}", json={"name": "x"}), 404),
        Exchange(s.put(f"/contacts/{bob['id']}", json={"email": "ann@example.com"}), 409),
        Exchange(s.put(f"/contacts/{bob['id']}", json={"role": "lead"}), 400),
    ]


@scenario("DELETE", "/contacts/{contact_id}")
def _delete_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    return [Exchange(s.delete(f"/contacts/{contact['id']}"), 200), Exchange(s.delete(f"/contacts/{MISSING}"), 404)]


@scenario("POST", "/contacts/{contact_id}/archive")
def _archive(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    return [
        Exchange(s.post(f"/contacts/{contact['id']}/archive"), 200),
        Exchange(s.post(f"/contacts/{MISSING}/archive"), 404),
        Exchange(s.post(f"/contacts/{contact['id']}/archive", headers=NO_TOKEN), 401, False, "no token"),
    ]


@scenario("POST", "/contacts/{contact_id}/unarchive")
def _unarchive(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    s.post(f"/contacts/{contact['id']}/archive")
    return [
        Exchange(s.post(f"/contacts/{contact['id']}/unarchive"), 200),
        Exchange(s.post(f"/contacts/{MISSING}/unarchive"), 404),
    ]


@scenario("POST", "/contacts/{contact_id}/companies")
def _attach_company(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    path = f"/contacts/{contact['id']}/companies"
    return [
        Exchange(s.post(path, json={"id": company["id"]}), 200),
        Exchange(s.post(path, json={"id": company["id"]}), 200),
        Exchange(s.post(path, json={"id": "acme"}), 404),  # the company_id instead of the Intercom id
        Exchange(s.post(f"/contacts/{MISSING}/companies", json={"id": company["id"]}), 404),
        Exchange(s.post(path, json={}), 400, False, "the body lacks the required id"),
    ]


@scenario("GET", "/contacts/{contact_id}/companies")
def _contact_companies(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    s.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    return [
        Exchange(s.get(f"/contacts/{contact['id']}/companies"), 200),
        Exchange(s.get(f"/contacts/{MISSING}/companies"), 404),
    ]


@scenario("DELETE", "/contacts/{contact_id}/companies/{company_id}")
def _detach_company(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    s.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    return [
        Exchange(s.delete(f"/contacts/{contact['id']}/companies/{company['id']}"), 200),
        Exchange(s.delete(f"/contacts/{contact['id']}/companies/{MISSING}"), 404),
    ]


@scenario("POST", "/contacts/{contact_id}/tags")
def _tag_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    tag = s.post("/tags", json={"name": "vip"}).json()
    return [
        Exchange(s.post(f"/contacts/{contact['id']}/tags", json={"id": tag["id"]}), 200),
        Exchange(s.post(f"/contacts/{contact['id']}/tags", json={"id": "999999"}), 404),
        Exchange(s.post(f"/contacts/{MISSING}/tags", json={"id": tag["id"]}), 404),
        Exchange(s.post(f"/contacts/{contact['id']}/tags", json={}), 400, False, "the body lacks the required id"),
    ]


@scenario("GET", "/contacts/{contact_id}/tags")
def _contact_tags(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    s.post("/tags", json={"name": "vip", "users": [{"id": contact["id"]}]})
    return [
        Exchange(s.get(f"/contacts/{contact['id']}/tags"), 200),
        Exchange(s.get(f"/contacts/{MISSING}/tags"), 404),
    ]


@scenario("DELETE", "/contacts/{contact_id}/tags/{tag_id}")
def _untag_contact(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    tag = s.post("/tags", json={"name": "vip"}).json()
    s.post(f"/contacts/{contact['id']}/tags", json={"id": tag["id"]})
    return [
        Exchange(s.delete(f"/contacts/{contact['id']}/tags/{tag['id']}"), 200),
        Exchange(s.delete(f"/contacts/{contact['id']}/tags/{tag['id']}"), 404),
    ]


@scenario("POST", "/companies")
def _upsert_company(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    attribute(s, "region", "company", "string")
    attribute(s, "seats", "company", "integer")
    full = {
        "company_id": "acme",
        "name": "Acme",
        "plan": "pro",
        "size": 50,
        "website": "https://acme.example",
        "industry": "manufacturing",
        "custom_attributes": {"region": "EMEA"},
        "remote_created_at": 1_600_000_000,
        "monthly_spend": 155,
    }
    return [
        Exchange(s.post("/companies", json=full), 200),
        Exchange(s.post("/companies", json={"company_id": "acme", "size": 60}), 200),
        Exchange(s.post("/companies", json={"company_id": "bare"}), 200),
        # the string contract: "" clears a value; text that is not the attribute type's form is refused
        Exchange(s.post("/companies", json={"company_id": "acme", "custom_attributes": {"region": ""}}), 200),
        Exchange(s.post("/companies", json={"company_id": "acme", "custom_attributes": {"seats": "many"}}), 400),
        Exchange(s.post("/companies", json={"test": "invalid"}), 400),
        Exchange(s.post("/companies", json={"company_id": "x", "custom_attributes": {"nope": "1"}}), 400),
        Exchange(s.post("/companies", json={"company_id": "x"}, headers=NO_TOKEN), 401, False, "no token"),
    ]


@scenario("GET", "/companies")
def _list_companies(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    new_company(s, "acme")
    new_company(s, "globex")
    return [
        Exchange(s.get("/companies"), 200),
        Exchange(s.get("/companies", params={"page": 2, "per_page": 1}), 200),
        Exchange(s.get("/companies", params={"company_id": "acme"}), 200),
        Exchange(s.get("/companies", params={"company_id": "nope"}), 404),
        Exchange(s.get("/companies", params={"per_page": 500}), 400),
    ]


@scenario("POST", "/companies/list")
def _list_all_companies(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    acme = new_company(s, "acme")
    new_company(s, "globex")  # no contact: not listed, as in Intercom
    contact = s.post("/contacts", json={"email": "ada@example.com"}).json()
    s.post(f"/contacts/{contact['id']}/companies", json={"id": acme["id"]})
    listed = s.post("/companies/list", params={"per_page": 5, "order": "asc"})
    assert [c["company_id"] for c in listed.json()["data"]] == ["acme"]
    return [
        Exchange(listed, 200),
        Exchange(s.post("/companies/list"), 200),
        Exchange(s.post("/companies/list", params={"page": 2, "per_page": 1}), 200),
        Exchange(s.post("/companies/list", headers=NO_TOKEN), 401, False, "no token"),
    ]


@scenario("GET", "/companies/{company_id}")
def _show_company(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    company = new_company(s)
    return [Exchange(s.get(f"/companies/{company['id']}"), 200), Exchange(s.get("/companies/acme"), 404)]


@scenario("GET", "/companies/{company_id}/contacts")
def _company_contacts(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    s.post(f"/contacts/{contact['id']}/companies", json={"id": company["id"]})
    return [
        Exchange(s.get(f"/companies/{company['id']}/contacts"), 200),
        Exchange(s.get(f"/companies/{MISSING}/contacts"), 404),
    ]


@scenario("GET", "/data_attributes")
def _list_attributes(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    attribute(s, "size", "contact", "options", options=[{"value": "S"}, {"value": "M"}])
    attribute(s, "renewal", "company", "datetime")
    return [
        Exchange(s.get("/data_attributes", params={"model": "contact"}), 200),
        Exchange(s.get("/data_attributes", params={"model": "company"}), 200),
        Exchange(s.get("/data_attributes"), 200),
        Exchange(s.get("/data_attributes", params={"model": "user"}), 400, False, "model is outside the enum"),
    ]


@scenario("POST", "/data_attributes")
def _create_attribute(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    post = s.post
    options = [{"value": "1-10"}, {"value": "11-50"}]
    return [
        Exchange(
            post("/data_attributes", json={"name": "The One Ring", "model": "company", "data_type": "string"}), 200
        ),
        Exchange(
            post(
                "/data_attributes",
                json={"name": "size", "model": "contact", "data_type": "options", "options": options},
            ),
            200,
        ),
        Exchange(
            post("/data_attributes", json={"name": "The One Ring", "model": "contact", "data_type": "integer"}), 400
        ),
        Exchange(
            post("/data_attributes", json={"name": "!nv@l!d n@me", "model": "company", "data_type": "string"}), 400
        ),
        Exchange(
            post("/data_attributes", json={"name": "x", "model": "company", "data_type": "mithril"}),
            400,
            False,
            "data_type is outside the enum",
        ),
    ]


@scenario("GET", "/tags")
def _list_tags(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    s.post("/tags", json={"name": "vip"})
    return [Exchange(s.get("/tags"), 200), Exchange(s.get("/tags", headers=NO_TOKEN), 401, False, "no token")]


@scenario("POST", "/tags")
def _create_tag(s: SandboxSession, _: SandboxServer) -> list[Exchange]:
    contact = new_user(s)
    company = new_company(s)
    defect = REQUEST_SPEC_DEFECTS[0]
    return [
        Exchange(s.post("/tags", json={"name": "vip", "companies": [{"id": company["id"]}]}), 200, False, defect),
        Exchange(s.post("/tags", json={"name": "vip", "companies": [{"company_id": "acme"}]}), 200, False, defect),
        Exchange(s.post("/tags", json={"name": "vip", "companies": [{"id": MISSING}]}), 404, False, defect),
        Exchange(s.post("/tags", json={"name": "vip"}), 200),
        Exchange(s.post("/tags", json={"name": "VIP"}), 200),
        Exchange(s.post("/tags", json={"name": "vip", "users": [{"id": contact["id"]}]}), 200, False, defect),
        Exchange(s.post("/tags", json={"name": "vip", "users": [{"id": MISSING}]}), 404, False, defect),
        Exchange(s.post("/tags", json={"test": "invalid"}), 400, False, "the body lacks the required name"),
    ]


# ---------------------------------------------------------------- tests


def check(spec: OpenAPI, exchanges: list[Exchange]) -> list[str]:
    """Validate every exchange; returns the outcomes ("documented" / "undocumented")."""
    outcomes = []
    for exchange in exchanges:
        response = exchange.response
        request = response.request
        label = f"{request.method} {request.path_url} -> {response.status_code} {response.text[:300]}"
        assert response.status_code == exchange.status, label
        outcomes.append(validate_exchange(spec, response, check_request=exchange.request_valid))
    return outcomes


def test_every_sandbox_route_has_a_scenario() -> None:
    assert set(SCENARIOS) == {(route.method, route.template) for route in ROUTES}


def test_every_sandbox_route_is_an_operation_of_the_pinned_description(openapi_spec: OpenAPI) -> None:
    paths = openapi_spec.spec / "paths"
    missing = [
        f"{route.method} {route.template}"
        for route in ROUTES
        if route.template not in paths or route.method.lower() not in (paths / route.template)
    ]
    assert missing == []


@pytest.mark.parametrize("route", sorted(SCENARIOS), ids=lambda key: f"{key[0]} {key[1]}")
def test_route_answers_validate_against_the_description(
    route: tuple[str, str], sandbox: SandboxServer, sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    exchanges = SCENARIOS[route](sandbox_session, sandbox)

    check(openapi_spec, exchanges)

    statuses = {e.status for e in exchanges}
    assert any(s < 300 for s in statuses), "a scenario must cover a success"
    assert any(s >= 400 for s in statuses), "a scenario must cover an error"


def test_duplicate_user_409_is_the_documented_exception(sandbox_session: SandboxSession, openapi_spec: OpenAPI) -> None:
    created = sandbox_session.post("/contacts", json={"email": "ann@example.com"})
    duplicate = sandbox_session.post("/contacts", json={"email": "ann@example.com"})

    assert validate_exchange(openapi_spec, created) == "documented"
    assert validate_exchange(openapi_spec, duplicate) == "undocumented"
    assert 409 in UNDOCUMENTED_STATUSES[("POST", "/contacts")]


def test_cross_cutting_errors_use_the_error_schema(
    sandbox: SandboxServer, sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    for status in (500, 502, 503, 504):
        sandbox.add_fault(status=status, path="/tags")
    exchanges = [Exchange(sandbox_session.get("/tags"), status) for status in (500, 502, 503, 504)]
    exchanges.append(Exchange(sandbox_session.get("/tags", headers={"Accept": "text/html"}), 406))
    exchanges.append(
        Exchange(sandbox_session.post("/tags", data=b"name=x", headers={"Content-Type": "text/plain"}), 415, False)
    )
    sandbox.configure(rate_limit_per_window=1)
    exchanges += [Exchange(sandbox_session.get("/me"), 200), Exchange(sandbox_session.get("/tags"), 429)]
    if exchanges[-2].response.status_code != 200:  # a 10 s window boundary fell between the two calls
        exchanges[-2:] = [Exchange(sandbox_session.get("/me"), 200), Exchange(sandbox_session.get("/tags"), 429)]

    assert set(check(openapi_spec, exchanges)) == {"documented", "undocumented"}
    assert {e.status for e in exchanges} - {200} <= ANY_OPERATION_STATUSES


# ---------------------------------------------------------------- the validator itself can fail


def forged(template: requests.Response, status: int, body: object) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers["Content-Type"] = "application/json"
    response.request = template.request
    response.url = template.url
    return response


def test_validator_rejects_a_contact_that_breaks_the_schema(
    sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    real = sandbox_session.post("/contacts", json={"email": "ann@example.com"})
    broken = forged(real, 200, {**real.json(), "email": None})

    with pytest.raises(InvalidData):
        validate_exchange(openapi_spec, broken)


def test_validator_rejects_an_unlisted_undocumented_status(
    sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    real = sandbox_session.get("/tags")
    teapot = forged(real, 418, {"type": "error.list", "errors": [{"code": "teapot"}]})

    with pytest.raises(ResponseNotFound):
        validate_exchange(openapi_spec, teapot)


def test_validator_rejects_an_undocumented_status_without_the_envelope(
    sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    real = sandbox_session.post("/contacts", json={"email": "ann@example.com"})
    bare = forged(real, 409, {"message": "A contact matching those details already exists with id=abc"})

    with pytest.raises(Exception, match="errors"):
        validate_exchange(openapi_spec, bare)


def test_typed_company_custom_attributes_are_a_known_defect_of_the_description(
    sandbox_session: SandboxSession, openapi_spec: OpenAPI
) -> None:
    attribute(sandbox_session, "seats", "company", "integer")
    response = sandbox_session.post("/companies", json={"company_id": "acme", "custom_attributes": {"seats": 5}})

    assert response.status_code == 200
    assert response.json()["custom_attributes"] == {"seats": 5}  # typed, as Intercom returns it
    with pytest.raises(InvalidData):
        validate_exchange(openapi_spec, response, check_request=False)
