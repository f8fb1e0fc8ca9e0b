"""The Intercom client of this environment, built from the settings: the token read from its secret, the
API root of the region, and the rate-limit governor shared by every worker of the Intercom app.

Kept apart from the client so that importing the client loads neither boto3 nor the governor.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from intercom_importer import aws
from intercom_importer.errors import SettingsError
from intercom_importer.governor import INTERCOM_WINDOW_SECONDS, DynamoDBGovernor, app_key, window_seconds_from_env
from intercom_importer.intercom.client import IntercomClient, build_client
from intercom_importer.intercom.connection import resolve_base_url
from intercom_importer.ratelimit import RateLimiter
from intercom_importer.settings import Settings


def load_token(secret_arn: str, fetch: Callable[[str], Any]) -> str:
    """The token from the secret: the secret string itself, or JSON with ``access_token``/``token``."""
    raw = fetch(secret_arn)
    text = raw.strip() if isinstance(raw, str) else str(raw)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SettingsError("The Intercom token secret is not valid JSON.") from exc
        text = str(data.get("access_token") or data.get("token") or "").strip()
    if not text:
        raise SettingsError("The Intercom token secret is empty: store the access token in it.")
    return text


@functools.cache
def limiter_for(calls_per_minute: int, jobs_table: str, app: str = "default") -> RateLimiter:
    """The pacer of this environment: one budget per Intercom app shared by every worker of every
    import through the jobs table (see ``governor.py``). Cached: all threads of a worker share it."""
    return DynamoDBGovernor.per_minute(
        aws.table(jobs_table), calls_per_minute, window_seconds=window_seconds_from_env(), app=app
    )


def intercom_client(settings: Settings, token: str) -> IntercomClient:
    """The client for ``token`` with this environment's API root, governor and pool size."""
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    return build_client(
        token=token,
        base_url=base_url,
        limiter=limiter_for(settings.intercom_rate_limit_per_minute, settings.jobs_table, app_key(base_url, token)),
        pool_size=max(8, settings.worker_threads * 2),
    )


def governed_client(
    settings: Settings, token: str, jobs_table: Any, *, window_seconds: float = INTERCOM_WINDOW_SECONDS
) -> IntercomClient:
    """The client for ``token`` outside the functions (``intercom-import undo``): this environment's API root, paced
    by a governor of its own on ``jobs_table`` (a boto3 ``Table`` of the stack's jobs table, reached with the
    caller's credentials), so its calls come out of the same budget as the workers'."""
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    limiter = outside_governor(settings, token, jobs_table, window_seconds=window_seconds)
    return IntercomClient(token, base_url, limiter=limiter)


def outside_governor(
    settings: Settings, token: str, jobs_table: Any, *, window_seconds: float = INTERCOM_WINDOW_SECONDS
) -> RateLimiter:
    """The governor of a caller outside the functions (``undo``, ``doctor``): its own, on ``jobs_table``, with the
    workers' app key, so its calls come out of the same budget as theirs."""
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    return DynamoDBGovernor.per_minute(
        jobs_table, settings.intercom_rate_limit_per_minute, window_seconds=window_seconds, app=app_key(base_url, token)
    )


@functools.cache
def _secrets() -> Any:
    """Powertools' secrets provider on this environment's Secrets Manager client (``parameters.get_secret`` would
    make a boto3 session of its own for it)."""
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    return SecretsProvider(boto3_client=aws.client("secretsmanager"))


def client_from_settings(settings: Settings) -> IntercomClient:
    """The Intercom client of this environment, with the token read from Secrets Manager (cached 5 min)."""
    token = load_token(settings.intercom_token_secret, lambda arn: _secrets().get(arn, max_age=300))
    return intercom_client(settings, token)
