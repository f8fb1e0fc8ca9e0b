"""Run-time settings of the sandbox, and its two named profiles.

A :class:`SandboxConfig` is immutable; the server swaps in a new one (``dataclasses.replace``) when
``POST /__sandbox/config`` or :meth:`SandboxServer.configure` changes a field, so a request always sees
one consistent set of values.

A profile names how kind the sandbox is where Intercom's documented behaviour is less kind than it could be
(``../shared/docs/intercom-api.md`` 1.1-1.7). ``friendly`` (the default): search finds a contact at once and a user
create conflicts on any existing user's e-mail. ``documented``: Intercom as documented, a search lag of "a few
minutes" and identity matched by id, then external_id, and by e-mail only when no external_id is sent; where the
documentation is silent, the less convenient reading: search shows a contact's values from before an update for
as long as it misses a new contact. In both,
leads never conflict and archived contacts are absent from search (Intercom's documented behaviour, no knob).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any


class ConfigError(ValueError):
    """A configuration value is missing, of the wrong type or out of range."""


EMAIL_CONFLICTS = ("always", "without_external_id")
DOCUMENTED_SEARCH_LAG_SECONDS = 180.0  # "This delay can take a few minutes" (Intercom, Search contacts)
CUSTOM_PROFILE = "custom"  # the name a config matching neither profile shows

# The fields each profile sets; every other field keeps its value.
PROFILES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "documented": MappingProxyType(
            {
                "search_lag_seconds": DOCUMENTED_SEARCH_LAG_SECONDS,
                "search_update_lag_seconds": DOCUMENTED_SEARCH_LAG_SECONDS,
                "email_conflicts": "without_external_id",
            }
        ),
        "friendly": MappingProxyType(
            {"search_lag_seconds": 0.0, "search_update_lag_seconds": 0.0, "email_conflicts": "always"}
        ),
    }
)


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
        search_update_lag_seconds: ``POST /contacts/search`` shows a contact's values as they were this long ago
            (what an update changed since is not indexed yet). Intercom documents a delay for new contacts only and
            says nothing of updates, so the ``documented`` profile takes the less convenient reading: as long as
            the search lag; ``friendly``: 0 (the doctor's "search shows updates" check measures it on a real
            workspace). The search matches on current values; only the values it shows are old.
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
    search_update_lag_seconds: float = 0.0
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
        _check_number("search_update_lag_seconds", self.search_update_lag_seconds)
        if not _is_int(self.attribute_cap) or self.attribute_cap < 0:
            raise ConfigError("attribute_cap must be a non-negative integer")
        if self.email_conflicts not in EMAIL_CONFLICTS:
            raise ConfigError(f"email_conflicts must be one of {', '.join(EMAIL_CONFLICTS)}")

    @classmethod
    def documented(cls, search_lag_seconds: float = DOCUMENTED_SEARCH_LAG_SECONDS, **fields: Any) -> SandboxConfig:
        """Intercom as documented: contacts searchable only after ``search_lag_seconds``, e-mail conflicts only
        for a user create without an external_id; ``fields`` set the other knobs."""
        return cls.for_profile("documented", **fields, search_lag_seconds=search_lag_seconds)

    @classmethod
    def friendly(cls, **fields: Any) -> SandboxConfig:
        """The sandbox's kinder defaults: no search lag, a user create conflicts on any user's e-mail."""
        return cls.for_profile("friendly", **fields)

    @classmethod
    def for_profile(cls, profile: str, **fields: Any) -> SandboxConfig:
        """The profile's values, then ``fields`` over them (a single knob overridden)."""
        return cls().replace(profile=profile, **fields)

    @property
    def profile(self) -> str:
        """The profile these values are: ``documented`` (with any search lag above 0: the lag is its parameter),
        ``friendly``, or ``custom`` when they match neither."""
        if self.email_conflicts == "without_external_id" and self.search_lag_seconds > 0:
            return "documented"
        if self.email_conflicts == "always" and self.search_lag_seconds == 0:
            return "friendly"
        return CUSTOM_PROFILE

    def describe(self) -> str:
        """One line for people: the profile and its values."""
        email = "only without an external_id" if self.email_conflicts == "without_external_id" else "always"
        return f"{self.profile} profile: search lag {self.search_lag_seconds:g} s, e-mail conflicts {email}"

    def replace(self, **changes: Any) -> SandboxConfig:
        """A copy with ``changes`` applied; unknown names raise :class:`ConfigError`. ``profile`` applies that
        profile's values first and the other changes over them (``custom`` applies none, so what
        :meth:`as_admin_dict` shows can be sent back as it is). With ``documented``, a search lag given without
        an update lag sets both."""
        profile = changes.pop("profile", CUSTOM_PROFILE)
        if not isinstance(profile, str) or (profile != CUSTOM_PROFILE and profile not in PROFILES):
            raise ConfigError(f"profile must be one of {', '.join((*PROFILES, CUSTOM_PROFILE))}")
        if profile == "documented" and "search_lag_seconds" in changes:  # the update lag follows the search lag
            changes.setdefault("search_update_lag_seconds", changes["search_lag_seconds"])
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"unknown config field(s): {', '.join(unknown)}")
        return dataclasses.replace(self, **{**PROFILES.get(profile, {}), **changes})

    def as_dict(self) -> dict[str, Any]:
        """The fields, as ``SandboxConfig(**...)`` takes them."""
        return dataclasses.asdict(self)

    def as_admin_dict(self) -> dict[str, Any]:
        """What ``GET /__sandbox/config`` shows: the profile's name and every effective value."""
        return {"profile": self.profile, **self.as_dict()}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_number(name: str, value: object, minimum: float = 0.0) -> None:
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value) or value < minimum:
        raise ConfigError(f"{name} must be a number >= {minimum:g}")
