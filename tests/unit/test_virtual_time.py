"""The deterministic scheduler the timing tests run on (tests/virtual_time.py)."""

from __future__ import annotations

import functools
import threading

import pytest

from virtual_time import START, VirtualTime

pytestmark = pytest.mark.unit


def test_threads_run_one_at_a_time_in_wake_up_order_and_time_jumps():
    vt = VirtualTime()
    log: list[tuple[str, float]] = []

    def sleeper(name: str, naps: list[float]) -> None:
        for nap in naps:
            log.append((name, vt.clock() - START))
            vt.sleep(nap)

    vt.spawn(lambda: sleeper("a", [3.0, 3.0]), "a")
    vt.spawn(lambda: sleeper("b", [1.0, 1.0, 1.0]), "b")
    vt.run()

    # ties (b and a both wake at 3.0) go in the order they went to sleep: b at 2.0, a at 0.0 -> a first
    assert log == [("a", 0.0), ("b", 0.0), ("b", 1.0), ("b", 2.0), ("a", 3.0)]
    assert vt.clock() == START + 6.0


def test_the_same_program_gives_the_same_interleaving_every_time():
    def interleaving() -> list[str]:
        vt = VirtualTime()
        log: list[str] = []

        def work(index: int) -> None:
            for _ in range(5):
                log.append(f"{index}@{vt.clock()}")
                vt.sleep(0.1 * (index % 3))

        for index in range(8):
            vt.spawn(functools.partial(work, index))
        vt.run()
        return log

    assert interleaving() == interleaving()


def test_wait_until_parks_a_thread_until_another_makes_the_condition_true():
    vt = VirtualTime()
    flag: list[float] = []
    seen: list[float] = []

    def setter() -> None:
        vt.sleep(5.0)
        flag.append(vt.clock())

    def waiter() -> None:
        vt.wait_until(lambda: bool(flag))
        seen.append(vt.clock())

    vt.spawn(waiter)
    vt.spawn(setter)
    vt.run()
    assert seen == [START + 5.0]


def test_an_error_in_a_simulated_thread_fails_the_run():
    vt = VirtualTime()

    def broken() -> None:
        vt.sleep(1.0)
        raise ValueError("boom")

    vt.spawn(broken, "broken")
    with pytest.raises(AssertionError, match="'broken' failed: ValueError"):
        vt.run()


def test_threads_that_all_wait_are_a_deadlock_not_a_hang():
    vt = VirtualTime()
    vt.spawn(lambda: vt.wait_until(lambda: False), "waits-forever")
    with pytest.raises(AssertionError, match=r"deadlock.*waits-forever"):
        vt.run()


def test_a_thread_that_never_stops_fails_at_the_horizon():
    vt = VirtualTime()

    def forever() -> None:
        while True:
            vt.sleep(1.0)

    vt.spawn(forever)
    with pytest.raises(AssertionError, match="horizon"):
        vt.run(horizon=START + 100)
    assert vt.clock() == START + 100


def test_a_thread_blocked_in_real_time_trips_the_watchdog_with_its_name():
    vt = VirtualTime(watchdog_seconds=0.2)
    never = threading.Event()
    vt.spawn(lambda: never.wait(), "stuck")  # a real-time primitive nobody releases: a bug of the test
    with pytest.raises(AssertionError, match=r"'stuck' ran 0\.2 s of real time without sleeping"):
        vt.run()
    never.set()


def test_sleep_outside_a_simulated_thread_is_refused():
    with pytest.raises(RuntimeError, match="only a simulated thread"):
        VirtualTime().sleep(1.0)
