"""Which Intercom the doctor checks, and with what client: given directly (``--intercom-url``/``--intercom-region``
and ``--intercom-token`` or ``INTERCOM_TOKEN``), or a stack's (the token from its secret, its API root, paced by
the governor on its jobs table like ``undo``). Either way the client paces through a
:class:`~importer_cli.doctor.budget.BudgetRecorder` and retries little (``DOCTOR_RETRY``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import Any

from importer_cli.doctor.budget import BudgetRecorder
from importer_cli.doctor.intercom_checks import DOCTOR_RETRY, DoctorOptions
from importer_cli.doctor.model import NOT_CHECKED, Check
from importer_cli.doctor.workspace_checks import TOKEN
from importer_cli.errors import CliError
from importer_cli.targets import Target
from intercom_importer.intercom.client import IntercomClient
from intercom_importer.intercom.connection import resolve_base_url

TOKEN_ENV = "INTERCOM_TOKEN"  # noqa: S105 - the variable's name


@dataclass
class Connection:
    """A client to check with (``None`` when none could be had: ``missing`` says why), its budget and options."""

    client: IntercomClient | None
    budget: BudgetRecorder
    options: DoctorOptions
    missing: Check | None = None


def direct(url: str | None, region: str | None, token: str | None, options: DoctorOptions) -> Connection:
    """The Intercom of ``--intercom-url`` (else the API root of ``--intercom-region``, else the US one)."""
    token = token or os.environ.get(TOKEN_ENV)
    if not token or not token.strip():
        raise CliError(f"no Intercom access token: pass --intercom-token TOKEN or set {TOKEN_ENV}")
    from intercom_importer.errors import SettingsError

    try:
        base_url = resolve_base_url(region, url)
    except SettingsError as exc:
        raise CliError(f"--intercom-url: {exc.message}") from exc
    budget = BudgetRecorder()
    options = replace(options, expected_region=region.upper() if region else None)
    return Connection(IntercomClient(token, base_url, limiter=budget, retry=DOCTOR_RETRY), budget, options)


def of_stack(target: Target, options: DoctorOptions) -> Connection:
    """The Intercom of ``target``'s workers: their token (from the stack's secret), API root and governor. When the
    settings or the token cannot be read, no client: the stack's checks say why (``stack settings``, ``Intercom token
    secret``)."""
    from importer_cli import undo_command
    from intercom_importer.intercom.factory import outside_governor

    budget = BudgetRecorder()
    try:
        settings, env = undo_command.stack_settings(target)
    except CliError as exc:
        return Connection(None, budget, options, _no_token(f"the stack's settings could not be read ({exc})"))
    try:
        token, window = undo_command.stack_token(target, settings, env)
    except CliError as exc:
        return Connection(None, budget, options, _no_token(f"the stack's token could not be read ({exc})"))
    budget.inner = outside_governor(settings, token, undo_command.jobs_table(target, settings), window_seconds=window)
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    client = IntercomClient(token, base_url, limiter=budget, retry=DOCTOR_RETRY)
    return Connection(client, budget, replace(options, **_stack_options(settings)))


def _stack_options(settings: Any) -> dict[str, Any]:
    secret = settings.intercom_token_secret
    refused_fix = (
        f"store a valid access token in the stack's secret: aws secretsmanager put-secret-value --secret-id {secret} "
        "--secret-string TOKEN (a token from Intercom Developer Hub > your app > Configure > Authentication)"
    )
    if settings.intercom_base_url:
        how = "set the stack's IntercomBaseUrl parameter to {url} (or empty it and set IntercomRegion={REGION}): sam deploy"
        return {"expected_region": None, "how_to_set_region": how, "refused_fix": refused_fix}
    how = (
        "set the stack's IntercomRegion parameter to {REGION}: sam deploy --parameter-overrides IntercomRegion={REGION}"
    )
    return {"expected_region": settings.intercom_region, "how_to_set_region": how, "refused_fix": refused_fix}


def _no_token(why: str) -> Check:
    return Check(TOKEN, NOT_CHECKED, f"{why}: see the stack's checks below")
