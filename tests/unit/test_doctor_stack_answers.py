"""The doctor's reading of AWS answers moto cannot give (SESv2 GetAccount, unverified identities, a notification
set by hand, access denials): each answer AWS documents becomes one check with the fix."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from importer_cli.doctor import ses_checks
from importer_cli.doctor.aws_answers import failure
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, WARNING
from importer_cli.doctor.stack_checks import notification_check

pytestmark = pytest.mark.unit

SENDER = "imports@acme.example"
VALIDATOR = "arn:aws:lambda:eu-west-1:123456789012:function:intercom-import-validate-prod"
PRODUCTION = {
    "SendingEnabled": True,
    "ProductionAccessEnabled": True,
    "EnforcementStatus": "HEALTHY",
    "SendQuota": {"Max24HourSend": 50000.0, "MaxSendRate": 14.0, "SentLast24Hours": 120.0},
}


# ------------------------------------------------------------------------------------------------ SES identity
def test_a_verified_sender_address_may_send():
    check = ses_checks.identity_check(SENDER, {"VerifiedForSendingStatus": True}, None, "eu-west-1")

    assert (check.status, check.detail) == (OK, f"{SENDER} is a verified SES identity in eu-west-1")


def test_a_verified_domain_lets_its_addresses_send():
    check = ses_checks.identity_check(SENDER, None, {"VerifiedForSendingStatus": True}, "eu-west-1")

    assert check.status == OK and "domain acme.example" in check.detail


def test_a_sender_without_any_identity_fails_with_how_to_create_it():
    check = ses_checks.identity_check(SENDER, None, None, "eu-west-1")

    assert check.status == FAILED and "no identity" in check.detail
    assert f"aws sesv2 create-email-identity --email-identity {SENDER}" in check.fix


def test_a_pending_sender_address_fails_with_the_verification_link_as_the_fix():
    pending = {"VerifiedForSendingStatus": False, "VerificationStatus": "PENDING"}

    check = ses_checks.identity_check(SENDER, pending, None, "eu-west-1")

    assert check.status == FAILED and "not verified (PENDING)" in check.detail
    assert "click the link" in check.fix


def test_a_pending_domain_fails_with_its_dns_records_as_the_fix():
    pending = {"VerifiedForSendingStatus": False, "VerificationStatus": "PENDING"}

    check = ses_checks.identity_check(SENDER, None, pending, None)

    assert check.status == FAILED and "domain identity acme.example" in check.detail
    assert "_domainkey.acme.example" in check.fix


# ------------------------------------------------------------------------------------------------- SES account
def test_an_account_with_production_access_and_quota_left_is_ok():
    sending, quota = ses_checks.account_checks(PRODUCTION)

    assert (sending.status, quota.status) == (OK, OK)
    assert quota.detail == "120 of 50000 emails sent in the last 24 hours, 14 per second: 49880 left"


def test_an_account_in_the_ses_sandbox_is_a_warning_to_request_production_access():
    sandboxed = {**PRODUCTION, "ProductionAccessEnabled": False, "Details": {"ReviewDetails": {"Status": "PENDING"}}}

    sending, _ = ses_checks.account_checks(sandboxed)

    assert sending.status == WARNING
    assert "sandbox mode (production access request: PENDING)" in sending.detail
    assert "only verified recipients" in sending.detail
    assert "request production access" in sending.fix and "verify each recipient" in sending.fix


def test_an_account_whose_sending_is_paused_fails():
    sending, _ = ses_checks.account_checks({**PRODUCTION, "SendingEnabled": False, "EnforcementStatus": "SHUTDOWN"})

    assert sending.status == FAILED and "paused" in sending.detail and "SHUTDOWN" in sending.detail


@pytest.mark.parametrize(
    ("sent", "status"),
    [(100, OK), (159, OK), (160, WARNING), (199, WARNING), (200, FAILED)],
)
def test_the_quota_warns_when_nearly_used_up_and_fails_when_used_up(sent, status):
    quota = {"Max24HourSend": 200.0, "MaxSendRate": 1.0, "SentLast24Hours": float(sent)}

    _, check = ses_checks.account_checks({**PRODUCTION, "SendQuota": quota})

    assert check.status == status
    assert (check.fix != "") == (status != OK)


def test_an_unlimited_quota_is_ok():
    quota = {"Max24HourSend": -1.0, "MaxSendRate": 500.0, "SentLast24Hours": 1e6}

    _, check = ses_checks.account_checks({**PRODUCTION, "SendQuota": quota})

    assert (check.status, check.detail) == (OK, "no 24-hour quota, 500 per second")


# ---------------------------------------------------------------------------------------------- AWS failures
def test_an_access_denial_fails_the_check_naming_the_missing_permission():
    denied = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized"}}, "GetAccount")

    check = failure("SES sending", denied, action="ses:GetAccount", resource="the account", doing="reading SES")

    assert check.status == FAILED
    assert "may not call ses:GetAccount" in check.detail and "allow ses:GetAccount" in check.fix


def test_an_api_the_endpoint_does_not_implement_is_not_checked():
    page = "<!doctype html><html>Not Found</html>"  # what moto answers
    missing = ClientError({"Error": {"Code": "404", "Message": page}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "X")

    check = failure("SES sending", missing, action="ses:GetAccount", resource="the account", doing="reading SES")

    assert check.status == NOT_CHECKED and "does not implement ses:GetAccount" in check.detail


# --------------------------------------------------------------------------------------------- the notification
def lambda_config(arn=VALIDATOR, events=("s3:ObjectCreated:*",), **rules):
    config = {"LambdaFunctionArn": arn, "Events": list(events)}
    if rules:
        config["Filter"] = {"Key": {"FilterRules": [{"Name": k, "Value": v} for k, v in rules.items()]}}
    return config


def test_a_notification_of_every_upload_under_incoming_to_the_validator_is_ok():
    config = {"LambdaFunctionConfigurations": [lambda_config(prefix="incoming/")]}

    check = notification_check("bucket", config, VALIDATOR)

    assert check.status == OK and VALIDATOR in check.detail


def test_a_notification_to_another_function_fails_with_redeploy_as_the_fix():
    other = VALIDATOR.replace("validate", "something-else")
    config = {"LambdaFunctionConfigurations": [lambda_config(arn=other, prefix="incoming/")]}

    check = notification_check("bucket", config, VALIDATOR)

    assert check.status == FAILED and other in check.detail and "an upload starts no import" in check.detail
    assert "redeploy" in check.fix and "replaces it" in check.fix


def test_a_bucket_without_notifications_fails():
    assert notification_check("bucket", {}, VALIDATOR).status == FAILED


@pytest.mark.parametrize(
    ("config", "gap"),
    [
        (lambda_config(events=("s3:ObjectCreated:Put",), prefix="incoming/"), "s3:ObjectCreated:Put"),
        (lambda_config(prefix="incoming/acme/"), "only part of incoming/"),
        (lambda_config(prefix="incoming/", suffix=".csv"), "suffix .csv"),
    ],
)
def test_a_notification_missing_some_uploads_is_a_warning(config, gap):
    check = notification_check("bucket", {"LambdaFunctionConfigurations": [config]}, VALIDATOR)

    assert check.status == WARNING and gap in check.detail


def test_a_notification_of_another_prefix_fails_as_no_upload_reaches_it():
    config = {"LambdaFunctionConfigurations": [lambda_config(prefix="uploads/")]}

    check = notification_check("bucket", config, VALIDATOR)

    assert check.status == FAILED and "uploads/" in check.detail


def test_a_stack_without_the_validator_output_is_a_warning_when_some_function_is_invoked():
    config = {"LambdaFunctionConfigurations": [lambda_config(prefix="incoming/")]}

    check = notification_check("bucket", config, None)

    assert check.status == WARNING and "ValidateFunctionArn" in check.detail
