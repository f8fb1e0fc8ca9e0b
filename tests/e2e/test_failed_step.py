"""A state machine step that fails still ends in exactly one email, and the job is marked failed."""

from __future__ import annotations

from pathlib import Path

import pytest

from intercom_sandbox import SandboxServer
from pipeline_helpers import local_pipeline

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    with (
        SandboxServer(port=0) as sandbox,
        local_pipeline(
            sandbox.url,
            "any-token",
            tmp_path_factory.mktemp("logs"),
            # A broken deployment of the report function: its settings fail to load on every attempt.
            function_env_overrides={"ReportFunction": {"REPORT_LINK_EXPIRY_SECONDS": "not-a-number"}},
        ) as pipeline,
    ):
        yield pipeline


def test_failing_report_step_sends_the_fallback_email_once_and_marks_the_job_failed(pipeline):
    job_id = pipeline.upload("incoming/people.csv", (ROOT / "events" / "people.csv").read_text())
    pipeline.wait_done(job_id)

    execution = pipeline.execution(job_id)
    assert execution["status"] == "FAILED"
    job = pipeline.job(job_id)
    assert job["status"] == "failed"
    assert "SettingsError" in job["failure_detail"]
    emails = pipeline.emails_for(job_id)
    assert len(emails) == 1
    assert emails[0]["subject"] == f"Import failed: the report of job {job_id} could not be built"
    assert emails[0]["text"].startswith("Import failed: the report could not be built\n\nThe import job ")
    assert f"intercom-import status {job_id}" in emails[0]["text"]
    assert emails[0]["to"] == ["ops@example.com"]
