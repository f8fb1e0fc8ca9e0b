"""The template and the state machine are code under test: lint, wiring, names."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from intercom_importer import errors, settings

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ASL = ROOT / "statemachine" / "import_job.asl.json"
BUILTIN_ERRORS = {"States.ALL", "States.Timeout", "States.TaskFailed", "States.Runtime", "States.HeartbeatTimeout"}


class _CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict:
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {f"!{suffix}": value}


_CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict:
    return yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)


@pytest.fixture(scope="module")
def asl() -> dict:
    return json.loads(ASL.read_text())


def test_cfn_lint_reports_no_errors_or_warnings():
    result = subprocess.run(
        [str(Path(sys.executable).with_name("cfn-lint")), str(TEMPLATE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_placeholder_in_the_definition_has_a_substitution(template, asl):
    placeholders = set(re.findall(r"\$\{(\w+)\}", ASL.read_text()))
    substitutions = set(template["Resources"]["ImportJobStateMachine"]["Properties"]["DefinitionSubstitutions"])
    assert placeholders == substitutions


def test_every_transition_targets_an_existing_state(asl):
    states = asl["States"]
    targets = []
    for state in states.values():
        targets += [state.get("Next"), state.get("Default")]
        targets += [c.get("Next") for c in state.get("Choices", [])]
        targets += [c.get("Next") for c in state.get("Catch", [])]
    missing = {t for t in targets if t and t not in states}
    assert not missing


def test_every_state_is_reachable_and_every_path_ends(asl):
    states = asl["States"]
    seen, todo = set(), [asl["StartAt"]]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        nxt = [state.get("Next"), state.get("Default")]
        nxt += [c["Next"] for c in state.get("Choices", []) + state.get("Catch", [])]
        todo += [n for n in nxt if n]
        if state["Type"] not in ("Choice", "Succeed", "Fail"):
            assert state.get("End") or state.get("Next"), f"{name} neither ends nor continues"
    assert seen == set(states)


def test_every_task_retries_a_bounded_number_of_times(asl):
    for name, state in asl["States"].items():
        if state["Type"] == "Task":
            assert state.get("Retry"), f"{name} has no Retry"
            assert all(r.get("MaxAttempts", 3) <= 5 for r in state["Retry"])


def test_every_task_that_can_fail_the_job_is_caught(asl):
    # Every task leads to an email when it fails; the last bookkeeping steps (after the email) end in a
    # Fail state that says what was not recorded.
    bookkeeping = {"MarkJobDone", "MarkJobFailed", "MarkEmailFailed"}
    for name, state in asl["States"].items():
        if state["Type"] != "Task":
            continue
        [caught] = [c for c in state.get("Catch", []) if "States.ALL" in c["ErrorEquals"]]
        if name in bookkeeping:
            assert asl["States"][caught["Next"]]["Type"] == "Fail", name


def test_every_error_name_the_state_machine_uses_is_defined(asl):
    names = set()
    for state in asl["States"].values():
        for rule in state.get("Retry", []) + state.get("Catch", []):
            names.update(rule["ErrorEquals"])
        if state["Type"] == "Fail":
            names.add(state["Error"])
    custom = {n for n in names if n not in BUILTIN_ERRORS and not n.startswith("Lambda.")}
    undefined = {n for n in custom if not isinstance(getattr(errors, n, None), type)}
    assert not undefined


def test_functions_get_every_setting_the_settings_object_reads(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert set(settings.ALL_VARIABLES) <= set(variables)


def test_queue_visibility_timeout_is_at_least_six_times_the_worker_timeout(template):
    resources = template["Resources"]
    worker_timeout = resources["WorkerFunction"]["Properties"]["Timeout"]
    assert resources["ChunkQueue"]["Properties"]["VisibilityTimeout"] >= 6 * worker_timeout


def test_every_sqs_event_source_queue_waits_six_times_its_functions_timeout(template):
    resources = template["Resources"]
    sources = [
        (name, event["Properties"]["Queue"]["!GetAtt"].split(".")[0])
        for name, r in resources.items()
        if r["Type"] == "AWS::Serverless::Function"
        for event in (r["Properties"].get("Events") or {}).values()
        if event["Type"] == "SQS"
    ]
    assert len(sources) == 3  # workers, dead-letter handler, validator-failure handler
    for function, queue in sources:
        timeout = resources[function]["Properties"].get("Timeout", template["Globals"]["Function"].get("Timeout", 3))
        visibility = resources[queue]["Properties"].get("VisibilityTimeout", 30)  # SQS's default
        assert visibility >= 6 * timeout, (function, queue, visibility, timeout)


def test_bucket_refuses_plain_http_for_every_object(template):
    policy = template["Resources"]["ImportBucketPolicy"]["Properties"]
    [statement] = [s for s in policy["PolicyDocument"]["Statement"] if s["Effect"] == "Deny"]

    assert policy["Bucket"] == {"!Ref": "ImportBucket"}
    assert statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    assert statement["Resource"] == [{"!GetAtt": "ImportBucket.Arn"}, {"!Sub": "${ImportBucket.Arn}/*"}]


def test_bucket_is_private_versioned_and_expires_what_the_importer_is_done_with(template):
    props = template["Resources"]["ImportBucket"]["Properties"]
    rules = {rule["Id"]: rule for rule in props["LifecycleConfiguration"]["Rules"]}

    assert set(props["PublicAccessBlockConfiguration"].values()) == {True}
    assert len(props["PublicAccessBlockConfiguration"]) == 4
    assert props["VersioningConfiguration"] == {"Status": "Enabled"}
    # an upload expires only once processed (tagged), never while it may still be imported
    assert rules["expire-processed-uploads"]["TagFilters"] == [{"Key": "importer-status", "Value": "processed"}]
    assert rules["expire-processed-uploads"]["Prefix"] == "incoming/"
    for rule in ("expire-processed-uploads", "expire-work-files", "expire-reports"):
        assert rules[rule]["Status"] == "Enabled"
        assert rules[rule]["ExpirationInDays"] == {"!Ref": "ProcessedFileRetentionDays"}
    assert "NoncurrentVersionExpiration" in rules["expire-old-versions"]


def test_jobs_table_is_on_demand_with_ttl_and_point_in_time_recovery(template):
    props = template["Resources"]["JobsTable"]["Properties"]

    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert "ProvisionedThroughput" not in props
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_state_machine_is_standard_loads_its_file_and_logs(template):
    props = template["Resources"]["ImportJobStateMachine"]["Properties"]

    assert props["Type"] == "STANDARD"  # exactly-once task semantics and runs longer than 5 minutes
    assert props["DefinitionUri"] == "statemachine/import_job.asl.json"
    assert "Definition" not in props
    assert props["Logging"]["Level"] in {"ERROR", "ALL"}
    [destination] = props["Logging"]["Destinations"]
    assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"!GetAtt": "StateMachineLogGroup.Arn"}


def test_chunk_dead_letter_queue_keeps_messages_longer_than_the_queue(template):
    resources = template["Resources"]
    redrive = resources["ChunkQueue"]["Properties"]["RedrivePolicy"]

    assert redrive["deadLetterTargetArn"] == {"!GetAtt": "ChunkDeadLetterQueue.Arn"}
    assert 1 < redrive["maxReceiveCount"] <= 10
    assert (
        resources["ChunkDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"]
        > resources["ChunkQueue"]["Properties"]["MessageRetentionPeriod"]
    )


def test_worker_reports_partial_batch_failures_with_a_concurrency_cap(template):
    event = template["Resources"]["WorkerFunction"]["Properties"]["Events"]["Chunks"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["ScalingConfig"]["MaximumConcurrency"] == {"!Ref": "WorkerMaxConcurrency"}


def test_no_environment_variable_holds_the_token_itself(template):
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables[settings.INTERCOM_TOKEN_SECRET] == {"!Ref": "IntercomTokenSecretArn"}
    for name in variables:
        assert "TOKEN" not in name or name == settings.INTERCOM_TOKEN_SECRET


def test_functions_run_python313_on_arm64(template):
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]


def test_every_function_folder_has_a_thin_handler_and_an_event(template):
    for name, resource in template["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = ROOT / resource["Properties"]["CodeUri"]
        app = folder / "app.py"
        assert app.is_file(), name
        assert "import boto3" not in app.read_text(), f"{name}: handlers call domain code, not boto3"
        assert len(app.read_text().splitlines()) < 80, f"{name}: handler is not thin"
        assert list((ROOT / "events").glob(f"{folder.name}_*.json")), f"no sample event for {name}"


def test_readme_documents_every_parameter_with_its_default(template):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)`[^|]*\| ([^|]*) \|", readme, flags=re.MULTILINE))
    for name, parameter in template["Parameters"].items():
        if name.startswith("Partner"):  # one row for the three partner-example parameters
            assert "`PartnerName`, `PartnerPrincipalArn`, `PartnerExternalId`" in readme
            continue
        assert name in rows, f"README's parameter table lacks {name}"
        default = str(parameter.get("Default", "—"))
        assert rows[name].strip("`") in {default, "empty" if default == "" else default}, (name, rows[name])
