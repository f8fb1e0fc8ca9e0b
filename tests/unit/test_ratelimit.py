"""The benchmark's WindowRateLimiter (bench/window_limiter.py) with a fake clock (many threads: on virtual time):
allowance per window, adaptation, 429 back-off; and the rate-limiter protocol of the layer."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from window_limiter import WindowRateLimiter

from intercom_importer.ratelimit import NullRateLimiter, RateLimiter
from virtual_time import VirtualTime

pytestmark = pytest.mark.unit


class FakeClock:
    """Epoch time that only moves when a (single-threaded) caller sleeps."""

    def __init__(self, now: float) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _run_workers(limiter: WindowRateLimiter, vt: VirtualTime, workers: int, calls: int) -> list[float]:
    """``workers`` simulated threads make ``calls`` each; the virtual time of every grant."""
    grants: list[float] = []

    def work() -> None:
        for _ in range(calls):
            limiter.acquire()
            grants.append(vt.clock())

    for index in range(workers):
        vt.spawn(work, f"worker-{index}")
    vt.run(horizon=vt.clock() + 3600)
    return grants


def test_grants_the_allowance_then_waits_for_the_next_window():
    clock = FakeClock(1_003.0)
    limiter = WindowRateLimiter(3, 10.0, clock=clock.time, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == [7.0]  # until the window [1000, 1010) ends
    assert limiter.window_usage() == (1_010.0, 1, 3)


def test_windows_are_aligned_to_multiples_of_the_window_length():
    clock = FakeClock(1_009.5)
    limiter = WindowRateLimiter(1, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == [0.5]


def test_many_threads_never_exceed_the_allowance_of_a_window():
    vt = VirtualTime(1_000.0)
    limiter = WindowRateLimiter(7, 10.0, clock=vt.clock, sleep=vt.sleep)
    grants = _run_workers(limiter, vt, workers=12, calls=10)
    per_window = Counter(math.floor(t / 10.0) for t in grants)
    assert len(grants) == 120
    # the allowance is used in full in every window, never exceeded: 17 windows of 7, then the last 1
    assert sorted(per_window.items()) == [(100 + i, 7) for i in range(17)] + [(117, 1)]


def test_a_429_blocks_every_thread_until_the_reset():
    vt = VirtualTime(1_000.0)
    limiter = WindowRateLimiter(100, 10.0, clock=vt.clock, sleep=vt.sleep)
    limiter.acquire()
    limiter.observe(100, 0, 1_007.0, 429)
    assert limiter.blocked_until == 1_007.0
    grants = _run_workers(limiter, vt, workers=8, calls=3)
    assert grants == [1_007.0] * 24  # nobody before the reset; everybody at it


def test_a_429_without_reset_blocks_until_the_window_ends():
    clock = FakeClock(1_002.0)
    limiter = WindowRateLimiter(100, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(None, None, None, 429)
    limiter.acquire()
    assert clock.sleeps == [8.0]


def test_a_429_with_a_far_reset_is_capped():
    clock = FakeClock(1_000.0)
    limiter = WindowRateLimiter(100, 10.0, clock=clock.time, sleep=clock.sleep, max_block_seconds=30.0)
    limiter.observe(100, 0, 999_999.0, 429)
    limiter.acquire()
    assert clock.sleeps == [30.0]


def test_a_lower_server_limit_lowers_the_allowance():
    clock = FakeClock(1_000.0)
    limiter = WindowRateLimiter(10, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(4, None, None, 200)
    assert limiter.effective_limit == 4
    for _ in range(3):
        limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == [10.0]
    assert limiter.window_usage() == (1_010.0, 1, 4)  # later windows keep the lower limit


def test_a_higher_server_limit_does_not_raise_the_configured_ceiling():
    limiter = WindowRateLimiter(10, 10.0, clock=lambda: 1_000.0)
    limiter.observe(167, None, None, 200)
    assert limiter.effective_limit == 10


def test_server_limit_recovers_up_to_the_ceiling_in_later_windows():
    clock = FakeClock(1_000.0)
    limiter = WindowRateLimiter(10, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.observe(4, None, None, 200)
    limiter.observe(8, None, None, 200)
    assert limiter.effective_limit == 8
    assert limiter.window_usage()[2] == 4  # the current window only goes down


def test_server_remaining_lowers_what_is_left_of_the_window():
    clock = FakeClock(1_000.0)
    limiter = WindowRateLimiter(100, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.acquire()
    # one response back; the other call is still in flight and may not be counted by the server yet
    limiter.observe(100, 3, 1_010.0, 200)
    limiter.acquire()
    limiter.acquire()
    assert clock.sleeps == []
    limiter.acquire()
    assert clock.sleeps == [10.0]


def test_remaining_from_an_earlier_window_is_ignored():
    clock = FakeClock(1_012.0)
    limiter = WindowRateLimiter(5, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire()
    limiter.observe(5, 0, 1_010.0, 200)  # a late answer about the window [1000, 1010)
    for _ in range(4):
        limiter.acquire()
    assert clock.sleeps == []


def test_per_minute_splits_the_budget_into_windows_rounding_down():
    assert WindowRateLimiter.per_minute(1_000).limit_per_window == 166
    assert WindowRateLimiter.per_minute(10_000).limit_per_window == 1_666
    assert WindowRateLimiter.per_minute(3).limit_per_window == 1


def test_an_oversized_request_gets_a_window_of_its_own():
    clock = FakeClock(1_000.0)
    limiter = WindowRateLimiter(2, 10.0, clock=clock.time, sleep=clock.sleep)
    limiter.acquire(5)
    limiter.acquire()
    assert clock.sleeps == [10.0]


@pytest.mark.parametrize(("limit", "window"), [(0, 10.0), (5, 0.0)])
def test_invalid_configuration_is_refused(limit, window):
    with pytest.raises(ValueError):
        WindowRateLimiter(limit, window)


def test_both_limiters_satisfy_the_protocol():
    assert isinstance(WindowRateLimiter(1), RateLimiter)
    null = NullRateLimiter()
    assert isinstance(null, RateLimiter)
    null.observe(1, 0, 0.0, 429)
    null.acquire(1_000)
