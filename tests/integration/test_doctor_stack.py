"""The doctor's stack checks on the real stack (template.yaml on moto), reached like any stack with ``--outputs``:
the SES sender identity, SES's account (moto does not implement GetAccount: not checked), the token secret, the
upload notification reaching the validator.

What would break the shared stack is shown through a target of its own instead: a worker function whose settings
name another secret, an outputs file naming a bucket without notifications. Only the SES identity is changed in
place (deleted, then created again, as the stack had it).
"""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from importer_cli import targets
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, Report
from importer_cli.doctor.stack_checks import NOTIFICATION, SECRET, SETTINGS, stack_checks
from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, Pipeline, cli_json, default_stack_fixtures

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group(DEFAULT_STACK)]

sandbox, pipeline = default_stack_fixtures()

IDENTITY, SENDING, QUOTA = "SES sender identity", "SES sending", "SES sending quota"


def run_checks(outputs_file: Path) -> dict[str, Any]:
    report = Report()
    stack_checks(targets.from_outputs_file(str(outputs_file)), report)
    names = [c.name for c in report.checks]
    assert len(names) == len(set(names)), names
    return {c.name: c for c in report.checks}


def outputs_file(pipeline: Pipeline, directory: Path, **changed: str) -> Path:
    """The stack's stack.json with some outputs changed: a target of its own."""
    path = pipeline.stack_file(directory)
    info = json.loads(path.read_text())
    info["outputs"] = {**info["outputs"], **changed}
    path.write_text(json.dumps(info))
    return path


@pytest.fixture
def twin_worker(pipeline: Pipeline) -> Iterator[Callable[..., str]]:
    """``twin_worker(**env)``: a copy of the stack's worker function (never invoked) whose environment differs by
    ``env``: a worker of another stack, as the doctor reads one. Deleted after the test."""
    lam = pipeline.runtime.client("lambda")
    config = lam.get_function_configuration(FunctionName=pipeline.outputs["WorkerFunctionName"])
    made: list[str] = []

    def twin(**env: str) -> str:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "def lambda_handler(event, context):\n    return None\n")
        name = f"doctor-twin-{uuid.uuid4().hex[:8]}"
        variables = {**config["Environment"]["Variables"], **env}
        lam.create_function(
            FunctionName=name,
            Runtime=config["Runtime"],
            Role=config["Role"],
            Handler="app.lambda_handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": {k: str(v) for k, v in variables.items()}},  # moto answers numbers
        )
        made.append(name)
        return name

    yield twin
    for name in made:
        lam.delete_function(FunctionName=name)


def test_the_local_stack_passes_every_check_moto_can_answer(pipeline: Pipeline, tmp_path: Path):
    checks = run_checks(pipeline.stack_file(tmp_path))

    assert list(checks) == [IDENTITY, SENDING, QUOTA, SECRET, NOTIFICATION]
    assert checks[IDENTITY].status == OK and "imports@example.com" in checks[IDENTITY].detail
    assert checks[SECRET].status == OK and "holds a token (not shown)" in checks[SECRET].detail
    assert "default-stack-token" not in json.dumps([c.to_json() for c in checks.values()])  # never printed
    validator = pipeline.outputs["ValidateFunctionArn"]
    assert checks[NOTIFICATION].status == OK and validator in checks[NOTIFICATION].detail
    # moto has no SESv2 GetAccount: said, not failed
    assert checks[SENDING].status == checks[QUOTA].status == NOT_CHECKED
    assert "does not implement ses:GetAccount" in checks[SENDING].detail


def test_an_unverified_sender_fails_with_how_to_verify_it(pipeline: Pipeline, tmp_path: Path):
    sesv2 = pipeline.runtime.client("sesv2")
    sesv2.delete_email_identity(EmailIdentity="imports@example.com")
    try:
        check = run_checks(pipeline.stack_file(tmp_path))[IDENTITY]
    finally:  # the stack's identity as it was: its summary emails are sent from it
        sesv2.create_email_identity(EmailIdentity="imports@example.com")

    assert check.status == FAILED
    assert "no identity for the sender imports@example.com or its domain example.com" in check.detail
    assert "create-email-identity --email-identity imports@example.com" in check.fix


def test_a_missing_token_secret_fails_with_how_to_create_it(pipeline: Pipeline, tmp_path: Path, twin_worker):
    missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-token-AbCdEf"
    worker = twin_worker(INTERCOM_TOKEN_SECRET=missing)

    check = run_checks(outputs_file(pipeline, tmp_path, WorkerFunctionName=worker))[SECRET]

    assert check.status == FAILED and f"the secret {missing} does not exist" in check.detail
    assert "create-secret" in check.fix and "IntercomTokenSecretArn" in check.fix


def test_a_secret_without_a_token_fails(pipeline: Pipeline, tmp_path: Path, twin_worker):
    secrets = pipeline.runtime.client("secretsmanager")
    empty = secrets.create_secret(Name=f"doctor-empty-{uuid.uuid4().hex[:8]}", SecretString='{"access_token": ""}')
    worker = twin_worker(INTERCOM_TOKEN_SECRET=empty["ARN"])

    try:
        check = run_checks(outputs_file(pipeline, tmp_path, WorkerFunctionName=worker))[SECRET]
    finally:
        secrets.delete_secret(SecretId=empty["ARN"], ForceDeleteWithoutRecovery=True)

    assert check.status == FAILED and "empty" in check.detail and "put-secret-value" in check.fix


def test_a_bucket_whose_notification_does_not_reach_the_validator_fails(pipeline: Pipeline, tmp_path: Path):
    bucket = f"doctor-no-notification-{uuid.uuid4().hex[:8]}"
    pipeline.s3.create_bucket(Bucket=bucket)
    try:
        check = run_checks(outputs_file(pipeline, tmp_path, ImportBucketName=bucket))[NOTIFICATION]
    finally:
        pipeline.s3.delete_bucket(Bucket=bucket)

    assert check.status == FAILED and f"no notification of {bucket} invokes the validator" in check.detail
    assert "an upload starts no import" in check.detail and "redeploy" in check.fix


def test_a_stack_whose_worker_settings_cannot_be_read_says_so_and_checks_the_rest(pipeline: Pipeline, tmp_path: Path):
    checks = run_checks(outputs_file(pipeline, tmp_path, WorkerFunctionName="no-such-function"))

    assert checks[SETTINGS].status == FAILED and "lambda:GetFunctionConfiguration" in checks[SETTINGS].detail
    assert checks[IDENTITY].status == checks[SECRET].status == NOT_CHECKED
    assert "see the check 'stack settings'" in checks[SECRET].detail
    assert checks[NOTIFICATION].status == OK


def test_search_lag_set_without_a_workspace_uses_the_stack_tokens_workspace(
    pipeline: Pipeline, sandbox: Any, tmp_path: Path
):
    from intercom_importer.intercom import IntercomClient
    from intercom_importer.measured import MeasuredLags

    stack_file = pipeline.stack_file(tmp_path)
    workspace = IntercomClient(DEFAULT_STACK_TOKEN, sandbox.url).workspace_id()
    lags = MeasuredLags(targets.from_outputs_file(str(stack_file)).job_store().table)
    try:  # no chunk runs meanwhile: the shared stack's workers never read it
        shown = cli_json(stack_file, "search-lag", "--set", "40")
        assert [w["workspace"] for w in shown["workspaces"]] == [workspace]
        assert shown["workspaces"][0]["effective_search_lag_seconds"] == 80
    finally:
        lags.forget(workspace)
    assert lags.all() == []
