"""The error file knows its import, whatever it is called (issue #15, the first item).

A first-time user downloaded the error file the obvious way (it saves as ``errors.csv``), fixed it and uploaded it
again under that name: it was imported as a new file with the stack's defaults, and the columns the original
mapping ignored or renamed became new custom attributes in Intercom (which can archive a data attribute, never
delete it). The error file's last column now names its import (``import job-<id>``): a fixed copy uploaded under
any name is read with that import's settings, mapping and tags; one that names no import this stack knows is
refused with the fix.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from pipeline_helpers import DEFAULT_STACK, cli_json, counts, default_stack_fixtures, run_cli

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()

MAPPING = {
    "columns": {
        "Customer Number": "external_id",
        "Row ID": {"ignore": True},
        "Plan Tier": "plan",
        "Internal Notes": {"ignore": True},
    }
}
BODY = (
    "Row ID,email,Customer Number,Plan Tier,Internal Notes\n"
    "1,ok@example.com,c-1,gold,keep out\n"
    "2,bad@,c-2,silver,keep out\n"
    "3,also-bad@,c-3,bronze,keep out\n"
)


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)


def custom_attributes(sandbox: Any) -> set[str]:
    return {a["name"] for a in sandbox.state()["data_attributes"] if a.get("custom")}


def first_import(pipeline: Any, name: str) -> dict[str, Any]:
    pipeline.upload(f"incoming/{name}.csv.json", json.dumps({"tags": ["spring"], "mapping": MAPPING}))
    job = pipeline.wait_done(pipeline.upload(f"incoming/{name}.csv", BODY, **{"invalid-rows": "skip_rows"}))
    assert counts(job)["invalid"] == 2 and counts(job)["created"] == 1
    return job


@pytest.mark.parametrize("name", ["errors.csv", "fixed rows (1).csv", "partner-dump-2026-12-07.csv"])
def test_an_error_file_downloaded_fixed_and_uploaded_under_any_name_keeps_its_imports_settings(
    pipeline, sandbox, stack_file, tmp_path, name
):
    job = first_import(pipeline, f"f-round-{len(name)}")
    attributes = custom_attributes(sandbox)
    downloaded = cli_json(stack_file, "errors", job["job_id"], "-o", str(tmp_path / "errors.csv"))
    assert downloaded["rows"] == 2
    fixed = Path(downloaded["path"]).read_text(encoding="utf-8-sig").replace(",bad@,", ",bad@example.com,")

    again = pipeline.wait_done(pipeline.upload(f"incoming/{name}", fixed))

    assert again["fixes_job"] == job["job_id"] and again["options"]["tags"] == ["spring"]
    assert counts(again) == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    assert custom_attributes(sandbox) == attributes  # no column became a new custom attribute
    contacts = {c["email"]: c for c in sandbox.state()["contacts"]}
    assert contacts["bad@example.com"]["external_id"] == "c-2"  # the original mapping: Customer Number
    assert "Row ID" not in contacts["bad@example.com"]["custom_attributes"]
    # the rows still wrong come back in an error file naming the new import, read the same way again
    header = next(
        csv.reader(
            io.StringIO(
                pipeline.s3.get_object(Bucket=pipeline.bucket, Key=again["error_file_key"])["Body"]
                .read()
                .decode("utf-8-sig")
            )
        )
    )
    assert header[-1] == f"import {again['job_id']}"


def test_status_shows_the_error_files_link_and_the_command_that_downloads_it(pipeline, stack_file):
    job = first_import(pipeline, "f-round-status")
    code, out, _ = run_cli("status", job["job_id"], "--outputs", str(stack_file), "--json")
    shown = json.loads(out)

    assert code == 1  # completed with errors
    assert shown["error_file_command"] == f"intercom-import errors {job['job_id']}"
    stored = pipeline.s3.get_object(Bucket=pipeline.bucket, Key=job["error_file_key"])["Body"].read()
    assert requests.get(shown["error_file_link"], timeout=10).content == stored
    _, text, _ = run_cli("status", job["job_id"], "--outputs", str(stack_file))
    assert f"download: intercom-import errors {job['job_id']}" in text


def test_an_error_file_of_an_import_this_stack_does_not_know_is_refused_with_the_fix(pipeline, sandbox):
    unknown = "job-0123456789abcdef0123"
    body = (
        f"Row ID,email,Customer Number,error_line,error_column,error,import {unknown}\n"
        "2,fixed@example.com,c-2,3,email,not an email,\n"
    )

    job = pipeline.wait_done(pipeline.upload("incoming/errors.csv", body))

    assert job["status"] == "rejected"
    assert f"it is of import {unknown}, which this stack does not know" in job["rejection"]
    assert "intercom-import errors JOB" in job["rejection"] and "delete the error columns" in job["rejection"]
    assert sandbox.state()["contacts"] == [] and custom_attributes(sandbox) == set()


def test_a_file_ending_in_error_columns_that_names_no_import_is_refused(pipeline, sandbox):
    body = "email,Plan Tier,error_line,error_column,error\nfixed@example.com,gold,3,email,not an email\n"

    job = pipeline.wait_done(pipeline.upload("incoming/my-errors.csv", body))

    assert job["status"] == "rejected" and "does not say which import it is of" in job["rejection"]
    assert sandbox.state()["contacts"] == [] and custom_attributes(sandbox) == set()
