"""A partner's latest upload in the jobs table (moto's in-process DynamoDB, no network)."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from intercom_importer.jobs import JobStore
from intercom_importer.partner_activity import PartnerActivity, PartnerActivityLog
from moto_server import create_jobs_table

pytestmark = pytest.mark.unit


@pytest.fixture
def log():
    with mock_aws():
        resource = boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        table = create_jobs_table(resource, "jobs")  # as template.yaml declares it
        yield PartnerActivityLog.of(JobStore(table))


def test_a_partner_has_no_activity_before_its_first_upload(log):
    assert log.latest("acme") is None


def test_every_upload_is_counted_and_the_latest_is_kept(log, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.5)
    log.touch("acme", job_id="job-1", key="incoming/acme/a.csv")
    monkeypatch.setattr("time.time", lambda: 1_800_000_100.25)
    log.touch("acme", job_id="job-2", key="incoming/acme/b.csv")

    assert log.latest("acme") == PartnerActivity(1_800_000_100.25, "job-2", "incoming/acme/b.csv", 2)


def test_an_older_upload_never_moves_the_latest_back(log, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1_800_000_100.0)
    log.touch("acme", job_id="job-2", key="incoming/acme/b.csv")
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)
    log.touch("acme", job_id="job-1", key="incoming/acme/a.csv")

    latest = log.latest("acme")
    assert latest is not None and (latest.last_job_id, latest.uploads) == ("job-2", 1)
