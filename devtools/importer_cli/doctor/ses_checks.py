"""SES, as the summary emails need it: the stack's sender identity verified, the account allowed to send (out of
the sandbox, within its quota).

SESv2 ``GetEmailIdentity`` of the sender address, then of its domain (either verified lets the address send), and
``GetAccount``: ``SendingEnabled``, ``ProductionAccessEnabled``, ``SendQuota``. The evaluations are pure functions of
those answers (``identity_check``, ``account_checks``), so every answer AWS can give is testable without AWS.

moto (the local stack) answers ``GetEmailIdentity`` with ``VerifiedForSendingStatus`` false and ``VerificationStatus``
``SUCCESS`` for every identity it holds (and sends from them): an identity counts as verified when either says so
(on AWS they agree). moto does not implement ``GetAccount``: the account's checks are ``not checked`` there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from importer_cli.doctor.aws_answers import answer, code_of, failure
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, WARNING, Check

IDENTITY = "SES sender identity"
SENDING = "SES sending"
QUOTA = "SES sending quota"
QUOTA_WARNING = 0.8  # of the 24-hour quota sent already: the next imports' emails may be refused
PRODUCTION_ACCESS_FIX = (
    "request production access (SES console > Account dashboard > Request production access, or "
    "`aws sesv2 put-account-details --production-access-enabled ...`), or verify each recipient "
    "(`aws sesv2 create-email-identity --email-identity ADDRESS`; they click the link AWS sends)"
)


def sender_identity(sesv2: Any, sender: str, region: str | None) -> Check:
    """The sender's identity (its address, else its domain) as SES holds it in the stack's region."""
    domain = sender.rpartition("@")[2].lower()
    found: dict[str, dict[str, Any] | None] = {}
    for identity in (sender, domain):
        try:
            found[identity] = answer(sesv2.get_email_identity, EmailIdentity=identity)
        except Exception as exc:
            if code_of(exc) == "NotFoundException":
                found[identity] = None
                continue
            return failure(
                IDENTITY,
                exc,
                action="ses:GetEmailIdentity",
                resource=f"identity {identity}",
                doing=f"reading the SES identity {identity}",
            )
        if verified(found[identity]):
            break
    return identity_check(sender, found.get(sender), found.get(domain), region)


def verified(identity: Mapping[str, Any] | None) -> bool:
    if not identity:
        return False
    return identity.get("VerifiedForSendingStatus") is True or identity.get("VerificationStatus") == "SUCCESS"


def identity_check(
    sender: str, address: Mapping[str, Any] | None, domain_answer: Mapping[str, Any] | None, region: str | None
) -> Check:
    """How the sender may send, from ``GetEmailIdentity`` of its address and of its domain (None: no identity)."""
    domain = sender.rpartition("@")[2].lower()
    where = f" in {region}" if region else ""
    if verified(address):
        return Check(IDENTITY, OK, f"{sender} is a verified SES identity{where}")
    if verified(domain_answer):
        return Check(IDENTITY, OK, f"{sender}'s domain {domain} is a verified SES identity{where}")
    if address is None and domain_answer is None:
        return Check(
            IDENTITY,
            FAILED,
            f"SES has no identity for the sender {sender} or its domain {domain}{where}: no summary email can be sent",
            f"create it (`aws sesv2 create-email-identity --email-identity {sender}`, or deploy with "
            "CreateSenderIdentity=true) and click the link AWS sends to that address",
        )
    if address is not None:
        status = address.get("VerificationStatus") or "not verified"
        return Check(
            IDENTITY,
            FAILED,
            f"the SES identity {sender}{where} is not verified ({status}): SES refuses to send from it",
            f"click the link AWS sent to {sender}; to send it again: `aws sesv2 delete-email-identity "
            f"--email-identity {sender}` then `aws sesv2 create-email-identity --email-identity {sender}`",
        )
    status = (domain_answer or {}).get("VerificationStatus") or "not verified"
    return Check(
        IDENTITY,
        FAILED,
        f"the SES domain identity {domain}{where} is not verified ({status}): SES refuses to send from {sender}",
        f"publish the DNS records SES asks for (`aws sesv2 get-email-identity --email-identity {domain}` lists its "
        "DKIM tokens: CNAME <token>._domainkey." + domain + " -> <token>.dkim.amazonses.com)",
    )


def account(sesv2: Any) -> list[Check]:
    """Whether the account may send, and how much of its quota is left (``GetAccount``)."""
    try:
        found = answer(sesv2.get_account)
    except Exception as exc:
        check = failure(SENDING, exc, action="ses:GetAccount", resource="the account", doing="reading SES's account")
        quota = Check(QUOTA, NOT_CHECKED, check.detail if check.status == NOT_CHECKED else "see " + SENDING)
        return [check, quota]
    return account_checks(found)


def account_checks(found: Mapping[str, Any]) -> list[Check]:
    """The account's sending and quota checks from a ``GetAccount`` answer."""
    return [_sending(found), _quota(found.get("SendQuota") or {})]


def _sending(found: Mapping[str, Any]) -> Check:
    enforcement = found.get("EnforcementStatus") or ""
    if found.get("SendingEnabled") is False:
        return Check(
            SENDING,
            FAILED,
            f"sending is paused for this SES account (enforcement status {enforcement or 'unknown'}): "
            "no summary email can be sent",
            "read the notice in the SES console (Account dashboard, Reputation metrics), fix its cause and ask AWS "
            "to resume sending; `aws sesv2 put-account-sending-attributes --sending-enabled` if you paused it",
        )
    if found.get("ProductionAccessEnabled") is False:
        review = ((found.get("Details") or {}).get("ReviewDetails") or {}).get("Status")
        asked = f" (production access request: {review})" if review else ""
        return Check(
            SENDING,
            WARNING,
            f"the SES account is in sandbox mode{asked}: only verified recipients receive the summary emails",
            PRODUCTION_ACCESS_FIX,
        )
    if enforcement == "PROBATION":
        return Check(
            SENDING,
            WARNING,
            "the SES account is under review (probation: bounces or complaints too high); sending may be paused",
            "read the notice in the SES console (Reputation metrics) and fix its cause",
        )
    return Check(SENDING, OK, "the SES account may send to any recipient (production access)")


def _quota(quota: Mapping[str, Any]) -> Check:
    limit = float(quota.get("Max24HourSend", 0) or 0)
    sent = float(quota.get("SentLast24Hours", 0) or 0)
    rate = quota.get("MaxSendRate")
    per_second = f", {rate:g} per second" if isinstance(rate, int | float) else ""
    if not quota:
        return Check(QUOTA, NOT_CHECKED, "SES's GetAccount answer holds no SendQuota")
    if limit < 0:  # -1: no quota
        return Check(QUOTA, OK, f"no 24-hour quota{per_second}")
    if limit == 0:
        return Check(QUOTA, WARNING, "SES reports a 24-hour quota of 0 emails", "request a higher quota (SES console)")
    left = limit - sent
    detail = f"{sent:g} of {limit:g} emails sent in the last 24 hours{per_second}"
    if sent >= limit:
        return Check(
            QUOTA,
            FAILED,
            f"{detail}: the quota is used up; summary emails are refused until it frees up",
            "wait for the 24-hour window to move on, or request a higher quota (SES console > Account dashboard)",
        )
    if sent >= QUOTA_WARNING * limit:
        return Check(
            QUOTA,
            WARNING,
            f"{detail}: {left:g} left; the next imports' emails may be refused",
            "request a higher quota (SES console > Account dashboard), or send less from this account",
        )
    return Check(QUOTA, OK, f"{detail}: {left:g} left")
