"""Shared fixtures: the Intercom sandbox (sandbox_fixtures), the local runtime (runtime_fixtures),
a Lambda context and the events/ loader; and how the suite is laid out over pytest-xdist workers.

`make test` runs ``pytest -n 3 --dist loadgroup --no-loadscope-reorder``: every test belongs to an
``xdist_group``, its module's path unless the module names a shared stack (``pipeline_helpers.DEFAULT_STACK``),
and a group runs whole on one worker, so a module-scoped stack starts once and a shared one once per group.
Groups are ordered heaviest first (end-to-end stacks, then the other slow ones), so the workers finish
together instead of one waiting on a long module started last."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline_helpers import SHARED

pytest_plugins = ["sandbox_fixtures"]

ROOT = Path(__file__).resolve().parents[1]
EVENTS = ROOT / "events"


@dataclass
class FakeLambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "52fdfc07-2182-154f-163f-5f0f9a621d72"
    remaining_ms: int = 60_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


# ------------------------------------------------------------------------------ Intercom's documented behaviour
# The sandbox's defaults are friendlier than Intercom documents (../shared/docs/intercom-api.md 1.1-1.7): a user
# create conflicts on any existing user's e-mail, and search finds a contact at once. Intercom documents a search
# lag of "a few minutes" and matching by e-mail only when no external_id is sent. Where it matters (every e2e
# test, and the modules marked `documented_intercom`: the upsert's decisions, exactly-once, lost answers, dead
# chunks), each sandbox a test uses behaves as documented: `email_conflicts = "without_external_id"` and a search
# lag longer than any test (what a test creates is never found by search). A test that needs the friendlier
# behaviour is marked `friendly_sandbox("why")` and runs with the sandbox as its fixtures configured it. Where the
# documentation is silent, the less convenient reading: search shows a contact's values from before an update
# (`search_update_lag_seconds`) as long as it misses a new one.
# `--sandbox-profile friendly` turns the documented behaviour off everywhere.
DOCUMENTED_SEARCH_LAG_SECONDS = 600.0


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--sandbox-profile",
        choices=("documented", "friendly"),
        default="documented",
        help="documented (default): the sandbox behaves as Intercom documents (search lag, e-mail matched only "
        "without an external_id) in e2e tests and modules marked documented_intercom, except in tests marked "
        "friendly_sandbox; friendly: the sandbox's own defaults everywhere",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    from intercom_sandbox import SandboxServer

    friendly = item.get_closest_marker("friendly_sandbox")
    if friendly is not None and not (friendly.args and str(friendly.args[0]).strip()):
        raise pytest.UsageError(f"{item.nodeid}: friendly_sandbox needs its reason, in one line")
    changed: dict[SandboxServer, dict[str, Any]] = {}
    if documented_intercom(item):
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, SandboxServer) and value not in changed:
                config = value.config
                changed[value] = {
                    "email_conflicts": config.email_conflicts,
                    "search_lag_seconds": config.search_lag_seconds,
                    "search_update_lag_seconds": config.search_update_lag_seconds,
                }
                lag = max(config.search_lag_seconds, DOCUMENTED_SEARCH_LAG_SECONDS)
                update_lag = max(config.search_update_lag_seconds, DOCUMENTED_SEARCH_LAG_SECONDS)
                value.configure(
                    email_conflicts="without_external_id", search_lag_seconds=lag, search_update_lag_seconds=update_lag
                )
    try:
        yield
    finally:  # a module's sandbox goes to its next test as its fixtures configured it
        for server, before in changed.items():
            server.configure(**before)


def documented_intercom(item: pytest.Item) -> bool:
    """Whether the sandboxes of this test behave as Intercom documents (see above)."""
    return (
        item.config.getoption("--sandbox-profile") == "documented"
        and item.get_closest_marker("documented_intercom") is not None
        and item.get_closest_marker("friendly_sandbox") is None
    )


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_event():
    def load(name: str) -> dict:
        return json.loads((EVENTS / name).read_text())

    return load


# ------------------------------------------------------------------------------ layout over xdist workers
# Order of the groups: the slowest kinds first (a group's module path starts with one of these); ties keep the
# collection order. Measured with `--durations=0`: e2e modules 20-60 s each, the static checks (mypy, checkov)
# and the CLI stacks 15-30 s, unit and contract modules under 5 s.
_HEAVY_FIRST = ("tests/e2e/", "tests/integration/", "tests/static/", "tests/render/", "tests/contract/", "tests/unit/")


def group_of(item: pytest.Item) -> str:
    marks = [m for m in item.iter_markers("xdist_group")]
    if marks:
        return str(marks[0].args[0] if marks[0].args else marks[0].kwargs.get("name"))
    return item.nodeid.split("::", 1)[0]


def _weight(group: str, first_path: str) -> int:
    return next((i for i, prefix in enumerate(_HEAVY_FIRST) if first_path.startswith(prefix)), len(_HEAVY_FIRST))


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    first: dict[str, tuple[int, int]] = {}
    for index, item in enumerate(items):
        if item.get_closest_marker("e2e") is not None:
            item.add_marker(pytest.mark.documented_intercom)
        group = group_of(item)
        if not list(item.iter_markers("xdist_group")):
            item.add_marker(pytest.mark.xdist_group(group))
        first.setdefault(group, (_weight(group, item.nodeid), index))
    # each group's tests together, in collection order, groups heaviest first
    items.sort(key=lambda item: first[group_of(item)])


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """A shared stack stops after the last test of its group (one LocalRuntime per process)."""
    SHARED.close_unless_next(group_of(nextitem) if nextitem is not None else None)


def pytest_sessionfinish(session: pytest.Session) -> None:
    SHARED.close()
