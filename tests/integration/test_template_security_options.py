"""The template's optional security resources deploy on the local runtime: a customer managed KMS key
and the partner-isolation example (both off by default; docs/security.md).

moto creates them but enforces neither IAM nor KMS, so this checks the wiring, not the permissions
(tests/static/test_template_security.py checks the policies' content)."""

from __future__ import annotations

import json

import pytest

from local_runtime import LocalRuntime
from runtime_fixtures import REAL_TEMPLATE, real_stack_parameters, runtime_fixture

pytestmark = pytest.mark.integration

KEY = "arn:aws:kms:us-east-1:123456789012:key/0b6a3c52-6d1e-4b8e-9a57-0d1f5e3c2a11"
FUNCTIONS = ("ValidateFunction", "WorkerFunction", "DeadLetterFunction", "TrackFunction", "ReportFunction")

runtime = runtime_fixture(
    REAL_TEMPLATE,
    stack_name="importer-options",
    parameters=real_stack_parameters(
        KmsKeyArn=KEY,
        PartnerName="acme",
        PartnerPrincipalArn="arn:aws:iam::210987654321:root",
        PartnerExternalId="acme-import-7f3a",
    ),
    intercom_token="options-token",
)


def test_partner_role_is_tagged_with_its_partner_and_requires_the_external_id(runtime: LocalRuntime) -> None:
    iam = runtime.client("iam")
    role = runtime.physical_id("PartnerUploadRole")

    tags = iam.list_role_tags(RoleName=role)["Tags"]
    trust = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    trust = json.loads(trust) if isinstance(trust, str) else trust

    assert tags == [{"Key": "partner", "Value": "acme"}]
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::210987654321:root"},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": "acme-import-7f3a"}},
        }
    ]
    assert runtime.outputs["PartnerUploadRoleArn"].endswith(f":role/{role}")


def test_partner_policy_grants_only_the_callers_own_prefix(runtime: LocalRuntime) -> None:
    iam = runtime.client("iam")
    arn = runtime.outputs["PartnerUploadPolicyArn"]
    version = iam.get_policy(PolicyArn=arn)["Policy"]["DefaultVersionId"]

    document = iam.get_policy_version(PolicyArn=arn, VersionId=version)["PolicyVersion"]["Document"]
    document = json.loads(document) if isinstance(document, str) else document
    upload, kms = document["Statement"]

    bucket = runtime.outputs["ImportBucketName"]
    assert upload["Resource"] == f"arn:aws:s3:::{bucket}/incoming/${{aws:PrincipalTag/partner}}/*"
    assert upload["Action"] == ["s3:PutObject", "s3:AbortMultipartUpload"]
    assert (kms["Resource"], kms["Action"]) == (KEY, ["kms:GenerateDataKey", "kms:Decrypt"])


def test_kms_key_policy_is_attached_to_every_function_role(runtime: LocalRuntime) -> None:
    iam = runtime.client("iam")
    policy = runtime.physical_id("KmsKeyUsePolicy")

    for function in FUNCTIONS:
        attached = iam.list_attached_role_policies(RoleName=runtime.physical_id(f"{function}Role"))
        assert policy in {p["PolicyArn"] for p in attached["AttachedPolicies"]}, function


def test_kms_key_encrypts_the_bucket_and_the_queues(runtime: LocalRuntime) -> None:
    s3, sqs = runtime.client("s3"), runtime.client("sqs")

    [rule] = s3.get_bucket_encryption(Bucket=runtime.outputs["ImportBucketName"])["ServerSideEncryptionConfiguration"][
        "Rules"
    ]
    queues = {
        queue: sqs.get_queue_attributes(QueueUrl=runtime.queue_url(queue), AttributeNames=["KmsMasterKeyId"])[
            "Attributes"
        ].get("KmsMasterKeyId")
        for queue in ("ChunkQueue", "ChunkDeadLetterQueue", "ValidateFailureQueue")
    }

    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": KEY}
    assert set(queues.values()) == {KEY}
