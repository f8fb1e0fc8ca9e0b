"""What ``intercom-import doctor`` reports: one ``Check`` per point (ok / warning / failed / not checked, with what
it saw and the fix), gathered into a ``Report`` (the ``--json`` object: the app, its region, the measured search lag,
the rate limit per window, every check). Exit status: 0 when no check failed, 1 otherwise (2 is a usage error).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OK = "ok"
WARNING = "warning"
FAILED = "failed"
NOT_CHECKED = "not checked"
STATUSES = (OK, WARNING, FAILED, NOT_CHECKED)


@dataclass(frozen=True)
class Check:
    """One point the doctor checked: its ``name`` (stable, for --json), how it came out, what it saw (``detail``),
    and what to do about it (``fix``; empty when nothing is to be done)."""

    name: str
    status: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"unknown status {self.status!r}")

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "status": self.status, "detail": self.detail, "fix": self.fix}


@dataclass
class Report:
    """Everything the doctor found: the checks in the order they ran, and the facts the pipeline uses."""

    app: dict[str, Any] = field(default_factory=dict)  # {"id_code", "name", "region"} from GET /me
    region: str | None = None  # the app's region (us, eu, au), as /me says
    search_lag_seconds: float | None = None  # measured: a probe lead's create to its first search hit
    search_update_lag_seconds: float | None = None  # measured: the probe's update to search showing it
    rate_limit_per_window: int | None = None  # X-RateLimit-Limit
    rate_limit_remaining: int | None = None  # X-RateLimit-Remaining when the doctor started
    window_seconds: float | None = None
    checks: list[Check] = field(default_factory=list)
    probes_left: list[str] = field(default_factory=list)  # probe contacts kept (--keep) or that could not be deleted
    stored: dict[str, Any] = field(default_factory=dict)  # where the measured values were stored for the pipeline

    def add(self, check: Check) -> Check:
        self.checks.append(check)
        return check

    @property
    def failed(self) -> bool:
        return any(c.status == FAILED for c in self.checks)

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "region": self.region,
            "search_lag_seconds": self.search_lag_seconds,
            "search_update_lag_seconds": self.search_update_lag_seconds,
            "rate_limit_per_window": self.rate_limit_per_window,
            "rate_limit_remaining": self.rate_limit_remaining,
            "window_seconds": self.window_seconds,
            "checks": [c.to_json() for c in self.checks],
            "probes_left": self.probes_left,
            "stored": self.stored,
            "ok": not self.failed,
        }
