"""Partners end to end: added with the CLI, a file dropped into the partner's prefix is imported with
the partner's settings and its email goes to the partner's recipients; locked settings, presigned
uploads and the schedule check, all through the local pipeline and the Intercom sandbox."""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from importer_cli.main import main
from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, counts, default_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(DEFAULT_STACK)]

TOKEN = DEFAULT_STACK_TOKEN
STACK_RECIPIENT = "ops@example.com"  # the template's default NotificationRecipients
ACME = {
    "description": "Acme's nightly CRM export",
    "import_type": "people",
    "existing": "skip",
    "invalid_rows": "skip_rows",
    "tags": ["partner-acme"],
    "mapping": {"columns": {"Customer No": "external_id", "E-mail": "email"}},
    "overridable": ["tags", "dry_run"],
    "recipients": {"partner": ["data@acme.example"], "team": ["imports@example.com"]},
    "expect": {"every_hours": 24, "grace_hours": 2},
}


sandbox, pipeline = default_stack_fixtures()  # one stack for the modules with the template's defaults


def cli(stack_file: Path, *argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main([*argv, "--outputs", str(stack_file)])
        except SystemExit as exc:
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def cli_json(stack_file: Path, *argv: str) -> Any:
    code, out, err = cli(stack_file, *argv, "--json")
    assert code == 0, err
    return json.loads(out)


def _values(value: Any) -> list[float]:
    """An EMF metric value: a number, or a list of numbers."""
    if value is None:
        return []
    return [float(v) for v in (value if isinstance(value, list) else [value])]


def emails_for(pipeline, job_id: str) -> list[dict[str, Any]]:
    return [e for e in pipeline.runtime.sent_emails() if job_id in (e.get("text") or "")]


@pytest.fixture(scope="module")
def acme(stack_file, tmp_path_factory) -> dict[str, Any]:
    config = tmp_path_factory.mktemp("acme") / "acme.json"
    config.write_text(json.dumps(ACME))
    return cli_json(stack_file, "partner", "add", "acme", "--config", str(config))


def test_partner_file_is_imported_with_its_settings_and_mailed_to_its_recipients(pipeline, sandbox, acme):
    seeded = pipeline.wait_done(pipeline.upload("incoming/seed.csv", "email,name\nold@example.com,Before\n"))
    assert counts(seeded)["created"] == 1
    body = "Customer No,E-mail,name\nc-1,old@example.com,After\nc-2,new@example.com,New\n,not-an-email,Bad\n"

    job = pipeline.wait_done(pipeline.upload("incoming/acme/2026-11-28.csv", body))

    assert job["partner"] == "acme"
    assert counts(job) == {"rows": 3, "created": 1, "updated": 0, "skipped": 1, "failed": 0, "invalid": 1}  # skip
    contacts = {c["email"]: c for c in sandbox.state()["contacts"]}
    assert contacts["old@example.com"]["name"] == "Before"  # skipped, not updated
    assert contacts["new@example.com"]["external_id"] == "c-2"  # the partner's mapping
    tag_names = {t["name"] for t in sandbox.state()["tags"]}
    assert "partner-acme" in tag_names
    emails = emails_for(pipeline, job["job_id"])
    assert len(emails) == 1
    assert sorted(emails[0]["to"]) == ["data@acme.example", "imports@example.com"]
    assert STACK_RECIPIENT not in emails[0]["to"]
    text = emails[0]["text"]  # the settings the partner's file was imported with
    assert re.search(r"Partner:\s+acme\n", text)
    assert re.search(r"Existing records:\s+skip\n", text)
    assert "(partner acme's settings)" in text  # where the column mapping came from


def test_upload_changing_a_locked_setting_is_rejected_and_the_partner_is_told(pipeline, sandbox, acme):
    key = "incoming/acme/locked.csv"
    pipeline.s3.put_object(Bucket=pipeline.bucket, Key=key + ".json", Body=json.dumps({"existing": "update"}))
    before = len(sandbox.state()["contacts"])

    job = pipeline.wait_done(pipeline.upload(key, "Customer No,E-mail\nl-1,locked@example.com\n"))

    assert job["status"] == "rejected"
    assert "sets existing" in job["rejection"] and "overridable: tags, dry_run" in job["rejection"]
    assert len(sandbox.state()["contacts"]) == before
    emails = emails_for(pipeline, job["job_id"])
    assert len(emails) == 1 and "data@acme.example" in emails[0]["to"]


def test_upload_may_change_an_overridable_setting(pipeline, sandbox, acme):
    job = pipeline.wait_done(
        pipeline.upload("incoming/acme/dry.csv", "Customer No,E-mail\nd-1,dry@example.com\n", **{"dry-run": "yes"})
    )

    assert job["status"] == "completed", job.get("rejection")
    assert job["dry_run"] is True
    assert "dry@example.com" not in {c["email"] for c in sandbox.state()["contacts"]}


def test_partner_uploads_through_a_presigned_url_without_aws_credentials(pipeline, stack_file, acme, sandbox):
    presigned = cli_json(stack_file, "presign", "acme", "people.csv", "--expires", "600", "--tag", "vip")
    assert presigned["key"] == "incoming/acme/people.csv"

    response = requests.put(
        presigned["url"],
        data=b"Customer No,E-mail,name\np-1,presigned@example.com,Presigned\n",
        headers=presigned["headers"],
        timeout=10,
    )

    assert response.status_code == 200, response.text
    head = pipeline.s3.head_object(Bucket=pipeline.bucket, Key=presigned["key"])
    job_id = pipeline.job_id_of(presigned["key"], head)
    job = pipeline.wait_done(job_id)
    assert counts(job)["created"] == 1
    assert job["options"]["tags"] == ["vip"]  # signed into the URL as metadata; tags are overridable


def test_partner_show_and_list_report_uploads_and_schedule(stack_file, pipeline, acme):
    assert acme["prefix"] == "incoming/acme/"
    assert acme["recipients"] == ["data@acme.example", "imports@example.com"]
    before = cli_json(stack_file, "partner", "show", "acme")["uploads"]  # the module's earlier tests upload too
    job = pipeline.wait_done(pipeline.upload("incoming/acme/show.csv", "Customer No,E-mail\ns-1,show@example.com\n"))

    shown = cli_json(stack_file, "partner", "show", "acme")
    listed = {row["partner"]: row for row in cli_json(stack_file, "partner", "list")}

    assert (shown["uploads"], shown["last_job_id"]) == (before + 1, job["job_id"])
    assert shown["settings"]["existing"] == "skip"
    assert listed["acme"]["overdue"] is False
    assert listed["acme"]["expectation"] == "an upload every 24 h (+2 h grace)"


def test_schedule_check_flags_partners_whose_upload_is_late(pipeline, stack_file, tmp_path):
    config = tmp_path / "late.json"
    config.write_text(json.dumps({"import_type": "people", "expect": {"every_hours": 1}}))
    assert cli(stack_file, "partner", "add", "late", "--config", str(config))[0] == 0
    two_days_ago = time.time() - 48 * 3600
    pipeline.ddb.put_item(
        TableName=pipeline.table,
        Item={
            "pk": {"S": "PARTNER#late"},
            "sk": {"S": "ACTIVITY"},
            "last_upload_at": {"N": str(two_days_ago)},
            "uploads": {"N": "3"},
        },
    )

    payload, error = pipeline.runtime.invoke("CheckPartnersFunction", {"detail-type": "Scheduled Event"})

    assert error is None
    assert payload["overdue"] == ["late"]  # not acme: added and uploading within its 24 h
    emf = [
        json.loads(line) for line in pipeline.runtime.read_log("CheckPartnersFunction").splitlines() if '"_aws"' in line
    ]
    overdue_values = [v for r in emf for v in _values(r.get("OverduePartners"))]
    assert overdue_values[-1:] == [1]  # this check's OverduePartners: the one overdue partner
    listed = {row["partner"]: row for row in cli_json(stack_file, "partner", "list")}
    assert listed["late"]["overdue"] is True


# ------------------------------------------------------------------------------------------ CLI edges
def test_partner_add_refuses_invalid_settings_with_every_problem_on_one_line(stack_file, tmp_path):
    config = tmp_path / "bad.json"
    config.write_text(json.dumps({"existing": "merge", "recipients": {"partner": ["nobody"]}}))

    code, out, err = cli(stack_file, "partner", "add", "broken", "--config", str(config))

    assert code == 2 and not out
    line = err.strip()
    assert "\n" not in line
    assert 'existing: "merge" is not allowed: use one of update, skip' in line
    assert "recipients/partner/0" in line
    assert cli(stack_file, "partner", "show", "broken")[0] == 2  # nothing was stored


def test_partner_add_does_not_overwrite_without_replace(stack_file, acme, tmp_path):
    config = tmp_path / "acme.json"
    config.write_text(json.dumps({**ACME, "existing": "update"}))

    code, _, err = cli(stack_file, "partner", "add", "acme", "--config", str(config))
    assert code == 2 and "already exists; add --replace" in err
    assert cli_json(stack_file, "partner", "show", "acme")["settings"]["existing"] == "skip"

    replaced = cli_json(stack_file, "partner", "add", "acme", "--config", str(config), "--replace")
    try:
        assert replaced["replaced"] is True
        assert cli_json(stack_file, "partner", "show", "acme")["settings"]["existing"] == "update"
    finally:
        config.write_text(json.dumps(ACME))
        cli_json(stack_file, "partner", "add", "acme", "--config", str(config), "--replace")


def test_upload_with_partner_goes_under_its_prefix(stack_file, pipeline, acme, tmp_path):
    csv_file = tmp_path / "cli-upload.csv"
    csv_file.write_text("Customer No,E-mail\nu-1,cli-upload@example.com\n")

    uploaded = cli_json(stack_file, "upload", str(csv_file), "--partner", "acme")

    assert uploaded["key"] == "incoming/acme/cli-upload.csv"
    job = pipeline.wait_done(uploaded["job_id"])
    assert job["partner"] == "acme" and counts(job)["created"] == 1


def test_upload_to_an_unknown_partner_is_refused_before_anything_is_uploaded(stack_file, pipeline, tmp_path):
    csv_file = tmp_path / "typo.csv"
    csv_file.write_text("email\ntypo@example.com\n")

    code, _, err = cli(stack_file, "upload", str(csv_file), "--partner", "acmee")

    assert code == 2 and "no partner acmee" in err and "partner add acmee" in err
    listed = pipeline.s3.list_objects_v2(Bucket=pipeline.bucket, Prefix="incoming/acmee/")
    assert listed.get("KeyCount", 0) == 0


def test_partner_commands_print_readable_text(stack_file, acme):
    code, listing, _ = cli(stack_file, "partner", "list")
    assert code == 0
    header, *rows = listing.splitlines()
    assert header.split()[:3] == ["PARTNER", "TYPE", "ENABLED"]
    assert any(row.startswith("acme ") and "on time" in row for row in rows)

    code, shown, _ = cli(stack_file, "partner", "show", "acme")
    assert code == 0
    assert "prefix      incoming/acme/" in shown
    assert "intercom-import presign acme people.csv" in shown


def test_partner_remove_returns_the_prefix_to_the_stack_defaults(stack_file, pipeline, tmp_path):
    config = tmp_path / "temp.json"
    config.write_text(json.dumps({"existing": "skip", "recipients": {"partner": ["t@temp.example"]}}))
    assert cli(stack_file, "partner", "add", "temp", "--config", str(config))[0] == 0

    removed = cli_json(stack_file, "partner", "remove", "temp")
    job = pipeline.wait_done(pipeline.upload("incoming/temp/after.csv", "email\nafter-remove@example.com\n"))

    assert removed == {"partner": "temp", "removed": True}
    assert "partner" not in job
    assert emails_for(pipeline, job["job_id"])[0]["to"] == [STACK_RECIPIENT]
    assert cli(stack_file, "partner", "remove", "temp")[0] == 2


def test_presign_refuses_an_unknown_partner_and_an_expiry_over_seven_days(stack_file, acme):
    assert "no partner nobody" in cli(stack_file, "presign", "nobody", "x.csv")[2]
    code, _, err = cli(stack_file, "presign", "acme", "x.csv", "--expires", str(8 * 86400))
    assert code == 2 and "7 days" in err


def test_validate_reports_exactly_what_the_upload_then_gives(stack_file, pipeline, acme, tmp_path):
    body = "Customer No,E-mail,name,Visits\nv-1,v1@example.com,A,3\nv-2,bad@,B,4\nv-3,v3@example.com,C,7\n"
    csv_file = tmp_path / "same.csv"
    csv_file.write_text(body)

    code, out, err = cli(stack_file, "validate", str(csv_file), "--partner", "acme", "--json")
    job = pipeline.wait_done(pipeline.upload("incoming/acme/same.csv", body))

    assert code == 1, err  # one invalid row
    report = json.loads(out)
    assert (report["rows"], report["valid_rows"], report["invalid_rows"]) == (job["rows"], job["valid"], job["invalid"])
    assert report["problem_kinds"] == job["problem_kinds"]
    assert report["columns"] == [
        {"column": c["header"], "attribute": c["target"], "type": c["type"], "custom": c["custom"]}
        for c in job["columns"]
    ]
    assert report["errors"][0]["line"] == 3
    assert job["mapping_source"] == "custom, 2 columns mapped (partner acme's settings)"


def test_history_filters_by_partner_and_status_shows_partner_and_recipients(stack_file, pipeline, acme):
    job = pipeline.wait_done(pipeline.upload("incoming/acme/history.csv", "Customer No,E-mail\nh-1,h@example.com\n"))
    pipeline.wait_done(pipeline.upload("incoming/not-acme.csv", "email\nother@example.com\n"))

    rows = cli_json(stack_file, "history", "--partner", "acme", "--limit", "100")
    code, shown, _ = cli(stack_file, "status", job["job_id"])

    assert rows and all(r["key"].startswith("incoming/acme/") for r in rows)
    assert job["job_id"] in {r["job_id"] for r in rows}
    assert code == 0
    assert re.search(r"\n  partner\s+acme\n", shown)
    assert re.search(r"\n  recipients\s+data@acme.example, imports@example.com\n", shown)
    assert cli(stack_file, "history", "--partner", "acme", "--source", "incoming/")[0] == 2
