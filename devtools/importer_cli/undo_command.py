"""``undo``: undo an import on any target, with the stack's own settings.

The undo itself is domain code (``intercom_importer.undo``); this module gives it what the stack's functions
have: the settings as the worker function holds them (``lambda:GetFunctionConfiguration`` of the
``WorkerFunctionName`` output: token secret, Intercom region or URL, rate limit, jobs table, sender, recipients),
the token from its secret, the workers' governor on the jobs table (one rate budget for the undo and any import
running), the import bucket, and SES with the stack's sender and configuration set for the summary email. With
your credentials: those calls, plus the jobs table and the bucket's ``reports/`` objects.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Any

from importer_cli import jobs_commands
from importer_cli.display import Progress, stderr
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, EXIT_USAGE, CliError
from importer_cli.targets import Target, aws_error
from intercom_importer.settings import Settings
from intercom_importer.undo import UndoResult

WORKER_OUTPUT = "WorkerFunctionName"


def undo(target: Target, job_id: str, *, dry_run: bool, yes: bool, progress: Progress) -> UndoResult:
    """Undo ``job_id`` on ``target`` (see ``intercom_importer.undo``); asks first unless ``yes`` or ``dry_run``."""
    from intercom_importer.errors import UndoRefusedError
    from intercom_importer.jobs import JobStore
    from intercom_importer.undo import Undo, change_logs, plan, undo_job_id

    job = jobs_commands.get_job(target, job_id)
    if job is None:
        error = jobs_commands.not_found(target, job_id)
        error.exit_code = EXIT_IMPORT_PROBLEMS
        raise error
    if job.undone_at:  # said without reaching Intercom
        undo_id = job.undo_job_id or undo_job_id(job_id)
        return UndoResult(job_id, undo_id, dry_run, already_undone=True, undone_at=job.undone_at)
    s3, bucket = target.client("s3"), target.output("ImportBucketName")
    try:  # refusals and the question first: nothing of the stack's settings is read for them
        if dry_run or yes:
            change_logs(s3, bucket, job, store=target.job_store())
        else:
            confirm(job_id, plan(s3, bucket, job, store=target.job_store()))
    except UndoRefusedError as exc:
        raise CliError(exc.message, EXIT_IMPORT_PROBLEMS) from exc
    settings, env = stack_settings(target)
    work = Undo(
        store=JobStore(target.job_store().table, retention_days=settings.job_retention_days),
        s3=s3,
        bucket=bucket,
        client=intercom_client(target, settings, env),
        send=ses_sender(target, settings),
        recipients=settings.notify_recipients,
        on_chunk=lambda done, total: progress.line(f"{'checking' if dry_run else 'undoing'}: {done}/{total} chunks"),
        threads=settings.worker_threads,
    )
    try:
        return run(work, job_id, dry_run=dry_run)
    finally:
        progress.end()


def run(work: Any, job_id: str, *, dry_run: bool) -> UndoResult:
    """``undo_import``, its named errors as one line each saying what to do."""
    from intercom_importer.errors import (
        EmailSendError,
        IntercomAuthError,
        IntercomError,
        JobStoreUnavailableError,
        UndoRefusedError,
    )
    from intercom_importer.undo import undo_import

    again = f"run `intercom-import undo {job_id}` again"
    try:
        return undo_import(work, job_id, dry_run=dry_run)
    except UndoRefusedError as exc:
        raise CliError(exc.message, EXIT_IMPORT_PROBLEMS) from exc
    except EmailSendError as exc:
        message = f"everything is undone, but the summary email was not sent ({exc.message}): {again} to send it"
        raise CliError(message, EXIT_IMPORT_PROBLEMS) from exc
    except IntercomAuthError as exc:
        message = f"Intercom refused the stack's access token ({exc.message}): store a valid token in its secret"
        raise CliError(f"{message}, then {again}", EXIT_IMPORT_PROBLEMS) from exc
    except (IntercomError, JobStoreUnavailableError) as exc:
        message = f"the undo stopped: {exc.message}; {again} to go on (what is done stays done)"
        raise CliError(message, EXIT_IMPORT_PROBLEMS) from exc


def confirm(job_id: str, plan: Any) -> None:
    """Ask before writing (a terminal only): ``Undo N changes to M contacts? [y/N]``."""
    if not sys.stdin.isatty():
        raise CliError(
            f"undo writes to Intercom and asks first, but stdin is not a terminal: pass --yes to undo job {job_id} "
            "without being asked (--dry-run shows what it would do)",
            EXIT_USAGE,
        )
    archived = f"; the {plan.created} contacts it created are archived" if plan.created else ""
    companies = f"; {plan.companies} company rows are left alone" if plan.companies else ""
    stderr(f"Job {job_id} changed {plan.changes} values on {plan.contacts} contacts{archived}{companies}.")
    sys.stderr.write(f"Undo {plan.changes} changes to {plan.contacts} contacts? [y/N] ")
    sys.stderr.flush()
    if sys.stdin.readline().strip().lower() not in ("y", "yes"):
        raise CliError("not undone: nothing was changed", EXIT_IMPORT_PROBLEMS)


def stack_settings(target: Target) -> tuple[Settings, dict[str, str]]:
    """The stack's settings as its worker function holds them, and that function's environment."""
    from botocore.exceptions import BotoCoreError, ClientError

    from intercom_importer.errors import SettingsError

    name = target.output(WORKER_OUTPUT)
    try:
        config = target.client("lambda").get_function_configuration(FunctionName=name)
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(
            exc, f"reading the settings of the worker function {name} (lambda:GetFunctionConfiguration)"
        ) from exc
    env = {str(k): str(v) for k, v in ((config.get("Environment") or {}).get("Variables") or {}).items()}
    try:
        return Settings.from_env(env), env
    except SettingsError as exc:
        raise CliError(f"the worker function {name} of {target.label}: {exc.message}", EXIT_IMPORT_PROBLEMS) from exc


def intercom_client(target: Target, settings: Settings, env: Mapping[str, str]) -> Any:
    """The Intercom client the workers would build: the token from the stack's secret, paced by the governor on
    the stack's jobs table (the same rate budget)."""
    from intercom_importer.intercom.factory import governed_client

    token, window = stack_token(target, settings, env)
    return governed_client(settings, token, jobs_table(target, settings), window_seconds=window)


def stack_token(target: Target, settings: Settings, env: Mapping[str, str]) -> tuple[str, float]:
    """The Intercom token from the stack's secret, and the governor's window length (seconds) of the stack."""
    from botocore.exceptions import BotoCoreError, ClientError

    from intercom_importer.errors import SettingsError
    from intercom_importer.governor import window_seconds_from_env
    from intercom_importer.intercom.factory import load_token

    secrets = target.client("secretsmanager")
    try:
        token = load_token(
            settings.intercom_token_secret, lambda arn: secrets.get_secret_value(SecretId=arn)["SecretString"]
        )
        return token, window_seconds_from_env(env)
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(exc, "reading the Intercom token secret (secretsmanager:GetSecretValue)") from exc
    except SettingsError as exc:
        raise CliError(exc.message, EXIT_IMPORT_PROBLEMS) from exc


def jobs_table(target: Target, settings: Settings) -> Any:
    """The stack's jobs table (a boto3 ``Table``), reached with the target's credentials."""
    return target.session.resource("dynamodb", endpoint_url=target.endpoint_url).Table(settings.jobs_table)


def ses_sender(target: Target, settings: Settings) -> Callable[[Mapping[str, Any]], str]:
    """``send(message)``: the email through SES v2 from the stack's sender, with its configuration set; returns the
    message id, raises ``EmailSendError``."""
    from botocore.exceptions import BotoCoreError, ClientError

    from intercom_importer.errors import EmailSendError

    configuration_set = target.outputs.get("EmailConfigurationSetName")

    def send(message: Mapping[str, Any]) -> str:
        def part(text: str) -> dict[str, str]:
            return {"Data": text, "Charset": "UTF-8"}

        request: dict[str, Any] = {
            "FromEmailAddress": settings.sender_email,
            "Destination": {"ToAddresses": list(message["to"])},
            "Content": {
                "Simple": {
                    "Subject": part(message["subject"]),
                    "Body": {"Text": part(message["text"]), "Html": part(message["html"])},
                }
            },
        }
        if configuration_set:
            request["ConfigurationSetName"] = configuration_set
        try:
            return str(target.client("sesv2").send_email(**request)["MessageId"])
        except (BotoCoreError, ClientError) as exc:
            raise EmailSendError(str(aws_error(exc, "sending the summary email"))) from exc

    return send


# -------------------------------------------------------------------------------------------- output
def as_json(result: UndoResult) -> dict[str, Any]:
    """The one object ``undo --json`` prints."""
    t = result.tally
    return {
        "job": result.job_id,
        "undo_job_id": result.undo_job_id,
        "dry_run": result.dry_run,
        "already_undone": result.already_undone,
        "undone_at": result.undone_at,
        "restored": t.restored,
        "contacts_restored": t.contacts_restored,
        "archived": t.archived,
        "already_restored": t.already_restored,
        "left_alone": [entry.to_json() for entry in t.left],
        "write_calls": t.write_calls,
        "api_calls": t.api_calls,
        "email": dict(result.email) or None,
    }


def describe(result: UndoResult, *, max_left: int = 50) -> str:
    """The undo for people."""
    if result.already_undone:
        return (
            f"Job {result.job_id} was undone already ({result.undone_at}, undo job {result.undo_job_id}): "
            "nothing was changed"
        )
    t, dry = result.tally, result.dry_run
    head = (
        f"Dry run of the undo of job {result.job_id}: nothing was written"
        if dry
        else f"Undo of job {result.job_id}: done"
    )
    labels = ("would restore", "would archive", "would leave") if dry else ("restored", "archived", "left alone")
    already = f" ({t.already_restored} found undone already)" if t.already_restored else ""
    lines = [
        head,
        f"  {'undo job':<14} {result.undo_job_id}",
        f"  {labels[0]:<14} {_n(t.restored, 'value')} on {_n(t.contacts_restored, 'contact')}{already}",
        f"  {labels[1]:<14} {_n(t.archived, 'contact')} the import created (never deleted)",
        f"  {labels[2]:<14} {_n(t.left_alone, 'value')} alone"
        if dry
        else f"  {labels[2]:<14} {_n(t.left_alone, 'value')}",
    ]
    for entry in t.left[:max_left]:
        lines.append(f"    line {entry.line}, {entry.contact_id}, {entry.field or 'the whole row'}: {entry.reason}")
    if t.left_alone > max_left:
        lines.append(f"    ... {t.left_alone - max_left} more (--json lists every one)")
    needs = f"; a real undo needs {_n(t.write_calls, 'write')} besides its reads" if dry else ""
    lines.append(f"  {'Intercom':<14} {_n(t.api_calls, 'call')}{needs}")
    if result.email:
        email = result.email
        to = ", ".join(email.get("to") or [])
        lines.append(f"  {'email':<14} {email.get('status')} to {to} (message id {email.get('message_id')})")
    return "\n".join(lines)


def _n(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"
