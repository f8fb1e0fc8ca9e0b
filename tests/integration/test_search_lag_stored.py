"""What the doctor measured goes where the workers read it: ``store_measurements`` writes the search lag of the app's
workspace into the stack's jobs table (the largest kept), and ``intercom-import search-lag`` shows, sets and forgets
it; on a jobs table of its own on moto server (the shared stack's workers must keep their own lag)."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer_cli import targets
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, Report
from importer_cli.doctor.stored import STORED, store_measurements
from intercom_importer.measured import MeasuredLags
from moto_server import REGION, create_jobs_table, moto_server_fixture, session
from pipeline_helpers import run_cli

pytestmark = pytest.mark.integration

moto_url = moto_server_fixture()


@pytest.fixture
def stack(moto_url: str, tmp_path: Path) -> dict[str, Any]:
    """A stack of one jobs table: its stack.json (for --outputs) and its target."""
    table = create_jobs_table(session().resource("dynamodb", endpoint_url=moto_url), f"jobs-{uuid.uuid4().hex[:8]}")
    info = {
        "endpoint_url": moto_url,
        "region": REGION,
        "aws_env": {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"},
        "outputs": {"JobsTableName": table.name},
    }
    path = tmp_path / "stack.json"
    path.write_text(json.dumps(info))
    return {"file": str(path), "target": targets.from_outputs_file(str(path)), "table": table}


def measured(seconds: float | None, workspace: str = "ws-acme") -> Report:
    return Report(app={"id_code": workspace, "name": "Acme", "region": "us"}, search_lag_seconds=seconds)


cli = run_cli


def test_the_measured_lag_is_stored_for_the_workspace_with_the_delay_the_workers_use(stack):
    report = measured(12.4)

    store_measurements(stack["target"], report)

    assert report.stored == {
        "table": stack["table"].name,
        "key": {"pk": "SETTINGS#intercom", "sk": "ws-acme"},
        "search_lag_seconds": 12.4,
        "search_lag_max_seconds": 12.4,
        "effective_search_lag_seconds": 43.0,
    }
    (check,) = report.checks
    assert (check.name, check.status) == (STORED, OK)
    assert "the workers wait 43 s" in check.detail
    lag = MeasuredLags(stack["table"]).get("ws-acme")
    assert lag is not None and (lag.seconds, lag.max_seconds, lag.app_name) == (12.4, 12.4, "Acme")


def test_a_later_smaller_measurement_keeps_the_largest_for_the_workers(stack):
    store_measurements(stack["target"], measured(200))
    report = measured(20)

    store_measurements(stack["target"], report)

    assert report.stored["search_lag_seconds"] == 20
    assert report.stored["search_lag_max_seconds"] == 200
    assert report.stored["effective_search_lag_seconds"] == 400
    assert "the largest measured 200 s" in report.checks[0].detail


def test_nothing_is_stored_when_nothing_was_measured(stack):
    report = measured(None)

    store_measurements(stack["target"], report)

    assert report.stored == {} and report.checks[0].status == NOT_CHECKED
    assert MeasuredLags(stack["table"]).all() == []


def test_a_jobs_table_that_cannot_be_written_fails_the_check(stack, moto_url, tmp_path):
    info = json.loads(Path(stack["file"]).read_text())
    info["outputs"]["JobsTableName"] = "no-such-table"
    path = tmp_path / "gone.json"
    path.write_text(json.dumps(info))
    report = measured(10)

    store_measurements(targets.from_outputs_file(str(path)), report)

    assert report.checks[0].status == FAILED and "no-such-table" in report.checks[0].detail


def test_search_lag_shows_sets_and_forgets_the_stored_lag(stack):
    store_measurements(stack["target"], measured(15))

    code, out, _ = cli("search-lag", "--outputs", stack["file"])
    assert code == 0 and "search lag 15 s stored for workspace ws-acme" in out and "wait 45 s" in out

    code, out, _ = cli("search-lag", "--set", "100", "--workspace", "ws-acme", "--outputs", stack["file"], "--json")
    assert code == 0
    (shown,) = json.loads(out)["workspaces"]
    assert (shown["search_lag_max_seconds"], shown["effective_search_lag_seconds"]) == (100, 200)

    code, out, _ = cli("search-lag", "--forget", "--outputs", stack["file"])
    assert code == 0 and "forgotten: ws-acme" in out and "the workers wait IntercomSearchLagSeconds" in out
    assert MeasuredLags(stack["table"]).all() == []


def test_search_lag_refuses_a_lag_sqs_cannot_wait(stack):
    code, _, err = cli("search-lag", "--set", "1000", "--workspace", "ws", "--outputs", stack["file"])

    assert code == 2 and "0 to 900" in err
