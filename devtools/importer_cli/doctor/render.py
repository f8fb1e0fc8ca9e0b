"""The doctor's report as text: one line per check (status, name, what it saw), the fix indented under each warning
and failure, and a summary line (``--json`` prints ``Report.to_json()`` instead)."""

from __future__ import annotations

from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, STATUSES, WARNING, Report

_STATUS_WIDTH = max(len(s) for s in STATUSES)


def report_lines(report: Report) -> list[str]:
    width = max((len(c.name) for c in report.checks), default=0)
    lines: list[str] = []
    for check in report.checks:
        lines.append(f"{check.status:<{_STATUS_WIDTH}}  {check.name:<{width}}  {check.detail}")
        if check.fix and check.status in (WARNING, FAILED):
            lines.append(f"{'':<{_STATUS_WIDTH}}  {'':<{width}}  fix: {check.fix}")
    lines.append(summary(report))
    return lines


def summary(report: Report) -> str:
    counts = {status: sum(1 for c in report.checks if c.status == status) for status in STATUSES}
    said = ", ".join(f"{counts[s]} {s}" for s in (OK, WARNING, FAILED, NOT_CHECKED) if counts[s])
    facts = []
    if report.app.get("name"):
        facts.append(f"app {report.app['name']!r} ({report.region or 'region unknown'})")
    if report.search_lag_seconds is not None:
        facts.append(f"search lag {report.search_lag_seconds:g} s")
    if report.rate_limit_per_window is not None:
        window = f" per {report.window_seconds:g} s window" if report.window_seconds else " per window"
        facts.append(f"rate limit {report.rate_limit_per_window}{window}")
    if report.probes_left:
        facts.append(f"probe contacts left in Intercom: {', '.join(report.probes_left)}")
    verdict = "FAILED" if report.failed else "OK"
    return f"doctor: {verdict}: {said or 'nothing checked'}" + (f"; {'; '.join(facts)}" if facts else "")
