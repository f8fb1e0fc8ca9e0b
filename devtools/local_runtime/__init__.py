"""Local runtime: the real SAM template, handlers and state machine on moto, without AWS or Docker.

A development tool (never shipped to Lambda). See README.md in this folder.
"""

from .environment import FunctionConfig, InvocationOutcome
from .errors import DeploymentError, LocalRuntimeError, MotoIncompatibleError
from .event_sources import AsyncFailure
from .invocations import InvocationRecord
from .moto_server import ACCOUNT_ID, REGION
from .options import RuntimeOptions
from .runtime import LocalRuntime

__all__ = [
    "ACCOUNT_ID",
    "REGION",
    "AsyncFailure",
    "DeploymentError",
    "FunctionConfig",
    "InvocationOutcome",
    "InvocationRecord",
    "LocalRuntime",
    "LocalRuntimeError",
    "MotoIncompatibleError",
    "RuntimeOptions",
]
