"""Creating the file's new custom data attributes before any row is written (``validate.prepare.create_attributes``),
with the real ``IntercomClient`` against the Intercom sandbox over HTTP: an attribute someone else created
meanwhile is fine, an attribute Intercom really refuses rejects the file with Intercom's reason."""

from __future__ import annotations

import re

import pytest

from intercom_importer.errors import FileRejectedError
from intercom_importer.intercom import IntercomClient
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.validate.prepare import create_attributes
from intercom_sandbox import SandboxServer
from sandbox_fixtures import SandboxSession

pytestmark = pytest.mark.integration

CREATE = "POST /data_attributes"
LIST = "GET /data_attributes"


def client_for(sandbox: SandboxServer) -> IntercomClient:
    return IntercomClient("attributes-test-token", sandbox.url, limiter=NullRateLimiter(), sleep=lambda _s: None)


def created_meanwhile(session: SandboxSession, sandbox: SandboxServer, name: str, model: str) -> None:
    """Someone else creates the attribute after the validator listed the workspace's attributes."""
    response = session.post("/data_attributes", json={"name": name, "model": model, "data_type": "string"})
    assert response.status_code == 200, response.text
    sandbox.reset_stats()


def without_request_id(text: str) -> str:
    return re.sub(r"request_id [0-9a-f-]{36}", "request_id <id>", text)


def test_planned_attributes_are_created_with_their_types(sandbox: SandboxServer):
    create_attributes(
        client_for(sandbox),
        "contact",
        [
            {"name": "seats", "data_type": "integer"},
            {"name": "tier", "data_type": "string", "options": ["gold", "silver"]},
        ],
    )

    assert [
        (a["name"], a["model"], a["created_data_type"], a.get("options", []), a["description"])
        for a in sandbox.state()["data_attributes"]
    ] == [
        ("seats", "contact", "integer", [], "Created by the CSV importer"),
        ("tier", "contact", "options", ["gold", "silver"], "Created by the CSV importer"),
    ]
    assert sandbox.stats()["by_route"] == {CREATE: {"200": 2}}


def test_attribute_created_meanwhile_by_someone_else_is_accepted(
    sandbox: SandboxServer, sandbox_session: SandboxSession
):
    created_meanwhile(sandbox_session, sandbox, "seats", "contact")

    create_attributes(client_for(sandbox), "contact", [{"name": "seats", "data_type": "string"}])

    assert [a["name"] for a in sandbox.state()["data_attributes"]] == ["seats"]
    assert sandbox.stats()["by_route"] == {CREATE: {"400": 1}, LIST: {"200": 1}}


def test_attribute_of_the_other_model_created_meanwhile_rejects_the_file_with_intercoms_reason(
    sandbox: SandboxServer, sandbox_session: SandboxSession
):
    created_meanwhile(sandbox_session, sandbox, "tier", "company")

    with pytest.raises(FileRejectedError) as rejected:
        create_attributes(client_for(sandbox), "contact", [{"name": "tier", "data_type": "string"}])

    assert without_request_id(rejected.value.message) == (
        "Intercom refused to create the custom attribute 'tier': Intercom refused the data: You already have "
        "'tier' in your company data. To save this as new people data, use a different name. [HTTP 400, code "
        "parameter_invalid, request_id <id>, POST /data_attributes]"
    )
    assert sandbox.stats()["by_route"] == {CREATE: {"400": 1}, LIST: {"200": 1}}


def test_attribute_refused_for_the_workspaces_limit_rejects_the_file_and_creates_no_further_one(
    sandbox: SandboxServer,
):
    sandbox.configure(attribute_cap=1)

    with pytest.raises(FileRejectedError) as rejected:
        create_attributes(
            client_for(sandbox),
            "contact",
            [
                {"name": "seats", "data_type": "integer"},
                {"name": "plan", "data_type": "string"},
                {"name": "x", "data_type": "string"},
            ],
        )

    assert without_request_id(rejected.value.message) == (
        "Intercom refused to create the custom attribute 'plan': Intercom refused the data: You have reached the "
        "limit of 1 custom data attributes. Archive unused attributes to free up space. [HTTP 400, code "
        "parameter_invalid, request_id <id>, POST /data_attributes]"
    )
    assert [a["name"] for a in sandbox.state()["data_attributes"]] == ["seats"]
    assert sandbox.stats()["by_route"] == {CREATE: {"200": 1, "400": 1}, LIST: {"200": 1}}
