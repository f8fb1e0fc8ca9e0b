"""`intercom-import doctor --outputs stack.json` on the real stack (template.yaml on moto, the Intercom sandbox): the
token read from the stack's secret, the stack's API root, the calls paced by the governor on its jobs table; the
Intercom checks, then the stack's (``doctor/stack_checks.py``) and the measured lag stored for the workers
(``doctor/stored.py``), in one report. The stored lag is forgotten afterwards: the shared stack's workers go on
with the template's default."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, Pipeline, default_stack_fixtures, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()


cli = run_cli


@pytest.fixture
def stack_file(pipeline: Pipeline, tmp_path: Path) -> Iterator[str]:
    path = str(pipeline.stack_file(tmp_path))
    yield path
    assert cli("search-lag", "--forget", "--outputs", path)[0] == 0


def test_doctor_on_a_stack_checks_its_intercom_and_the_stack_in_one_report(sandbox: Any, stack_file: str):
    sandbox.configure(search_lag_seconds=1)

    code, out, err = cli("doctor", "--outputs", stack_file, "--json", "--max-wait", "20")

    report = json.loads(out)
    checks = {c["name"]: c for c in report["checks"]}
    assert "Traceback" not in err and DEFAULT_STACK_TOKEN not in out + err
    assert checks["token and workspace"]["status"] == "ok"  # the token came from the stack's secret
    assert checks["region"]["status"] == "ok"  # the stack's IntercomBaseUrl (the sandbox) wins over its region
    assert checks["search lag"]["status"] == "ok" and 1.0 <= report["search_lag_seconds"] <= 4.0
    assert checks["probe cleanup"]["status"] == "ok" and report["probes_left"] == []
    assert sandbox.state()["contacts"] == []
    assert {"Intercom token secret", "upload notification"} <= set(checks)  # the stack's side ran
    assert report["stored"]["search_lag_seconds"] == report["search_lag_seconds"]  # and the lag was stored
    assert code == (1 if any(c["status"] == "failed" for c in report["checks"]) else 0)


def test_doctor_on_a_stack_whose_token_intercom_refuses_says_where_to_store_one(sandbox: Any, stack_file: str):
    sandbox.configure(token="another-token")  # the stack's secret no longer holds the workspace's token
    try:
        code, out, _ = cli("doctor", "--outputs", stack_file, "--json", "--max-wait", "5")
    finally:
        sandbox.configure(token=DEFAULT_STACK_TOKEN)

    checks = {c["name"]: c for c in json.loads(out)["checks"]}
    assert code == 1
    assert checks["token and workspace"]["status"] == "failed"
    assert "aws secretsmanager put-secret-value --secret-id" in checks["token and workspace"]["fix"]
    assert checks["search lag"]["status"] == "not checked"
