"""The template's security options: the optional KMS key, the validator's failure destination and the
partner-isolation example (see docs/security.md)."""

from __future__ import annotations

from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

import pytest

from intercom_importer import keys
from local_runtime.stack import load_template

pytestmark = pytest.mark.static

ROOT = Path(__file__).resolve().parents[2]
KEY = {"Fn::If": ["UseKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(ROOT / "template.yaml")


def _props(template: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return template["Resources"][logical_id]["Properties"]


def test_kms_key_is_optional_and_off_by_default(template):
    parameter = template["Parameters"]["KmsKeyArn"]

    assert parameter["Default"] == ""
    assert template["Conditions"]["UseKmsKey"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "KmsKeyArn"}, ""]}]}


def test_kms_key_when_set_encrypts_every_data_store(template):
    queues = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::SQS::Queue"]

    assert queues == ["ChunkQueue", "ChunkDeadLetterQueue", "ValidateFailureQueue"]
    for queue in queues:
        props = _props(template, queue)
        assert props["KmsMasterKeyId"] == KEY
        assert props["SqsManagedSseEnabled"] == {"Fn::If": ["UseKmsKey", {"Ref": "AWS::NoValue"}, True]}
    assert _props(template, "JobsTable")["SSESpecification"]["KMSMasterKeyId"] == KEY
    assert _props(template, "StateMachineLogGroup")["KmsKeyId"] == KEY
    assert template["Globals"]["Function"]["KmsKeyArn"] == KEY


def test_kms_key_use_is_granted_to_every_role_only_through_the_importers_services(template):
    policy = template["Resources"]["KmsKeyUsePolicy"]
    functions = [name for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"]
    [statement] = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Condition"] == "UseKmsKey"
    assert {role["Ref"] for role in policy["Properties"]["Roles"]} == {f"{f}Role" for f in functions} | {
        "ImportJobStateMachineRole"
    }
    assert statement["Resource"] == {"Ref": "KmsKeyArn"}
    services = [s["Fn::Sub"].split(".")[0] for s in statement["Condition"]["StringEquals"]["kms:ViaService"]]
    assert services == ["s3", "sqs", "dynamodb", "lambda"]


def test_validator_async_failures_land_in_a_queue(template):
    config = _props(template, "ValidateFunction")["EventInvokeConfig"]

    assert config["DestinationConfig"]["OnFailure"] == {
        "Type": "SQS",
        "Destination": {"Fn::GetAtt": ["ValidateFailureQueue", "Arn"]},
    }
    assert _props(template, "ValidateFailureQueue")["MessageRetentionPeriod"] == 1209600


def test_partner_access_is_off_by_default(template):
    partner = [name for name, r in template["Resources"].items() if name.startswith("Partner")]

    assert template["Parameters"]["PartnerName"]["Default"] == ""
    assert partner == ["PartnerUploadPolicy", "PartnerUploadRole"]
    assert all(template["Resources"][name]["Condition"] == "CreatePartnerAccess" for name in partner)


def test_partner_policy_only_writes_under_the_callers_own_prefix(template):
    upload, kms = _props(template, "PartnerUploadPolicy")["PolicyDocument"]["Statement"]

    assert upload["Effect"] == "Allow"
    assert upload["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert upload["Resource"]["Fn::Sub"].endswith("/incoming/${!aws:PrincipalTag/partner}/*")
    assert upload["Condition"] == {"StringLike": {"aws:PrincipalTag/partner": "?*"}}
    assert kms["Fn::If"][0] == "UseKmsKey"
    assert kms["Fn::If"][2] == {"Ref": "AWS::NoValue"}


def test_partner_role_is_tagged_and_cannot_tag_its_own_session(template):
    role = _props(template, "PartnerUploadRole")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]

    assert role["Tags"] == [{"Key": "partner", "Value": {"Ref": "PartnerName"}}]
    assert role["ManagedPolicyArns"] == [{"Ref": "PartnerUploadPolicy"}]
    assert trust["Action"] == "sts:AssumeRole"  # sts:TagSession would let a session claim another partner's tag
    assert trust["Principal"] == {"AWS": {"Ref": "PartnerPrincipalArn"}}


def _bucket_objects(statement: dict[str, Any]) -> str:
    """The import bucket's object pattern a statement grants (``work/*``), "" for any other resource."""
    resource = statement["Resource"]
    arn = resource.get("Fn::Sub", "") if isinstance(resource, dict) else ""
    bucket = "arn:${AWS::Partition}:s3:::icimport-${Stage}-${AWS::AccountId}-${AWS::Region}/"
    return arn.removeprefix(bucket) if arn.startswith(bucket) else ""


@pytest.mark.parametrize("function", ["WorkerFunction", "DeadLetterFunction"])
def test_functions_that_record_chunks_may_write_and_delete_a_delivery_s_outputs(template, function: str):
    """A delivery writes its chunk's failed rows and change log under keys of its own and deletes them when another
    delivery records the chunk (chunk_outputs.py)."""
    statements = _props(template, function)["Policies"][0]["Statement"]

    for key in (keys.result("job-1", 2, "a1"), keys.changes("job-1", 2, "a1")):
        granted = {a for s in statements if fnmatchcase(key, _bucket_objects(s) or "-") for a in s["Action"]}
        assert {"s3:PutObject", "s3:DeleteObject"} <= granted, key
    reports = [_bucket_objects(s) for s in statements if _bucket_objects(s).startswith("reports/")]
    assert reports == ["reports/*/changes/*"]  # the change logs only: never the error file or another report
