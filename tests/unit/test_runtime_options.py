"""RuntimeOptions: the local runtime's knobs as one frozen value, and the split the test helpers use."""

from __future__ import annotations

import dataclasses
import sys

import pytest

from local_runtime import RuntimeOptions

pytestmark = pytest.mark.unit


def test_options_copy_what_they_are_given():
    overrides = {"*": {"A": "1"}}
    options = RuntimeOptions(function_env_overrides=overrides, async_retry_delays=[0.1], prewarm=["Fn"])
    overrides["*"]["A"] = "2"

    assert options.function_env_overrides == {"*": {"A": "1"}}
    assert options.async_retry_delays == (0.1,)
    assert options.prewarm == ("Fn",)


def test_options_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RuntimeOptions().port = 1  # type: ignore[misc]


@pytest.mark.parametrize(("prewarm", "expected"), [(False, []), (True, ["A", "B"]), (("B",), ["B"]), ((), [])])
def test_prewarm_names_every_function_or_the_ones_given(prewarm, expected):
    assert RuntimeOptions(prewarm=prewarm).prewarm_functions(["A", "B"]) == expected


def test_interpreter_defaults_to_this_python():
    assert RuntimeOptions().interpreter == sys.executable
    assert RuntimeOptions(python="/usr/bin/python3").interpreter == "/usr/bin/python3"


def test_split_separates_options_from_other_arguments_on_top_of_a_base():
    base = RuntimeOptions(sqs_poll_wait_seconds=1, async_retry_delays=(0.2, 0.4))

    options, rest = RuntimeOptions.split({"port": 5, "stack_name": "x", "log_dir": "logs"}, base=base)

    assert (options.port, options.sqs_poll_wait_seconds, options.async_retry_delays) == (5, 1, (0.2, 0.4))
    assert rest == {"stack_name": "x", "log_dir": "logs"}
