"""The doctor's Intercom checks that are decisions on what Intercom said, without a network: the region against the
API root called and the region configured, the custom attributes against the cap, the rate budget from the
recorded headers, the lag probe's poll interval, and the text report."""

from __future__ import annotations

import pytest

from importer_cli.doctor.budget import BudgetRecorder, rate_limit_check
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, WARNING, Check, Report
from importer_cli.doctor.render import report_lines
from importer_cli.doctor.search_checks import poll_interval
from importer_cli.doctor.workspace_checks import attributes_check, region_check

pytestmark = pytest.mark.unit

DIRECT = "give --intercom-region {region} (its API root is {url})"
STACK = "set the stack's IntercomRegion parameter to {REGION}"


# ---------------------------------------------------------------- region


def test_region_matches_its_api_root():
    check = region_check("EU", "https://api.eu.intercom.io", "EU", DIRECT)
    assert check.status == OK and "the EU API root" in check.detail


def test_an_api_root_of_another_region_fails_with_the_right_root():
    check = region_check("EU", "https://api.intercom.io", None, STACK)
    assert check.status == FAILED
    assert "in EU" in check.detail and "the US API root" in check.detail
    assert check.fix == "set the stack's IntercomRegion parameter to EU"


def test_a_configured_region_that_is_not_the_workspaces_fails():
    check = region_check("AU", "http://127.0.0.1:8080", "US", DIRECT)
    assert check.status == FAILED
    assert check.fix == "give --intercom-region au (its API root is https://api.au.intercom.io)"


def test_a_proxy_is_accepted_when_nothing_is_configured():
    check = region_check("US", "https://intercom-proxy.internal", None, DIRECT)
    assert check.status == OK and "a proxy or a stand-in" in check.detail


def test_no_region_in_me_is_not_checked():
    assert region_check(None, "https://api.intercom.io", "US", DIRECT).status == NOT_CHECKED


# ---------------------------------------------------------------- custom attributes


def _attributes(count: int, *, archived: int = 0, standard: int = 3) -> list[dict[str, object]]:
    return (
        [{"name": f"std{i}", "custom": False} for i in range(standard)]
        + [{"name": f"c{i}", "custom": True, "archived": False} for i in range(count)]
        + [{"name": f"a{i}", "custom": True, "archived": True} for i in range(archived)]
    )


@pytest.mark.parametrize(
    ("people", "companies", "status"),
    [(0, 0, OK), (200, 24, OK), (200, 25, WARNING), (249, 0, WARNING), (200, 50, FAILED), (260, 0, FAILED)],
)
def test_custom_attributes_against_the_cap(people, companies, status):
    assert attributes_check(_attributes(people), _attributes(companies)).status == status


def test_archived_and_standard_attributes_do_not_count():
    check = attributes_check(_attributes(10, archived=30), _attributes(1, archived=5))
    assert check.detail == "11 of the 250 custom attributes used (people 10, companies 1)"


# ---------------------------------------------------------------- rate budget


def test_the_first_answer_shows_what_others_used():
    budget = BudgetRecorder()
    budget.observe(167, 150, 1000.0, 200)  # the doctor's first call: 16 calls of the window were not its own
    budget.observe(167, 149, 1000.0, 200)
    check = rate_limit_check(budget)
    assert check.status == WARNING and "16 calls of that window" in check.detail


def test_a_window_to_the_doctor_alone_is_ok_and_its_length_measured():
    budget = BudgetRecorder()
    budget.observe(167, 166, 1000.0, 200)
    budget.observe(167, 166, 1010.0, 200)
    budget.observe(167, 165, 1010.0, 200)
    assert rate_limit_check(budget).status == OK
    assert budget.window_seconds() == 10.0


def test_an_exhausted_budget_fails_and_no_headers_is_not_checked():
    budget = BudgetRecorder()
    assert rate_limit_check(budget).status == NOT_CHECKED
    budget.observe(167, 0, 1000.0, 429)
    budget.exhausted = True
    check = rate_limit_check(budget)
    assert check.status == FAILED and check.fix


def test_the_recorder_passes_everything_to_the_limiter_it_wraps():
    seen: list[tuple[object, ...]] = []

    class Inner:
        def acquire(self, n: int = 1) -> None:
            seen.append(("acquire", n))

        def observe(self, limit, remaining, reset_at, status) -> None:
            seen.append(("observe", limit, remaining, reset_at, status))

    budget = BudgetRecorder(Inner())
    budget.acquire()
    budget.observe(10, 9, 5.0, 200)
    assert seen == [("acquire", 1), ("observe", 10, 9, 5.0, 200)]


# ---------------------------------------------------------------- lag probe, text


def test_the_poll_interval_starts_at_one_second_and_backs_off_to_five():
    assert poll_interval(0) == 1.0
    assert 1.0 < poll_interval(30) <= 2.0
    assert poll_interval(120) == 5.0 and poll_interval(600) == 5.0


def test_text_report_puts_the_fix_under_warnings_and_failures_only():
    report = Report()
    report.add(Check("token and workspace", OK, "accepted", "never shown"))
    report.add(Check("region", FAILED, "in EU", "use eu"))
    lines = report_lines(report)
    assert lines[0] == "ok           token and workspace  accepted"
    assert lines[1] == "failed       region               in EU"
    assert lines[2] == "                                  fix: use eu"
    assert lines[3].startswith("doctor: FAILED: 1 ok, 1 failed")
