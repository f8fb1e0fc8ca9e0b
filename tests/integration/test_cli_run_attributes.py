"""``intercom-import run`` announces the custom attributes an import would create before it uploads (issue #15):
Intercom can archive a data attribute but never delete one. The announcement is worked out from the file's header
with the validator's own code, against the workspace's data attributes as the stack's token lists them, and is on
stderr even with --quiet (which hides the progress bar only) and with --json (which also holds it).

The stack is the shared one (template.yaml on moto, the Intercom sandbox), reached as ``run`` reaches a stack
started by ``up``."""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer_cli import jobs_commands, targets
from importer_cli.errors import EXIT_IMPORT_PROBLEMS
from pipeline_helpers import DEFAULT_STACK, Pipeline, default_stack_fixtures, run_cli

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()

PERMANENT = "Intercom can archive a data attribute but never delete one"


@pytest.fixture
def uploads(sandbox: Any, pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """``run`` finds the shared stack as it finds one started by ``up``; each upload records what stderr held
    when it began (the announcement must be there already)."""
    monkeypatch.setenv("INTERCOM_IMPORT_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.setattr(
        targets, "resolve", lambda args, optional=False: targets.from_runtime(pipeline.runtime, sandbox)
    )
    upload = jobs_commands.upload
    seen: list[str] = []

    def recording(*args: Any, **kwargs: Any) -> Any:
        seen.append(sys.stderr.getvalue())  # type: ignore[attr-defined]  # run_cli's StringIO
        return upload(*args, **kwargs)

    monkeypatch.setattr(jobs_commands, "upload", recording)
    return seen


def csv_file(tmp_path: Path, header: str, *rows: str) -> Path:
    path = tmp_path / f"people-{uuid.uuid4().hex[:8]}.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def mapping_file(tmp_path: Path, mapping: dict[str, Any]) -> str:
    path = tmp_path / f"mapping-{uuid.uuid4().hex[:8]}.json"
    path.write_text(json.dumps(mapping), encoding="utf-8")
    return str(path)


def run(*argv: str) -> tuple[int, dict[str, Any], str]:
    code, out, err = run_cli("run", *argv, "--quiet", "--json", "--timeout", "120")
    return code, json.loads(out) if out.strip() else {}, err


def announced(err: str) -> list[str]:
    """The announcement's lines in what ``run`` printed on stderr."""
    return [line for line in err.splitlines() if "custom attribute" in line or "data attributes" in line]


def names(attributes: list[dict[str, Any]]) -> list[str]:
    return [a["name"] for a in attributes]


def test_run_announces_the_attributes_it_will_create_before_uploading(uploads: list[str], tmp_path: Path):
    tier, seats = f"tier_{uuid.uuid4().hex[:6]}", f"seats_{uuid.uuid4().hex[:6]}"
    path = csv_file(tmp_path, f"email,{tier},{seats}", "an1@example.com,gold,3", "an2@example.com,silver,5")
    mapping = mapping_file(tmp_path, {"columns": {seats: {"type": "integer"}}})

    code, summary, err = run(str(path), "--mapping", mapping)

    assert code == 0, err
    line = (
        f"This import will create 2 custom attributes in Intercom (people): {tier} (type from its values), "
        f"{seats} (integer). {PERMANENT}: --dry-run shows the import first, --create-attributes explicit refuses "
        "columns the mapping does not name."
    )
    [before_upload] = uploads
    assert announced(before_upload) == [line]  # said before anything was uploaded
    assert announced(err) == [line]  # and once
    assert names(summary["attributes_announced"]) == names(summary["new_attributes"]) == [tier, seats]
    assert summary["attributes_announced"][1] == summary["new_attributes"][1]  # the declared type, as created
    assert summary["attributes_announcement"] == [line]


def test_run_announces_nothing_when_the_header_s_attributes_exist(uploads: list[str], tmp_path: Path):
    tier = f"tier_{uuid.uuid4().hex[:6]}"
    first = run(str(csv_file(tmp_path, f"email,{tier}", "again1@example.com,gold")))
    assert names(first[1]["new_attributes"]) == [tier], first[2]

    code, summary, err = run(str(csv_file(tmp_path, f"email,{tier}", "again2@example.com,silver")))

    assert code == 0, err
    assert announced(uploads[-1]) == announced(err) == []
    assert summary["attributes_announced"] == summary["new_attributes"] == []


def test_run_announcement_follows_the_mapping_s_ignored_and_renamed_columns(uploads: list[str], tmp_path: Path):
    renamed = f"plan_{uuid.uuid4().hex[:6]}"
    path = csv_file(tmp_path, "email,Plan Tier,Notes", "map1@example.com,gold,keep out")
    mapping = mapping_file(tmp_path, {"columns": {"Plan Tier": renamed, "Notes": {"ignore": True}}})

    code, summary, err = run(str(path), "--mapping", mapping)

    assert code == 0, err
    assert names(summary["attributes_announced"]) == names(summary["new_attributes"]) == [renamed]
    assert f"1 custom attribute in Intercom (people): {renamed} (type from its values)." in announced(uploads[0])[0]
    assert "Notes" not in err and "Plan Tier" not in announced(err)[0]


def test_run_says_when_the_workspace_cannot_be_read_and_assumes_none_exist(
    uploads: list[str], sandbox: Any, tmp_path: Path
):
    existing = f"tier_{uuid.uuid4().hex[:6]}"
    sandbox.app.workspace.create_data_attribute({"name": existing, "model": "contact", "data_type": "string"})
    sandbox.add_fault(method="GET", path="/data_attributes", kind="status", status=403, times=1)  # run's listing
    path = csv_file(tmp_path, f"email,{existing}", "locked1@example.com,gold")

    code, summary, err = run(str(path))

    assert code == 0, err  # the import is not blocked
    said = announced(uploads[0])
    assert said[0].startswith("Could not read the workspace's data attributes (")
    assert said[0].endswith("the attributes below assume none exist yet.")
    assert f"will create 1 custom attribute in Intercom (people): {existing} " in said[1]
    assert summary["new_attributes"] == []  # the validator read the workspace: the attribute exists


def test_run_of_a_dry_run_announces_what_the_import_would_create(uploads: list[str], tmp_path: Path):
    tier = f"tier_{uuid.uuid4().hex[:6]}"
    path = csv_file(tmp_path, f"email,{tier}", "dry1@example.com,gold")

    code, summary, err = run(str(path), "--dry-run")

    assert code == 0, err
    [line] = announced(uploads[0])
    assert line.startswith(
        f"This dry run writes nothing; the import would create 1 custom attribute in Intercom (people): {tier} "
    )
    assert names(summary["attributes_announced"]) == names(summary["new_attributes"]) == [tier]


def test_run_under_explicit_says_up_front_that_the_stack_will_refuse_the_file(uploads: list[str], tmp_path: Path):
    tier = f"tier_{uuid.uuid4().hex[:6]}"
    path = csv_file(tmp_path, f"email,{tier}", "refused1@example.com,gold")

    code, summary, err = run(str(path), "--create-attributes", "explicit")

    assert code == EXIT_IMPORT_PROBLEMS, err  # uploaded all the same: the job and its email record the refusal
    [line] = announced(uploads[0])
    assert line.startswith(f"The stack will refuse this file: column '{tier}' would create a new custom attribute ")
    assert summary["status"] == "rejected" and f"'{tier}' would create new custom attribute" in summary["reason"]
    assert summary["attributes_announced"] == summary["new_attributes"] == []
