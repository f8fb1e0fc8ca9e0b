"""Fails loudly when a moto upgrade moves the internals the local runtime hooks into."""

from __future__ import annotations

import json
import urllib.request

import moto
import pytest

from local_runtime import LocalRuntime, moto_hooks
from runtime_fixtures import FIXTURE_TEMPLATE, runtime_fixture

pytestmark = pytest.mark.integration

runtime = runtime_fixture(FIXTURE_TEMPLATE, stack_name="fixture-hooks", parameters={"Stage": "hooks"})


def test_moto_internals_are_where_the_runtime_expects_them() -> None:
    moto_hooks.check()  # raises MotoIncompatibleError naming what moved


def test_moto_version_is_the_one_the_hooks_were_written_for() -> None:
    assert moto.__version__ == "5.2.5", "re-check moto_hooks.py against the new moto, then update this pin"


def test_lambda_invocations_through_moto_run_in_local_environments(runtime: LocalRuntime) -> None:
    response = runtime.client("lambda").invoke(FunctionName=runtime.physical_id("EchoFunction"), Payload=b"{}")

    payload = json.loads(response["Payload"].read())
    assert payload["layer"] == "fixture-shared-layer"  # our handler ran, not moto's Docker path
    assert payload["pid"] in {env.pid for env in runtime.pools["EchoFunction"].environments()}


def test_moto_api_data_answers_while_functions_exist(runtime: LocalRuntime) -> None:
    with urllib.request.urlopen(f"{runtime.endpoint_url}/moto-api/data.json", timeout=10) as response:
        data = json.loads(response.read())

    assert response.status == 200
    assert data["awslambda"]["LambdaFunction"]


def test_moto_no_longer_invokes_sqs_mappings_inside_send_message(runtime: LocalRuntime) -> None:
    from moto.sqs.models import sqs_backends

    queue_name = runtime.queue_url("WorkQueue").rsplit("/", 1)[1]
    queue = sqs_backends[runtime.account_id][runtime.region].get_queue(queue_name)

    assert queue.lambda_event_source_mappings == {}
    assert runtime.client("lambda").list_event_source_mappings()["EventSourceMappings"]


def test_a_second_runtime_cannot_start_while_one_is_active(runtime: LocalRuntime) -> None:
    with pytest.raises(RuntimeError, match="another LocalRuntime"):
        LocalRuntime(FIXTURE_TEMPLATE).start()


def test_each_execution_gets_its_own_program_from_a_definition_parsed_once(runtime: LocalRuntime) -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser, ASLParserException

    definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": 1, "End": True}}})
    first, tree = AmazonStateLanguageParser.parse(definition)
    second, same_tree = AmazonStateLanguageParser.parse(definition)

    assert same_tree is tree  # the definition was lexed and parsed once
    assert second is not first and type(second) is type(first)  # a program of its own for each execution
    for _ in range(2):  # a definition moto refuses is refused every time, not remembered as parsed
        with pytest.raises(ASLParserException):
            AmazonStateLanguageParser.parse('{"StartAt": "Nowhere", "States": {}')


def test_update_expressions_are_validated_with_the_same_answers(runtime: LocalRuntime) -> None:
    ddb = runtime.client("dynamodb")
    ddb.create_table(
        TableName="hooks-update",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "a"}}
    ddb.update_item(
        TableName="hooks-update",
        Key=key,
        UpdateExpression="SET n = if_not_exists(n, :zero) + :one, tags = list_append(if_not_exists(tags, :empty), :t)",
        ExpressionAttributeValues={
            ":zero": {"N": "0"},
            ":one": {"N": "1"},
            ":empty": {"L": []},
            ":t": {"L": [{"S": "x"}]},
        },
    )
    with pytest.raises(ddb.exceptions.ClientError, match="key"):  # a key attribute cannot be updated
        ddb.update_item(
            TableName="hooks-update",
            Key=key,
            UpdateExpression="SET pk = :v",
            ExpressionAttributeValues={":v": {"S": "b"}},
        )
    with pytest.raises(ddb.exceptions.ClientError, match=r"[Oo]verlap"):
        ddb.update_item(
            TableName="hooks-update",
            Key=key,
            UpdateExpression="SET n = :v, n = :v",
            ExpressionAttributeValues={":v": {"N": "5"}},
        )

    item = ddb.get_item(TableName="hooks-update", Key=key)["Item"]
    assert item == {"pk": {"S": "a"}, "n": {"N": "1"}, "tags": {"L": [{"S": "x"}]}}
