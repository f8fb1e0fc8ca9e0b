"""``intercom-import status`` says when a job's chunks wait behind another import's, and only then."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from importer_cli import jobs_commands
from importer_cli.display import job_details, progress_line
from importer_cli.errors import CliError
from importer_cli.jobs_commands import WAITING_BEHIND, present, waiting_behind
from intercom_importer.job_record import Job

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 7, 10, 0, 0, tzinfo=UTC)


def _iso(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _job(job_id: str, *, done: int, quiet_for: float, status: str = "importing", created: float = 60) -> Job:
    return Job(
        job_id=job_id,
        status=status,
        chunks_total=30,
        chunks_done=done,
        created_at=_iso(created),
        updated_at=_iso(quiet_for),
    )


BUSY = _job("job-a", done=12, quiet_for=0.5, created=90)


def test_a_job_without_chunks_done_for_seconds_while_another_imports_waits_behind_it():
    assert waiting_behind(_job("job-b", done=0, quiet_for=8), [BUSY], NOW) == ["job-a"]


def test_a_job_whose_chunks_were_just_queued_is_starting_not_waiting():
    assert waiting_behind(_job("job-b", done=0, quiet_for=2), [BUSY], NOW) == []


def test_a_job_with_a_chunk_done_is_not_waiting():
    assert waiting_behind(_job("job-b", done=1, quiet_for=8), [BUSY], NOW) == []


def test_a_job_alone_is_not_waiting_behind_anyone():
    job = _job("job-b", done=0, quiet_for=8)
    assert waiting_behind(job, [job], NOW) == []


def test_jobs_that_recorded_nothing_for_minutes_or_none_yet_hold_no_worker():
    stale = _job("job-old", done=5, quiet_for=3600)
    not_started = _job("job-c", done=0, quiet_for=30)
    assert waiting_behind(_job("job-b", done=0, quiet_for=8), [stale, not_started], NOW) == []


def test_status_names_the_jobs_ahead_in_text_and_json():
    job = _job("job-b", done=0, quiet_for=8)
    shown = replace(job, extra={WAITING_BEHIND: ["job-a"]})

    assert "waiting      its chunks are queued behind those of job-a (SQS shares" in job_details(shown)
    assert "0/30 chunks" in progress_line(shown) and "queued behind those of job-a" in progress_line(shown)
    assert present(shown)[WAITING_BEHIND] == ["job-a"]
    assert present(job)[WAITING_BEHIND] == []
    assert "waiting" not in job_details(job)


class _Store:
    def __init__(self, job: Job) -> None:
        self.job = job

    def get(self, job_id: str) -> Job:
        return self.job


class _Target:
    def __init__(self, job: Job) -> None:
        self.store = _Store(job)

    def job_store(self) -> _Store:
        return self.store


def _waiting_job() -> Job:
    now = datetime.now(UTC)
    return replace(
        _job("job-b", done=0, quiet_for=0),
        updated_at=(now - timedelta(seconds=8)).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    )


def test_get_job_adds_the_jobs_a_waiting_job_is_queued_behind(monkeypatch):
    busy = replace(BUSY, updated_at=datetime.now(UTC).isoformat().replace("+00:00", "Z"))
    monkeypatch.setattr(jobs_commands, "history", lambda target, **_: [busy])

    job = jobs_commands.get_job(_Target(_waiting_job()), "job-b")  # type: ignore[arg-type]

    assert job is not None and present(job)[WAITING_BEHIND] == ["job-a"]


def test_get_job_shows_the_job_as_it_is_when_the_others_cannot_be_listed(monkeypatch):
    def refused(target, **_):
        raise CliError("listing jobs: AccessDenied")

    monkeypatch.setattr(jobs_commands, "history", refused)

    job = jobs_commands.get_job(_Target(_waiting_job()), "job-b")  # type: ignore[arg-type]

    assert job is not None and present(job)[WAITING_BEHIND] == []
