"""``intercom-import undo`` on the real stack (template.yaml on moto, the Intercom sandbox), reached like any stack
with ``--outputs``: the settings read from the worker function, the token from its secret, the governor on its jobs
table, the email through its SES sender and configuration set.

The import is not run: its record and change log are written into the stack as the worker writes them
(``undo_world``), and the sandbox is seeded as the import left it.
"""

from __future__ import annotations

import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer_cli import targets
from intercom_importer.intercom import IntercomClient
from intercom_importer.ratelimit import NullRateLimiter
from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, Pipeline, default_stack_fixtures, run_cli
from undo_world import Seeded, contact_of, seed_intercom, write_job, write_log

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()


cli = run_cli


class Stack:
    """The stack as the CLI sees it (``--outputs stack.json``), and an import of this test written into it."""

    def __init__(self, pipeline: Pipeline, sandbox: Any, directory: Path) -> None:
        self.pipeline, self.sandbox = pipeline, sandbox
        self.outputs = str(pipeline.stack_file(directory))
        target = targets.from_outputs_file(self.outputs)
        self.store, self.s3 = target.job_store(), target.client("s3")
        self.bucket = pipeline.bucket
        self.job = f"job-{uuid.uuid4().hex[:20]}"

    def seed(self, **job_fields: Any) -> Seeded:
        seeded = seed_intercom(IntercomClient(DEFAULT_STACK_TOKEN, self.sandbox.url, limiter=NullRateLimiter()))
        write_job(self.store, self.job, self.bucket, **job_fields)
        write_log(self.store, self.s3, self.bucket, self.job, seeded.changes)
        return seeded

    def undo(self, *argv: str) -> tuple[int, str, str]:
        return cli("undo", self.job, *argv, "--outputs", self.outputs)

    def contact(self, contact_id: str) -> dict[str, Any]:
        return contact_of(self.sandbox.state(), contact_id)

    def emails(self) -> list[dict[str, Any]]:
        return self.pipeline.emails_for(f"{self.job}-undo")


@pytest.fixture
def stack(pipeline: Pipeline, sandbox: Any, tmp_path: Path) -> Stack:
    sandbox.reset()
    return Stack(pipeline, sandbox, tmp_path)


def one_line(text: str) -> str:
    text = text.strip()
    assert text and "\n" not in text, text
    return text


def test_undo_yes_json_restores_archives_leaves_alone_and_sends_one_email(stack: Stack):
    seeded = stack.seed()

    code, out, err = stack.undo("--yes", "--json")

    assert code == 0, err
    result = json.loads(out)
    assert (result["job"], result["undo_job_id"], result["dry_run"], result["already_undone"]) == (
        stack.job,
        f"{stack.job}-undo",
        False,
        False,
    )
    assert (result["restored"], result["contacts_restored"], result["archived"]) == (7, 2, 1)
    assert {(e["line"], e["id"], e["field"]) for e in result["left_alone"]} == {
        (4, seeded.cy, "name"),
        (5, seeded.dee, "name"),
    }
    assert result["api_calls"] >= 4 + result["write_calls"]  # a GET per contact, the tag lookup, the writes
    assert stack.contact(seeded.ada)["name"] == "Ada" and stack.contact(seeded.bea)["archived"] is True
    [email] = stack.emails()
    assert email["subject"] == "Import undone: people.csv (7 values restored, 1 contact archived, 2 left alone)"
    assert email["configuration_set"] == stack.pipeline.outputs["EmailConfigurationSetName"]
    assert result["email"]["message_id"]


def test_status_and_history_show_when_an_import_was_undone_and_by_which_undo(stack: Stack):
    stack.seed()
    assert stack.undo("--yes", "--quiet")[0] == 0

    _, status, _ = cli("status", stack.job, "--json", "--outputs", stack.outputs)
    _, text, _ = cli("status", stack.job, "--outputs", stack.outputs)
    _, history, _ = cli("history", "--json", "--limit", "50", "--outputs", stack.outputs)
    _, undo_status, _ = cli("status", f"{stack.job}-undo", "--json", "--outputs", stack.outputs)

    record = json.loads(status)
    assert record["undone_at"] and record["undo_job_id"] == f"{stack.job}-undo"
    assert f"by undo job {stack.job}-undo" in text
    row = next(r for r in json.loads(history) if r["job_id"] == stack.job)
    assert (row["undone_at"], row["undo_job_id"]) == (record["undone_at"], f"{stack.job}-undo")
    undo_record = json.loads(undo_status)
    assert (undo_record["status"], undo_record["undo_of"], undo_record["import_type"]) == (
        "completed",
        stack.job,
        "undo",
    )


def test_a_second_undo_says_undone_already_and_changes_nothing(stack: Stack):
    stack.seed()
    assert stack.undo("--yes", "--quiet")[0] == 0
    before = stack.sandbox.state()

    code, out, err = stack.undo("--yes", "--json")
    text_code, text, _ = stack.undo("--yes")

    assert (code, text_code) == (0, 0), err
    assert json.loads(out)["already_undone"] is True
    assert "was undone already" in text
    assert stack.sandbox.state() == before
    assert len(stack.emails()) == 1


def test_a_dry_run_says_what_an_undo_would_do_and_writes_nothing(stack: Stack):
    seeded = stack.seed()
    before = stack.sandbox.state()

    code, out, err = stack.undo("--dry-run", "--json")
    text_code, text, _ = stack.undo("--dry-run")

    assert (code, text_code) == (0, 0), err
    result = json.loads(out)
    assert (result["dry_run"], result["restored"], result["archived"], result["write_calls"]) == (True, 7, 1, 5)
    assert text.startswith(f"Dry run of the undo of job {stack.job}: nothing was written")
    assert f"line 4, {seeded.cy}, name: changed in Intercom since the import" in text
    assert stack.sandbox.state() == before
    assert stack.store.get(stack.job).undone_at is None
    assert stack.emails() == []


def test_without_yes_and_without_a_terminal_it_refuses_and_says_pass_yes(stack: Stack):
    seeded = stack.seed()

    code, out, err = stack.undo()

    assert code == 2 and out == ""
    assert "pass --yes" in one_line(err)
    assert stack.contact(seeded.ada)["name"] == "Ada Lovelace"


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.mark.parametrize(("answer", "code"), [("n\n", 1), ("y\n", 0)])
def test_on_a_terminal_it_asks_first(stack: Stack, monkeypatch: pytest.MonkeyPatch, answer: str, code: int):
    seeded = stack.seed()
    monkeypatch.setattr("sys.stdin", Terminal(answer))

    got, _, err = stack.undo()

    assert got == code, err
    assert "Undo 10 changes to 4 contacts? [y/N]" in err  # Ada 6, Bea 1, Cy 2, Dee 1
    assert stack.contact(seeded.ada)["name"] == ("Ada" if code == 0 else "Ada Lovelace")


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"status": "importing"}, "is not finished (status importing)"),
        ({"dry_run": True}, "was a dry run"),
        ({"undo_of": "job-other", "import_type": "undo"}, "is an undo (of job-other)"),
    ],
)
def test_a_job_that_cannot_be_undone_is_refused_in_one_line(stack: Stack, fields: dict[str, Any], says: str):
    stack.seed(**fields)

    code, out, err = stack.undo("--yes")

    assert (code, out) == (1, "")
    assert says in one_line(err)
    assert "Traceback" not in err


def test_an_unknown_job_or_one_without_a_change_log_is_refused_in_one_line(stack: Stack):
    write_job(stack.store, stack.job, stack.bucket)

    unknown = cli("undo", "job-does-not-exist", "--yes", "--outputs", stack.outputs)
    no_log = stack.undo("--yes", "--json")

    assert unknown[0] == 1 and "job job-does-not-exist not found" in one_line(unknown[2])
    assert no_log[0] == 1 and "has no change log" in one_line(no_log[2])


def test_an_undo_intercom_stops_says_run_it_again_and_the_rerun_finishes_it(stack: Stack):
    seeded = stack.seed()
    stack.sandbox.add_fault(method="PUT", path="/contacts/{id}", status=403, times=1)

    stopped = stack.undo("--yes", "--quiet")
    code, out, err = stack.undo("--yes", "--json")

    assert stopped[0] == 1
    assert (
        "the undo stopped: " in one_line(stopped[2]) and f"run `intercom-import undo {stack.job}` again" in stopped[2]
    )
    assert code == 0, err
    assert json.loads(out)["restored"] == 7
    assert stack.contact(seeded.ada)["name"] == "Ada"
    assert len(stack.emails()) == 1
