"""intercom-import against a long-lived local stack: up, upload, status, history, run, sample, --stack/--outputs, down.

One stack for the module, started the way a developer does (`intercom-import up --detach` in a
subprocess) with its own state folder; the commands under test run in-process (``main([...])``) and
reach it over HTTP like any other CLI invocation.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests

from importer_cli import local_stack
from importer_cli.sample import COMPANY_ROWS, PEOPLE_ROWS
from intercom_importer.jobs import job_id_for
from pipeline_helpers import run_cli

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 120
IMPORT_TIMEOUT = 90


cli = run_cli


def cli_json(*argv: str) -> tuple[int, Any]:
    code, out, err = cli(*argv, "--json")
    assert out.strip(), err
    return code, json.loads(out)


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text, text
    return text


def start_detached(state: Path, log_dir: Path) -> dict[str, Any]:
    env = {**os.environ, local_stack.STATE_DIR_ENV: str(state)}
    done = subprocess.run(
        [sys.executable, "-m", "importer_cli", "up", "--detach", "--json", "--log-dir", str(log_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT + 10,
        check=False,
    )
    assert done.returncode == 0, done.stderr + (state / "stack.log").read_text(errors="replace")
    return json.loads(done.stdout)


class Stack:
    """The module's local stack; restarted if a test (down) stopped it."""

    def __init__(self, state: Path, log_dir: Path) -> None:
        self.state, self.log_dir = state, log_dir
        self.info: dict[str, Any] = {}

    def ensure(self) -> dict[str, Any]:
        if not (self.info and local_stack.is_live(self.info)):
            self.info = start_detached(self.state, self.log_dir)
        return self.info

    def client(self, service: str) -> Any:
        env = self.info["aws_env"]
        return boto3.client(
            service,
            endpoint_url=self.info["endpoint_url"],
            region_name=env["AWS_REGION"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )

    def sandbox_state(self) -> dict[str, Any]:
        return requests.get(f"{self.info['sandbox_url']}/__sandbox/state", timeout=10).json()


@pytest.fixture(scope="module")
def stack_manager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("cli-state")
    manager = Stack(state, tmp_path_factory.mktemp("cli-stack-logs"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(local_stack.STATE_DIR_ENV, str(state))
        try:
            yield manager
        finally:
            if (state / "stack.json").exists():
                code, _, err = cli("down", "--timeout", "30")
                assert code == 0, err


@pytest.fixture
def stack(stack_manager: Stack) -> Stack:
    stack_manager.ensure()
    return stack_manager


def people_csv(tmp_path: Path, name: str, rows: int = 3, bad_email: bool = False) -> Path:
    """A small people file with addresses no other test uses."""
    run = uuid.uuid4().hex[:8]
    lines = ["email,external_id,name,signed_up_at"]
    for i in range(rows):
        email = "not-an-email" if bad_email and i == 1 else f"p{i}-{run}@example.com"
        lines.append(f"{email},x-{run}-{i},Person {i},2026-01-1{i}")
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def imported(stack_manager: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One people file uploaded with settings and watched to the end (`upload --json`, `status --watch --json`)."""
    stack_manager.ensure()
    path = people_csv(tmp_path_factory.mktemp("people"), "team.csv")
    up_code, uploaded = cli_json(
        "upload", str(path), "--key-prefix", "incoming/cli-tests/", "--existing", "skip", "--tag", "cli", "--tag", "q4"
    )
    code, out, err = cli("status", uploaded["job_id"], "--watch", "--json", "--timeout", str(IMPORT_TIMEOUT))
    return {"upload_code": up_code, "uploaded": uploaded, "code": code, "record": json.loads(out), "progress": err}


@pytest.fixture(scope="module")
def rejected(stack_manager: Stack, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A file with an invalid row under reject_file: rejected, nothing imported."""
    stack_manager.ensure()
    path = people_csv(tmp_path_factory.mktemp("rejected"), "broken.csv", bad_email=True)
    _, uploaded = cli_json(
        "upload", str(path), "--key-prefix", "incoming/cli-tests/rejected", "--invalid-rows", "reject_file"
    )
    code, _, err = cli("status", uploaded["job_id"], "--watch", "--quiet", "--timeout", str(IMPORT_TIMEOUT))
    assert code == 1, err
    return uploaded


# ------------------------------------------------------------------------------------------- up
def test_up_detach_writes_connection_info_for_other_commands(stack):
    info = json.loads((stack.state / "stack.json").read_text())
    assert info["pid"] != os.getpid()
    assert {"ImportBucketName", "JobsTableName", "StateMachineArn"} <= set(info["outputs"])
    assert info["aws_env"]["AWS_ENDPOINT_URL"] == info["endpoint_url"]
    assert requests.get(f"{info['sandbox_url']}/__sandbox/state", timeout=5).status_code == 200
    assert stack.client("s3").head_bucket(Bucket=info["outputs"]["ImportBucketName"])


def test_up_starts_the_sandbox_with_the_documented_profile_by_default(stack):
    info = json.loads((stack.state / "stack.json").read_text())
    shown = requests.get(f"{info['sandbox_url']}/__sandbox/config", timeout=5).json()

    documented = {"profile": "documented", "search_lag_seconds": 180.0, "email_conflicts": "without_external_id"}
    assert info["sandbox_config"] == documented
    assert {key: shown[key] for key in documented} == documented


def test_up_refuses_a_second_stack_in_one_line(stack):
    code, _, err = cli("up", "--detach")
    assert code == 2
    assert "a local stack is already running" in one_line(err)
    assert "intercom-import down" in err


# ------------------------------------------------------------------------------------------- upload
def test_upload_prints_the_job_id_the_validator_derives(imported):
    uploaded = imported["uploaded"]
    assert imported["upload_code"] == 0
    assert uploaded["key"] == "incoming/cli-tests/team.csv"
    assert uploaded["job_id"] == job_id_for(uploaded["bucket"], uploaded["key"], uploaded["version_id"])
    assert imported["record"]["job_id"] == uploaded["job_id"]  # the validator created exactly that job


def test_upload_sends_the_settings_as_object_metadata(stack, imported):
    uploaded = imported["uploaded"]
    head = stack.client("s3").head_object(Bucket=uploaded["bucket"], Key=uploaded["key"])
    assert head["Metadata"] == {"existing": "skip", "tags": "cli,q4"}
    assert imported["record"]["options"]["existing"] == "skip"
    assert imported["record"]["options"]["tags"] == ["cli", "q4"]


def test_upload_without_json_prints_only_the_job_id_on_stdout(stack, tmp_path):
    code, out, err = cli(
        "upload", str(people_csv(tmp_path, "plain.csv", rows=1)), "--key-prefix", "incoming/cli-tests/plain/"
    )
    assert code == 0
    assert out.strip().startswith("job-") and len(out.strip().splitlines()) == 1
    assert f"status {out.strip()} --watch" in err


# ------------------------------------------------------------------------------------------- status
def test_status_watch_json_returns_the_finished_record(imported):
    record = imported["record"]
    assert imported["code"] == 0
    assert record["status"] == "completed"
    assert (record["rows"], record["created"], record["invalid"]) == (3, 3, 0)
    assert record["email_status"] == "sent"
    assert record["source"] == imported["uploaded"]["source"]
    assert "task_token" not in record


def test_status_watch_shows_progress_on_stderr(imported):
    assert "completed [" in imported["progress"] or "chunks" in imported["progress"]


def test_status_shows_a_readable_record(stack, imported):
    code, out, _ = cli("status", imported["uploaded"]["job_id"])
    assert code == 0
    assert f"Job {imported['uploaded']['job_id']}: completed" in out
    assert "rows 3: created 3, updated 0, unchanged 0, skipped 0, failed 0, invalid 0" in out
    assert "existing=skip" in out and "tags=cli,q4" in out
    assert "email        sent" in out
    # the S3 event's principal and source IP (the local stack's moto puts a fixed example principal there)
    assert "uploaded by  AWS:AIDAJDPLRKLG7UEXAMPLE from 127.0.0.1" in out


def test_status_of_a_rejected_import_exits_1_with_the_reason(stack, rejected):
    code, out, _ = cli("status", rejected["job_id"])
    assert code == 1
    assert "rejected" in out
    assert "line 3, email: 'not-an-email'" in out
    assert "reject_file" in out


def test_status_of_an_unknown_job_is_a_one_line_error(stack):
    code, _, err = cli("status", "job-00000000000000000000")
    assert code == 2
    assert "job job-00000000000000000000 not found" in one_line(err)


# ------------------------------------------------------------------------------------------- history
def test_history_lists_uploaded_jobs_newest_first(stack, imported, rejected):
    code, rows = cli_json("history", "--limit", "50")
    assert code == 0
    ids = [r["job_id"] for r in rows]
    assert imported["uploaded"]["job_id"] in ids and rejected["job_id"] in ids
    created = [r["created_at"] for r in rows]
    assert created == sorted(created, reverse=True)
    first = next(r for r in rows if r["job_id"] == imported["uploaded"]["job_id"])
    assert (first["key"], first["import_type"], first["status"], first["rows"], first["created"]) == (
        "incoming/cli-tests/team.csv",
        "people",
        "completed",
        3,
        3,
    )
    assert (first["uploaded_by"], first["source_ip"]) == ("AWS:AIDAJDPLRKLG7UEXAMPLE", "127.0.0.1")


def test_history_and_status_tell_a_dry_run_and_its_settings_from_an_import(stack, tmp_path):
    path = people_csv(tmp_path, "dry.csv", rows=2)
    code, out, err = cli(
        "upload", str(path), "--dry-run", "--existing", "skip", "--key-prefix", "incoming/cli-tests/dry/"
    )
    job_id = out.strip()
    assert code == 0, err
    assert cli("status", job_id, "--watch", "--quiet", "--timeout", str(IMPORT_TIMEOUT))[0] == 0

    _, rows = cli_json("history", "--source", "incoming/cli-tests/dry/")
    [row] = [r for r in rows if r["job_id"] == job_id]
    _, table_out, _ = cli("history", "--source", "incoming/cli-tests/dry/")
    _, details, _ = cli("status", job_id)

    assert (row["dry_run"], row["options"]["existing"], row["created"], row["error_file"]) == (True, "skip", 2, None)
    assert "completed (dry run)" in next(line for line in table_out.splitlines() if line.startswith(job_id))
    assert details.splitlines()[0].startswith(f"Job {job_id}: completed (dry run: nothing was written")
    assert "rows 2: would-create 2, would-update 0, unchanged 0, would-skip 0, would-fail 0, invalid 0" in details


def test_history_filters_by_status_source_and_since(stack, imported, rejected):
    _, by_status = cli_json("history", "--status", "rejected")
    assert {r["status"] for r in by_status} == {"rejected"}
    assert rejected["job_id"] in [r["job_id"] for r in by_status]
    _, by_source = cli_json("history", "--source", "incoming/cli-tests/rejected/")
    assert [r["job_id"] for r in by_source] == [rejected["job_id"]]
    _, recent = cli_json("history", "--since", "1h")
    assert imported["uploaded"]["job_id"] in [r["job_id"] for r in recent]
    code, out, _ = cli("history", "--since", "2999-01-01")
    assert (code, out.strip()) == (0, "no imports found matching the filters")


def test_history_table_has_one_line_per_job(stack, imported):
    code, out, _ = cli("history", "--limit", "1")
    lines = out.strip().splitlines()
    assert code == 0
    assert lines[0].split() == [
        "JOB", "CREATED", "(UTC)", "SOURCE", "TYPE", "STATUS", "ROWS", "CREATED", "UPDATED", "UNCHANGED", "SKIPPED",
        "FAILED", "INVALID", "UPLOADED", "BY", "UNDONE",
    ]  # fmt: skip
    assert lines[1].split()[-2:] == ["AWS:AIDAJDPLRKLG7UEXAMPLE", "-"]  # not undone
    assert len(lines) == 2


def test_history_with_a_bad_since_is_a_one_line_error(stack):
    code, _, err = cli("history", "--since", "last tuesday")
    assert code == 2
    assert "--since 'last tuesday'" in one_line(err)


# ------------------------------------------------------------------------------------------- targets
@pytest.fixture
def aws_env_of_the_stack(stack, monkeypatch):
    """The caller's "normal AWS environment" pointing at the stack's moto (as with any AWS tool)."""
    for key, value in stack.info["aws_env"].items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    return stack


def test_outputs_file_targets_the_stack_it_describes(aws_env_of_the_stack, imported, tmp_path):
    outputs = tmp_path / "outputs.json"
    described = [{"OutputKey": k, "OutputValue": v} for k, v in aws_env_of_the_stack.info["outputs"].items()]
    outputs.write_text(json.dumps(described))
    code, rows = cli_json("history", "--outputs", str(outputs))
    assert code == 0
    assert imported["uploaded"]["job_id"] in [r["job_id"] for r in rows]
    code, record = cli_json("status", imported["uploaded"]["job_id"], "--outputs", str(outputs))
    assert (code, record["status"]) == (0, "completed")


def test_outputs_option_accepts_the_stack_json_of_up(stack, imported):
    code, record = cli_json("status", imported["uploaded"]["job_id"], "--outputs", str(stack.state / "stack.json"))
    assert (code, record["job_id"]) == (0, imported["uploaded"]["job_id"])


def test_stack_option_reads_outputs_from_cloudformation(aws_env_of_the_stack, imported):
    code, record = cli_json(
        "status", imported["uploaded"]["job_id"], "--stack", aws_env_of_the_stack.info["stack_name"]
    )
    assert (code, record["status"]) == (0, "completed")


def test_a_missing_stack_is_a_one_line_error(aws_env_of_the_stack):
    code, _, err = cli("history", "--stack", "no-such-stack")
    assert code == 2
    assert "stack 'no-such-stack' does not exist in region us-east-1" in one_line(err)


# ------------------------------------------------------------------------------------------- run, sample
def test_run_uses_the_running_local_stack(stack, tmp_path):
    path = people_csv(tmp_path, "run.csv", rows=2)
    code, out, err = cli("run", str(path), "--json", "--quiet", "--timeout", str(IMPORT_TIMEOUT))
    summary = json.loads(out)
    assert code == 0, err
    assert "using the local stack" in err
    assert "with the Intercom sandbox (documented profile: search lag 180 s, e-mail conflicts only without" in err
    assert (summary["status"], summary["created"], summary["emails_sent"]) == ("completed", 2, 1)
    assert summary["logs"] == stack.info["log_dir"]
    imported = {line.split(",")[0] for line in path.read_text().splitlines()[1:]}
    assert imported <= {c["email"] for c in summary["intercom"]["contacts"]}


def test_run_imports_through_a_deployed_stack_named_by_cloudformation(aws_env_of_the_stack, tmp_path):
    path = people_csv(tmp_path, "deployed.csv", rows=3)
    stack_name = aws_env_of_the_stack.info["stack_name"]
    code, out, err = cli(
        "run",
        str(path),
        "--stack",
        stack_name,
        "--existing",
        "skip",
        "--json",
        "--quiet",
        "--timeout",
        str(IMPORT_TIMEOUT),
    )
    summary = json.loads(out)

    assert code == 0, err
    assert f"importing through stack {stack_name}" in err
    assert (summary["status"], summary["created"], summary["rows"]) == ("completed", 3, 3)
    # a deployed stack's SES sent the email: the CLI reports the job's email status, not the message
    assert (summary["email_status"], summary["emails_sent"]) == ("sent", None)
    code, record = cli_json("status", summary["job_id"], "--stack", stack_name)
    assert (code, record["options"]["existing"]) == (0, "skip")


@pytest.mark.parametrize("import_type", ["people", "companies"])
def test_sample_file_imports_end_to_end(stack, import_type, tmp_path):
    samples, key, kind = (
        (PEOPLE_ROWS, "email", "contacts") if import_type == "people" else (COMPANY_ROWS, "company_id", "companies")
    )
    held = {c[key]: c["created_at"] for c in stack.sandbox_state()[kind] if any(c.get(key) == r[key] for r in samples)}
    # Intercom's created_at has whole seconds: a company made earlier in the very second this import starts counts
    # as its create (import_companies). Start in a later second than what the sandbox already holds (<= 1 s).
    while held and time.time() < max(held.values()) + 1:
        time.sleep(0.05)
    path = tmp_path / f"{import_type}-sample.csv"
    assert cli("sample", import_type, "-o", str(path))[0] == 0
    _, uploaded = cli_json("upload", str(path), "--key-prefix", "incoming/cli-tests/samples/")
    code, out, err = cli("status", uploaded["job_id"], "--watch", "--json", "--quiet", "--timeout", str(IMPORT_TIMEOUT))
    record = json.loads(out)
    assert code == 0, (err, record.get("problems_sample"), record.get("reason"))
    assert record["import_type"] == import_type
    # The rows whose record the stack's sandbox held already are updates (the company acme, when the people
    # sample, which has acme as a company column, was imported first); every other row is a create.
    updated = len(held)
    counted = {k: record[k] for k in ("rows", "created", "updated", "skipped", "failed", "invalid")}
    assert counted == {
        "rows": len(samples), "created": len(samples) - updated, "updated": updated, "skipped": 0, "failed": 0, "invalid": 0,
    }  # fmt: skip
    landed = stack.sandbox_state()
    if import_type == "people":
        ada = next(c for c in landed["contacts"] if c.get("email") == "ada@example.com")
        assert ada["custom_attributes"]["customer_tier"] == "gold"
    else:
        acme = next(c for c in landed["companies"] if c.get("company_id") == "acme")
        assert acme["custom_attributes"]["account_manager"] == "Mary Jackson"


# ------------------------------------------------------------------------------------------- foreground up, down
def test_up_in_the_foreground_serves_until_ctrl_c(tmp_path):
    state = tmp_path / "fg-state"
    env = {**os.environ, local_stack.STATE_DIR_ENV: str(state)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "importer_cli", "up", "--json", "--no-prewarm", "--log-dir", str(tmp_path / "logs")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not (state / "stack.json").exists():
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "up did not write stack.json"
            time.sleep(0.1)
        info = json.loads((state / "stack.json").read_text())
        assert info["pid"] == proc.pid
        assert local_stack.is_live(info)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=START_TIMEOUT)  # a bound, not a speed check (took >30 s under load)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == 0, err
    assert json.loads(out)["endpoint_url"] == info["endpoint_url"]
    assert "local stack stopped" in err
    assert not (state / "stack.json").exists()


def test_down_stops_the_local_stack(stack):  # last: the stack is restarted if a later test needs it
    pid = stack.info["pid"]
    code, result = cli_json("down")
    assert code == 0
    assert result == {"stopped": True, "pid": pid, "message": f"stopped the local stack (pid {pid})"}
    assert not (stack.state / "stack.json").exists()
    assert not local_stack.is_live(stack.info)
    code, _, err = cli("history")
    assert code == 2
    assert "no local stack is running" in err
