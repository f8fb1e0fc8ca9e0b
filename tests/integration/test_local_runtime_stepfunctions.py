"""Step Functions on the local runtime: the fixture's ASL runs on moto's interpreter and its Lambda
tasks run in the runtime's environments (waitForTaskToken, Retry/Catch, DynamoDB and SESv2 tasks)."""

from __future__ import annotations

import json
import uuid

import pytest

from local_runtime import LocalRuntime
from runtime_fixtures import FIXTURE_TEMPLATE, runtime_fixture, wait_for_execution, wait_for_invocations

pytestmark = pytest.mark.integration

runtime = runtime_fixture(
    FIXTURE_TEMPLATE,
    stack_name="fixture-flow",
    parameters={"Stage": "flow", "SenderEmail": "flow@example.com", "Recipient": "team@example.com"},
    verified_identities=(),  # the sender identity comes from the template's conditional resource
)


def _start(runtime: LocalRuntime, mode: str) -> str:
    job_id = f"{mode}-{uuid.uuid4().hex[:8]}"
    runtime.client("stepfunctions").start_execution(
        stateMachineArn=runtime.outputs["FlowArn"], name=job_id, input=json.dumps({"mode": mode, "job_id": job_id})
    )
    return job_id


def _job(runtime: LocalRuntime, job_id: str) -> dict:
    item = runtime.client("dynamodb").get_item(
        TableName=runtime.outputs["TableName"], Key={"pk": {"S": f"JOB#{job_id}"}}
    )
    return item.get("Item", {})


def test_state_machine_is_created_from_the_definition_file_with_substitutions(runtime: LocalRuntime) -> None:
    sfn = runtime.client("stepfunctions")

    described = sfn.describe_state_machine(stateMachineArn=runtime.outputs["FlowArn"])
    definition = json.loads(described["definition"])

    assert described["name"] == "fixture-flow-flow"
    assert runtime.state_machine_arn("FlowStateMachine") == runtime.outputs["FlowArn"]
    assert "${" not in described["definition"]
    assert definition["States"]["Park"]["Parameters"]["FunctionName"] == runtime.functions["ParkFunction"].arn
    assert definition["States"]["RecordFailure"]["Parameters"]["TableName"] == runtime.outputs["TableName"]
    assert described["roleArn"].startswith(f"arn:aws:iam::{runtime.account_id}:role/")


def test_wait_for_task_token_is_resumed_by_another_handler(runtime: LocalRuntime) -> None:
    job_id = _start(runtime, "token")
    wait_for_invocations(runtime, "ParkFunction", 1, timeout=20)
    assert runtime.executions()[0]["status"] == "RUNNING"

    payload, error = runtime.invoke("ResumeFunction", {"job_id": job_id})
    execution = wait_for_execution(runtime, job_id, timeout=20)

    assert error is None and payload == {"resumed": True}
    assert execution["status"] == "SUCCEEDED", execution
    assert execution["output"]["resumed"] == {"resumed_by": runtime.physical_id("ResumeFunction")}
    assert _job(runtime, job_id)["done"] == {"BOOL": True}


def test_lambda_task_error_is_retried_then_caught(runtime: LocalRuntime) -> None:
    job_id = _start(runtime, "flaky")

    execution = wait_for_execution(runtime, job_id, timeout=30)

    assert execution["status"] == "SUCCEEDED", execution
    assert execution["output"]["error"]["Error"] == "FlakyError"
    job = _job(runtime, job_id)
    assert job["job_status"] == {"S": "failed"}
    assert job["error_name"] == {"S": "FlakyError"}
    flaky = [r for r in runtime.invocations("EchoFunction", source="invoke") if r.error_type == "FlakyError"]
    assert len(flaky) == 2  # first attempt + one retry (MaxAttempts 1)


def test_summary_email_is_visible_with_text_and_html(runtime: LocalRuntime) -> None:
    job_id = _start(runtime, "echo")

    execution = wait_for_execution(runtime, job_id, timeout=20)

    assert execution["status"] == "SUCCEEDED", execution
    [sent] = [e for e in runtime.sent_emails() if e["subject"] == f"Job {job_id} done"]
    assert sent["source"] == "flow@example.com"
    assert sent["destinations"] == ["team@example.com"]
    assert sent["text"] == "mode echo"
    assert sent["html"] == "<p>done</p>"
    assert sent["message_id"] == execution["output"]["email"]["message_id"]


def test_email_sent_by_a_client_is_listed_too(runtime: LocalRuntime) -> None:
    runtime.client("sesv2").send_email(
        FromEmailAddress="flow@example.com",
        Destination={"ToAddresses": ["a@example.com"], "CcAddresses": ["b@example.com"]},
        Content={"Simple": {"Subject": {"Data": "direct"}, "Body": {"Text": {"Data": "plain only"}}}},
    )

    [sent] = [e for e in runtime.sent_emails() if e["subject"] == "direct"]
    assert sent["destinations"] == ["a@example.com", "b@example.com"]
    assert sent["text"] == "plain only"
    assert sent["html"] is None


def test_runtime_is_idle_once_executions_finish(runtime: LocalRuntime) -> None:
    job_id = _start(runtime, "echo")

    runtime.wait_idle(timeout=20)

    assert wait_for_execution(runtime, job_id, timeout=1)["status"] == "SUCCEEDED"
    assert runtime.running_invocations == 0
