"""The template's monitoring: alarms (metrics, thresholds, actions), the dashboard, the alarm topic and the
SES configuration set the summary emails are sent with. Metric names are checked against what the code
emits (``intercom_importer.observability``)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from intercom_importer import observability
from local_runtime.stack import load_template

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
TOPIC = [{"Ref": "AlarmTopic"}]
SERVICE = {"Name": "service", "Value": {"Fn::Sub": "intercom-importer-${Stage}"}}
PSEUDO = {"AWS::Region": "eu-west-1", "AWS::AccountId": "123456789012", "AWS::Partition": "aws"}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


@pytest.fixture(scope="module")
def asl() -> dict[str, Any]:
    return json.loads((ROOT / "statemachine" / "import_job.asl.json").read_text(encoding="utf-8"))


def _alarms(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: r["Properties"] for name, r in template["Resources"].items() if r["Type"] == "AWS::CloudWatch::Alarm"}


def _metric(query: dict[str, Any]) -> dict[str, Any]:
    return query["MetricStat"]["Metric"]


def test_every_alarm_notifies_the_alarm_topic(template):
    alarms = _alarms(template)

    assert set(alarms) >= {
        "ChunkDeadLetterQueueAlarm",
        "ValidateFailureQueueAlarm",
        "ImportExecutionsFailedAlarm",
        "ImportFailedAlarm",
        "RowErrorRateAlarm",
        "WorkerThrottlesAlarm",
        "ChunkQueueAgeAlarm",
    }
    for props in alarms.values():
        assert props["AlarmActions"] == TOPIC
        assert props["TreatMissingData"] == "notBreaching"
        assert props["AlarmName"]["Fn::Sub"].startswith("intercom-import-${Stage}-")


@pytest.mark.parametrize(
    "alarm,queue",
    [("ChunkDeadLetterQueueAlarm", "ChunkDeadLetterQueue"), ("ValidateFailureQueueAlarm", "ValidateFailureQueue")],
)
def test_dead_letter_alarms_fire_on_one_waiting_message(template, alarm, queue):
    props = _alarms(template)[alarm]

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "Maximum",
    )
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_execution_failure_alarm_watches_the_import_state_machine(template):
    props = _alarms(template)["ImportExecutionsFailedAlarm"]

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/States", "ExecutionsFailed", "Sum")
    assert props["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "ImportJobStateMachine"}}]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_import_failed_alarm_counts_failed_and_incomplete_jobs(template):
    props = _alarms(template)["ImportFailedAlarm"]
    queries = {q["Id"]: q for q in props["Metrics"]}

    assert _metric(queries["failed"])["MetricName"] == observability.JOB_METRICS["failed"]
    assert _metric(queries["incomplete"])["MetricName"] == observability.JOB_METRICS["incomplete"]
    assert queries["failedOrIncomplete"]["Expression"] == "FILL(failed, 0) + FILL(incomplete, 0)"
    assert [q["Id"] for q in props["Metrics"] if q["ReturnData"]] == ["failedOrIncomplete"]
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_error_rate_alarm_divides_failed_rows_by_rows_written_against_the_parameter(template):
    props = _alarms(template)["RowErrorRateAlarm"]
    queries = {q["Id"]: q for q in props["Metrics"]}
    parameter = template["Parameters"]["ErrorRateAlarmThreshold"]

    for outcome in observability.CHUNK_ROW_OUTCOMES:
        assert _metric(queries[outcome])["MetricName"] == observability.ROW_METRICS[outcome]
        assert queries[outcome]["MetricStat"]["Stat"] == "Sum"
    expression = queries["errorRate"]["Expression"]
    assert "failed / (created + updated + unchanged + skipped + failed)" in expression
    assert expression.startswith("IF(created + updated + unchanged + skipped + failed > 0,")  # no division by zero
    assert props["Threshold"] == {"Ref": "ErrorRateAlarmThreshold"}
    assert (parameter["Default"], parameter["MinValue"], parameter["MaxValue"]) == (0.05, 0, 1)


def test_worker_throttles_alarm_fires_on_one_throttle(template):
    props = _alarms(template)["WorkerThrottlesAlarm"]

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == ("AWS/Lambda", "Throttles", "Sum")
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "WorkerFunction"}}]
    assert props["Threshold"] == 0


def test_chunk_age_alarm_uses_the_parameter_threshold(template):
    props = _alarms(template)["ChunkQueueAgeAlarm"]

    assert (props["Namespace"], props["MetricName"], props["Statistic"]) == (
        "AWS/SQS",
        "ApproximateAgeOfOldestMessage",
        "Maximum",
    )
    assert props["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["ChunkQueue", "QueueName"]}}]
    assert props["Threshold"] == {"Ref": "ChunkAgeAlarmSeconds"}


def test_custom_metric_alarms_use_the_names_namespace_and_dimension_the_code_emits(template):
    environment = template["Globals"]["Function"]["Environment"]["Variables"]
    queries = [q for props in _alarms(template).values() for q in props.get("Metrics", []) if "MetricStat" in q]

    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == {"Ref": "MetricsNamespace"}
    assert environment["POWERTOOLS_SERVICE_NAME"] == SERVICE["Value"]
    assert queries
    for query in queries:
        metric = _metric(query)
        assert metric["MetricName"] in observability.ALL_METRICS
        assert metric["Namespace"] == {"Ref": "MetricsNamespace"}
        assert metric["Dimensions"] == [SERVICE]


def _sub_values(template: dict[str, Any]) -> dict[str, str]:
    """A value for every ${Name} or ${Resource.Attribute} a Fn::Sub in this template may use."""
    values = dict(PSEUDO)
    for name, parameter in template["Parameters"].items():
        values[name] = str(parameter.get("Default", f"param-{name}"))
    values["Stage"] = "prod"
    for name in template["Resources"]:
        values[name] = f"ref-{name}"
        values[f"{name}.QueueName"] = f"queue-{name}"
        values[f"{name}.Arn"] = f"arn-{name}"
    return values


def _dashboard(template: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, str]]:
    body = template["Resources"]["ImportDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    values = _sub_values(template)
    variables = re.findall(r"\$\{([^}!]+)\}", body)
    rendered = re.sub(r"\$\{([^}!]+)\}", lambda m: values[m.group(1)], body)
    return body, json.loads(rendered), {v: values[v] for v in variables}


def test_dashboard_body_is_json_that_names_only_this_templates_resources(template):
    body, _, used = _dashboard(template)
    resources = set(template["Resources"])

    names = {name.split(".")[0] for name in used}
    assert names <= resources | set(template["Parameters"]) | set(PSEUDO)
    attributes = {name for name in used if "." in name}
    assert attributes == {f"{q}.QueueName" for q in ("ChunkQueue", "ChunkDeadLetterQueue", "ValidateFailureQueue")}
    assert {"WorkerFunction", "ImportJobStateMachine", "MetricsNamespace", "Stage"} <= names
    assert "${" + "MetricsNamespace}" in body


def test_dashboard_graphs_every_emitted_metric_and_the_aws_metrics_asked_for(template):
    _, dashboard, _ = _dashboard(template)
    graphed = {
        (row[0], row[1])
        for widget in dashboard["widgets"]
        if widget["type"] == "metric"
        for row in widget["properties"]["metrics"]
    }

    custom = {name for namespace, name in graphed if namespace == "IntercomImporter"}
    assert custom == set(observability.ALL_METRICS)
    assert {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Throttles"),
        ("AWS/Lambda", "ConcurrentExecutions"),
        ("AWS/States", "ExecutionsFailed"),
    } <= graphed


def test_dashboard_alarm_widget_lists_every_alarm_by_its_name(template):
    _, dashboard, _ = _dashboard(template)
    [widget] = [w for w in dashboard["widgets"] if w["type"] == "alarm"]
    names = {props["AlarmName"]["Fn::Sub"].replace("${Stage}", "prod") for props in _alarms(template).values()}

    listed = {arn.rsplit(":alarm:", 1)[1] for arn in widget["properties"]["alarms"]}
    assert listed == names
    assert set(template["Resources"]["ImportDashboard"]["DependsOn"]) == set(_alarms(template))


def test_alarm_email_subscription_is_optional(template):
    subscription = template["Resources"]["AlarmEmailSubscription"]

    assert template["Parameters"]["AlarmEmail"]["Default"] == ""
    assert subscription["Condition"] == "HasAlarmEmail"
    assert template["Conditions"]["HasAlarmEmail"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}
    assert subscription["Properties"] == {
        "TopicArn": {"Ref": "AlarmTopic"},
        "Protocol": "email",
        "Endpoint": {"Ref": "AlarmEmail"},
    }


def test_alarm_topic_uses_the_kms_key_when_set_and_only_cloudwatch_and_ses_publish(template):
    topic = template["Resources"]["AlarmTopic"]["Properties"]
    statements = template["Resources"]["AlarmTopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allowed = [s for s in statements if s["Effect"] == "Allow"]

    assert topic["KmsMasterKeyId"] == {"Fn::If": ["UseKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    assert "alias/aws/sns" not in json.dumps(topic)  # its key policy would stop alarms from publishing
    assert sorted(s["Principal"]["Service"] for s in allowed) == ["cloudwatch.amazonaws.com", "ses.amazonaws.com"]
    for statement in allowed:
        assert statement["Action"] == "sns:Publish"
        assert statement["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}


def test_summary_and_fallback_emails_are_sent_with_the_configuration_set(template, asl):
    machine = template["Resources"]["ImportJobStateMachine"]["Properties"]
    senders = {name: s for name, s in asl["States"].items() if s.get("Resource", "").endswith("sesv2:sendEmail")}

    assert set(senders) == {"SendSummaryEmail", "SendFallbackEmail"}
    for state in senders.values():
        assert state["Parameters"]["ConfigurationSetName"] == "${EmailConfigurationSetName}"
    assert machine["DefinitionSubstitutions"]["EmailConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    [send] = [s for p in machine["Policies"] if "Statement" in p for s in p["Statement"] if s["Sid"] == "SendSummary"]
    assert {
        "Fn::Sub": "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}"
    } in send["Resource"]


def test_configuration_set_publishes_bounces_and_complaints_to_the_alarm_topic(template):
    destination = template["Resources"]["EmailEventsDestination"]["Properties"]

    assert destination["ConfigurationSetName"] == {"Ref": "EmailConfigurationSet"}
    events = destination["EventDestination"]
    assert set(events["MatchingEventTypes"]) == {"bounce", "complaint", "reject", "deliveryDelay"}
    assert events["SnsDestination"] == {"TopicARN": {"Ref": "AlarmTopic"}}
    assert events["Enabled"] is True


def test_outputs_name_the_dashboard_the_topic_and_the_configuration_set(template):
    outputs = template["Outputs"]

    assert outputs["AlarmTopicArn"]["Value"] == {"Ref": "AlarmTopic"}
    assert outputs["DashboardName"]["Value"] == {"Ref": "ImportDashboard"}
    assert "#dashboards:name=${ImportDashboard}" in outputs["DashboardUrl"]["Value"]["Fn::Sub"]
    assert outputs["EmailConfigurationSetName"]["Value"] == {"Ref": "EmailConfigurationSet"}


def test_partner_alarm_fires_on_one_overdue_partner_or_invalid_settings(template):
    props = _alarms(template)["OverduePartnersAlarm"]
    queries = {q["Id"]: q for q in props["Metrics"]}

    assert _metric(queries["overdue"])["MetricName"] == "OverduePartners"
    assert _metric(queries["invalid"])["MetricName"] == "InvalidPartnerSettings"
    assert queries["partnersNeedingAttention"]["Expression"] == "FILL(overdue, 0) + FILL(invalid, 0)"
    assert (props["Threshold"], props["ComparisonOperator"]) == (0, "GreaterThanThreshold")


def test_partner_check_runs_hourly_and_reads_only_partner_settings_and_activity(template):
    function = template["Resources"]["CheckPartnersFunction"]["Properties"]
    [statements] = [p["Statement"] for p in function["Policies"]]

    assert function["Events"]["Hourly"] == {
        "Type": "Schedule",
        "Properties": {"Schedule": "rate(1 hour)", "Description": "Check partners' schedule expectations."},
    }
    actions = {a for s in statements for a in s["Action"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "dynamodb:GetItem"}
    [listing] = [s for s in statements if s["Action"] == ["s3:ListBucket"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": "config/partners/*"}}


def test_sweep_runs_every_15_minutes_and_may_only_fail_jobs_and_start_their_email(template):
    function = template["Resources"]["SweepFunction"]["Properties"]
    [statements] = [p["Statement"] for p in function["Policies"]]

    assert function["Events"]["Every15Minutes"]["Properties"]["Schedule"] == "rate(15 minutes)"
    by_sid = {s["Sid"]: s for s in statements}
    assert by_sid["FindStaleValidations"]["Action"] == ["dynamodb:Query"]
    assert by_sid["FindStaleValidations"]["Resource"] == {"Fn::Sub": "${JobsTable.Arn}/index/by-created"}
    assert by_sid["FailThem"]["Action"] == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert by_sid["StartTheirEmail"]["Action"] == ["states:StartExecution"]
