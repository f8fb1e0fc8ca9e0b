"""Values moto's CloudFormation resolves for the fix-ups: every intrinsic function becomes an extra stack
``Output`` before the stack is created and is read back after, so ``Ref``/``GetAtt``/``Sub``/``Join``/``If``
follow one code path, the same one that resolves the functions' environment variables."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INTRINSICS = frozenset(
    {
        "Ref",
        "Condition",
        "Fn::GetAtt",
        "Fn::Sub",
        "Fn::Join",
        "Fn::If",
        "Fn::Select",
        "Fn::Split",
        "Fn::FindInMap",
        "Fn::ImportValue",
        "Fn::Base64",
        "Fn::GetAZs",
        "Fn::Cidr",
        "Fn::Equals",
        "Fn::And",
        "Fn::Or",
        "Fn::Not",
    }
)
OUTPUT_PREFIX = "LocalRuntimeValue"


class _Pending:
    __slots__ = ("key", "presence")

    def __init__(self, key: str, presence: bool = False) -> None:
        self.key = key
        self.presence = presence

    def __repr__(self) -> str:
        return f"<resolved by output {self.key}>"


class _Absent:
    """Marker for a value whose Condition is false (the output does not exist)."""


ABSENT = _Absent()


class DeferredValues:
    """Turns intrinsic functions into extra stack Outputs and substitutes the resolved values back."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}

    def defer(self, value: Any, condition: str | None = None) -> Any:
        """Returns ``value`` with every intrinsic replaced by a placeholder resolved after CreateStack."""
        if isinstance(value, dict):
            if len(value) == 1 and next(iter(value)) in INTRINSICS:
                return self._output(value, condition)
            return {k: self.defer(v, condition) for k, v in value.items()}
        if isinstance(value, list):
            return [self.defer(v, condition) for v in value]
        return value

    def presence(self, condition: str | None) -> Any:
        """A placeholder that resolves to ``True`` only when ``condition`` holds (or is None)."""
        if condition is None:
            return True
        return self._output("present", condition, presence=True)

    def _output(self, expression: Any, condition: str | None, presence: bool = False) -> _Pending:
        key = f"{OUTPUT_PREFIX}{len(self.outputs)}"
        output: dict[str, Any] = {"Value": expression}
        if condition:
            output["Condition"] = condition
        self.outputs[key] = output
        return _Pending(key, presence)

    @staticmethod
    def resolve(value: Any, resolved: Mapping[str, str]) -> Any:
        if isinstance(value, _Pending):
            found = resolved.get(value.key, ABSENT)
            return found is not ABSENT if value.presence else found
        if isinstance(value, dict):
            return {k: DeferredValues.resolve(v, resolved) for k, v in value.items()}
        if isinstance(value, list):
            return [DeferredValues.resolve(v, resolved) for v in value]
        return value
