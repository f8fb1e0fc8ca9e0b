"""Smoke test: the importer's real template.yaml deploys on the local runtime with every resource
configured as the template says (handlers are not invoked here)."""

from __future__ import annotations

import json

import pytest

from local_runtime import LocalRuntime
from runtime_fixtures import REAL_TEMPLATE, real_stack_parameters, runtime_fixture

pytestmark = pytest.mark.integration

SANDBOX = "http://127.0.0.1:9"

runtime = runtime_fixture(
    REAL_TEMPLATE,
    stack_name="importer-smoke",
    parameters=real_stack_parameters(SANDBOX, WorkerMaxConcurrency=3, WorkerBatchSize=2),
    intercom_token="smoke-token",
    visibility_timeout_override={"ChunkQueue": 2},
)


def test_stack_outputs_are_exposed(runtime: LocalRuntime) -> None:
    assert runtime.outputs["ImportBucketName"] == f"icimport-local-{runtime.account_id}-us-east-1"
    assert runtime.outputs["StateMachineArn"].endswith(":stateMachine:intercom-import-local")
    assert runtime.outputs["JobsTableName"] == runtime.physical_id("JobsTable")
    assert not any(key.startswith("LocalRuntime") for key in runtime.outputs)


def test_bucket_has_versioning_lifecycle_and_upload_notification(runtime: LocalRuntime) -> None:
    s3, bucket = runtime.client("s3"), runtime.outputs["ImportBucketName"]

    notification = s3.get_bucket_notification_configuration(Bucket=bucket)
    lifecycle = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]

    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    [target] = notification["LambdaFunctionConfigurations"]
    assert target["LambdaFunctionArn"] == runtime.functions["ValidateFunction"].arn
    assert target["Events"] == ["s3:ObjectCreated:*"]
    assert target["Filter"]["Key"]["FilterRules"] == [{"Name": "prefix", "Value": "incoming/"}]
    assert {rule["ID"] for rule in lifecycle} >= {"expire-processed-uploads", "expire-work-files"}


def test_tls_only_bucket_policy_does_not_block_local_http(runtime: LocalRuntime) -> None:
    s3, bucket = runtime.client("s3"), runtime.outputs["ImportBucketName"]

    s3.put_object(Bucket=bucket, Key="work/smoke.txt", Body=b"ok")  # moto enforces bucket policies

    assert s3.get_object(Bucket=bucket, Key="work/smoke.txt")["Body"].read() == b"ok"


def test_chunk_queue_redrives_to_its_dead_letter_queue(runtime: LocalRuntime) -> None:
    sqs = runtime.client("sqs")
    attributes = sqs.get_queue_attributes(QueueUrl=runtime.queue_url("ChunkQueue"), AttributeNames=["All"])[
        "Attributes"
    ]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=runtime.queue_url("ChunkDeadLetterQueue"), AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]

    redrive = json.loads(attributes["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5}
    assert attributes["VisibilityTimeout"] == "2"  # the local override of 720


def test_jobs_table_has_gsi_and_ttl(runtime: LocalRuntime) -> None:
    dynamodb, table = runtime.client("dynamodb"), runtime.outputs["JobsTableName"]

    described = dynamodb.describe_table(TableName=table)["Table"]
    ttl = dynamodb.describe_time_to_live(TableName=table)["TimeToLiveDescription"]

    assert [index["IndexName"] for index in described["GlobalSecondaryIndexes"]] == ["by-created"]
    assert {k["AttributeName"] for k in described["KeySchema"]} == {"pk", "sk"}
    assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "expires_at"}


def test_state_machine_definition_has_substitutions_resolved(runtime: LocalRuntime) -> None:
    described = runtime.client("stepfunctions").describe_state_machine(
        stateMachineArn=runtime.outputs["StateMachineArn"]
    )
    states = json.loads(described["definition"])["States"]

    assert "${" not in described["definition"]
    assert states["WaitForChunks"]["Parameters"]["FunctionName"] == runtime.functions["TrackFunction"].arn
    assert states["BuildReport"]["Parameters"]["FunctionName"] == runtime.functions["ReportFunction"].arn
    assert states["MarkJobDone"]["Parameters"]["TableName"] == runtime.outputs["JobsTableName"]
    assert states["SendSummaryEmail"]["Parameters"]["FromEmailAddress"] == "imports@example.com"
    assert "ops@example.com" in states["SendFallbackEmail"]["Parameters"]["Destination"]["ToAddresses.$"]


def test_functions_get_their_resolved_environment(runtime: LocalRuntime) -> None:
    secret_arn = runtime.parameters["IntercomTokenSecretArn"]

    for logical_id in ("ValidateFunction", "WorkerFunction", "DeadLetterFunction", "TrackFunction", "ReportFunction"):
        env = runtime.functions[logical_id].environment
        assert env["JOBS_TABLE"] == runtime.outputs["JobsTableName"]
        assert env["IMPORT_BUCKET"] == runtime.outputs["ImportBucketName"]
        assert env["CHUNK_QUEUE_URL"].rsplit("/", 1)[1] == runtime.queue_url("ChunkQueue").rsplit("/", 1)[1]
        assert env["STATE_MACHINE_ARN"] == runtime.outputs["StateMachineArn"]
        assert env["INTERCOM_TOKEN_SECRET"] == secret_arn
        assert env["INTERCOM_BASE_URL"] == SANDBOX
        assert env["NOTIFY_RECIPIENTS"] == "ops@example.com"
        assert env["SENDER_EMAIL"] == "imports@example.com"
        assert env["CHUNK_ROWS"] == "100"
        assert env["AWS_ENDPOINT_URL"] == runtime.endpoint_url
        assert env["PYTHONPATH"].endswith("layers/importer")
    assert runtime.functions["ValidateFunction"].timeout == 900
    assert runtime.functions["WorkerFunction"].memory_size == 512


def test_token_secret_holds_the_given_token(runtime: LocalRuntime) -> None:
    secret = runtime.client("secretsmanager").get_secret_value(SecretId=runtime.parameters["IntercomTokenSecretArn"])

    assert secret["SecretString"] == "smoke-token"


def test_worker_and_dead_letter_pollers_use_the_template_settings(runtime: LocalRuntime) -> None:
    pollers = {p.mapping.function_logical_id: p for p in runtime.pollers}

    assert set(pollers) == {"WorkerFunction", "DeadLetterFunction", "ValidateFailedFunction"}
    worker, dead_letter = pollers["WorkerFunction"], pollers["DeadLetterFunction"]
    assert (worker.mapping.batch_size, worker.concurrency) == (2, 3)
    assert worker.mapping.report_batch_item_failures
    assert (dead_letter.mapping.batch_size, dead_letter.concurrency) == (10, 2)
    assert dead_letter.mapping.queue_arn.endswith(runtime.physical_id("ChunkDeadLetterQueue").rsplit("/", 1)[1])


def test_sender_identity_exists(runtime: LocalRuntime) -> None:
    identities = runtime.client("sesv2").list_email_identities()["EmailIdentities"]

    assert [identity["IdentityName"] for identity in identities] == ["imports@example.com"]


def test_configuration_set_is_created_and_named_in_both_send_states(runtime: LocalRuntime) -> None:
    name = runtime.outputs["EmailConfigurationSetName"]  # moto's CloudFormation alone would drop this output
    described = runtime.client("stepfunctions").describe_state_machine(
        stateMachineArn=runtime.outputs["StateMachineArn"]
    )
    states = json.loads(described["definition"])["States"]

    assert name == "intercom-import-local"
    delivery = runtime.client("sesv2").get_configuration_set(ConfigurationSetName=name)["DeliveryOptions"]
    assert delivery["TlsPolicy"] == "REQUIRE"
    assert states["SendSummaryEmail"]["Parameters"]["ConfigurationSetName"] == name
    assert states["SendFallbackEmail"]["Parameters"]["ConfigurationSetName"] == name


def test_sending_with_an_unknown_configuration_set_is_refused_like_ses(runtime: LocalRuntime) -> None:
    sesv2 = runtime.client("sesv2")
    content = {"Simple": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "b"}}}}
    send = {"FromEmailAddress": "imports@example.com", "Destination": {"ToAddresses": ["ops@example.com"]}}

    with pytest.raises(sesv2.exceptions.NotFoundException):
        sesv2.send_email(**send, Content=content, ConfigurationSetName="no-such-set")
    sent = sesv2.send_email(**send, Content=content, ConfigurationSetName=runtime.outputs["EmailConfigurationSetName"])

    [email] = [e for e in runtime.sent_emails() if e["message_id"] == sent["MessageId"]]
    assert email["configuration_set"] == "intercom-import-local"


def test_monitoring_resources_deploy_where_moto_supports_them(runtime: LocalRuntime) -> None:
    dashboard = runtime.client("cloudwatch").get_dashboard(DashboardName=runtime.outputs["DashboardName"])
    topic = runtime.client("sns").get_topic_attributes(TopicArn=runtime.outputs["AlarmTopicArn"])

    body = json.loads(dashboard["DashboardBody"])
    assert "${" not in dashboard["DashboardBody"]
    assert any(w["type"] == "alarm" for w in body["widgets"])
    assert topic["Attributes"]["TopicArn"].endswith(":intercom-import-local-alarms")


def test_resources_moto_cannot_create_are_summarised_not_warned_one_by_one(runtime: LocalRuntime) -> None:
    assert {"AWS::CloudWatch::Alarm", "AWS::SNS::TopicPolicy"} <= runtime.unemulated_resources
    # applied by the runtime itself, so not "unemulated"; created by moto, so never warned about
    assert not runtime.unemulated_resources & {"AWS::SES::EmailIdentity", "AWS::S3::BucketPolicy", "AWS::SQS::Queue"}
