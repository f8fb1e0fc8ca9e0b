"""Virtual time for tests of code that sleeps on several threads (rate limiters, the governor, the row pool).

A :class:`VirtualTime` is a deterministic cooperative scheduler. Simulated threads are real OS threads, but
only one runs at a time: ``clock()`` returns virtual time, and ``sleep(s)`` parks the caller until
``now + s`` and hands control to the next runnable thread, the one with the earliest wake-up time (ties in
the order they went to sleep; ``spawn`` counts as going to sleep at the current time). Time jumps to that
wake-up time, so a test of many 1-second windows takes only as long as its real work, and the interleaving
is decided by the code under test alone: a run gives the same numbers on any machine, under any load.

    vt = VirtualTime()
    limiter = WindowRateLimiter(7, 10.0, clock=vt.clock, sleep=vt.sleep)
    for _ in range(12):
        vt.spawn(limiter.acquire)
    vt.run()  # returns when every simulated thread has ended; fails with the first error one raised

``sleep`` and ``wait_until`` may only be called by a simulated thread. A simulated thread must not block
on a real-time primitive (a lock, a condition, a queue) that another simulated thread would release: it
would hold the scheduler. That is a bug of the test, and the watchdog turns it into a failure naming the
stuck thread with its stack, instead of a hung test run. :class:`SimulatedExecutor` stands in for a
``ThreadPoolExecutor`` whose workers must run on virtual time.
"""

from __future__ import annotations

import heapq
import itertools
import sys
import threading
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from types import TracebackType
from typing import Any

START = 1_800_000_000.0
"""A default start: a window boundary for 1, 2 and 10-second windows."""
WATCHDOG_SECONDS = 30.0
"""A simulated thread that runs this long (real time) without sleeping, waiting or ending is taken to be stuck."""


class SimulationAborted(BaseException):
    """Raised in the simulated threads still parked when a simulation is given up (it failed elsewhere)."""


class _Task:
    def __init__(self, name: str, target: Callable[[], object]) -> None:
        self.name = name
        self.target = target
        self.go = threading.Semaphore(0)
        self.thread: threading.Thread | None = None


class VirtualTime:
    """A virtual clock and the scheduler of the simulated threads that sleep on it (see the module docstring)."""

    def __init__(self, start: float = START, *, watchdog_seconds: float = WATCHDOG_SECONDS) -> None:
        self._now = float(start)
        self._watchdog = watchdog_seconds
        self._lock = threading.Lock()
        self._ready: list[tuple[float, int, _Task]] = []
        self._waiting: list[tuple[Callable[[], bool], _Task]] = []
        self._order = itertools.count()
        self._tasks: dict[threading.Thread, _Task] = {}
        self._current: _Task | None = None
        self._switches = 0
        self._running = False
        self._aborted = False
        self._horizon: float | None = None
        self._finished = threading.Event()
        self.errors: list[tuple[str, BaseException]] = []

    # ------------------------------------------------------------------ what the code under test gets

    def clock(self) -> float:
        """Virtual epoch seconds (any thread may read them)."""
        return self._now

    def sleep(self, seconds: float) -> None:
        """Park the calling simulated thread for ``seconds`` of virtual time; the others run meanwhile."""
        self.sleep_until(self._now + max(0.0, seconds))

    def sleep_until(self, when: float) -> None:
        """Park the calling simulated thread until virtual time ``when`` (exactly: no float arithmetic)."""
        task = self._running_task()
        with self._lock:
            heapq.heappush(self._ready, (max(self._now, when), next(self._order), task))
            self._switch()
        self._park(task)

    def wait_until(self, condition: Callable[[], bool]) -> None:
        """Park the calling simulated thread until ``condition()`` holds (checked whenever a simulated thread
        sleeps, waits or ends; it must not block)."""
        task = self._running_task()
        with self._lock:
            if condition():
                return
            self._waiting.append((condition, task))
            self._switch()
        self._park(task)

    # ------------------------------------------------------------------ what the test does

    def spawn(self, target: Callable[[], object], name: str | None = None) -> None:
        """A new simulated thread, runnable at the current virtual time (called by the test or a simulated thread)."""
        with self._lock:
            task = _Task(name or f"sim-{len(self._tasks)}", target)
            task.thread = threading.Thread(target=self._main, args=(task,), name=task.name, daemon=True)
            self._tasks[task.thread] = task
            heapq.heappush(self._ready, (self._now, next(self._order), task))
        task.thread.start()

    def run(self, *, horizon: float | None = None) -> None:
        """Run the simulated threads until all have ended; fail with the first error one raised.

        ``horizon``: virtual time the simulation must not pass, so a simulated thread that never stops fails
        the test instead of running forever. One that runs the watchdog's seconds of real time without
        sleeping, waiting or ending fails it too (it is blocked on a real-time primitive).
        """
        with self._lock:
            if self._running:
                raise RuntimeError("the simulation is already running")
            self._running, self._horizon = True, horizon
            self._finished.clear()
            self._switch()
        seen = -1
        while not self._finished.wait(timeout=self._watchdog):
            with self._lock:
                switches, current = self._switches, self._current
            if switches == seen:
                self._abort()
                name = current.name if current is not None else "?"
                raise AssertionError(
                    f"virtual time: simulated thread {name!r} ran {self._watchdog:g} s of real time without "
                    f"sleeping, waiting or ending (blocked on a real-time primitive?)\n{_stack(current)}"
                )
            seen = switches
        with self._lock:
            self._running = False
        for task in list(self._tasks.values()):
            assert task.thread is not None
            task.thread.join(timeout=self._watchdog)
        if self.errors:
            name, error = self.errors[0]
            raise AssertionError(f"simulated thread {name!r} failed: {error!r}") from error

    # ------------------------------------------------------------------ scheduling

    def _running_task(self) -> _Task:
        task = self._tasks.get(threading.current_thread())
        if task is None:
            raise RuntimeError("only a simulated thread (VirtualTime.spawn) can sleep or wait on virtual time")
        if self._current is not task:
            raise RuntimeError(f"simulated thread {task.name!r} runs while it is not its turn")
        return task

    def _main(self, task: _Task) -> None:
        try:
            self._park(task)
            task.target()
        except SimulationAborted:
            return
        except BaseException as exc:
            self.errors.append((task.name, exc))
        with self._lock:
            if self._current is task:
                self._switch()

    def _park(self, task: _Task) -> None:
        task.go.acquire()
        if self._aborted:
            raise SimulationAborted

    def _switch(self) -> None:
        """Hand control to the next runnable simulated thread, or end the simulation (lock held)."""
        self._switches += 1
        if not self._running:
            return
        waiting, self._waiting = self._waiting, []
        for condition, task in waiting:
            if condition():
                heapq.heappush(self._ready, (self._now, next(self._order), task))
            else:
                self._waiting.append((condition, task))
        if not self._ready:
            if self._waiting:
                names = ", ".join(task.name for _, task in self._waiting)
                self._fail(f"virtual time: deadlock, every simulated thread waits ({names})")
            self._current = None
            self._finished.set()
            return
        wake, _, task = self._ready[0]
        if self._horizon is not None and wake > self._horizon:
            self._fail(f"virtual time: the simulation ran past its horizon {self._horizon} (next wake-up {wake})")
            self._current = None
            self._finished.set()
            return
        heapq.heappop(self._ready)
        self._now = max(self._now, wake)
        self._current = task
        task.go.release()

    def _fail(self, message: str) -> None:
        """Give up the simulation: record why and release every parked thread to end (lock held)."""
        self.errors.append(("scheduler", AssertionError(message)))
        self._aborted = True
        for _, _, task in self._ready:
            task.go.release()
        for _, task in self._waiting:
            task.go.release()
        self._ready.clear()
        self._waiting.clear()

    def _abort(self) -> None:
        with self._lock:
            self._fail("virtual time: watchdog")


def _stack(task: _Task | None) -> str:
    if task is None or task.thread is None or task.thread.ident is None:
        return ""
    frame = sys._current_frames().get(task.thread.ident)
    return "".join(traceback.format_stack(frame)) if frame is not None else ""


class SimulatedExecutor:
    """A ``concurrent.futures.ThreadPoolExecutor`` on virtual time, for code that runs inside a simulation.

    Like the real one, it starts a worker per submitted call up to ``max_workers``, and the workers take
    the calls in the order they were submitted; the workers are simulated threads, and waiting for a result
    or for the shutdown is a virtual wait. ``functools.partial(SimulatedExecutor, vt)`` can replace the class.
    """

    def __init__(self, vt: VirtualTime, max_workers: int | None = None, thread_name_prefix: str = "") -> None:
        self._vt = vt
        self._max_workers = max(1, max_workers or 1)
        self._prefix = thread_name_prefix or "executor"
        self._queue: deque[tuple[Future[Any], Callable[..., Any], tuple[Any, ...], dict[str, Any]]] = deque()
        self._workers = 0
        self._started = 0

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = _VirtualFuture(self._vt)
        self._queue.append((future, fn, args, kwargs))
        if self._workers < self._max_workers:
            self._workers += 1
            self._started += 1
            self._vt.spawn(self._work, f"{self._prefix}_{self._started - 1}")
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if cancel_futures:
            while self._queue:
                self._queue.popleft()[0].cancel()
        if wait:
            self._vt.wait_until(lambda: self._workers == 0)

    def __enter__(self) -> SimulatedExecutor:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.shutdown(wait=True)

    def _work(self) -> None:
        try:
            while self._queue:
                future, fn, args, kwargs = self._queue.popleft()
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    result = fn(*args, **kwargs)
                except Exception as exc:
                    future.set_exception(exc)
                else:
                    future.set_result(result)
        finally:
            self._workers -= 1


class _VirtualFuture(Future[Any]):
    """A Future whose ``result()``/``exception()`` wait on virtual time (from a simulated thread)."""

    def __init__(self, vt: VirtualTime) -> None:
        super().__init__()
        self._vt = vt

    def result(self, timeout: float | None = None) -> Any:
        self._vt.wait_until(self.done)
        return super().result(timeout=0)

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self._vt.wait_until(self.done)
        return super().exception(timeout=0)
