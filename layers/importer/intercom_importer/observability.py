"""Logger, Tracer and Metrics shared by every function (Powertools; configured from the environment)."""

from __future__ import annotations

import hashlib

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger()
tracer = Tracer()
metrics = Metrics()


def mask_email(email: str | None) -> str | None:
    """A stable, non-reversible stand-in for an email address in logs (``a***@example.com#1f2e``)."""
    if not email:
        return email
    local, _, domain = email.partition("@")
    digest = hashlib.sha256(email.lower().encode()).hexdigest()[:6]
    return f"{local[:1]}***@{domain}#{digest}" if domain else f"***#{digest}"
