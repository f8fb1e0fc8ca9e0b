"""What a first-time user reads (issue #15): the problem kinds `status` and the email count alike, a dry run's
counts worded as what it would do, an ephemeral run's email pointing at no `status` command that cannot work, and
the README's job states and diagram matching the code and the template."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from importer_cli import local_stack
from importer_cli.display import counts_line, job_details, outcome_counts
from intercom_importer import jobs
from intercom_importer.job_record import Job
from intercom_importer.summary import render_email
from intercom_importer.undo import UNDOING

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
SIX_KINDS = {f"c{i}: is wrong": 10 - i for i in range(6)}


def job(**changes: Any) -> Job:
    record: dict[str, Any] = {
        "job_id": "job-1",
        "bucket": "icimport-test",
        "key": "incoming/people.csv",
        "import_type": "people",
        "status": jobs.COMPLETED_WITH_ERRORS,
        "options": {"existing": "update", "role": "user", "invalid_rows": "skip_rows"},
        "rows": 60,
        "created": 5,
        "invalid": 55,
        "reported_at": "2026-03-14T09:41:07.512Z",
        "problem_kinds": SIX_KINDS,
        "problems_sample": [],
    }
    record.update(changes)
    return Job.from_item(record)


def email(record: Job, status: str = jobs.COMPLETED_WITH_ERRORS, **kw: Any) -> dict[str, Any]:
    return render_email(
        record, status=status, reason=kw.pop("reason", None), error_link="", link_expiry_seconds=3600,
        recipients=["ops@example.com"], **kw,
    )  # fmt: skip


# ------------------------------------------------------------------------------------------- problem kinds
def test_status_counts_the_problem_kinds_it_does_not_list():
    [line] = [line for line in job_details(job()).splitlines() if "top problems" in line]

    assert "c4: is wrong (6)" in line and "c5: is wrong" not in line
    assert line.endswith("; and 1 more kind of problem: see the error file")


def test_email_counts_one_more_kind_in_the_singular_as_status_does():
    text = email(job())["text"]

    assert "- and 1 more kind of problem: see the error file" in text
    assert "more kinds" not in text


def test_status_lists_five_kinds_without_a_more_note():
    five = dict(list(SIX_KINDS.items())[:5])
    [line] = [line for line in job_details(job(problem_kinds=five)).splitlines() if "top problems" in line]

    assert "more" not in line and "c4: is wrong (6)" in line


# ------------------------------------------------------------------------------------------- dry runs
def test_a_dry_runs_counts_say_what_it_would_do():
    counts = {"rows": 5, "created": 5}

    assert outcome_counts(counts, dry_run=True).startswith("would-create 5  would-update 0  unchanged 0")
    assert "created" not in outcome_counts(counts, dry_run=True)
    assert counts_line(job(dry_run=True, created=5, invalid=0, rows=5)).startswith("rows 5: would-create 5, ")


# ------------------------------------------------------------------------------------------- ephemeral runs
@pytest.mark.parametrize("status", [jobs.COMPLETED_WITH_ERRORS, jobs.FAILED, jobs.INCOMPLETE])
def test_an_ephemeral_runs_email_points_at_no_status_command(status: str):
    many_attributes = [{"name": f"a{i}", "data_type": "string"} for i in range(40)]
    record = job(new_attributes=many_attributes, attribute_notes=[f"note {i}" for i in range(12)], chunks_total=2)

    sent = email(record, status, reason="it stopped", history_kept=False)

    for body in (sent["text"], sent["html"]):
        assert "intercom-import status" not in body
        assert "kept no history" in body
        assert "intercom-import up --detach" in body


def test_a_kept_stacks_email_still_says_how_to_see_the_status():
    sent = email(job())

    assert "Status at any time: intercom-import status job-1" in sent["text"]
    assert "intercom-import status job-1" in sent["html"]
    assert "kept no history" not in sent["text"]


class _Runtime:
    """Stands in for LocalRuntime: records what the functions would be given."""

    seen: dict[str, Any] = {}

    def __init__(self, **kwargs: Any) -> None:
        _Runtime.seen = kwargs

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


@pytest.mark.parametrize(("keeps", "expected"), [(False, "false"), (True, None)])
def test_the_ephemeral_stack_tells_its_functions_it_keeps_no_history(monkeypatch, keeps: bool, expected: str | None):
    import local_runtime

    monkeypatch.setattr(local_runtime, "LocalRuntime", _Runtime)
    with contextlib.ExitStack() as stack:
        stack.enter_context(
            local_stack.local_pipeline(intercom_url="http://127.0.0.1:9", intercom_token="t", keeps_history=keeps)
        )
    environment = _Runtime.seen["options"].function_env_overrides["*"]
    assert environment.get(local_stack.KEEPS_HISTORY_ENV) == expected
    assert environment["POWERTOOLS_TRACE_DISABLED"] == "true"


# ------------------------------------------------------------------------------------------- README
def _section(title: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(title)
    end = text.find("\n#", start + len(title))
    return text[start:end]


def test_readme_job_states_name_every_status_a_job_can_have():
    section = _section("### Job states")
    statuses = {jobs.VALIDATING, jobs.IMPORTING, *jobs.TERMINAL, UNDOING}

    assert {s for s in statuses if f"`{s}`" not in section} == set()
    named = set(re.findall(r"`([a-z_]+)`", re.split(r"The\s+job record", section)[0]))
    assert named - statuses - {"queueing"} == set()  # "queueing" is named as the state there is not


def _functions() -> list[str]:
    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(encoding="utf-8"), Loader=Loader)
    return [name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]


def test_readme_diagram_shows_every_function_of_the_template():
    diagram = _section("## How it works").split("```mermaid", 1)[1].split("```", 1)[0]
    names = {f: "-".join(re.findall(r"[A-Z][a-z]+", f.removesuffix("Function"))).capitalize() for f in _functions()}

    assert "SweepFunction" in names
    assert {f for f, name in names.items() if f"{name} function" not in diagram} == set()


def test_readme_says_an_ephemeral_run_keeps_no_history():
    cli = _section("## CLI")

    assert "there is no history: `status JOB`" in cli
    assert "intercom-import up --detach" in cli
