"""Execution environments of the local runtime: isolation, warm reuse, context, timeouts, crashes."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from local_runtime import LocalRuntime
from runtime_fixtures import FIXTURE_TEMPLATE, runtime_fixture, wait_for_invocations

pytestmark = pytest.mark.integration

_runtime = runtime_fixture(
    FIXTURE_TEMPLATE,
    stack_name="fixture-functions",
    parameters={"Stage": "functions", "CreateIdentity": "false"},
    verified_identities=(),
    function_env_overrides={"*": {"OVERRIDE_ALL": "everyone"}, "EchoFunction": {"OVERRIDE_ECHO": "echo-only"}},
    # an echo waiting at the gate its test opens (the event's "gate") never times out while the test runs
    timeout_override={"EchoFunction": 60},
)


@pytest.fixture(scope="module")
def runtime(_runtime: LocalRuntime) -> Iterator[LocalRuntime]:
    # Set in the parent after start: environments are created lazily, so a leak would show.
    os.environ["LEAK_CANARY"] = "leaked"
    try:
        yield _runtime
    finally:
        os.environ.pop("LEAK_CANARY", None)


def test_function_sees_its_own_variables_not_another_functions(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})
    other, _ = runtime.invoke("OtherFunction", {})

    assert echo["env"]["ONLY_IN_ECHO"] == "echo-value"
    assert echo["env"]["ONLY_IN_OTHER"] is None
    assert other["env"]["ONLY_IN_OTHER"] == "other-value"
    assert other["env"]["ONLY_IN_ECHO"] is None


def test_parent_process_environment_does_not_leak_into_functions(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})

    assert echo["env"]["LEAK_CANARY"] is None
    assert echo["env"]["HOME"] is None


def test_template_references_are_resolved_by_cloudformation(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})

    assert echo["env"]["STAGE"] == "functions"
    assert echo["env"]["TABLE_NAME"] == runtime.physical_id("Table") == runtime.outputs["TableName"]
    assert echo["env"]["BUCKET_NAME"] == f"fixture-functions-{runtime.account_id}"
    assert echo["env"]["WORK_QUEUE_URL"].endswith(runtime.physical_id("WorkQueue").rsplit("/", 1)[1])


def test_aws_endpoint_reaches_moto_and_layer_is_importable(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})

    assert echo["env"]["AWS_ENDPOINT_URL"] == runtime.endpoint_url
    assert echo["env"]["AWS_REGION"] == "us-east-1"
    assert echo["layer"] == "fixture-shared-layer"


def test_env_overrides_apply_to_all_or_one_function(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})
    other, _ = runtime.invoke("OtherFunction", {})

    assert echo["env"]["OVERRIDE_ALL"] == other["env"]["OVERRIDE_ALL"] == "everyone"
    assert echo["env"]["OVERRIDE_ECHO"] == "echo-only"
    assert other["env"]["OVERRIDE_ECHO"] is None


def test_environment_is_reused_warm_between_invocations(runtime: LocalRuntime) -> None:
    first, _ = runtime.invoke("EchoFunction", {})
    second, _ = runtime.invoke("EchoFunction", {})

    assert second["pid"] == first["pid"]
    assert second["count"] == first["count"] + 1
    last = runtime.invocations("EchoFunction")[-1]
    assert not last.cold_start


def test_context_matches_the_function_configuration(runtime: LocalRuntime) -> None:
    echo, _ = runtime.invoke("EchoFunction", {})

    context = echo["context"]
    name = runtime.physical_id("EchoFunction")
    assert context["function_name"] == name == echo["env"]["AWS_LAMBDA_FUNCTION_NAME"]
    assert context["function_version"] == "$LATEST"
    assert context["invoked_function_arn"] == f"arn:aws:lambda:us-east-1:{runtime.account_id}:function:{name}"
    assert context["memory_limit_in_mb"] == "256"
    assert context["log_group_name"] == f"/aws/lambda/{name}"
    assert context["log_stream_name"] == echo["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert 0 < context["remaining_ms"] <= 60_000  # counts down from the function's timeout
    assert echo["env"]["_X_AMZN_TRACE_ID"].startswith("Root=1-")


def test_unhandled_exception_returns_lambda_error_and_keeps_environment(runtime: LocalRuntime) -> None:
    before, _ = runtime.invoke("EchoFunction", {})

    payload, error = runtime.invoke("EchoFunction", {"raise": "ValidationFailed"})
    after, _ = runtime.invoke("EchoFunction", {})

    assert payload is None
    assert error["errorType"] == "ValidationFailed"
    assert error["errorMessage"] == "asked to raise ValidationFailed"
    assert error["requestId"]
    assert any("app.py" in frame for frame in error["stackTrace"])
    assert after["pid"] == before["pid"]


def test_unserializable_result_is_a_marshal_error(runtime: LocalRuntime) -> None:
    _, error = runtime.invoke("EchoFunction", {"unserializable": True})

    assert error["errorType"] == "Runtime.MarshalError"


def test_timeout_kills_the_environment_and_reports_sandbox_timedout(runtime: LocalRuntime) -> None:
    warm, _ = runtime.invoke("OtherFunction", {})

    payload, error = runtime.invoke("OtherFunction", {"sleep": 5})  # its timeout is 1 s
    fresh, _ = runtime.invoke("OtherFunction", {})

    assert payload is None
    assert error["errorType"] == "Sandbox.Timedout"
    assert error["errorMessage"].endswith("Task timed out after 1.00 seconds")
    assert fresh["pid"] != warm["pid"]  # killed at the timeout, not left to finish its sleep
    assert fresh["count"] == 1
    assert "Task timed out after 1.00 seconds" in runtime.read_log("OtherFunction")


@pytest.mark.parametrize(
    ("event", "reason"),
    [({"exit": 3}, "exit status 3"), ({"segv": True}, "signal: segmentation fault")],
    ids=["exit", "segfault"],
)
def test_crashing_environment_reports_exit_error_and_runtime_carries_on(
    runtime: LocalRuntime, event: dict, reason: str
) -> None:
    before, _ = runtime.invoke("EchoFunction", {})

    _, error = runtime.invoke("EchoFunction", event)
    after, after_error = runtime.invoke("EchoFunction", {})
    other, _ = runtime.invoke("OtherFunction", {})

    assert error["errorType"] == "Runtime.ExitError"
    assert error["errorMessage"].endswith(reason)
    assert after_error is None
    assert after["pid"] != before["pid"]
    assert other["layer"] == "fixture-shared-layer"


def test_concurrent_invocations_get_separate_environments(runtime: LocalRuntime, tmp_path: Path) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        invocations = [pool.submit(runtime.invoke, "EchoFunction", {"gate": str(tmp_path)}) for _ in range(3)]
        try:  # all three are running at once (each waits at the gate) before any may finish
            runtime.wait_until(lambda: len(list(tmp_path.glob("arrived-*"))) == 3, 30, message="3 echoes at the gate")
        finally:
            (tmp_path / "open").touch()
        results = [invocation.result(timeout=30)[0] for invocation in invocations]

    assert len({r["pid"] for r in results}) == 3
    assert runtime.environments("EchoFunction") >= 3


def test_invoke_api_runs_the_handler_through_moto(runtime: LocalRuntime) -> None:
    lambda_client = runtime.client("lambda")

    response = lambda_client.invoke(
        FunctionName=runtime.physical_id("EchoFunction"), Payload=json.dumps({"via": "api"}), LogType="Tail"
    )

    assert response["StatusCode"] == 200
    assert "FunctionError" not in response
    assert json.loads(response["Payload"].read())["event"] == {"via": "api"}
    assert runtime.invocations("EchoFunction", source="invoke")


def test_invoke_api_flags_errors_as_unhandled(runtime: LocalRuntime) -> None:
    response = runtime.client("lambda").invoke(
        FunctionName=runtime.physical_id("EchoFunction"), Payload=json.dumps({"raise": "Broken"})
    )

    assert response["FunctionError"] == "Unhandled"
    assert json.loads(response["Payload"].read())["errorType"] == "Broken"


def test_invoke_api_event_type_returns_at_once_and_runs_in_background(runtime: LocalRuntime, tmp_path: Path) -> None:
    response = runtime.client("lambda").invoke(
        FunctionName=runtime.physical_id("EchoFunction"),
        InvocationType="Event",
        Payload=json.dumps({"gate": str(tmp_path), "marker": "async"}),
    )

    assert response["StatusCode"] == 202  # returned while the handler cannot have finished: its gate is shut
    assert not runtime.invocations("EchoFunction", source="invoke-async")
    runtime.wait_until(lambda: list(tmp_path.glob("arrived-*")), 30, message="the echo running in the background")
    (tmp_path / "open").touch()
    records = wait_for_invocations(runtime, "EchoFunction", 1, timeout=30, source="invoke-async")
    assert records[0].ok


def test_dry_run_runs_nothing(runtime: LocalRuntime) -> None:
    before = len(runtime.invocations("EchoFunction"))

    response = runtime.client("lambda").invoke(
        FunctionName=runtime.physical_id("EchoFunction"), InvocationType="DryRun"
    )

    assert response["StatusCode"] == 204
    assert len(runtime.invocations("EchoFunction")) == before


def test_each_function_logs_to_its_own_file(runtime: LocalRuntime) -> None:
    runtime.invoke("EchoFunction", {"marker": "log-check"})

    echo_log = runtime.read_log("EchoFunction")
    assert "log-check" in echo_log
    assert "REPORT RequestId:" in echo_log
    assert runtime.log_path("EchoFunction").name == "EchoFunction.log"
    assert "log-check" not in runtime.read_log("OtherFunction")


def test_conditional_email_identity_is_skipped_when_its_condition_is_false(runtime: LocalRuntime) -> None:
    identities = runtime.client("sesv2").list_email_identities()["EmailIdentities"]

    assert identities == []
