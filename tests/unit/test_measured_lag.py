"""Intercom's measured search lag in the jobs table (moto's in-process DynamoDB, no network): stored per workspace,
the largest kept, and the delay the workers derive from it."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from intercom_importer import measured
from intercom_importer.errors import JobStoreUnavailableError
from intercom_importer.measured import MeasuredLags, effective_lag
from moto_server import create_jobs_table

pytestmark = pytest.mark.unit


@pytest.fixture
def table():
    measured.clear_cache()
    with mock_aws():
        resource = boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        yield create_jobs_table(resource, "jobs")  # as template.yaml declares it
    measured.clear_cache()


@pytest.mark.parametrize(
    ("largest", "effective"),
    [
        (0, 30),  # never under 30 s
        (5, 35),  # small lags: +30 s is the larger margin
        (12.2, 43),  # rounded up to whole seconds (SQS delays are)
        (30, 60),  # where the two margins meet
        (200, 400),  # large lags: doubled
        (450, 900),
        (600, 900),  # never over SQS's longest delay
    ],
)
def test_the_effective_lag_doubles_the_largest_measured_with_at_least_30_seconds_more(largest, effective):
    assert effective_lag(largest) == effective


def test_a_measurement_is_stored_per_workspace_and_read_back(table):
    lags = MeasuredLags(table)

    stored = lags.record("ws-one", 12.5, app_name="Acme")

    assert lags.get("ws-one") == stored
    assert (stored.workspace, stored.seconds, stored.max_seconds, stored.app_name) == ("ws-one", 12.5, 12.5, "Acme")
    assert stored.measured_at.endswith("Z")
    assert lags.get("ws-two") is None
    item = table.get_item(Key={"pk": "SETTINGS#intercom", "sk": "ws-one"})["Item"]
    assert "expires_at" not in item  # kept: no TTL


def test_the_largest_measurement_is_kept_when_a_smaller_one_follows(table):
    lags = MeasuredLags(table)
    lags.record("ws", 40)

    later = lags.record("ws", 8)

    assert (later.seconds, later.max_seconds) == (8, 40)
    assert later.effective_seconds == 80
    assert lags.record("ws", 55).max_seconds == 55  # a larger one replaces it


def test_a_lag_set_by_hand_replaces_the_largest(table):
    lags = MeasuredLags(table)
    lags.record("ws", 300)

    stored = lags.record("ws", 10, replace_max=True)

    assert (stored.seconds, stored.max_seconds, stored.effective_seconds) == (10, 10, 40)


def test_forgetting_removes_the_workspace_measurement_only(table):
    lags = MeasuredLags(table)
    lags.record("ws-one", 10)
    lags.record("ws-two", 20)

    assert lags.forget("ws-one") is True
    assert lags.forget("ws-one") is False
    assert [lag.workspace for lag in lags.all()] == ["ws-two"]


def test_workers_use_the_parameter_when_nothing_was_measured(table):
    assert measured.search_lag_seconds(table, "ws", default=180) == 180


def test_workers_use_the_effective_lag_of_the_stored_measurement(table):
    MeasuredLags(table).record("ws", 70)

    assert measured.search_lag_seconds(table, "ws", default=180) == 140


def test_workers_read_the_measurement_again_only_after_five_minutes(table):
    now = [1000.0]
    lags = MeasuredLags(table)
    lags.record("ws", 20)
    assert measured.search_lag_seconds(table, "ws", default=180, clock=lambda: now[0]) == 50

    lags.record("ws", 100)
    now[0] += measured.CACHE_SECONDS - 1
    assert measured.search_lag_seconds(table, "ws", default=180, clock=lambda: now[0]) == 50  # cached

    now[0] += 1
    assert measured.search_lag_seconds(table, "ws", default=180, clock=lambda: now[0]) == 200


def test_a_read_dynamodb_refuses_is_a_retryable_error_not_a_guess():
    measured.clear_cache()
    with mock_aws():
        missing = boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        ).Table("no-such-table")
        with pytest.raises(JobStoreUnavailableError):
            measured.search_lag_seconds(missing, "ws", default=180)
