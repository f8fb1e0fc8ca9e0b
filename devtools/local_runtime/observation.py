"""What the stack did, as plain dicts: its state machine executions and the emails SES sent."""

from __future__ import annotations

import email
import email.policy
import json
from collections.abc import Mapping
from typing import Any


def executions(sfn: Any, machines: Mapping[str, str], describe: bool = True) -> list[dict[str, Any]]:
    """Executions of the state machines (logical id -> ARN), newest first, with status and parsed input/output."""
    result = []
    for logical_id, arn in machines.items():
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=arn):
            for item in page["executions"]:
                row: dict[str, Any] = {
                    "state_machine": logical_id,
                    "name": item["name"],
                    "arn": item["executionArn"],
                    "status": item["status"],
                    "start_date": item.get("startDate"),
                    "stop_date": item.get("stopDate"),
                }
                if describe:
                    detail = sfn.describe_execution(executionArn=item["executionArn"])
                    row.update(
                        status=detail["status"],
                        input=_maybe_json(detail.get("input")),
                        output=_maybe_json(detail.get("output")),
                        error=detail.get("error"),
                        cause=detail.get("cause"),
                        stop_date=detail.get("stopDate"),
                    )
                result.append(row)
    result.sort(key=lambda row: row["start_date"] or 0, reverse=True)
    return result


def _maybe_json(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


def email_dict(message: Any, request: dict[str, Any] | None) -> dict[str, Any]:
    """One moto SES message as a plain dict (source, destinations, subject, text, html)."""
    destinations = getattr(message, "destinations", {})
    if isinstance(destinations, dict):
        to = list(destinations.get("ToAddresses", []))
        cc = list(destinations.get("CcAddresses", []))
        bcc = list(destinations.get("BccAddresses", []))
    else:
        to, cc, bcc = list(destinations or []), [], []
    result: dict[str, Any] = {
        "message_id": getattr(message, "id", None),
        "source": getattr(message, "source", None),
        "destinations": to + cc + bcc,
        "to": to,
        "cc": cc,
        "bcc": bcc,
        "subject": getattr(message, "subject", None),
        "text": None,
        "html": None,
        "configuration_set": (request or {}).get("ConfigurationSetName"),
    }
    simple = ((request or {}).get("Content") or {}).get("Simple")
    if simple:
        body = simple.get("Body", {})
        result["subject"] = simple.get("Subject", {}).get("Data", result["subject"])
        result["text"] = body.get("Text", {}).get("Data")
        result["html"] = body.get("Html", {}).get("Data")
    elif hasattr(message, "raw_data"):
        parsed = email.message_from_string(message.raw_data, policy=email.policy.default)
        result["subject"] = parsed.get("Subject")
        for kind in ("plain", "html"):
            part = parsed.get_body(preferencelist=(kind,))
            if part is not None:
                result["text" if kind == "plain" else "html"] = part.get_content()
    elif hasattr(message, "body"):
        body = message.body or ""
        result["html" if body.lstrip().startswith("<") else "text"] = body
    return result
