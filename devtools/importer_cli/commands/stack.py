"""``run``, ``up``, ``down``: import a file through the whole pipeline; keep a local stack running; stop it."""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path
from typing import Any

from importer_cli import import_options, local_stack, targets
from importer_cli.commands.common import Handler, command
from importer_cli.display import Progress, column_lines, outcome_counts, stderr
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, EXIT_OK, CliError
from importer_cli.import_options import load_config
from intercom_importer import changelog
from intercom_sandbox.config import DOCUMENTED_SEARCH_LAG_SECONDS, PROFILES

SHOWN = 20  # contacts (and companies) of an import `run` lists; --json holds as many, and the totals


def register(sub: Any) -> dict[str, Handler]:
    _register_run(sub)
    _register_up(sub)
    _register_down(sub)
    return {"run": run_import, "up": stack_up, "down": stack_down}


def run_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    config = load_config(args.config)
    metadata = import_options.metadata(args, config)
    manifest = import_options.manifest(args, config)
    stack_parameters = config.get("parameters") or {}
    progress = Progress(enabled=not args.quiet)
    local_only = bool(args.intercom_url or stack_parameters or args.ephemeral or _sandbox_options_given(args))
    if args.stack or args.outputs:
        if local_only:
            raise CliError(
                "--intercom-url, --ephemeral, --sandbox-profile, --sandbox-search-lag and --config parameters "
                "configure a local stack; a deployed stack (--stack/--outputs) keeps its own settings"
            )
        target = targets.resolve(args)
        assert target is not None
        stderr(f"importing through {target.label} ...")
        summary = _import_and_follow(target, path, metadata, progress, args.timeout, manifest)
    else:
        target = None if local_only else targets.resolve(args, optional=True)
        if target is not None:
            info = local_stack.read_stack_file() or {}
            sandbox = local_stack.describe_sandbox(info)
            with_sandbox = f" with the Intercom sandbox ({sandbox})" if sandbox else ""
            stderr(f"using {target.label}{with_sandbox}; stop it with `intercom-import down` ...")
            summary = _import_and_follow(target, path, metadata, progress, args.timeout, manifest)
        else:
            summary = _import_ephemeral(args, path, metadata, manifest, stack_parameters, progress)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_run_summary(summary, columns_shown=progress.columns_shown)
    return EXIT_OK if summary["status"] == "completed" else EXIT_IMPORT_PROBLEMS


def _import_ephemeral(
    args: argparse.Namespace,
    path: Path,
    metadata: dict[str, str],
    manifest: dict[str, Any] | None,
    stack_parameters: dict[str, Any],
    progress: Progress,
) -> dict[str, Any]:
    """``run`` on a local stack started for this one import."""
    _check_sandbox_options(args)
    if args.intercom_url:
        where = f"Intercom at {args.intercom_url}"
    else:
        sandbox = local_stack.sandbox_config(stack_parameters, args.sandbox_profile, args.sandbox_search_lag)
        where = f"the Intercom sandbox, {sandbox.describe()}"
    stderr(f"starting the local stack (moto + {where}) ...")
    with local_stack.local_pipeline(
        parameters=stack_parameters,
        intercom_url=args.intercom_url,
        intercom_token=args.intercom_token,
        log_dir=args.log_dir or local_stack.state_dir() / "logs",
        sandbox_profile=args.sandbox_profile,
        sandbox_search_lag=args.sandbox_search_lag,
        keeps_history=False,  # the stack ends with this import: its email points at no `status`
    ) as (runtime, sandbox):
        ephemeral = targets.from_runtime(runtime, sandbox)
        return _import_and_follow(ephemeral, path, metadata, progress, args.timeout, manifest)


def _sandbox_options_given(args: argparse.Namespace) -> bool:
    return args.sandbox_profile is not None or args.sandbox_search_lag is not None


def _check_sandbox_options(args: argparse.Namespace) -> None:
    if args.intercom_url and _sandbox_options_given(args):
        raise CliError(
            "--sandbox-profile and --sandbox-search-lag configure the Intercom sandbox; "
            "with --intercom-url no sandbox is started"
        )


def _import_and_follow(
    target: targets.Target,
    path: Path,
    metadata: dict[str, str],
    progress: Progress,
    timeout: float,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from importer_cli import attribute_notice, jobs_commands

    notice = attribute_notice.announce(target, path, metadata, manifest)  # before anything is uploaded
    try:
        uploaded = jobs_commands.upload(target, path, metadata, manifest=manifest)
        job = jobs_commands.follow(target, uploaded.job_id, timeout=timeout, progress=progress)
        execution_status = _execution_status(target, uploaded.job_id)
    finally:
        progress.end()
    emails = None
    if target.emails is not None:
        emails = [
            e
            for e in target.emails()
            if uploaded.job_id in (e.get("text") or "") or uploaded.job_id in (e.get("html") or "")
        ]
    return {
        "job_id": uploaded.job_id,
        "status": job.status,
        "source": uploaded.source,
        "import_type": job.import_type,
        "dry_run": job.dry_run,
        "columns": [
            {"column": c.get("header"), "attribute": c.get("target"), "type": c.get("type"), "custom": c.get("custom")}
            for c in job.columns
        ],
        "new_attributes": [dict(a) for a in job.new_attributes],
        **attribute_notice.as_json(notice),  # what run announced before uploading
        "estimated_api_calls": job.estimated_api_calls,  # dry runs: what the real import would take
        "estimated_seconds": job.estimated_seconds,
        **job.row_counts(),
        "blank_lines": job.blank_lines,  # lines that are not rows (empty, whitespace, empty cells): not in rows
        "unrecognisable_rows": job.unrecognisable_rows,  # people rows nothing recognises: a re-run creates them again
        "reason": job.reason or None,
        "problems": [dict(p) for p in job.problems_sample],
        "error_file": job.error_file,
        "duration_seconds": job.duration_seconds,
        "execution_status": execution_status,
        "email_status": job.email_status,
        "emails_sent": None if emails is None else len(emails),
        "email": emails[-1] if emails else None,
        "intercom": _written(target, uploaded.bucket, uploaded.job_id, dry_run=job.dry_run),
        "logs": target.log_dir,
    }


def _execution_status(target: targets.Target, job_id: str, wait: float = 5.0) -> str | None:
    """The state machine execution's status, once it has left RUNNING (bounded wait)."""
    from botocore.exceptions import BotoCoreError, ClientError

    arn = target.outputs.get("StateMachineArn")
    if not arn:
        return None
    execution_arn = arn.replace(":stateMachine:", ":execution:") + f":{job_id}"
    deadline = time.monotonic() + wait
    status = None
    while True:
        try:
            status = target.client("stepfunctions").describe_execution(executionArn=execution_arn).get("status")
        except (BotoCoreError, ClientError):
            return status
        if status != "RUNNING" or time.monotonic() >= deadline:
            return status
        time.sleep(0.1)


def _written(target: targets.Target, bucket: str, job_id: str, *, dry_run: bool) -> dict[str, Any] | None:
    """What this import wrote to the Intercom sandbox, from its change log: the contacts and companies (at most
    :data:`SHOWN` of each), their totals, and what the sandbox holds in all (None when importing into a real
    Intercom). Never the whole sandbox: it may hold many thousands of contacts."""
    if target.intercom_state is None:
        return None
    state = target.intercom_state()
    contacts = {c.get("id"): c for c in state.get("contacts", [])}
    companies = {c.get("id"): c for c in state.get("companies", [])}
    written: dict[str, Any] = {
        "dry_run": dry_run,  # a dry run wrote nothing: its lists are empty
        "contacts": [],
        "contacts_created": 0,
        "contacts_updated": 0,
        "companies": [],
        "companies_written": 0,
        "sandbox_contacts": len(contacts),
        "sandbox_companies": len(companies),
    }
    if dry_run:
        return written
    company_ids: dict[str, None] = {}  # written or attached, in order
    s3 = target.client("s3")
    for _, key in changelog.chunk_logs(s3, bucket, job_id, store=target.job_store()):
        for change in changelog.read_chunk_log(s3, bucket, key):
            if change.kind == changelog.COMPANY:
                company_ids.setdefault(change.intercom_id)
                continue
            written[f"contacts_{'created' if change.outcome == 'created' else 'updated'}"] += 1
            if change.company:
                company_ids.setdefault(change.company)
            if len(written["contacts"]) < SHOWN:
                found = contacts.get(change.intercom_id) or {"id": change.intercom_id}
                contact = {k: found.get(k) for k in ("id", "role", "email", "external_id", "name")}
                written["contacts"].append({**contact, "outcome": change.outcome})
    written["companies_written"] = len(company_ids)
    for company_id in list(company_ids)[:SHOWN]:
        found = companies.get(company_id) or {"id": company_id}
        written["companies"].append({k: found.get(k) for k in ("id", "company_id", "name")})
    return written


def _written_lines(written: dict[str, Any]) -> list[str]:
    """What this import wrote to the sandbox, for people: a screenful at most."""
    in_all = (
        f"the sandbox holds {written['sandbox_contacts']:,} contacts and {written['sandbox_companies']:,} companies"
    )
    if written.get("dry_run"):
        return [f"Intercom sandbox: nothing written (dry run); {in_all}"]
    created, updated = written["contacts_created"], written["contacts_updated"]
    lines = [
        f"Written to the Intercom sandbox by this import: {created + updated:,} contacts ({created:,} created, "
        f"{updated:,} updated), {written['companies_written']:,} companies; {in_all}"
    ]
    for c in written["contacts"]:
        lines.append(
            f"  {c.get('role') or '-':<5} {c.get('email') or '-':<28} {c.get('external_id') or '-':<10} "
            f"{c.get('name') or ''}".rstrip()
        )
    if created + updated > len(written["contacts"]):
        lines.append(f"  ... and {created + updated - len(written['contacts']):,} more contacts")
    for c in written["companies"]:
        lines.append(f"  company {c.get('company_id')}: {c.get('name')}")
    if written["companies_written"] > len(written["companies"]):
        lines.append(f"  ... and {written['companies_written'] - len(written['companies']):,} more companies")
    return lines


def _print_run_summary(summary: dict[str, Any], columns_shown: bool = False) -> None:
    email = summary.get("email") or {}
    if summary.get("columns") and not columns_shown:
        print()
        print("\n".join(column_lines(summary["columns"], header="column", target="attribute")))
    print()
    dry = " (dry run: nothing was written)" if summary.get("dry_run") else ""
    print(f"Job {summary['job_id']}: {summary['status']}{dry}")
    print(
        f"  rows {summary['rows']}  "
        + outcome_counts(summary, dry_run=bool(summary.get("dry_run")))
        + (f"  ({summary['blank_lines']} blank lines ignored)" if summary.get("blank_lines") else "")
    )
    print()
    if summary.get("emails_sent") is None:
        print(f"Summary email: {summary.get('email_status') or 'unknown'} (the stack's SES sent it)")
    else:
        print("Summary email" + (f" to {', '.join(email.get('to') or [])}" if email else ": none was sent"))
    if email:
        print(f"Subject: {email.get('subject')}")
        print("-" * 72)
        print(email.get("text", ""))
        print("-" * 72)
    written = summary.get("intercom")
    if written is not None:
        print()
        print("\n".join(_written_lines(written)))
    if summary.get("logs"):
        print(f"\nFunction logs: {summary.get('logs')}")


def stack_up(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    token = args.intercom_token or os.environ.get(local_stack.TOKEN_ENV)
    if args.intercom_url and not token:
        raise CliError("--intercom-url needs --intercom-token (the access token of that Intercom workspace)")
    _check_sandbox_options(args)
    if args.detach:
        forward = ["--port", str(args.port), "--sandbox-port", str(args.sandbox_port)]
        if args.config:
            forward += ["--config", str(Path(args.config).resolve())]
        if args.intercom_url:
            forward += ["--intercom-url", args.intercom_url]
        if args.log_dir:
            forward += ["--log-dir", str(Path(args.log_dir).resolve())]
        if args.no_prewarm:
            forward.append("--no-prewarm")
        if args.sandbox_profile is not None:
            forward += ["--sandbox-profile", args.sandbox_profile]
        if args.sandbox_search_lag is not None:
            forward += ["--sandbox-search-lag", repr(args.sandbox_search_lag)]
        info = local_stack.detach(forward, intercom_token=token, timeout=args.timeout)
        _print_up(info, as_json=args.json, detached=True)
        return EXIT_OK
    stderr("starting the local stack (moto + the stack from template.yaml + Intercom) ...")
    local_stack.serve(
        parameters=config.get("parameters") or {},
        intercom_url=args.intercom_url,
        intercom_token=token,
        log_dir=str(Path(args.log_dir).resolve()) if args.log_dir else None,
        port=args.port,
        sandbox_port=args.sandbox_port,
        prewarm=not args.no_prewarm,
        on_ready=lambda info: _print_up(info, as_json=args.json, detached=args.background),
        sandbox_profile=args.sandbox_profile,
        sandbox_search_lag=args.sandbox_search_lag,
    )
    stderr("local stack stopped")
    return EXIT_OK


def _print_up(info: dict[str, Any], *, as_json: bool, detached: bool) -> None:
    shown = {k: v for k, v in info.items() if k != "control_token"}
    shown["stack_file"] = str(local_stack.stack_file())
    if as_json:
        print(json.dumps(shown, indent=2), flush=True)
        return
    rows = [
        ("moto (AWS)", f"{info['endpoint_url']}  (region {info['region']}, any credentials)"),
        ("Intercom", f"{info.get('sandbox_url') or info.get('intercom_url')}" + _sandbox_note(info)),
        *((key, value) for key, value in (info.get("outputs") or {}).items()),
        ("function logs", info.get("log_dir")),
        ("connection", shown["stack_file"]),
    ]
    if info.get("stack_log"):
        rows.append(("process log", info["stack_log"]))
    print(f"Local stack up in {info.get('startup_seconds')} s (pid {info['pid']})")
    for label, value in rows:
        print(f"  {label:<24} {value}")
    env = " ".join(f"{k}={v}" for k, v in (info.get("aws_env") or {}).items() if k != "AWS_DEFAULT_REGION")
    print("Use it:   intercom-import upload FILE | status JOB --watch | history | run FILE")
    print(f"AWS CLI:  env {env} aws s3 ls")
    print("Stop it:  intercom-import down" + ("" if detached else "  (or Ctrl-C here)"), flush=True)


def _sandbox_note(info: dict[str, Any]) -> str:
    """``(sandbox, documented profile: ...)`` after a local stack's sandbox URL; nothing for another Intercom."""
    if not info.get("sandbox_url"):
        return ""
    if not info.get("sandbox_config"):
        return "  (sandbox)"
    from intercom_sandbox import SandboxConfig

    return f"  (sandbox, {SandboxConfig().replace(**info['sandbox_config']).describe()})"


def stack_down(args: argparse.Namespace) -> int:
    result = local_stack.down(timeout=args.timeout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(result["message"])
    return EXIT_OK


def _register_run(sub: Any) -> None:
    run = command(
        sub,
        "run",
        "import a CSV file through the whole pipeline and follow it to the summary email",
        "Say on stderr which custom attributes the import would create in Intercom (from the file's header, the "
        "mapping and the workspace's data attributes: Intercom can archive an attribute but never delete one); then "
        "upload FILE under incoming/ exactly as a user would and follow the job (progress bar on stderr) until "
        "the summary email is sent; then print the job, the email and what this import wrote to the Intercom sandbox "
        "(its counts and at most 20 of its contacts). "
        "Uses the local stack started by `up` when one is running, else starts an ephemeral one (moto, the "
        "Intercom sandbox, the stack from template.yaml) for this import; --stack/--outputs import through a "
        "deployed stack instead (its SES sends the email).",
        target=True,
        as_json="print the job summary as one JSON object on stdout (job id, status, counts, problems, email)",
    )
    run.add_argument("file", metavar="FILE", help="the CSV file to import")
    import_options.add_import_options(run)
    local = run.add_argument_group("ephemeral local stack")
    local.add_argument("--config", metavar="FILE", help="JSON settings: import options and template parameters")
    local.add_argument(
        "--intercom-url", metavar="URL", help="import into this Intercom (or stand-in) instead of the sandbox"
    )
    local.add_argument("--intercom-token", metavar="TOKEN", help="access token for --intercom-url")
    local.add_argument("--ephemeral", action="store_true", help="start a fresh local stack even when one is up (`up`)")
    local.add_argument("--log-dir", metavar="DIR", help="where function logs go (default .local/logs)")
    _add_sandbox_options(local)
    run.add_argument(
        "--quiet", action="store_true", help="no progress bar (the custom attributes to be created are still said)"
    )
    run.add_argument(
        "--timeout", metavar="S", type=float, default=600.0, help="give up after this many seconds (default 600)"
    )


def _register_up(sub: Any) -> None:
    up = command(
        sub,
        "up",
        "start a long-lived local stack (moto + template.yaml + the Intercom sandbox)",
        "Start the local stack and keep it running until Ctrl-C, SIGTERM or `intercom-import down` (or, with "
        "--detach, in a background process). Connection info (moto endpoint, credentials, sandbox URL, stack "
        "outputs, pid) goes to .local/stack.json; upload, status, history and run use it. Only one local stack "
        "runs at a time (per state folder).",
        as_json="print the connection info (stack.json) as JSON on stdout once the stack is up",
    )
    up.add_argument("--port", metavar="N", type=int, default=0, help="moto's port (default: a free one)")
    up.add_argument(
        "--sandbox-port", metavar="N", type=int, default=0, help="the Intercom sandbox's port (default: a free one)"
    )
    up.add_argument("--detach", action="store_true", help="run in the background and return once it is up")
    up.add_argument("--config", metavar="FILE", help='JSON with template parameters: {"parameters": {"ChunkRows": 50}}')
    up.add_argument("--intercom-url", metavar="URL", help="use this Intercom (or stand-in) instead of the sandbox")
    up.add_argument(
        "--intercom-token", metavar="TOKEN", help=f"access token for --intercom-url (or ${local_stack.TOKEN_ENV})"
    )
    up.add_argument("--log-dir", metavar="DIR", help="function logs (default .local/stack-logs)")
    _add_sandbox_options(up)
    up.add_argument(
        "--no-prewarm",
        action="store_true",
        help="start each function's environment on first use (default: one per function at start, in the background)",
    )
    up.add_argument("--background", action="store_true", help=argparse.SUPPRESS)  # the process --detach starts
    up.add_argument(
        "--timeout",
        metavar="S",
        type=float,
        default=120.0,
        help="--detach: give up if not up after this many seconds (default 120)",
    )


def _add_sandbox_options(parser: Any) -> None:
    """``--sandbox-profile`` and ``--sandbox-search-lag``: the Intercom sandbox the local stack starts."""
    parser.add_argument(
        "--sandbox-profile",
        choices=tuple(PROFILES),
        help="how the Intercom sandbox behaves: documented (as Intercom documents: a new contact is found by "
        f"search only after {DOCUMENTED_SEARCH_LAG_SECONDS:g} s, a user's e-mail conflicts only when no "
        "external_id is sent) or friendly (found at once, the e-mail always conflicts) "
        f"(default: {local_stack.DEFAULT_SANDBOX_PROFILE})",
    )
    parser.add_argument(
        "--sandbox-search-lag",
        metavar="S",
        type=_seconds,
        help="seconds before a new contact is found by the sandbox's search (default: the profile's)",
    )


def _seconds(text: str) -> float:
    """A number of seconds >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


def _register_down(sub: Any) -> None:
    down = command(
        sub,
        "down",
        "stop the local stack started by `up`",
        "Stop the local stack started by `up` (foreground or detached) and remove .local/stack.json. Doing "
        "nothing is a success: it exits 0 when no stack is running (and removes a stale stack.json).",
    )
    down.add_argument(
        "--timeout", metavar="S", type=float, default=30.0, help="wait this long for it to stop (default 30)"
    )
