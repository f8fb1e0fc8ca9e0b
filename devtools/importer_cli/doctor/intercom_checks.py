"""The Intercom side of ``intercom-import doctor``: every check that talks to Intercom, in order, into a
:class:`~importer_cli.doctor.model.Report`, and the probe contacts deleted whatever happens.

Order: token and workspace (``GET /me``), region, custom attributes, search lag (a probe lead), e-mail case in
search, lead external_id (a second probe lead), custom attribute values (not checked: it would need a permanent
attribute), probe cleanup; the rate limit (from every answer's headers) goes second. A call Intercom refuses
becomes that check's ``failed`` with the fix, never a traceback; after a refused token or a rate budget that stayed
exhausted the checks left are ``not checked``. The probes are deleted in a ``finally`` (SIGTERM raises like Ctrl-C
inside it; signals wait while the deletes run), unless ``keep``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from importer_cli.doctor import interrupts, search_checks, workspace_checks
from importer_cli.doctor.budget import RATE_LIMIT, BudgetRecorder, rate_limit_check
from importer_cli.doctor.model import FAILED, NOT_CHECKED, Check, Report
from importer_cli.doctor.probes import CLEANUP, Probes, probe_tag
from importer_cli.doctor.search_checks import LagProbe, Waiting
from intercom_importer.errors import (
    IntercomAuthError,
    IntercomConnectionError,
    IntercomError,
    IntercomForbiddenError,
    IntercomRateLimitError,
)
from intercom_importer.intercom.client import IntercomClient
from intercom_importer.intercom.retry import RetryPolicy

DOCTOR_RETRY = RetryPolicy(
    max_retries=2, max_rate_limit_retries=3, max_rate_limit_wait=12.0, rate_limit_jitter=0.5, backoff_max=4.0
)
"""Few, short retries: the doctor reports a refusal rather than waiting it out for minutes (a 429 is retried
after the window's reset, at most 3 times)."""


@dataclass(frozen=True)
class DoctorOptions:
    """What the caller knows: the region it configured and where (``how_to_set_region``, with ``{region}`` and
    ``{url}``), how to give a valid token, whether to keep the probes, how to wait for the lag probe."""

    expected_region: str | None = None
    how_to_set_region: str = (
        "give --intercom-region {region} (its API root is {url}); leave --intercom-url out unless it is a proxy"
    )
    refused_fix: str = (
        "pass a valid access token with --intercom-token or INTERCOM_TOKEN (Intercom Developer Hub > your app > "
        "Configure > Authentication)"
    )
    keep: bool = False
    waiting: Waiting = field(default_factory=Waiting)


@dataclass
class _Run:
    """One doctor run against one client."""

    client: IntercomClient
    budget: BudgetRecorder
    report: Report
    options: DoctorOptions
    probes: Probes
    tag: str = field(default_factory=probe_tag)
    lag_probe: LagProbe | None = None
    stopped: str | None = None
    """Why the checks left were not made (a refused token, an exhausted rate budget, no answer)."""

    @staticmethod
    def step_names() -> list[tuple[str, str]]:
        """The checks in order: each one's name and the method that makes it."""
        return [
            (workspace_checks.TOKEN, "token"),
            (workspace_checks.REGION, "region"),
            (workspace_checks.ATTRIBUTES, "attributes"),
            (search_checks.SEARCH_LAG, "search_lag"),
            (search_checks.UPDATE_LAG, "update_lag"),
            (search_checks.EMAIL_CASE, "email_case"),
            (search_checks.LEAD_EXTERNAL_ID, "lead_external_id"),
            (workspace_checks.ATTRIBUTE_VALUES, "attribute_values"),
        ]

    def steps(self) -> list[tuple[str, Callable[[], Check]]]:
        return [(name, getattr(self, method)) for name, method in self.step_names()]

    def token(self) -> Check:
        check, app = workspace_checks.token_check(self.client.me())
        self.report.app = app
        self.report.region = str(app["region"]).lower() if app.get("region") else None
        return check

    def region(self) -> Check:
        return workspace_checks.region_check(
            self.report.app.get("region"),
            self.client.base_url,
            self.options.expected_region,
            self.options.how_to_set_region,
        )

    def attributes(self) -> Check:
        people = self.client.list_data_attributes("contact")
        companies = self.client.list_data_attributes("company")
        return workspace_checks.attributes_check(people, companies)

    def search_lag(self) -> Check:
        check, lag, self.lag_probe = search_checks.measure_search_lag(
            self.client, self.probes, self.tag, self.options.waiting
        )
        self.report.search_lag_seconds = lag
        return check

    def update_lag(self) -> Check:
        check, seconds = search_checks.update_lag_check(
            self.client, self.lag_probe, self.report.search_lag_seconds, self.options.waiting
        )
        self.report.search_update_lag_seconds = seconds
        return check

    def email_case(self) -> Check:
        return search_checks.email_case_check(self.client, self.lag_probe, self.report.search_lag_seconds)

    def lead_external_id(self) -> Check:
        return search_checks.lead_external_id_check(self.probes, self.tag)

    @staticmethod
    def attribute_values() -> Check:
        return workspace_checks.attribute_values_check()


def run_intercom_checks(
    client: IntercomClient, budget: BudgetRecorder, report: Report, options: DoctorOptions | None = None
) -> Report:
    """Every Intercom check into ``report`` (``budget`` must be ``client``'s limiter); the probes deleted at the end,
    also on Ctrl-C or SIGTERM (re-raised once they are), unless ``options.keep``."""
    run = _Run(client, budget, report, options or DoctorOptions(), Probes(client))
    try:
        with interrupts.sigterm_raises():
            _run_steps(run)
    finally:
        with interrupts.signals_deferred():  # a signal now waits for the deletes, and for the report to be whole
            check, report.probes_left = run.probes.clean_up(keep=run.options.keep)
            report.add(check)
            report.checks.insert(min(1, len(report.checks)), rate_limit_check(budget, run.stopped))
            report.rate_limit_per_window, report.rate_limit_remaining = _first_headers(budget)
            report.window_seconds = budget.window_seconds() or report.window_seconds
    return report


def without_client(report: Report, why: Check) -> Report:
    """No client could be had (the stack's token unreadable): ``why`` for the token, every other check not checked."""
    report.add(why)
    for name in (RATE_LIMIT, *[name for name, _ in _Run.step_names()[1:]], CLEANUP):
        report.add(Check(name, NOT_CHECKED, "no Intercom token to check with (see token and workspace)"))
    return report


def _run_steps(run: _Run) -> None:
    for name, step in run.steps():
        if run.stopped is not None:
            run.report.add(Check(name, NOT_CHECKED, run.stopped))
            continue
        try:
            run.report.add(step())
        except IntercomError as exc:
            run.report.add(failure(name, exc, run))
            run.stopped = _stops_the_rest(exc)


def failure(name: str, exc: IntercomError, run: _Run) -> Check:
    """The check ``name`` failed on a call Intercom refused or never answered: what happened and the fix."""
    if isinstance(exc, IntercomAuthError):
        return Check(name, FAILED, f"Intercom refused the token: {exc.message}", run.options.refused_fix)
    if isinstance(exc, IntercomRateLimitError):  # the rate limit check fails and says what to do
        run.budget.exhausted = True
        return Check(name, NOT_CHECKED, exc.message)
    if isinstance(exc, IntercomForbiddenError):
        return Check(
            name,
            FAILED,
            f"Intercom refused the call: {exc.message}",
            "give the app read and write access to users/contacts, companies, tags and data attributes (Developer "
            "Hub > your app > Configure > Authentication), then install it again",
        )
    if isinstance(exc, IntercomConnectionError):
        return Check(
            name,
            FAILED,
            f"no answer from {run.client.base_url}: {exc.message}",
            "check the network and the API root (--intercom-url, or the stack's IntercomBaseUrl/IntercomRegion)",
        )
    return Check(
        name, FAILED, exc.message, "run the doctor again; if it fails the same way, Intercom's status page may explain"
    )


def _stops_the_rest(exc: IntercomError) -> str | None:
    if isinstance(exc, IntercomAuthError):
        return "Intercom refused the token (see token and workspace)"
    if isinstance(exc, IntercomRateLimitError):
        return "the rate budget stayed exhausted (see rate limit)"
    if isinstance(exc, IntercomConnectionError):
        return "Intercom did not answer (see the check that failed)"
    return None


def _first_headers(budget: BudgetRecorder) -> tuple[int | None, int | None]:
    first = budget.first()
    return (first[0].limit, first[0].remaining) if first is not None else (None, None)
