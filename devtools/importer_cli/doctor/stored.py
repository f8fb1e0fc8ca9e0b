"""What the doctor measured, put where the pipeline reads it: the search lag of the app's workspace in the stack's
jobs table (``intercom_importer.measured``: ``pk=SETTINGS#intercom, sk=<workspace id>``). The workers then wait
``effective_lag`` of the largest lag measured instead of the ``IntercomSearchLagSeconds`` parameter.

Also what ``intercom-import search-lag`` does: show the stored lags, set one by hand, forget them (the workers go
back to the parameter).
"""

from __future__ import annotations

from typing import Any

from importer_cli.doctor.aws_answers import DENIED, code_of, failure
from importer_cli.doctor.model import FAILED, NOT_CHECKED, OK, Check, Report
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, CliError
from importer_cli.targets import Target
from intercom_importer.measured import MeasuredLag, MeasuredLags, key

STORED = "measured search lag stored"


def store_measurements(target: Target, report: Report) -> None:
    """Store ``report.search_lag_seconds`` for the workspace of ``report.app`` (the largest seen is kept), fill
    ``report.stored`` and add the check saying the delay the workers will use."""
    workspace = str(report.app.get("id_code") or "")
    if report.search_lag_seconds is None or not workspace:
        missing = (
            "no search lag was measured" if report.search_lag_seconds is None else "the app's workspace is unknown"
        )
        why = f"{missing}: the workers keep the delay they had (an earlier measurement, or IntercomSearchLagSeconds)"
        report.add(Check(STORED, NOT_CHECKED, why))
        return
    try:
        lags = _lags(target)
        stored = lags.record(workspace, report.search_lag_seconds, app_name=str(report.app.get("name") or ""))
    except Exception as exc:
        report.add(_failed(exc, target))
        return
    report.stored = {
        "table": lags.table.name,
        "key": key(workspace),
        "search_lag_seconds": stored.seconds,
        "search_lag_max_seconds": stored.max_seconds,
        "effective_search_lag_seconds": stored.effective_seconds,
    }
    report.add(Check(STORED, OK, describe(stored, lags.table.name)))


def describe(stored: MeasuredLag, table: str) -> str:
    """One line: what is stored and the delay it gives."""
    largest = f", the largest measured {stored.max_seconds:g} s" if stored.max_seconds != stored.seconds else ""
    return (
        f"search lag {stored.seconds:g} s{largest} stored for workspace {stored.workspace} in {table}: the workers "
        f"wait {stored.effective_seconds:g} s before looking again for a lead whose create got no answer (the "
        "largest lag doubled, at least +30 s, within 30-900 s); within 5 minutes for workers already running"
    )


def _failed(exc: Exception, target: Target) -> Check:
    if isinstance(exc, CliError):
        return Check(STORED, FAILED, str(exc))
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    table = target.outputs.get("JobsTableName", "the jobs table")
    if code_of(cause) in DENIED:
        return failure(STORED, cause, action="dynamodb:UpdateItem", resource=table, doing="storing the search lag")
    detail = f"the search lag could not be stored in {table}: {exc}"
    return Check(STORED, FAILED, detail, "run the doctor again; until then the workers keep the delay they had")


def _lags(target: Target) -> MeasuredLags:
    return MeasuredLags(target.job_store().table)


# ----------------------------------------------------------------------------------- intercom-import search-lag
def show(target: Target) -> list[MeasuredLag]:
    return _call(lambda: _lags(target).all(), "dynamodb:Query", target)


def set_lag(target: Target, seconds: float, workspace: str | None) -> MeasuredLag:
    """Store ``seconds`` as the workspace's lag, the largest included (a value set by hand replaces it)."""
    workspace = workspace or workspace_of(target)
    return _call(lambda: _lags(target).record(workspace, seconds, replace_max=True), "dynamodb:UpdateItem", target)


def forget(target: Target, workspace: str | None) -> list[str]:
    """Forget the workspace's lag (every stored one without ``workspace``); returns the workspaces forgotten."""
    lags = _lags(target)
    names = [workspace] if workspace else [lag.workspace for lag in show(target)]
    return [name for name in names if _call(lambda n=name: lags.forget(n), "dynamodb:DeleteItem", target)]


def workspace_of(target: Target) -> str:
    """The workspace of the stack's token, as the workers ask it (``GET /me``)."""
    from importer_cli.undo_command import intercom_client, stack_settings
    from intercom_importer.errors import IntercomError

    settings, env = stack_settings(target)
    try:
        return intercom_client(target, settings, env).workspace_id()
    except IntercomError as exc:
        raise CliError(
            f"Intercom did not say which workspace the stack's token belongs to ({exc.message}): pass --workspace ID "
            "(the app's id_code)",
            EXIT_IMPORT_PROBLEMS,
        ) from exc


def _call(call: Any, action: str, target: Target) -> Any:
    from intercom_importer.errors import JobStoreUnavailableError

    try:
        return call()
    except JobStoreUnavailableError as exc:
        table = target.outputs.get("JobsTableName", "the jobs table")
        if code_of(exc.__cause__) in DENIED:
            raise CliError(f"access denied: your AWS credentials may not call {action} on {table}") from exc
        raise CliError(f"the jobs table {table} could not be reached: {exc.message}", EXIT_IMPORT_PROBLEMS) from exc
