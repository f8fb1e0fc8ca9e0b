"""Where a file's rows ended, as the CLI shows them: ``history`` and ``status`` (text and ``--json``) read from a jobs
table on a moto server through ``--outputs`` (no stack), and the progress and summary lines of ``run``. Every outcome
is shown, ``unchanged`` included (Intercom already held every value of the row: nothing was written); a dry run's
say what the import would do."""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from importer_cli.commands.stack import _print_run_summary
from importer_cli.display import progress_line
from importer_cli.main import main
from intercom_importer import jobs
from intercom_importer.job_record import Job
from moto_server import REGION, create_jobs_table, moto_server_fixture, session

pytestmark = pytest.mark.integration

moto_url = moto_server_fixture()

# one chunk's rows: 1 created, 1 updated, 3 unchanged, 1 failed; and one invalid row (7 rows in the file)
CHUNK = {"created": 1, "updated": 1, "unchanged": 3, "failed": 1}
COUNTS = {"rows": 7, "created": 1, "updated": 1, "unchanged": 3, "skipped": 0, "failed": 1, "invalid": 1}


class Stack:
    """A jobs table of its own and the ``--outputs`` file (a ``stack.json`` as ``up`` writes it) that names it."""

    def __init__(self, moto_url: str, folder: Path) -> None:
        name = f"jobs-{uuid.uuid4().hex[:10]}"
        self.table = create_jobs_table(session().resource("dynamodb", endpoint_url=moto_url), name)
        self.store = jobs.JobStore(self.table)
        self.file = folder / "stack.json"
        keys = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test", "AWS_REGION": REGION}
        outputs = {"JobsTableName": name, "ImportBucketName": "icimport-test"}
        self.file.write_text(
            json.dumps({"endpoint_url": moto_url, "region": REGION, "aws_env": keys, "outputs": outputs})
        )

    def job(self, job_id: str, *, dry_run: bool = False) -> str:
        """A finished job whose one chunk was recorded twice (a redelivery): its counts added once."""
        fields = {"status": jobs.COMPLETED_WITH_ERRORS, "bucket": "icimport-test", "key": f"incoming/{job_id}.csv"}
        self.store.create(job_id, {**fields, "import_type": "people", "rows": 7, "invalid": 1, "dry_run": dry_run})
        for _ in range(2):
            self.store.record_chunk(job_id, 1, CHUNK, result_key=None, source="worker")
        self.store.update(job_id, {"chunks_total": 1, "finished_at": jobs.now_iso()})
        return job_id

    def cli(self, *argv: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main([*argv, "--outputs", str(self.file)])
        assert code in (0, 1), err.getvalue()
        return code, out.getvalue()


@pytest.fixture
def stack(moto_url: str, tmp_path: Path) -> Stack:
    return Stack(moto_url, tmp_path)


def row_counts(record: dict[str, Any]) -> dict[str, Any]:
    return {k: record[k] for k in COUNTS}


def test_history_json_lists_each_jobs_unchanged_rows(stack: Stack):
    job_id = stack.job("job-unchanged-history")

    _, out = stack.cli("history", "--json")

    [row] = json.loads(out)
    assert (row["job_id"], row_counts(row)) == (job_id, COUNTS)


def test_history_table_has_an_unchanged_column(stack: Stack):
    stack.job("job-unchanged-table")

    _, out = stack.cli("history")

    header, line = out.strip().splitlines()
    assert header.split()[6:14] == [
        "ROWS",
        "CREATED",
        "UPDATED",
        "UNCHANGED",
        "SKIPPED",
        "FAILED",
        "INVALID",
        "UPLOADED",
    ]
    assert line.split()[6:13] == ["7", "1", "1", "3", "0", "1", "1"]


def test_status_json_has_the_unchanged_rows(stack: Stack):
    job_id = stack.job("job-unchanged-status")

    code, out = stack.cli("status", job_id, "--json")

    assert code == 1  # completed with errors
    assert row_counts(json.loads(out)) == COUNTS


def test_status_shows_the_unchanged_rows_among_the_counts(stack: Stack):
    job_id = stack.job("job-unchanged-text")

    _, out = stack.cli("status", job_id)

    assert (
        "  counts       rows 7: created 1, updated 1, unchanged 3, skipped 0, failed 1, invalid 1" in out.splitlines()
    )


def test_status_of_a_dry_run_says_what_the_import_would_do(stack: Stack):
    job_id = stack.job("job-unchanged-dry", dry_run=True)

    _, out = stack.cli("status", job_id)

    counts = "rows 7: would-create 1, would-update 1, unchanged 3, would-skip 0, would-fail 1, invalid 1"
    assert f"  counts       {counts}" in out.splitlines()


def test_status_json_of_a_job_recorded_before_the_unchanged_outcome_counts_none(stack: Stack):
    older = {"pk": "JOB#job-older", "sk": "META", "job_id": "job-older", "status": "completed", "rows": 2}
    stack.table.put_item(Item={**older, "created": 1, "updated": 1, "skipped": 0, "failed": 0, "invalid": 0})

    _, out = stack.cli("status", "job-older", "--json")

    assert row_counts(json.loads(out)) == {**dict.fromkeys(COUNTS, 0), "rows": 2, "created": 1, "updated": 1}


# ------------------------------------------------------------------------------------------- run's lines
def test_progress_line_counts_every_outcome():
    job = Job(status="importing", chunks_total=2, chunks_done=1, created=1, updated=1, unchanged=3, failed=1)

    assert progress_line(job).endswith("1/2 chunks  created 1  updated 1  unchanged 3  skipped 0  failed 1  invalid 0")


def test_progress_line_of_a_dry_run_says_what_would_change_and_what_is_unchanged():
    job = Job(status="importing", chunks_total=1, chunks_done=1, created=2, unchanged=3, dry_run=True)

    line = progress_line(job)

    assert line.endswith("would-create 2  would-update 0  unchanged 3  would-skip 0  would-fail 0  invalid 0")


@pytest.mark.parametrize(
    ("dry_run", "line"),
    [
        (False, "  rows 7  created 1  updated 1  unchanged 3  skipped 0  failed 1  invalid 1"),
        (True, "  rows 7  would-create 1  would-update 1  unchanged 3  would-skip 0  would-fail 1  invalid 1"),
    ],
    ids=["import", "dry run"],
)
def test_run_summary_line_counts_every_outcome(capsys: pytest.CaptureFixture[str], dry_run: bool, line: str):
    summary = {"job_id": "job-1", "status": "completed_with_errors", "dry_run": dry_run, **COUNTS, "emails_sent": 0}

    _print_run_summary(summary)

    assert line in capsys.readouterr().out.splitlines()
