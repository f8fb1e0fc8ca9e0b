"""AWS failures as doctor checks: what a refused or failed call means, as one ``Check`` naming the fix (an access
denial names the IAM action the doctor's credentials lack). Shared by the stack's checks."""

from __future__ import annotations

from typing import Any

from importer_cli.doctor.model import FAILED, NOT_CHECKED, Check

DENIED = frozenset(
    {"AccessDenied", "AccessDeniedException", "AuthorizationError", "UnauthorizedOperation", "AllAccessDisabled"}
)
# What an endpoint that does not implement an API answers (moto answers a bare 404 page for SESv2 GetAccount).
UNIMPLEMENTED = frozenset({"404", "501", "NotImplemented", "NotImplementedError", "UnknownOperationException"})


def code_of(exc: BaseException | None) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def message_of(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    message = str(response.get("Error", {}).get("Message", "") or exc)
    return message if "<html" not in message.lower() else ""  # an HTML error page says nothing useful


def unimplemented(exc: BaseException) -> bool:
    """The endpoint does not implement the call (a local emulator): not the stack's problem."""
    status = (getattr(exc, "response", None) or {}).get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code_of(exc) in UNIMPLEMENTED or (status in (404, 501) and not message_of(exc))


def failure(name: str, exc: BaseException, *, action: str, resource: str, doing: str) -> Check:
    """The check ``name`` failed because the call ``action`` on ``resource`` did: denied (the permission it
    needs), not implemented by the endpoint (not checked), or another AWS error (its code and message)."""
    from botocore import exceptions as bx

    from importer_cli.targets import aws_error

    if isinstance(exc, bx.ClientError) and code_of(exc) in DENIED:
        return Check(
            name,
            FAILED,
            f"access denied while {doing}: your AWS credentials may not call {action} on {resource}",
            f"allow {action} on {resource} to the credentials you run the doctor with, then run it again",
        )
    if isinstance(exc, bx.ClientError) and unimplemented(exc):
        return Check(
            name,
            NOT_CHECKED,
            f"the AWS endpoint does not implement {action} (a local emulator: moto has no {action.split(':')[1]}); "
            "this is checked on a deployed stack",
        )
    if isinstance(exc, bx.BotoCoreError | bx.ClientError):
        return Check(name, FAILED, f"{aws_error(exc, doing)}", "")
    return Check(name, FAILED, f"{doing} failed: {type(exc).__name__}: {exc}", "")


def not_checked_without(name: str, what: str, because: str) -> Check:
    """``name`` could not be checked: it needs ``what``, which the check ``because`` could not read."""
    return Check(name, NOT_CHECKED, f"needs {what}, which could not be read (see the check {because!r})")


def answer(call: Any, **kwargs: Any) -> dict[str, Any]:
    """The answer of ``call(**kwargs)`` without its ResponseMetadata."""
    return {k: v for k, v in call(**kwargs).items() if k != "ResponseMetadata"}
