"""Blank lines through the whole pipeline (issue #12): a spreadsheet export's whitespace-only lines and rows of
empty cells are not rows. They neither reject the file under ``reject_file`` nor become empty leads under
``skip_rows``; the job, ``run --json``, ``status --json`` and the email count them as blank lines.

The file is the corpus's ``blank_lines.csv`` (tests/corpus/make_corpus.py): three people on lines 2, 4 and 8;
a line of spaces in the middle, rows of empty cells (``,,`` and ``"","",""``), an empty line and, last, a line
of spaces and a tab without a line break: six blank lines, CRLF line endings.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from pipeline_helpers import DEFAULT_STACK, cli_json, counts, default_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(DEFAULT_STACK)]

CORPUS_FILE = Path(__file__).resolve().parents[1] / "corpus" / "blank_lines.csv"
PEOPLE = [
    ("ada@example.com", "u-1", "Ada Lovelace"),
    ("alan@example.com", "u-3", "Alan Turing"),
    ("grace@example.com", "u-2", "Grace Hopper"),
]
BLANK_LINES = 6


sandbox, pipeline = default_stack_fixtures()  # one stack for the modules with the template's defaults


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)


def import_blank_lines_file(stack_file: Path, tmp_path: Path, policy: str) -> dict[str, Any]:
    """``intercom-import run`` of the corpus file (under its own name) with ``--invalid-rows policy``: its summary."""
    path = tmp_path / f"blank-lines-{policy}.csv"
    shutil.copyfile(CORPUS_FILE, path)
    return cli_json(stack_file, "run", str(path), "--invalid-rows", policy, "--quiet")


@pytest.mark.parametrize("policy", ["reject_file", "skip_rows"])
def test_blank_lines_neither_reject_the_file_nor_reach_intercom(pipeline, sandbox, stack_file, tmp_path, policy):
    summary = import_blank_lines_file(stack_file, tmp_path, policy)

    job = pipeline.wait_done(summary["job_id"])
    assert summary["status"] == job["status"] == "completed"
    assert counts(job) == {"rows": 3, "created": 3, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert (summary["rows"], summary["created"], summary["invalid"]) == (3, 3, 0)
    assert job["blank_lines"] == summary["blank_lines"] == BLANK_LINES
    assert job["options"]["invalid_rows"] == policy
    assert not job.get("error_file_key")
    contacts = sandbox.state()["contacts"]
    assert sorted((c.get("email"), c.get("external_id"), c.get("name")) for c in contacts) == PEOPLE
    assert [c["role"] for c in contacts] == ["user", "user", "user"]  # no empty lead


def test_blank_lines_are_on_the_job_status_and_quietly_in_the_email(pipeline, stack_file, tmp_path):
    job_id = import_blank_lines_file(stack_file, tmp_path, "reject_file")["job_id"]

    status = cli_json(stack_file, "status", job_id)

    assert (status["status"], status["rows"], status["blank_lines"]) == ("completed", 3, BLANK_LINES)
    [email] = pipeline.emails_for(job_id)
    assert email["text"].count("6 blank lines were ignored.") == 1
    assert email["html"].count("6 blank lines were ignored.") == 1
