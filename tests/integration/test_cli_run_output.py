"""What ``intercom-import run`` prints about Intercom (issue #15): what this import wrote (its counts and at most a
screenful of its contacts, with the totals), never the whole sandbox, which may hold thousands of contacts.

The stack is the shared one (template.yaml on moto, the Intercom sandbox), reached as ``run`` reaches a stack
started by ``up``."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer_cli import targets
from importer_cli.commands.stack import SHOWN
from importer_cli.main import main
from pipeline_helpers import DEFAULT_STACK, Pipeline, default_stack_fixtures

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()

SEEDED = 10_000


@pytest.fixture(scope="module")
def crowded(sandbox: Any, pipeline: Pipeline) -> Any:
    """The sandbox's workspace holding 10,000 contacts no test file names."""
    workspace = sandbox.app.workspace
    for i in range(SEEDED):
        workspace.create_contact({"role": "user", "email": f"old{i}@example.org", "external_id": f"old-{i}"})
    sandbox.settle()
    return sandbox


@pytest.fixture
def on_the_stack(crowded: Any, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``run`` finds the shared stack as it finds one started by ``up`` (with its sandbox)."""
    monkeypatch.setenv("INTERCOM_IMPORT_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(
        targets, "resolve", lambda args, optional=False: targets.from_runtime(pipeline.runtime, crowded)
    )


def people(tmp_path: Path, rows: int) -> Path:
    run = uuid.uuid4().hex[:8]
    lines = ["email,external_id,name"] + [f"p{i}-{run}@example.com,x-{run}-{i},Person {i}" for i in range(rows)]
    path = tmp_path / f"people-{run}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", *argv, "--quiet", "--timeout", "120"])
    return code, out.getvalue(), err.getvalue()


def test_run_prints_what_the_import_wrote_not_the_whole_sandbox(on_the_stack: None, tmp_path: Path):
    path = people(tmp_path, 5)
    code, out, err = run(str(path))

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) < 100, out[-2000:]
    assert (
        "Written to the Intercom sandbox by this import: 5 contacts (5 created, 0 updated), 0 companies; "
        f"the sandbox holds {SEEDED + 5:,} contacts and 0 companies"
    ) in lines
    listed = [line for line in lines if "@example.com" in line and line.startswith("  user")]
    assert len(listed) == 5
    assert not any("@example.org" in line for line in lines)  # none of the contacts already there


def test_run_json_holds_only_this_imports_contacts_bounded(on_the_stack: None, tmp_path: Path):
    path = people(tmp_path, SHOWN + 5)
    code, out, err = run(str(path), "--json")

    assert code == 0, err
    assert len(out) < 50_000
    written = json.loads(out)["intercom"]
    assert (written["contacts_created"], written["contacts_updated"]) == (SHOWN + 5, 0)
    assert len(written["contacts"]) == SHOWN
    assert {c["outcome"] for c in written["contacts"]} == {"created"}
    assert all(c["email"].endswith("@example.com") for c in written["contacts"])
    assert written["sandbox_contacts"] >= SEEDED + SHOWN + 5


def test_run_of_a_dry_run_says_nothing_was_written(on_the_stack: None, tmp_path: Path):
    code, out, err = run(str(people(tmp_path, 5)), "--dry-run")

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) < 100
    assert any(line.startswith("Intercom sandbox: nothing written (dry run); the sandbox holds") for line in lines)
