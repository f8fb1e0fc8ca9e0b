"""The shared rate-limit governor against DynamoDB (moto server) and Intercom (the sandbox over HTTP), on virtual time.

Each "worker" is one DynamoDBGovernor with its own boto3 Table resource and its own IntercomClient and connection
pool, driven by several threads, as a worker process is on Lambda. The threads are simulated threads of a
VirtualTime (tests/virtual_time.py): the governors, the clients and the sandbox read its clock and sleep on it,
and a call to the sandbox takes ``LATENCY`` of virtual time (the sandbox handles it when it is sent; the answer
comes back that much later, while the other threads run). The interleaving is decided by the code alone, so the
numbers asserted are exact and the same on any machine under any load, and the module takes seconds, not the
minute of the windows it simulates. Windows are 1-2 s (Intercom's are 10 s).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter

from intercom_importer.governor import DynamoDBGovernor
from intercom_importer.intercom import IntercomClient, RetryPolicy
from intercom_sandbox import SandboxServer
from moto_server import create_jobs_table, moto_server_fixture, session
from virtual_time import START, VirtualTime

pytestmark = pytest.mark.integration

TABLE = "governor-test-jobs"
TOKEN = "governor-test-token"
LATENCY = 0.02
"""Virtual seconds an Intercom call takes (request to answer)."""


# ------------------------------------------------------------------------------ fixtures
moto_url = moto_server_fixture()


@pytest.fixture(scope="module")
def jobs_table(moto_url: str) -> str:
    """A table shaped like the template's JobsTable (keys, index, TTL), read from template.yaml."""
    create_jobs_table(session().resource("dynamodb", endpoint_url=moto_url), TABLE)
    return TABLE


@pytest.fixture
def vt() -> VirtualTime:
    return VirtualTime(START)


@pytest.fixture
def sandbox_clock(vt: VirtualTime) -> Callable[[], float]:
    """The ``sandbox`` runs on the test's virtual clock: its rate-limit windows and stats follow virtual time."""
    return vt.clock


@pytest.fixture
def app(request: pytest.FixtureRequest) -> str:
    """An app key per test: its windows share nothing with other tests' (the moto server is the module's)."""
    return request.node.name


# ------------------------------------------------------------------------------ helpers
class LatencySession(requests.Session):
    """Calls that take ``latency`` of virtual time: sent (and handled by the sandbox) at once, answered later."""

    def __init__(self, vt: VirtualTime, latency: float) -> None:
        super().__init__()
        self._vt = vt
        self._latency = latency
        self.trust_env = False  # no proxy lookups in the environment on every call: a local server
        self.mount("http://", HTTPAdapter(pool_maxsize=16, max_retries=0))

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        response = super().request(*args, **kwargs)
        self._vt.sleep(self._latency)
        return response


class Worker:
    """One simulated worker process: a governor, an Intercom client and a log of what it sent."""

    def __init__(self, name: str, governor: DynamoDBGovernor, sandbox_url: str, vt: VirtualTime) -> None:
        self.name = name
        self.governor = governor
        self.vt = vt
        self.sent: list[float] = []
        self.refused: list[tuple[float, float | None]] = []
        self.client = IntercomClient(
            TOKEN,
            sandbox_url,
            session=LatencySession(vt, LATENCY),
            limiter=self,
            retry=RetryPolicy(rate_limit_jitter=1.0, max_rate_limit_retries=50),
            sleep=vt.sleep,
            clock=vt.clock,
            rand=lambda: 0.0,  # no jitter: a refused call is retried at the reset exactly
        )

    # the RateLimiter protocol, recording what the governor let through (the sandbox gets it at once)
    def acquire(self, n: int = 1) -> None:
        self.governor.acquire(n)
        self.sent.append(self.vt.clock())

    def observe(self, limit: int | None, remaining: int | None, reset_at: float | None, status: int) -> None:
        if status == 429:
            self.refused.append((self.vt.clock(), reset_at))
        self.governor.observe(limit, remaining, reset_at, status)

    def spawn(self, threads: int, until: float, start: float | None = None) -> None:
        """``threads`` simulated threads calling ``GET /me`` from ``start`` (default: now) until ``until``."""

        def loop() -> None:
            if start is not None:
                self.vt.sleep_until(start)
            while self.vt.clock() < until:
                self.client.me()

        for index in range(threads):
            self.vt.spawn(loop, f"{self.name}-{index}")

    def per_window(self, window: float) -> Counter[int]:
        return Counter(math.floor(t / window) for t in self.sent)


def make_worker(name: str, moto_url: str, sandbox: SandboxServer, vt: VirtualTime, app: str, **governor: Any) -> Worker:
    table = session().resource("dynamodb", endpoint_url=moto_url).Table(TABLE)  # one per "process"
    return Worker(name, DynamoDBGovernor(table, app=app, clock=vt.clock, sleep=vt.sleep, **governor), sandbox.url, vt)


def total_per_window(workers: list[Worker], window: float) -> Counter[int]:
    total: Counter[int] = Counter()
    for worker in workers:
        total.update(worker.per_window(window))
    return total


def sandbox_per_window(sandbox: SandboxServer, window: float, status: str = "requests") -> Counter[int]:
    """What the sandbox counted per window (its per-second timeline, on virtual time): calls, or one status."""
    counts: Counter[int] = Counter()
    for entry in sandbox.stats()["timeline"]:
        counts[math.floor(entry["second"] / window)] += int(entry.get(status, 0))
    return counts


def windows(first: int, count: int) -> list[int]:
    return list(range(first, first + count))


W0 = math.floor(START)  # the index of the first 1-second window; START is also a 2-second boundary


# ------------------------------------------------------------------------------ tests
def test_calls_granted_per_window_never_exceed_the_budget_across_workers(moto_url, jobs_table, sandbox, vt, app):
    window = 1.0
    sandbox.configure(rate_limit_per_window=100, window_seconds=window)
    workers = [
        make_worker(f"w{i}", moto_url, sandbox, vt, app, limit_per_window=100, window_seconds=window, safety=0.8)
        for i in range(3)
    ]
    for worker in workers:
        worker.spawn(8, until=START + 3)
    vt.run(horizon=START + 60)

    budget = workers[0].governor.budget
    assert budget == 80  # floor(100 x 0.8)
    full = windows(W0, 3)
    # 24 threads want more than the budget: every window gets exactly the budget, never more
    assert [sandbox_per_window(sandbox, window)[i] for i in full] == [budget] * 3
    assert [total_per_window(workers, window)[i] for i in full] == [budget] * 3
    items = [workers[0].governor.window_item(i * window) for i in full]
    assert [(item["used"], item["cap"]) for item in items if item] == [(budget, budget)] * 3
    assert sandbox.stats()["rate_limited"] == 0
    assert all(worker.per_window(window)[i] > 0 for worker in workers for i in full)  # everybody progresses


def test_a_429_makes_every_worker_wait_for_the_reset(moto_url, jobs_table, sandbox, vt, app):
    window = 2.0
    block_size = 10
    sandbox.configure(rate_limit_per_window=300, window_seconds=window)
    workers = [
        make_worker(
            f"w{i}", moto_url, sandbox, vt, app, limit_per_window=300, window_seconds=window, block_size=block_size
        )
        for i in range(2)
    ]

    def intercom_refuses_a_call() -> None:
        vt.sleep_until(START + 0.4)
        sandbox.add_fault(status=429, method="GET", path="/me", times=1)  # Intercom refuses the next call

    vt.spawn(intercom_refuses_a_call, "fault")
    for worker in workers:
        worker.spawn(4, until=START + window + 0.5)
    vt.run(horizon=START + 60)

    assert sandbox.stats()["by_status"].get("429") == 1  # no retry storm
    [(refused_at, reset_at)] = [r for w in workers for r in w.refused]
    [refusing] = [w for w in workers if w.refused]
    assert reset_at == START + window  # the sandbox's window end
    item = workers[0].governor.window_item(START)
    assert item is not None and item["blocked_until"] == reset_at
    backoff = {w.name: [t for t in w.sent if refused_at < t < reset_at] for w in workers}
    # The refused worker takes no call until the reset. The other learns of the block when it next asks the
    # table for calls; until then it uses the calls it holds: at most a block and the half block it still
    # had when it took that block.
    assert backoff[refusing.name] == []
    assert all(len(calls) <= block_size + block_size // 2 for calls in backoff.values()), backoff
    assert all(reset_at in worker.sent for worker in workers)  # and everybody resumes at the reset, exactly


def test_the_budget_adapts_to_a_lower_limit_reported_by_intercom(moto_url, jobs_table, sandbox, vt, app):
    window = 1.0
    sandbox.configure(rate_limit_per_window=40, window_seconds=window)
    workers = [
        make_worker(f"w{i}", moto_url, sandbox, vt, app, limit_per_window=200, window_seconds=window, safety=0.9)
        for i in range(3)
    ]
    for worker in workers:
        worker.spawn(4, until=START + 3)
    vt.run(horizon=START + 60)

    assert {w.governor.budget for w in workers} == {36}  # floor(40 x 0.9), not 180
    # Only the first window, before any X-RateLimit-Limit was seen, overshoots Intercom's 40 (and those
    # refused calls are retried after the reset) ...
    assert sandbox_per_window(sandbox, window, "200")[W0] == 40
    later = windows(W0 + 1, 2)
    # ... later windows get the adapted budget, in full, and nothing is refused
    assert [sandbox_per_window(sandbox, window)[i] for i in later] == [36, 36]
    assert [sandbox_per_window(sandbox, window, "429")[i] for i in later] == [0, 0]
    items = [workers[0].governor.window_item(i * window) for i in later]
    assert [(item["used"], item["cap"]) for item in items if item] == [(36, 36)] * 2


def test_another_app_using_the_workspace_budget_closes_the_window_instead_of_429s(
    moto_url, jobs_table, sandbox, vt, app
):
    window = 1.0
    sandbox.configure(rate_limit_per_window=100, window_seconds=window)
    workers = [
        make_worker(f"w{i}", moto_url, sandbox, vt, app, limit_per_window=100, window_seconds=window, safety=0.9)
        for i in range(2)
    ]
    other = requests.Session()
    other.headers.update({"Authorization": "Bearer other-app", "Accept": "application/json"})
    until = START + 4
    other_statuses: Counter[int] = Counter()

    def other_app() -> None:
        # 50 calls at the start of every window: half the workspace budget goes elsewhere. It goes to sleep
        # for the next window right after its calls, before the workers do, so it goes first at every boundary.
        boundary = START
        while boundary < until:
            vt.sleep_until(boundary)
            for _ in range(50):
                other_statuses[other.get(f"{sandbox.url}/me", timeout=5).status_code] += 1
            boundary += window

    vt.spawn(other_app, "other-app")
    for worker in workers:
        worker.spawn(4, until=until, start=START + 0.1)
    vt.run(horizon=START + 60)
    other.close()

    assert other_statuses == {200: 200}  # never refused: our workers leave its share alone
    assert sum(w.governor.stats().windows_closed for w in workers) == 4  # every window, once
    assert [sandbox_per_window(sandbox, window, "200")[i] for i in windows(W0, 4)] == [100] * 4  # all used
    # Without adaptation each window would see ~40 refusals (90 of ours + 50 of the other app > 100). With it,
    # only calls already on their way when the headers showed the budget gone: at most one per thread.
    ours_refused = Counter(math.floor(t / window) for w in workers for t, _ in w.refused)
    assert all(ours_refused[i] <= 2 * 4 for i in windows(W0, 4)), ours_refused


def test_two_imports_both_progress_in_every_window(moto_url, jobs_table, sandbox, vt, app):
    window = 1.0
    sandbox.configure(rate_limit_per_window=100, window_seconds=window)

    def import_workers(name: str) -> list[Worker]:
        return [
            make_worker(
                f"{name}{i}", moto_url, sandbox, vt, app, limit_per_window=100, window_seconds=window, safety=0.9
            )
            for i in range(2)
        ]

    first, second = import_workers("a"), import_workers("b")
    for worker in first:
        worker.spawn(4, until=START + 4)
    for worker in second:
        worker.spawn(4, until=START + 4, start=START + 1.5)  # the second import starts while the first runs
    vt.run(horizon=START + 60)

    budget = first[0].governor.budget
    assert budget == 90
    assert total_per_window(first, window)[W0] == budget  # the first import alone uses the whole budget
    block = budget // 16  # blocks are at most 1/16 of the budget, so that every worker gets its turns
    for shared in windows(W0 + 2, 2):
        calls = [worker.per_window(window)[shared] for worker in first + second]
        assert sum(calls) == budget, calls  # used in full, never exceeded
        # first come, first served, block by block: no worker gets more than a block more than another
        assert max(calls) - min(calls) <= block, f"unfair window {shared}: {calls}"
    assert sandbox.stats()["rate_limited"] == 0


def test_a_worker_paces_itself_alone_when_the_table_is_unavailable(moto_url, sandbox, vt, app):
    window = 1.0
    sandbox.configure(rate_limit_per_window=1000, window_seconds=window)
    missing = session().resource("dynamodb", endpoint_url=moto_url).Table("no-such-table")
    governor = DynamoDBGovernor(
        missing,
        app=app,
        limit_per_window=100,
        window_seconds=window,
        safety=0.8,
        fallback_share=4,
        clock=vt.clock,
        sleep=vt.sleep,
    )
    worker = Worker("alone", governor, sandbox.url, vt)
    worker.spawn(4, until=START + 2)
    vt.run(horizon=START + 60)

    # its own quarter of the budget (80 / 4) in every window
    assert [sandbox_per_window(sandbox, window)[i] for i in windows(W0, 2)] == [20, 20]
    stats = worker.governor.stats()
    assert stats.fallback_grants == stats.tokens_taken > 0  # every call from its own share, none from the table
