"""``create_attributes: explicit`` (issue #15): Intercom can archive a data attribute but never delete it, so an
import can be told to create only the custom attributes its mapping names. A file with any other new column is
refused before anything is written, with the columns and the fix; the same file with the column named in the mapping
creates it. Set per upload (metadata ``create-attributes``, the manifest), per partner, or for the stack
(``DefaultCreateAttributes``)."""

from __future__ import annotations

import json

import pytest

from pipeline_helpers import DEFAULT_STACK, counts, default_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()

BODY = "email,Plan Tier,Internal Notes\nada@example.com,gold,keep out\n"


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)


def custom_attributes(sandbox) -> set[str]:
    return {a["name"] for a in sandbox.state()["data_attributes"] if a.get("custom")}


def test_explicit_refuses_a_file_whose_unnamed_columns_would_create_attributes(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/ca-refused.csv", BODY, **{"create-attributes": "explicit"}))

    # once in CI this import completed: what it read and what the sandbox held, to tell which of the two it was
    seen = {k: job.get(k) for k in ("status", "options", "columns", "new_attributes", "rejection", "created")}
    assert job["status"] == "rejected", (seen, custom_attributes(sandbox), sandbox.stats())
    assert "'Plan Tier', 'Internal Notes' would create new custom attributes" in job["rejection"]
    assert "name each column in the mapping" in job["rejection"]
    assert custom_attributes(sandbox) == set() and sandbox.state()["contacts"] == []
    [email] = pipeline.emails_for(job["job_id"])
    assert "Plan Tier" in email["text"]


def test_explicit_creates_the_attributes_the_mapping_names_and_nothing_else(pipeline, sandbox):
    manifest = {
        "create_attributes": "explicit",
        "mapping": {"columns": {"Plan Tier": {"type": "string"}, "Internal Notes": {"ignore": True}}},
    }
    pipeline.upload("incoming/ca-named.csv.json", json.dumps(manifest))

    job = pipeline.wait_done(pipeline.upload("incoming/ca-named.csv", BODY))

    assert counts(job)["created"] == 1
    assert custom_attributes(sandbox) == {"Plan Tier"}


def test_auto_is_the_default_and_creates_an_attribute_per_new_column(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/ca-auto.csv", BODY))

    assert counts(job)["created"] == 1 and job["options"]["create_attributes"] == "auto"
    assert custom_attributes(sandbox) == {"Plan Tier", "Internal Notes"}
