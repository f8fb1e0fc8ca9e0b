"""`intercom-import validate FILE`: the validator's own code on a local file, nothing imported.

The same check through the deployed path (an upload) is compared in tests/e2e/test_partner_pipeline.py.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from intercom_sandbox import SandboxConfig, SandboxServer
from pipeline_helpers import run_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus"
TOKEN = "validate-token"


cli = run_cli


def cli_json(*argv: str) -> tuple[int, dict[str, Any]]:
    code, out, _ = cli(*argv, "--json")
    return code, json.loads(out)  # stdout is one JSON document, whatever the validator logged


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.csv"
    path.write_text(
        "email,name,plan_tier,Seats\nok@example.com,A,pro,3\nbad@,B,free,4\nok@example.com,C,pro,5\n",
        encoding="utf-8",
    )
    return path


def test_a_valid_file_exits_0_with_its_columns_and_chunks():
    code, report = cli_json("validate", str(ROOT / "events" / "people.csv"))

    assert code == 0
    assert report["valid"] is True and report["outcome"] == "accepted"
    assert (report["rows"], report["valid_rows"], report["chunks"]) == (6, 6, 1)  # events/people.csv: 6 valid rows
    assert {"column": "email", "attribute": "email", "type": "email", "custom": False} in report["columns"]


def test_the_scratch_aws_leaves_nothing_that_a_moto_server_in_the_process_would_fail_on():
    """validate runs the validator on an in-process moto it may not reset (a moto server may run beside it): its
    bucket and table are removed, and moto's record of the bucket's objects with them, or ``/moto-api/data.json``
    of that server answers 500 on objects whose bucket is gone."""
    from moto.core.model_instances import model_data
    from moto.server import ThreadedMotoServer

    from importer_cli.validate_command import BUCKET

    assert cli_json("validate", str(ROOT / "events" / "people.csv"))[0] == 0

    left = [m for model in model_data["s3"].values() for m in model.instances_tracked]
    assert not [m for m in left if str(getattr(m, "bucket_name", "")).startswith(BUCKET)]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        assert requests.get(f"http://{host}:{port}/moto-api/data.json", timeout=10).status_code == 200
    finally:
        server.stop()


def test_invalid_rows_are_listed_with_line_column_and_fix_and_written_to_the_error_file(mixed, tmp_path):
    errors = tmp_path / "errors.csv"

    code, out, _ = cli("validate", str(mixed), "--invalid-rows", "skip_rows", "--errors", str(errors))

    assert code == 1
    assert "1 valid, 2 invalid" in out
    assert "line 3, column email: 'bad@' is not a valid email address" in out
    assert "line 4, column email: 'ok@example.com' duplicates an earlier row's email: the same email as line 2" in out
    assert "New custom attribute: Seats (integer)" in out
    rows = list(csv.DictReader(errors.read_text(encoding="utf-8-sig").splitlines()))
    assert [(r["error_line"], r["error_column"]) for r in rows] == [("3", "email"), ("4", "email")]


def test_a_lead_known_only_by_phone_and_name_may_appear_once_per_file(tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text(
        "email,name,phone\n"
        ",Ann Lee,+44 20 7946 0001\n"
        ",ann  lee,0044 20 7946 0001\n"  # the same phone and name, written differently
        ",Ann Lee,+44 20 7946 0002\n"  # another phone: another lead
        "ann@example.com,Ann Lee,+44 20 7946 0001\n"  # an email identifies this one
        ",Bo,\n,Bo,\n",  # a name alone identifies nothing: not a duplicate
        encoding="utf-8",
    )

    code, out, _ = cli("validate", str(path), "--invalid-rows", "skip_rows")

    assert code == 1 and "5 valid, 1 invalid" in out
    assert (
        "line 3, column phone and name: '+442079460001|ann lee' duplicates an earlier row's phone and name: the same "
        "phone and name as line 2" in out
    )


def test_the_default_policy_rejects_the_whole_file_and_says_how_to_import_the_valid_rows(mixed):
    code, report = cli_json("validate", str(mixed))

    assert code == 1
    assert report["outcome"] == "rejected" and report["chunks"] == 0
    assert "invalid_rows=skip_rows" in report["rejection"]


def test_a_workbook_renamed_csv_is_rejected_with_what_it_is():
    code, report = cli_json("validate", str(CORPUS / "excel_workbook.csv"))

    assert code == 1 and report["outcome"] == "rejected"
    assert "Excel" in report["rejection"]


def test_blank_lines_are_counted_apart_from_the_rows_and_accepted_under_reject_file():
    code, report = cli_json("validate", str(CORPUS / "blank_lines.csv"), "--invalid-rows", "reject_file")

    assert code == 0 and report["outcome"] == "accepted"
    assert (report["rows"], report["valid_rows"], report["invalid_rows"], report["blank_lines"]) == (3, 3, 0, 6)


def test_blank_lines_are_one_line_of_the_text_report():
    code, out, _ = cli("validate", str(CORPUS / "blank_lines.csv"))

    assert code == 0
    assert "3 rows, 3 valid, 0 invalid" in out
    assert out.count("6 blank lines ignored (not rows)") == 1


@pytest.fixture
def identities(tmp_path: Path) -> Path:
    """People identified by email, external_id, id, phone with name; three valid rows nothing identifies (only a
    name, a name twice over, a phone without a name) and an invalid one (a user without email or external_id)."""
    path = tmp_path / "identities.csv"
    rows = [
        "email,external_id,id,name,phone,role",
        "a@example.com,,,A,,",
        ",ext-1,,B,,",
        ",,6650aa0c1f2e3d4c5b6a7980,C,,",
        ",,,D,+44 20 7946 0001,",
        ",,,E,,",
        ",,,,+44 20 7946 0002,",
        ",,,F,,lead",
        ",,,G,,user",
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def test_valid_people_rows_nothing_can_recognise_are_counted(identities):
    code, report = cli_json("validate", str(identities), "--invalid-rows", "skip_rows")

    assert code == 1 and report["outcome"] == "accepted"
    assert (report["rows"], report["valid_rows"], report["invalid_rows"], report["unrecognisable_rows"]) == (8, 7, 1, 3)


def test_rows_nothing_can_recognise_are_one_line_of_the_text_report(identities):
    code, out, _ = cli("validate", str(identities), "--invalid-rows", "skip_rows")

    assert code == 1
    assert out.count("3 rows have no email, external_id, id or phone with a name: importing the file again") == 1


def test_partner_settings_from_a_file_apply_and_lock_their_fields(tmp_path):
    settings = tmp_path / "acme.json"
    settings.write_text(json.dumps({"mapping": {"columns": {"Customer No": "external_id"}}, "existing": "skip"}))
    csv_file = tmp_path / "acme.csv"
    csv_file.write_text("Customer No,email\nc-1,a@example.com\n")

    code, report = cli_json("validate", str(csv_file), "--partner", "acme", "--partner-config", str(settings))
    assert code == 0 and report["partner"] == "acme"
    assert {"column": "Customer No", "attribute": "external_id", "type": "string", "custom": False} in report["columns"]
    assert report["settings"]["existing"] == "skip"

    code, report = cli_json(
        "validate", str(csv_file), "--partner", "acme", "--partner-config", str(settings), "--existing", "update"
    )
    assert code == 1 and "sets existing" in report["rejection"]


def test_partner_config_without_a_partner_name_is_a_usage_error(mixed, tmp_path):
    code, _, err = cli("validate", str(mixed), "--partner-config", str(tmp_path / "x.json"))

    assert code == 2 and "--partner-config needs --partner NAME" in err


def test_with_a_workspace_its_attributes_are_read_and_nothing_is_written(mixed):
    headers = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", "Intercom-Version": "2.14"}
    with SandboxServer(port=0, config=SandboxConfig(token=TOKEN)) as sandbox:
        created = requests.post(
            f"{sandbox.url}/data_attributes",
            json={"name": "Seats", "model": "contact", "data_type": "string"},
            headers=headers,
            timeout=10,
        )
        assert created.status_code == 200, created.text
        sandbox.reset_stats()
        code, report = cli_json(
            "validate",
            str(mixed),
            "--invalid-rows",
            "skip_rows",
            "--intercom-url",
            sandbox.url,
            "--intercom-token",
            TOKEN,
        )
        routes = set(sandbox.stats()["by_route"])
        contacts = sandbox.state()["contacts"]

    assert code == 1 and report["workspace_checked"] is True
    assert routes == {"GET /data_attributes"}  # read only: no attribute created, no company, no contact
    assert contacts == []
    assert [a["name"] for a in report["new_attributes"]] == ["plan_tier"]  # Seats exists in the workspace
    assert {"column": "Seats", "attribute": "Seats", "type": "string", "custom": True} in report["columns"]


def test_the_stack_default_create_attributes_of_the_config_applies(mixed, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"parameters": {"DefaultCreateAttributes": "explicit"}}), encoding="utf-8")

    code, report = cli_json("validate", str(mixed), "--config", str(config))

    assert code == 1 and report["outcome"] == "rejected"
    assert "'plan_tier', 'Seats' would create new custom attributes" in report["rejection"]
