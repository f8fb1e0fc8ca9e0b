"""What a deployment is: the stack as created on moto, where its functions' code lives, its SQS mappings."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FunctionSource:
    """Where a function's code lives on disk, read from the SAM template."""

    logical_id: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]


@dataclass(frozen=True)
class EventSourceMapping:
    """An SQS event source mapping as Lambda holds it after the stack was created."""

    logical_id: str | None
    uuid: str
    function_logical_id: str
    function_arn: str
    queue_arn: str
    queue_url: str
    batch_size: int
    maximum_batching_window: float
    report_batch_item_failures: bool
    maximum_concurrency: int | None
    enabled: bool


@dataclass
class Deployment:
    stack_name: str
    stack_id: str
    parameters: dict[str, str]
    outputs: dict[str, str]
    resources: dict[str, dict[str, str]]  # logical id -> {"type", "physical_id", "status"}
    functions: dict[str, FunctionSource]
    state_machines: dict[str, str] = field(default_factory=dict)  # logical id -> ARN
    notifications: dict[str, dict[str, Any]] = field(default_factory=dict)  # bucket -> API config
    email_identities: list[str] = field(default_factory=list)
    configuration_sets: list[str] = field(default_factory=list)
