"""``RuntimeOptions``: the local runtime's timing and test knobs, one frozen value.

    LocalRuntime("template.yaml", {"IntercomBaseUrl": url},
                 options=RuntimeOptions(visibility_timeout_override={"ChunkQueue": 2}, prewarm=True))

The defaults are what a developer's local stack wants; tests shorten the waits (``tests/runtime_fixtures.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class RuntimeOptions:
    """How the runtime runs the stack, beyond what the template and its parameters say."""

    function_env_overrides: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """``{"*" or LogicalId or function name: {VAR: value}}``, applied last to a function's environment."""
    visibility_timeout_override: Mapping[str, int] = field(default_factory=dict)
    """``{QueueLogicalId or name: seconds}``, set with SetQueueAttributes once the stack is created."""
    timeout_override: Mapping[str, int] = field(default_factory=dict)
    """``{FunctionLogicalId: seconds}``: a shorter Timeout than the template's, so tests can time a
    function out in the middle of its work without waiting minutes."""
    async_retry_delays: Sequence[float] = (1.0, 2.0)
    """Delays before the two retries of a failed asynchronous event (AWS: about 1 and 2 minutes)."""
    sqs_poll_wait_seconds: int = 1
    """Long-poll wait of the SQS receivers (also bounds how fast ``stop()`` returns)."""
    sqs_fair_share_lookahead: int = 300
    """Messages an SQS poller receives ahead and holds so that message groups share its workers as on an SQS
    fair queue (``fair_share.py``); 0: moto's arrival order."""
    default_sqs_concurrency: int = 5
    """Workers of an SQS mapping without ``ScalingConfig.MaximumConcurrency``."""
    max_environments_per_function: int = 32
    """Beyond it invocations wait for a free environment (no throttling errors)."""
    prewarm: bool | Iterable[str] = False
    """True, or logical ids: one environment per function started in the background at start."""
    verified_identities: Iterable[str] | None = None
    """SES identities created besides the template's (None: the ``SenderEmail`` parameter)."""
    python: str | None = None
    """The environments' interpreter (None: this process's)."""
    port: int = 0
    """moto's port (0: a free one)."""

    def __post_init__(self) -> None:  # copies: a caller's dict changed later does not change the options
        set_ = object.__setattr__
        set_(self, "function_env_overrides", {k: dict(v) for k, v in self.function_env_overrides.items()})
        set_(self, "visibility_timeout_override", dict(self.visibility_timeout_override))
        set_(self, "timeout_override", dict(self.timeout_override))
        set_(self, "async_retry_delays", tuple(self.async_retry_delays))
        if not isinstance(self.prewarm, bool):
            set_(self, "prewarm", tuple(self.prewarm))
        if self.verified_identities is not None:
            set_(self, "verified_identities", tuple(self.verified_identities))

    @property
    def interpreter(self) -> str:
        return self.python or sys.executable

    def prewarm_functions(self, all_functions: Iterable[str]) -> list[str]:
        """The logical ids to start an environment for at start (none when ``prewarm`` is False)."""
        if not self.prewarm:
            return []
        return list(all_functions) if self.prewarm is True else list(self.prewarm)  # type: ignore[arg-type]

    @classmethod
    def split(
        cls, arguments: Mapping[str, Any], base: RuntimeOptions | None = None
    ) -> tuple[RuntimeOptions, dict[str, Any]]:
        """For helpers that take options and other arguments as keywords: ``base`` (default: the defaults)
        with the ``arguments`` that name an option, and the other arguments."""
        names = {f.name for f in fields(cls)}
        given = {k: v for k, v in arguments.items() if k in names}
        rest = {k: v for k, v in arguments.items() if k not in names}
        return replace(base or cls(), **given), rest
