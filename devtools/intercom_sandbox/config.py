"""Run-time settings of the sandbox.

A :class:`SandboxConfig` is immutable; the server swaps in a new one (``dataclasses.replace``) when
``POST /__sandbox/config`` or :meth:`SandboxServer.configure` changes a field, so a request always sees
one consistent set of values.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


EMAIL_CONFLICTS = ("always", "without_external_id")


@dataclass(frozen=True)
class SandboxConfig:
    """How the sandbox behaves. Every field can be changed while it runs.

    Attributes:
        token: the only Bearer token accepted; ``None`` accepts any non-empty Bearer token.
        rate_limit_per_window: calls allowed per window (Intercom's ``X-RateLimit-Limit``); ``None`` means
            unlimited, and then no rate-limit headers are sent.
        window_seconds: length of the fixed rate-limit window. Intercom uses 10 seconds; smaller values
            scale benchmarks down.
        latency_ms: added to every Intercom API request before it is handled.
        jitter_ms: a uniformly random extra latency in ``[0, jitter_ms]``.
        search_lag_seconds: contacts created less than this long ago are invisible to
            ``POST /contacts/search`` (Intercom's documented "Contact Creation Delay").
        attribute_cap: custom data attributes allowed per workspace (Intercom: 250), counted over both
            models.
        email_conflicts: when a user create conflicts (409) on its e-mail. ``"always"`` (the default, friendlier
            than Intercom documents): any user with the same e-mail. ``"without_external_id"`` (what Intercom
            documents: contacts are matched by id, then external_id, and by e-mail only when no external_id is
            sent): only a create that sends no external_id; one that does conflicts only on that external_id, so
            an existing user with the e-mail and another or no external_id gets a second user beside it.
    """

    token: str | None = None
    rate_limit_per_window: int | None = None
    window_seconds: float = 10.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    search_lag_seconds: float = 0.0
    attribute_cap: int = 250
    email_conflicts: str = "always"

    def __post_init__(self) -> None:
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ConfigError("token must be a non-empty string or null")
        if self.rate_limit_per_window is not None and (
            not _is_int(self.rate_limit_per_window) or self.rate_limit_per_window < 1
        ):
            raise ConfigError("rate_limit_per_window must be a positive integer or null")
        _check_number("window_seconds", self.window_seconds, minimum=0.001)
        _check_number("latency_ms", self.latency_ms)
        _check_number("jitter_ms", self.jitter_ms)
        _check_number("search_lag_seconds", self.search_lag_seconds)
        if not _is_int(self.attribute_cap) or self.attribute_cap < 0:
            raise ConfigError("attribute_cap must be a non-negative integer")
        if self.email_conflicts not in EMAIL_CONFLICTS:
            raise ConfigError(f"email_conflicts must be one of {', '.join(EMAIL_CONFLICTS)}")

    def replace(self, **changes: Any) -> SandboxConfig:
        """A copy with ``changes`` applied; unknown names raise :class:`ConfigError`."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_number(name: str, value: object, minimum: float = 0.0) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name} must be a number >= {minimum:g}")
