"""Change-aware imports (issue #13): a re-import writes only what changed, says so, and logs it.

Each import is the real CLI (``intercom-import run FILE --json``) through the shared stack, against the sandbox as
Intercom documents it. Between imports the sandbox is *settled* (its search lag has passed, as for a partner's
daily dump), so the chunk's search shows every contact with its values. Intercom calls are what the sandbox
received (``/__sandbox/stats``), every call counted: searches, the validator's attribute listing, each worker
environment's ``GET /me``.

The file: 1,000 people with an email, an external_id, a name, a text and an integer custom attribute and a
sign-up date (``signed_up_at``, compared as unix seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pipeline_helpers import SECOND_STACK, cli_json, run_cli, second_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(SECOND_STACK)]

ROWS = 1000
CHANGED = ROWS // 20  # 5%
HEADER = "email,external_id,name,plan,seats,signed_up"

sandbox, pipeline = second_stack_fixtures()


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)


def row(i: int, *, name: str | None = None, plan: str | None = None) -> str:
    day = 1 + i % 28
    return (
        f"Person{i}@Example.com,ext-{i},{name or f'Person {i}'},{plan or ('pro' if i % 2 else 'free')},"
        f"{i % 50},2024-03-{day:02d}"
    )


def write(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join([HEADER, *rows]) + "\n")
    return path


def run(stack_file: Path, sandbox: Any, path: Path) -> tuple[dict[str, Any], int]:
    """The import's summary and the Intercom calls it made (what the sandbox received)."""
    sandbox.reset_stats()
    summary = cli_json(stack_file, "run", str(path), "--quiet")
    return summary, int(sandbox.stats()["total_requests"])


def counts(summary: dict[str, Any]) -> dict[str, int]:
    return {k: summary[k] for k in ("rows", "created", "updated", "unchanged", "skipped", "failed", "invalid")}


def changed_row(i: int) -> str:
    return row(i, name=f"Renamed {i}") if i % 2 else row(i, plan="enterprise")


def change_log(pipeline: Any, job_id: str) -> list[dict[str, Any]]:
    """The import's change log as its chunk records name it (each the log of the delivery that recorded it)."""
    lines: list[dict[str, Any]] = []
    for record in sorted(pipeline.chunk_records(job_id), key=lambda r: r["chunk"]):
        if record.get("changes_key"):
            body = pipeline.s3.get_object(Bucket=pipeline.bucket, Key=record["changes_key"])["Body"].read().decode()
            lines += [json.loads(line) for line in body.splitlines() if line.strip()]
    return lines


def test_an_unchanged_re_import_writes_nothing_and_a_five_percent_change_writes_exactly_those_rows(
    pipeline, sandbox, stack_file, tmp_path
):
    original = write(tmp_path / "people.csv", [row(i) for i in range(ROWS)])
    first, _ = run(stack_file, sandbox, original)
    values_after_first = values(sandbox)
    assert counts(first) == {
        "rows": ROWS,
        "created": ROWS,
        "updated": 0,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
    }
    assert len(change_log(pipeline, first["job_id"])) == ROWS  # every create logged
    sandbox.settle()  # the search lag has passed: the search shows every contact

    again, calls = run(stack_file, sandbox, write(tmp_path / "people-again.csv", [row(i) for i in range(ROWS)]))

    assert counts(again) == {
        "rows": ROWS,
        "created": 0,
        "updated": 0,
        "unchanged": ROWS,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
    }
    assert calls / ROWS <= 0.02, f"{calls} calls for {ROWS} unchanged rows"
    routes = sandbox.stats()["by_route"]
    assert not any(r.startswith(("PUT ", "POST /contacts/{", "POST /tags")) for r in routes), routes
    assert change_log(pipeline, again["job_id"]) == []

    changed = {i * 20 + 3 + i % 2 for i in range(CHANGED)}  # odd rows renamed, even rows a new plan
    edited = [(changed_row(i) if i in changed else row(i)) for i in range(ROWS)]
    third, calls = run(stack_file, sandbox, write(tmp_path / "people-5pct.csv", edited))

    assert counts(third) == {
        "rows": ROWS,
        "created": 0,
        "updated": CHANGED,
        "unchanged": ROWS - CHANGED,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
    }
    assert calls / ROWS <= 0.07, f"{calls} calls for {ROWS} rows, {CHANGED} changed"
    puts = sandbox.stats()["by_route"].get("PUT /contacts/{contact_id}", {})
    assert sum(puts.values()) == CHANGED
    logged = {entry["line"]: entry for entry in change_log(pipeline, third["job_id"])}
    assert sorted(logged) == sorted(i + 2 for i in changed)  # line 2 is row 0
    for i in changed:
        entry = logged[i + 2]
        assert entry["outcome"] == "updated" and entry["kind"] == "contact"
        if i % 2:
            assert entry["fields"] == {"name": [f"Person {i}", f"Renamed {i}"]} and "custom_attributes" not in entry
        else:
            assert entry["custom_attributes"] == {"plan": ["free", "enterprise"]} and "fields" not in entry
    held = {c["external_id"]: c for c in sandbox.state()["contacts"]}
    assert held["ext-3"]["name"] == "Renamed 3" and held["ext-24"]["custom_attributes"]["plan"] == "enterprise"
    assert len(held) == ROWS

    # undo of the 5% import: every changed value back, nothing else touched; a second undo changes nothing
    undone = cli_json(stack_file, "undo", third["job_id"], "--yes")
    assert (undone["restored"], undone["contacts_restored"], undone["archived"]) == (CHANGED, CHANGED, 0)
    assert undone["left_alone"] == [] and undone["already_undone"] is False
    assert values(sandbox) == values_after_first
    status = cli_json(stack_file, "status", third["job_id"])
    assert status["undone_at"] and status["undo_job_id"] == undone["undo_job_id"]
    [email] = pipeline.emails_for(undone["undo_job_id"])
    assert f"{CHANGED}" in email["text"]
    sandbox.reset_stats()
    again = cli_json(stack_file, "undo", third["job_id"], "--yes")
    assert again["already_undone"] is True
    assert values(sandbox) == values_after_first
    writes = [r for r in sandbox.stats()["by_route"] if not r.startswith(("GET", "POST /contacts/search"))]
    assert writes == []
    assert len(pipeline.emails_for(undone["undo_job_id"])) == 1


def test_a_corrected_file_right_after_a_wrong_one_puts_every_value_back(pipeline, sandbox, stack_file, tmp_path):
    """The sandbox shows a contact's values from before an update for minutes (Intercom documents no update lag,
    nor its absence): the corrected file's values equal what search still shows, and only the ledger's note of the
    wrong import's updates tells the importer to read the contacts instead."""
    rows = [row(i) for i in range(20)]
    run(stack_file, sandbox, write(tmp_path / "right.csv", rows))
    sandbox.settle()
    right = values(sandbox)
    wrong, _ = run(stack_file, sandbox, write(tmp_path / "wrong.csv", [changed_row(i) for i in range(20)]))
    assert (wrong["updated"], values(sandbox) != right) == (20, True)

    corrected, _ = run(stack_file, sandbox, write(tmp_path / "corrected.csv", rows))

    assert counts(corrected) == {
        "rows": 20,
        "created": 0,
        "updated": 20,
        "unchanged": 0,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
    }
    assert values(sandbox) == right
    routes = sandbox.stats()["by_route"]
    assert sum(routes["GET /contacts/{contact_id}"].values()) == 20  # each contact read: search showed it stale
    assert sum(routes["PUT /contacts/{contact_id}"].values()) == 20


def history_json(stack_file: Path) -> list[dict[str, Any]]:
    """``intercom-import history --json``: one object per job, newest first."""
    code, out, err = run_cli("history", "--limit", "50", "--outputs", str(stack_file), "--json")
    assert code == 0, err
    return list(json.loads(out))


def values(sandbox: Any) -> dict[str, tuple[Any, ...]]:
    """Each contact's values an import writes, by external_id (archived contacts apart)."""
    return {
        c["external_id"]: (c["email"], c["name"], c["custom_attributes"], c["signed_up_at"], c["archived"])
        for c in sandbox.state()["contacts"]
    }


def test_undo_archives_what_an_import_created_and_restores_what_it_updated(pipeline, sandbox, stack_file, tmp_path):
    first, _ = run(stack_file, sandbox, write(tmp_path / "few.csv", [row(i) for i in range(30)]))
    assert first["created"] == 30
    sandbox.settle()
    before = values(sandbox)
    rows = [changed_row(i) if i % 6 == 0 else row(i) for i in range(30)] + [row(i) for i in range(30, 40)]
    second, _ = run(stack_file, sandbox, write(tmp_path / "few-more.csv", rows))
    assert counts(second) == {
        "rows": 40,
        "created": 10,
        "updated": 5,
        "unchanged": 25,
        "skipped": 0,
        "failed": 0,
        "invalid": 0,
    }

    dry = cli_json(stack_file, "undo", second["job_id"], "--dry-run")
    assert (dry["restored"], dry["archived"]) == (5, 10)
    assert values(sandbox) != before  # the dry run wrote nothing

    undone = cli_json(stack_file, "undo", second["job_id"], "--yes")

    assert (undone["restored"], undone["contacts_restored"], undone["archived"]) == (5, 5, 10)
    after = values(sandbox)
    assert {k: v for k, v in after.items() if not v[-1]} == before  # the 10 created are archived, never deleted
    assert sorted(k for k, v in after.items() if v[-1]) == [f"ext-{i}" for i in range(30, 40)]
    history = {job["job_id"]: job for job in history_json(stack_file)}
    assert history[second["job_id"]]["undo_job_id"] == undone["undo_job_id"]
    assert history[second["job_id"]]["undone_at"]
    assert cli_json(stack_file, "undo", second["job_id"], "--yes")["already_undone"] is True
    assert values(sandbox) == after
