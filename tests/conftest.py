"""Shared fixtures: the Intercom sandbox (sandbox_fixtures), the local runtime (runtime_fixtures),
a Lambda context and the events/ loader."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

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


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@pytest.fixture
def load_event():
    def load(name: str) -> dict:
        return json.loads((EVENTS / name).read_text())

    return load
