"""The intercom-import command without a long-lived stack: run (ephemeral stack), sandbox, sample, --help,
usage errors and target resolution errors. Commands against a running `up` stack: test_cli_stack.py."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from importer_cli import local_stack
from importer_cli.main import build_parser, main
from importer_cli.sample import sample
from intercom_importer.csv_reader import CsvStream
from intercom_importer.mapping import COMPANY_ATTRIBUTES, PEOPLE_ATTRIBUTES, map_header
from intercom_importer.schema import RowValidator
from intercom_sandbox import SandboxConfig, SandboxServer
from sandbox_fixtures import SANDBOX_TOKEN

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = (
    "run",
    "up",
    "down",
    "upload",
    "status",
    "history",
    "undo",
    "errors",
    "sample",
    "validate",
    "partner",
    "presign",
    "doctor",
    "search-lag",
)


@pytest.fixture(autouse=True)
def no_local_stack(tmp_path, monkeypatch):
    """A state folder of our own: a stack a developer left running (`up`) must not be used here."""
    state = tmp_path / "state"
    monkeypatch.setenv(local_stack.STATE_DIR_ENV, str(state))
    return state


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text, text
    return text


def test_run_json_prints_one_summary_object_on_stdout_from_the_sandbox_asked_for(capsys, tmp_path, monkeypatch):
    started: list[SandboxConfig] = []
    start = SandboxServer.start
    monkeypatch.setattr(SandboxServer, "start", lambda server: started.append(server.config) or start(server))
    sandbox_options = ["--sandbox-profile", "documented", "--sandbox-search-lag", "5"]

    code = main(["run", str(ROOT / "events" / "people.csv"), *sandbox_options, "--json", "--quiet", "--log-dir", str(tmp_path)])  # fmt: skip
    out, err = capsys.readouterr()
    summary = json.loads(out)

    # the template's IntercomRateLimitPerMinute (10,000) in Intercom's 10-second windows
    assert started == [SandboxConfig.documented(search_lag_seconds=5.0, rate_limit_per_window=1666)]
    assert err.splitlines()[0] == (
        "starting the local stack (moto + the Intercom sandbox, documented profile: search lag 5 s, "
        "e-mail conflicts only without an external_id) ..."
    )
    assert code == 0
    assert summary["status"] == "completed"
    assert (summary["rows"], summary["created"], summary["invalid"]) == (6, 6, 0)
    assert summary["emails_sent"] == 1
    assert summary["email"]["subject"].startswith("Import completed")
    assert len(summary["intercom"]["contacts"]) == 6


@pytest.fixture(scope="module")
def own_intercom() -> Iterator[SandboxServer]:
    """An Intercom stand-in started apart from the CLI, that only accepts its own token."""
    with SandboxServer(port=0, config=SandboxConfig(token=SANDBOX_TOKEN)) as server:
        yield server


@pytest.fixture(scope="module")
def json_run(own_intercom: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One `intercom-import run FILE --json --config FILE --intercom-url URL --intercom-token TOKEN` (no --quiet),
    as a user runs it: its own process, stdout and stderr apart. One ephemeral stack for the tests below."""
    folder = tmp_path_factory.mktemp("json-run")
    people = folder / "people.csv"
    people.write_text(
        "email,external_id,name\n"
        + "".join(f"cfg{i}@example.com,cfg-{i},Person {i}\n" for i in range(6))
        + "not-an-email,cfg-x,Broken\n"
    )
    config = folder / "config.json"
    config.write_text(
        json.dumps({"parameters": {"ChunkRows": 2}, "invalid_rows": "skip_rows", "tags": ["from-config"]})
    )
    argv = ["run", str(people), "--json", "--config", str(config), "--log-dir", str(folder / "logs")]
    argv += ["--intercom-url", own_intercom.url, "--intercom-token", SANDBOX_TOKEN]
    done = subprocess.run(
        [sys.executable, "-m", "importer_cli", *argv],
        env={**os.environ, local_stack.STATE_DIR_ENV: str(folder / "state")},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return {"code": done.returncode, "stdout": done.stdout, "stderr": done.stderr, "intercom": own_intercom}


def test_run_json_prints_exactly_one_json_object_and_progress_on_stderr(json_run):
    summary, end = json.JSONDecoder().raw_decode(json_run["stdout"].strip())
    assert isinstance(summary, dict)
    assert end == len(json_run["stdout"].strip()), "stdout holds more than the JSON summary"
    # without --quiet the notes and the progress lines are written, on stderr only
    assert f"waiting for job {summary['job_id']}" in json_run["stderr"]
    assert "3/3 chunks  created 6" in json_run["stderr"]
    assert "waiting for job" not in json_run["stdout"] and "chunks  created" not in json_run["stdout"]


def test_run_json_summary_has_the_job_counts_problems_and_email(json_run):
    summary = json.loads(json_run["stdout"])
    assert json_run["code"] == 1  # completed with errors
    assert summary["job_id"].startswith("job-")
    assert summary["status"] == "completed_with_errors"
    assert {k: summary[k] for k in ("rows", "created", "updated", "unchanged", "skipped", "failed", "invalid")} == {
        "rows": 7,
        "created": 6,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 1,
    }
    assert [(p["line"], p["column"], p["value"]) for p in summary["problems"]] == [(8, "email", "not-an-email")]
    assert summary["email"]["to"] == ["ops@example.com"]
    assert (
        summary["email"]["subject"] == "Import completed with errors: people.csv (6 created, 0 updated, 1 with errors)"
    )
    assert summary["job_id"] in summary["email"]["text"]
    # an ephemeral run's stack (and its job) is gone when it ends: its email names no status command
    assert "intercom-import status" not in summary["email"]["text"] + summary["email"]["html"]
    assert "kept no history" in summary["email"]["text"]


def test_run_config_applies_its_import_settings_and_template_parameters(json_run):
    summary = json.loads(json_run["stdout"])
    stats = json_run["intercom"].stats()["by_route"]
    assert summary["invalid"] == 1 and summary["created"] == 6  # invalid_rows=skip_rows, not the reject default
    assert sum(stats["POST /contacts/search"].values()) == 3  # ChunkRows 2: 6 valid rows in 3 chunks
    state = json_run["intercom"].state()
    [tag] = state["tags"]
    assert tag["name"] == "from-config"
    assert len(state["contact_tags"]) == 6


def test_run_intercom_url_and_token_import_into_that_intercom(json_run):
    summary = json.loads(json_run["stdout"])
    contacts = json_run["intercom"].state()["contacts"]
    assert sorted(c["email"] for c in contacts) == [f"cfg{i}@example.com" for i in range(6)]
    assert summary["intercom"] is None  # not the CLI's own sandbox: it cannot list what landed there
    assert json_run["intercom"].stats()["by_status"].get("401", 0) == 0  # the token given was the one used


def test_run_with_a_missing_file_says_so_in_one_line(capsys):
    code = main(["run", "no-such-file.csv"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert "no-such-file.csv: no such file" in err


def test_sandbox_command_serves_intercom_until_stopped():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from importer_cli.main import main; sys.exit(main())",
            "sandbox",
            "--port",
            str(port),
            "--token",
            "cli-token",
            "--profile",
            "documented",
            "--search-lag",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                ok = requests.get(
                    f"http://127.0.0.1:{port}/me",
                    headers={"Authorization": "Bearer cli-token", "Accept": "application/json"},
                    timeout=2,
                )
                break
            except requests.ConnectionError:
                assert time.monotonic() < deadline, (
                    proc.stderr.read().decode() if proc.poll() is not None else "no start"
                )
                time.sleep(0.1)
        bad = requests.get(
            f"http://127.0.0.1:{port}/me",
            headers={"Authorization": "Bearer wrong", "Accept": "application/json"},
            timeout=2,
        )
        config = requests.get(f"http://127.0.0.1:{port}/__sandbox/config", timeout=2).json()
        assert ok.status_code == 200
        assert bad.status_code == 401
        assert (config["profile"], config["search_lag_seconds"], config["email_conflicts"]) == (
            "documented",
            5.0,
            "without_external_id",
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.mark.parametrize("command", COMMANDS)
def test_help_of_every_command_documents_options_and_exit_status(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exited.value.code == 0
    assert "--json" in out
    assert "exit status:" in out
    assert "4  the import has not finished yet" in out


def test_usage_error_is_one_line_pointing_at_help(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["status"])
    err = one_line(capsys.readouterr().err)
    assert exited.value.code == 2
    assert "the following arguments are required: JOB" in err
    assert "intercom-import status --help" in err


def test_stack_and_outputs_options_are_exclusive(capsys):
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["history", "--stack", "a", "--outputs", "b.json"])
    assert exited.value.code == 2
    assert "not allowed with argument" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("argv", [["history"], ["status", "job-0123"], ["upload", "events/people.csv"]])
def test_commands_without_a_running_local_stack_say_how_to_start_one(argv, capsys):
    code = main(argv)
    err = one_line(capsys.readouterr().err)
    assert code == 2
    assert "no local stack is running" in err
    assert "intercom-import up --detach" in err


def test_a_stale_stack_file_is_ignored_and_removed_by_down(no_local_stack, capsys):
    no_local_stack.mkdir()
    (no_local_stack / "stack.json").write_text(
        json.dumps({"pid": 999999, "endpoint_url": "http://127.0.0.1:9", "control_url": "http://127.0.0.1:9"})
    )
    assert main(["history"]) == 2
    assert "no local stack is running" in capsys.readouterr().err
    assert main(["down", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stopped"] is False
    assert "stale" in result["message"]
    assert not (no_local_stack / "stack.json").exists()


def test_down_without_a_stack_is_a_success(capsys):
    assert main(["down"]) == 0
    assert capsys.readouterr().out.strip() == "no local stack is running"


def test_outputs_file_that_does_not_exist_is_a_one_line_error(tmp_path, capsys):
    code = main(["history", "--outputs", str(tmp_path / "missing.json")])
    assert code == 2
    assert "missing.json: no such file" in one_line(capsys.readouterr().err)


def test_outputs_file_without_the_needed_output_names_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps([{"OutputKey": "ImportBucketName", "OutputValue": "bucket"}]))
    code = main(["history", "--outputs", str(outputs)])
    err = one_line(capsys.readouterr().err)
    assert code == 2
    assert "has no JobsTableName output" in err
    assert "describe-stacks" in err


def test_upload_refuses_a_key_prefix_outside_incoming(capsys):
    code = main(["upload", str(ROOT / "events" / "people.csv"), "--key-prefix", "uploads/"])
    assert code == 2
    assert "only uploads under incoming/ start an import" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("import_type", ["people", "companies"])
def test_sample_has_every_standard_attribute_and_a_custom_column(import_type, tmp_path, capsys):
    out = tmp_path / f"{import_type}.csv"
    assert main(["sample", import_type, "-o", str(out)]) == 0
    header = out.read_text(encoding="utf-8").splitlines()[0].split(",")
    standard = PEOPLE_ATTRIBUTES if import_type == "people" else COMPANY_ATTRIBUTES
    assert header[: len(standard)] == list(standard)
    columns = map_header(header, import_type)
    custom = [c.target for c in columns if c.custom]
    assert custom == sample(import_type)["custom_columns"]
    assert f"wrote {out}" in capsys.readouterr().err


@pytest.mark.parametrize("import_type", ["people", "companies"])
def test_sample_rows_pass_the_real_validator(import_type, tmp_path):
    out = tmp_path / f"{import_type}.csv"
    assert main(["sample", import_type, "-o", str(out)]) == 0
    with out.open("rb") as body:
        stream = CsvStream(body)
        columns = map_header(stream.header, import_type)
        validator = RowValidator(columns, import_type)
        results = [validator.check(row.line, row.cells, len(stream.header)) for row in stream]
    assert len(results) == len(sample(import_type)["rows"]) == {"people": 3, "companies": 2}[import_type]
    assert [problems for _, problems in results] == [[]] * len(results)
    filled = {target for record, _ in results for target in record or {}}
    # every standard attribute is shown with a value somewhere, except the two that need workspace ids
    assert set(PEOPLE_ATTRIBUTES if import_type == "people" else COMPANY_ATTRIBUTES) - filled <= {"id", "owner_id"}


def test_sample_to_stdout_is_the_csv_and_json_describes_it(capsys):
    assert main(["sample", "companies"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("company_id,name,plan,")
    assert main(["sample", "companies", "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["csv"] == text
    assert described["custom_columns"] == ["account_manager"]


def test_sample_does_not_overwrite_a_file_without_force(tmp_path, capsys):
    out = tmp_path / "people.csv"
    out.write_text("mine")
    assert main(["sample", "people", "-o", str(out)]) == 2
    assert "--force" in one_line(capsys.readouterr().err)
    assert out.read_text() == "mine"
    assert main(["sample", "people", "-o", str(out), "--force"]) == 0
    assert out.read_text().startswith("id,external_id,email,")


def test_run_as_make_run_prints_progress_the_summary_email_and_what_landed(capsys, tmp_path):
    """`make run` is `intercom-import run events/people.csv`: its output is the product's first impression."""
    code = main(["run", str(ROOT / "events" / "people.csv"), "--ephemeral", "--log-dir", str(tmp_path)])
    out, err = capsys.readouterr()

    assert code == 0, err
    assert "starting the local stack" in err and "completed [##" in err  # progress goes to stderr
    assert "Columns (as matched to Intercom attributes):" in err
    lines = out.splitlines()
    [job_line] = [line for line in lines if line.startswith("Job job-")]
    assert job_line.endswith(": completed")
    assert "  rows 6  created 6  updated 0  unchanged 0  skipped 0  failed 0  invalid 0" in lines
    assert "Summary email to ops@example.com" in lines
    assert "Subject: Import completed: people.csv (6 created, 0 updated, 0 with errors)" in lines
    assert "All 6 rows were imported into Intercom: 6 created, 0 updated, 0 unchanged, 0 skipped." in out
    assert (
        "Written to the Intercom sandbox by this import: 6 contacts (6 created, 0 updated), 2 companies; "
        "the sandbox holds 6 contacts and 2 companies"
    ) in lines
    assert any(line.split()[:2] == ["user", "ada@example.com"] for line in lines)
    assert any(line.split()[:2] == ["lead", "-"] for line in lines)
    assert f"Function logs: {tmp_path}" in lines


def test_run_dry_run_with_a_mapping_reports_would_be_counts_in_json(capsys, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"columns": {"phone": {"ignore": True}}}))
    code = main(
        [
            "run",
            str(ROOT / "events" / "people.csv"),
            "--dry-run",
            "--mapping",
            str(mapping),
            "--json",
            "--quiet",
            "--ephemeral",
            "--log-dir",
            str(tmp_path),
        ]
    )
    summary = json.loads(capsys.readouterr().out)
    assert code == 0
    assert summary["dry_run"] is True
    assert (summary["created"], summary["updated"], summary["unchanged"], summary["invalid"]) == (6, 0, 0, 0)
    # what the real import would spend: the upserts of its 2 companies (acme, bletchley) before any row, then
    # the chunk's search, one create per row and an attachment for each of the 3 rows with a company
    assert summary["estimated_api_calls"] == 2 + 1 + 6 + 3
    # at the template's default IntercomRateLimitPerMinute (10,000)
    assert summary["estimated_seconds"] == round(summary["estimated_api_calls"] * 60 / 10_000, 1)
    assert "phone" not in {c["attribute"] for c in summary["columns"]}
    assert summary["intercom"]["contacts"] == []


def test_run_with_an_invalid_mapping_says_what_to_fix_before_uploading(capsys, tmp_path):
    mapping = tmp_path / "mapping.json"
    mapping.write_text(json.dumps({"columns": {"Seats": {"type": "int"}}}))
    code = main(["run", str(ROOT / "events" / "people.csv"), "--mapping", str(mapping), "--ephemeral"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0
    assert 'columns/Seats/type: "int" is not allowed: use one of string, integer, float, boolean, date' in err


def test_progress_shows_the_matched_columns_once_validation_settles_them(capsys):
    from importer_cli.display import Progress
    from intercom_importer.job_record import Job

    columns = [
        {"header": "E-mail", "target": "email", "type": "email", "custom": False},
        {"header": "Seats", "target": "seats", "type": "integer", "custom": True},
    ]
    progress = Progress(enabled=True)
    progress.show(Job.from_item({"status": "validating", "rows_read": 10, "columns": columns}))
    progress.show(Job.from_item({"status": "importing", "chunks_total": 2, "chunks_done": 0, "columns": columns}))
    progress.show(Job.from_item({"status": "importing", "chunks_total": 2, "chunks_done": 1, "columns": columns}))

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == ""
    assert err.count("Columns (as matched to Intercom attributes):") == 1
    shown = lines.index("Columns (as matched to Intercom attributes):")
    assert lines[shown - 1].startswith("validating")  # after validation, before the first write
    assert lines[shown + 1].split() == ["E-mail", "->", "email", "(email)"]
    assert lines[shown + 2].split() == ["Seats", "->", "seats", "(custom", "integer)"]
    assert lines[shown + 3].startswith("importing [")
    assert progress.columns_shown


def test_the_local_stacks_sandbox_limits_calls_as_intercom_at_the_stacks_rate(tmp_path):
    with local_stack.local_pipeline(parameters={"IntercomRateLimitPerMinute": 600}, log_dir=tmp_path) as (_, sandbox):
        answer = requests.get(f"{sandbox.url}/me", headers={"Authorization": "Bearer any"}, timeout=10)

    assert answer.status_code == 200
    # 600 a minute is 100 per 10-second window, Intercom's unit
    assert answer.headers["X-RateLimit-Limit"] == "100"
    assert int(answer.headers["X-RateLimit-Remaining"]) < 100


@pytest.mark.parametrize("command", ["run", "upload"])
def test_every_settings_flag_reaches_the_validators_options_through_the_upload_metadata(command):
    from importer_cli import import_options
    from intercom_importer.options import ImportOptions
    from intercom_importer.settings import Settings

    args = build_parser().parse_args(
        [command, "x.csv", "--type", "companies", "--existing", "skip", "--role", "lead", "--tag", "a", "--tag", "b",
         "--invalid-rows", "skip_rows", "--dry-run", "--auto-tag", "--identity-trap", "report"]
    )  # fmt: skip
    meta = import_options.metadata(args)
    stack = Settings(
        jobs_table="t", import_bucket="b", chunk_queue_url="q", state_machine_arn="s", intercom_token_secret="x",
        intercom_region="US", intercom_base_url=None, intercom_rate_limit_per_minute=1000, chunk_rows=100,
        worker_threads=1, default_existing="update", default_role="user", default_invalid_rows="reject_file",
        notify_recipients=("ops@example.com",), sender_email="i@example.com", job_timeout_seconds=60,
        job_retention_days=1, report_link_expiry_seconds=60,
    )  # fmt: skip

    assert ImportOptions.from_metadata(meta, stack) == ImportOptions(
        import_type="companies",
        existing="skip",
        role="lead",
        invalid_rows="skip_rows",
        tags=("a", "b"),
        auto_tag=True,
        dry_run=True,
        identity_trap="report",
    )
