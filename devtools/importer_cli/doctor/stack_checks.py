"""The stack's side of ``intercom-import doctor``: what an import needs from AWS besides Intercom.

- the SES sender identity is verified, and the account may send (out of the sandbox, within its quota):
  ``ses_checks.py``;
- the Intercom token secret exists and holds a non-empty token (never printed);
- the import bucket's notification reaches the validator: ObjectCreated under ``incoming/`` invokes the function of
  the ``ValidateFunctionArn`` output.

Each point is one ``Check`` (ok, warning, failed with the fix, or not checked with why), never a traceback; an AWS
access denial is a failed check naming the IAM action the credentials lack. The stack's settings (sender, token
secret) are those of its worker function (``undo_command.stack_settings``: ``lambda:GetFunctionConfiguration``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from importer_cli.doctor import ses_checks
from importer_cli.doctor.aws_answers import answer, code_of, failure, message_of, not_checked_without
from importer_cli.doctor.model import FAILED, OK, WARNING, Check, Report
from importer_cli.errors import CliError
from importer_cli.targets import Target

SETTINGS = "stack settings"
SECRET = "Intercom token secret"  # noqa: S105 - a check's name
NOTIFICATION = "upload notification"
VALIDATOR_OUTPUT = "ValidateFunctionArn"
UPLOAD_PREFIX = "incoming/"
ALL_CREATED = "s3:ObjectCreated:*"
REDEPLOY = (
    "redeploy the stack (sam deploy): the template's ValidateFunction Upload event sets the notification. S3 keeps one "
    "notification configuration per bucket: one put by hand or by another tool replaces it"
)


def stack_checks(target: Target, report: Report) -> None:
    """Add the stack's checks to ``report``, in this order: SES identity, SES sending, SES quota, the token secret,
    the upload notification (preceded by a failed "stack settings" when the worker's settings cannot be read)."""
    settings = _settings(target, report)
    if settings is None:
        report.add(not_checked_without(ses_checks.IDENTITY, "the stack's sender (the worker's SENDER_EMAIL)", SETTINGS))
    else:
        sender = settings.sender_email
        check = _safely(
            ses_checks.IDENTITY, lambda: ses_checks.sender_identity(target.client("sesv2"), sender, target.region)
        )
        report.add(check)
    for check in _safely_many(ses_checks.SENDING, lambda: ses_checks.account(target.client("sesv2"))):
        report.add(check)
    if settings is None:
        report.add(
            not_checked_without(SECRET, "the stack's token secret (the worker's INTERCOM_TOKEN_SECRET)", SETTINGS)
        )
    else:
        secret_id = settings.intercom_token_secret
        report.add(_safely(SECRET, lambda: token_secret(target.client("secretsmanager"), secret_id)))
    report.add(_safely(NOTIFICATION, lambda: upload_notification(target)))


def _settings(target: Target, report: Report) -> Any:
    from importer_cli.undo_command import stack_settings

    fix = (
        "use credentials allowed lambda:GetFunctionConfiguration on the stack's worker function, or point "
        "--stack/--outputs at a stack of this template"
    )
    try:
        return stack_settings(target)[0]
    except CliError as exc:
        report.add(Check(SETTINGS, FAILED, str(exc), fix))
    except Exception as exc:  # the doctor reports, it does not crash
        report.add(Check(SETTINGS, FAILED, f"could not be read: {type(exc).__name__}: {exc}", fix))
    return None


def _safely(name: str, check: Callable[[], Check]) -> Check:
    """``check()``, any exception as a failed check: the doctor reports, it does not crash."""
    try:
        return check()
    except CliError as exc:
        return Check(name, FAILED, str(exc))
    except Exception as exc:
        return Check(name, FAILED, f"could not be checked: {type(exc).__name__}: {exc}")


def _safely_many(name: str, checks: Callable[[], Sequence[Check]]) -> Sequence[Check]:
    try:
        return checks()
    except Exception as exc:
        return [Check(name, FAILED, f"could not be checked: {type(exc).__name__}: {exc}")]


# -------------------------------------------------------------------------------------------- the token secret
def token_secret(secrets: Any, secret_id: str) -> Check:
    """The secret exists and holds a non-empty token (as the workers read it: the string, or JSON with
    ``access_token``/``token``). The token is never shown."""
    from intercom_importer.errors import SettingsError
    from intercom_importer.intercom.factory import load_token

    try:
        found = answer(secrets.get_secret_value, SecretId=secret_id)
    except Exception as exc:
        return _secret_failure(exc, secret_id)
    if "SecretString" not in found:
        detail = f"the secret {secret_id} holds binary data, not the token as text"
        return Check(SECRET, FAILED, detail, _store_fix(secret_id))
    try:
        load_token(secret_id, lambda _: found["SecretString"])
    except SettingsError as exc:
        return Check(SECRET, FAILED, f"the secret {secret_id}: {exc.message}", _store_fix(secret_id))
    return Check(SECRET, OK, f"the secret {secret_id} holds a token (not shown)")


def _secret_failure(exc: Exception, secret_id: str) -> Check:
    code = code_of(exc)
    if code == "ResourceNotFoundException":
        return Check(
            SECRET,
            FAILED,
            f"the secret {secret_id} does not exist (or has no value): the workers cannot reach Intercom",
            f"create it with the token (`aws secretsmanager create-secret --name NAME --secret-string TOKEN`) and "
            "deploy with IntercomTokenSecretArn set to its ARN, or `aws secretsmanager put-secret-value --secret-id "
            f"{secret_id} --secret-string TOKEN` if it exists without a value",
        )
    if code == "InvalidRequestException" and "delet" in message_of(exc).lower():
        detail = f"the secret {secret_id} is scheduled for deletion: {message_of(exc)}"
        return Check(SECRET, FAILED, detail, f"`aws secretsmanager restore-secret --secret-id {secret_id}`")
    if code == "DecryptionFailure":
        key = f"the KMS key of the secret {secret_id}"
        return failure(SECRET, _denied(exc), action="kms:Decrypt", resource=key, doing="decrypting the token secret")
    action = "secretsmanager:GetSecretValue"
    return failure(SECRET, exc, action=action, resource=secret_id, doing="reading the token secret")


def _denied(exc: Exception) -> Exception:
    """A KMS decryption failure reads as the access denial it is."""
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": "AccessDenied", "Message": message_of(exc)}}, "GetSecretValue")


def _store_fix(secret_id: str) -> str:
    return (
        f"store the Intercom access token in it: `aws secretsmanager put-secret-value --secret-id {secret_id} "
        "--secret-string TOKEN` (the token itself, or JSON with an access_token key)"
    )


# --------------------------------------------------------------------------------------- the upload notification
def upload_notification(target: Target) -> Check:
    """The import bucket's notification configuration has ObjectCreated under ``incoming/`` invoking the
    validator (the ``ValidateFunctionArn`` output)."""
    bucket = target.output("ImportBucketName")
    try:
        config = answer(target.client("s3").get_bucket_notification_configuration, Bucket=bucket)
    except Exception as exc:
        doing = f"reading the notification configuration of {bucket}"
        return failure(
            NOTIFICATION, exc, action="s3:GetBucketNotification", resource=f"the bucket {bucket}", doing=doing
        )
    return notification_check(bucket, config, target.outputs.get(VALIDATOR_OUTPUT))


def notification_check(bucket: str, config: Mapping[str, Any], validator: str | None) -> Check:
    """How well ``config`` (``GetBucketNotificationConfiguration``) delivers uploads under ``incoming/`` to
    ``validator`` (its ARN; None: the stack has no such output, any function invoked counts, with a warning)."""
    lambdas = list(config.get("LambdaFunctionConfigurations") or [])
    mine = [c for c in lambdas if validator is None or _same_function(c.get("LambdaFunctionArn", ""), validator)]
    reaching = [c for c in mine if _reaches_uploads(c)]
    if not reaching:
        seen = "; ".join(_describe(c) for c in lambdas) or "none"
        others = [k for k in ("QueueConfigurations", "TopicConfigurations", "EventBridgeConfiguration") if k in config]
        also = f"; it also has {', '.join(others)}" if others else ""
        wanted = f"the validator {validator}" if validator else "a function"
        detail = f"no notification of {bucket} invokes {wanted} for objects created under {UPLOAD_PREFIX} (its Lambda "
        return Check(
            NOTIFICATION, FAILED, detail + f"notifications: {seen}{also}): an upload starts no import", REDEPLOY
        )
    gaps = [_gaps(c) for c in reaching]
    best = min(gaps, key=len)
    invoked = reaching[gaps.index(best)].get("LambdaFunctionArn", "")
    if best:
        detail = f"the notification of {bucket} invokes {invoked} for only some uploads: " + "; ".join(best)
        return Check(NOTIFICATION, WARNING, detail, REDEPLOY)
    if validator is None:
        detail = f"uploads under {UPLOAD_PREFIX} in {bucket} invoke {invoked}, but the stack has no {VALIDATOR_OUTPUT} "
        fix = "redeploy the stack with the current template (it adds the output)"
        return Check(NOTIFICATION, WARNING, detail + "output to confirm it is the validator", fix)
    return Check(NOTIFICATION, OK, f"uploads under {UPLOAD_PREFIX} in {bucket} invoke the validator {invoked}")


def _reaches_uploads(config: Mapping[str, Any]) -> bool:
    """Some object created under ``incoming/`` invokes it (an ObjectCreated event, a prefix compatible with it)."""
    prefix = _rules(config).get("prefix", "")
    created = any(str(e).startswith("s3:ObjectCreated:") for e in config.get("Events") or [])
    return created and (UPLOAD_PREFIX.startswith(prefix) or prefix.startswith(UPLOAD_PREFIX))


def _gaps(config: Mapping[str, Any]) -> list[str]:
    """What a Lambda notification reaching uploads misses of "every object created under incoming/" (empty:
    nothing)."""
    gaps = []
    events = [str(e) for e in config.get("Events") or []]
    if ALL_CREATED not in events:
        created = [e for e in events if e.startswith("s3:ObjectCreated:")]
        gaps.append(f"events {', '.join(created)} (not {ALL_CREATED}: uploads made otherwise are missed)")
    rules = _rules(config)
    prefix, suffix = rules.get("prefix", ""), rules.get("suffix", "")
    if prefix.startswith(UPLOAD_PREFIX) and prefix != UPLOAD_PREFIX:
        gaps.append(f"prefix {prefix} (only part of {UPLOAD_PREFIX})")
    if suffix:
        gaps.append(f"suffix {suffix} (files named otherwise are not imported)")
    return gaps


def _describe(config: Mapping[str, Any]) -> str:
    rules = _rules(config)
    where = f" under {rules['prefix']}" if rules.get("prefix") else ""
    return f"{config.get('LambdaFunctionArn', '?')} on {', '.join(config.get('Events') or []) or 'no event'}{where}"


def _rules(config: Mapping[str, Any]) -> dict[str, str]:
    return {str(r.get("Name", "")).lower(): str(r.get("Value", "")) for r in _filter_rules(config)}


def _filter_rules(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(((config.get("Filter") or {}).get("Key") or {}).get("FilterRules") or [])


def _same_function(arn: str, validator: str) -> bool:
    """``arn`` names the validator (the same function, any qualifier: a version or alias of it still is)."""
    return _function_name(arn) == _function_name(validator) and arn.split(":")[3:5] == validator.split(":")[3:5]


def _function_name(arn: str) -> str:
    """A function's name from its ARN (``arn:aws:lambda:region:account:function:NAME[:qualifier]``) or its name."""
    parts = arn.split(":")
    return parts[6] if len(parts) >= 7 and parts[5] == "function" else arn
