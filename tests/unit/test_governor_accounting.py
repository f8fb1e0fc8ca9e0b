"""DynamoDBGovernor's accounting with a fake clock and moto's in-process DynamoDB (one thread, no network).

The behaviour under real concurrency (threads, several workers, the sandbox over HTTP) is in
tests/integration/test_governor.py.
"""

from __future__ import annotations

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from intercom_importer.errors import SettingsError
from intercom_importer.governor import DynamoDBGovernor, app_key, window_seconds_from_env
from moto_server import create_jobs_table

pytestmark = pytest.mark.unit

START = 1_800_000_000.0  # a window boundary for 1, 2 and 10 s windows


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def table():
    with mock_aws():
        resource = boto3.resource(
            "dynamodb", region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test"
        )
        created = create_jobs_table(resource, "jobs")  # as template.yaml declares it
        yield created


def _governor(table, clock: FakeClock, **kwargs) -> DynamoDBGovernor:
    options = {"limit_per_window": 100, "window_seconds": 10.0, "safety": 0.9, "app": "t"}
    options.update(kwargs)
    return DynamoDBGovernor(table, clock=clock.time, sleep=clock.sleep, **options)


def test_grants_the_budget_then_waits_for_the_next_window(table):
    clock = FakeClock(START + 1)
    governor = _governor(table, clock)
    for _ in range(90):
        governor.acquire()
    assert clock.now == START + 1  # 90 = floor(100 x 0.9) granted without waiting
    governor.acquire()
    assert clock.sleeps == [9.0]  # the 91st waits for the next window, exactly
    assert governor.window_item(START) == {
        "pk": "RATE#t",
        "sk": "W#1800000000",
        "used": 90,
        "cap": 90,
        "expires_at": int(START + 10) + 3600,
    }


def test_two_governors_share_one_budget(table):
    clock = FakeClock(START + 1)
    first, second = _governor(table, clock), _governor(table, clock)
    granted = 0
    while clock.now < START + 10:
        for governor in (first, second):
            governor.acquire()
            if clock.now < START + 10:
                granted += 1
    assert granted == 90  # the budget, used in full and never exceeded
    assert governor.window_item(START)["used"] == 90


def test_blocks_shrink_towards_the_end_of_the_window(table):
    clock = FakeClock(START)
    governor = _governor(table, clock, limit_per_window=1000, block_size=20)
    for _ in range(10):  # 10 calls in the first second: 10 calls/s
        governor.acquire()
        clock.now += 0.1
    clock.now = START + 9.8  # 0.2 s left: at 10 calls/s this process needs about 2 more
    used_before = governor.window_item(START)["used"]
    for _ in range(governor.stats().tokens_taken - governor.stats().calls_granted + 1):
        governor.acquire()
    assert governor.window_item(START)["used"] - used_before <= 2


def test_a_429_blocks_until_the_reset_and_tells_the_other_workers(table):
    clock = FakeClock(START + 2)
    first, second = _governor(table, clock), _governor(table, clock)
    first.acquire()
    first.observe(100, 0, START + 10, 429)
    assert first.window_item(START)["blocked_until"] == START + 10
    second.acquire()  # its first block is refused: the window is blocked
    assert clock.sleeps == [8.0]  # until the reset, exactly


def test_a_lower_limit_from_intercom_lowers_the_budget_of_every_worker(table):
    clock = FakeClock(START + 1)
    first, second = _governor(table, clock), _governor(table, clock)
    first.acquire()
    first.observe(40, 39, START + 10, 200)
    assert first.budget == 36
    assert first.window_item(START)["cap"] == 36
    while clock.now < START + 10:
        second.acquire()
    assert second.window_item(START)["used"] == 36  # first's block (taken before it learnt the limit) included


def test_remaining_below_what_is_held_closes_the_window_when_another_app_uses_the_budget(table):
    clock = FakeClock(START + 1)
    governor = _governor(table, clock)
    governor.acquire()
    # Intercom says 3 calls are left although this app sent 1: another app used the rest.
    governor.observe(100, 3, START + 10, 200)
    assert governor.stats().windows_closed == 1
    item = governor.window_item(START)
    assert item["cap"] == item["used"]


def test_a_worker_paces_itself_on_its_share_when_dynamodb_fails():
    class Broken:
        def update_item(self, **_kwargs):
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "down"}}, "UpdateItem")

    clock = FakeClock(START + 1)
    governor = _governor(Broken(), clock, fallback_share=4)
    for _ in range(22):  # 90 / 4 = 22 calls per window on its own
        governor.acquire()
    assert clock.now == START + 1
    governor.acquire()
    assert clock.sleeps == [9.0]  # the 23rd waits for the next window
    assert governor.stats().fallback_grants >= 22


def test_window_length_is_intercoms_unless_overridden():
    assert window_seconds_from_env({}) == 10.0
    assert window_seconds_from_env({"INTERCOM_RATE_WINDOW_SECONDS": "2"}) == 2.0
    with pytest.raises(SettingsError, match="INTERCOM_RATE_WINDOW_SECONDS"):
        window_seconds_from_env({"INTERCOM_RATE_WINDOW_SECONDS": "soon"})


def test_app_key_is_stable_and_does_not_reveal_the_token():
    key = app_key("https://api.intercom.io", "secret-token")
    assert key == app_key("https://api.intercom.io", "secret-token")
    assert key != app_key("https://api.eu.intercom.io", "secret-token")
    assert "secret" not in key and len(key) == 16
