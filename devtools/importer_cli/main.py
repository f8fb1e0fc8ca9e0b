"""``intercom-import``: import CSV files into Intercom through the pipeline, locally or on a deployed stack.

    intercom-import run FILE [--type people|companies] [settings] [--json]   whole pipeline, follow to the email
    intercom-import up [--port N] [--detach]                                 keep a local stack running
    intercom-import down                                                     stop it
    intercom-import upload FILE [settings] [--partner P | --key-prefix ...]  upload like a user; prints the job id
    intercom-import status JOB [--watch]                                     the job record (live progress)
    intercom-import history [--limit N] [--status S] [--since D] [--source P] imports, newest first
    intercom-import sample people|companies [-o FILE]                        a template CSV
    intercom-import validate FILE [settings] [--partner P] [--errors FILE]   the validator's checks, locally
    intercom-import partner add NAME --config FILE | list | show NAME | remove NAME   partners' settings
    intercom-import presign PARTNER FILE [--expires S]                       a presigned upload URL for a partner
    intercom-import sandbox [--port N] ...                                   serve the Intercom sandbox

``upload``, ``status``, ``history``, ``partner``, ``presign`` and ``run`` talk to the local stack started by ``up`` by default, or
to a deployed stack with ``--stack NAME`` / ``--outputs FILE`` (see ``targets.py``). ``run`` without a
local stack up starts an ephemeral one (moto + the Intercom sandbox + template.yaml) for the one import.
Progress and notes go to stderr; results to stdout (``--json``: one JSON document).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from importer_cli import import_options, local_stack, targets
from importer_cli.display import Progress, clip, column_lines, job_details, short_time, stderr, table
from importer_cli.errors import (
    EXIT_CODES_HELP,
    EXIT_ERROR,
    EXIT_IMPORT_PROBLEMS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_USAGE,
    CliError,
)
from importer_cli.import_options import load_config
from importer_cli.local_stack import ROOT, SANDBOX_TOKEN, TEMPLATE  # noqa: F401 - kept importable from here

__all__ = ["EXIT_ERROR", "EXIT_IMPORT_PROBLEMS", "EXIT_OK", "EXIT_USAGE", "CliError", "build_parser", "main"]


EXIT_BROKEN_PIPE = 141  # as if killed by SIGPIPE, like other command-line tools
JOB_STATUSES = (
    "validating",
    "queueing",
    "importing",
    "completed",
    "completed_with_errors",
    "rejected",
    "failed",
    "incomplete",
)
ENVIRONMENT_HELP = f"""environment:
  {local_stack.STATE_DIR_ENV}  folder of stack.json and the local stack's logs (default: .local/ of the project)
  AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL ...  used by --stack/--outputs like by any AWS tool"""


# ------------------------------------------------------------------------------------------- run
def run_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    config = load_config(args.config)
    metadata = import_options.metadata(args, config)
    manifest = import_options.manifest(args, config)
    stack_parameters = config.get("parameters") or {}
    progress = Progress(enabled=not args.quiet)
    if args.stack or args.outputs:
        if args.intercom_url or stack_parameters or args.ephemeral:
            raise CliError(
                "--intercom-url, --ephemeral and --config parameters configure a local stack; "
                "a deployed stack (--stack/--outputs) keeps its own settings"
            )
        target = targets.resolve(args)
        assert target is not None
        stderr(f"importing through {target.label} ...")
        summary = _import_and_follow(target, path, metadata, progress, args.timeout, manifest)
    else:
        local_only = bool(args.intercom_url or stack_parameters or args.ephemeral)
        target = None if local_only else targets.resolve(args, optional=True)
        if target is not None:
            stderr(f"using {target.label}; stop it with `intercom-import down` ...")
            summary = _import_and_follow(target, path, metadata, progress, args.timeout, manifest)
        else:
            where = f"Intercom at {args.intercom_url}" if args.intercom_url else "Intercom sandbox"
            stderr(f"starting the local stack (moto + {where}) ...")
            with local_stack.local_pipeline(
                parameters=stack_parameters,
                intercom_url=args.intercom_url,
                intercom_token=args.intercom_token,
                log_dir=args.log_dir or local_stack.state_dir() / "logs",
            ) as (runtime, sandbox):
                ephemeral = targets.from_runtime(runtime, sandbox)
                summary = _import_and_follow(ephemeral, path, metadata, progress, args.timeout, manifest)
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_run_summary(summary, columns_shown=progress.columns_shown)
    return EXIT_OK if summary["status"] == "completed" else EXIT_IMPORT_PROBLEMS


def _import_and_follow(
    target: targets.Target,
    path: Path,
    metadata: dict[str, str],
    progress: Progress,
    timeout: float,
    manifest: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from importer_cli import jobs_commands

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
        "status": job.get("status"),
        "source": uploaded.source,
        "import_type": job.get("import_type"),
        "dry_run": bool(job.get("dry_run")),
        "columns": [
            {"column": c.get("header"), "attribute": c.get("target"), "type": c.get("type"), "custom": c.get("custom")}
            for c in job.get("columns") or []
        ],
        "new_attributes": job.get("new_attributes") or [],
        "estimated_api_calls": job.get("estimated_api_calls"),  # dry runs: what the real import would take
        "estimated_seconds": job.get("estimated_seconds"),
        "rows": job.get("rows", 0),
        "created": job.get("created", 0),
        "updated": job.get("updated", 0),
        "skipped": job.get("skipped", 0),
        "failed": job.get("failed", 0),
        "invalid": job.get("invalid", 0),
        "reason": job.get("reason") or None,
        "problems": job.get("problems_sample") or [],
        "error_file": job.get("error_file"),
        "duration_seconds": job.get("duration_seconds"),
        "execution_status": execution_status,
        "email_status": job.get("email_status"),
        "emails_sent": None if emails is None else len(emails),
        "email": emails[-1] if emails else None,
        "intercom": _landed(target.intercom_state() if target.intercom_state is not None else None),
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


def _landed(state: dict[str, Any] | None) -> dict[str, Any] | None:
    """What the sandbox holds now (None when importing into a real Intercom)."""
    if state is None:
        return None
    contacts = [
        {k: c.get(k) for k in ("id", "role", "email", "external_id", "name")} for c in state.get("contacts", [])
    ]
    companies = [{k: c.get(k) for k in ("id", "company_id", "name")} for c in state.get("companies", [])]
    return {"contacts": contacts, "companies": companies}


def _print_run_summary(summary: dict[str, Any], columns_shown: bool = False) -> None:
    email = summary.get("email") or {}
    if summary.get("columns") and not columns_shown:
        print()
        print("\n".join(column_lines(summary["columns"], header="column", target="attribute")))
    print()
    dry = " (dry run: nothing was written)" if summary.get("dry_run") else ""
    print(f"Job {summary['job_id']}: {summary['status']}{dry}")
    print(
        f"  rows {summary['rows']}  created {summary['created']}  updated {summary['updated']}  "
        f"skipped {summary['skipped']}  failed {summary['failed']}  invalid {summary['invalid']}"
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
    landed = summary.get("intercom")
    if landed is not None:
        print()
        print(f"In the Intercom sandbox: {len(landed['contacts'])} contacts, {len(landed['companies'])} companies")
        for c in landed["contacts"]:
            print(
                f"  {c['role']:<5} {c.get('email') or '-':<28} {c.get('external_id') or '-':<10} {c.get('name') or ''}"
            )
        for c in landed["companies"]:
            print(f"  company {c.get('company_id')}: {c.get('name')}")
    if summary.get("logs"):
        print(f"\nFunction logs: {summary.get('logs')}")


# ------------------------------------------------------------------------------------------- up / down
def stack_up(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    token = args.intercom_token or os.environ.get(local_stack.TOKEN_ENV)
    if args.intercom_url and not token:
        raise CliError("--intercom-url needs --intercom-token (the access token of that Intercom workspace)")
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
        (
            "Intercom",
            f"{info.get('sandbox_url') or info.get('intercom_url')}"
            + ("  (sandbox)" if info.get("sandbox_url") else ""),
        ),
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


def stack_down(args: argparse.Namespace) -> int:
    result = local_stack.down(timeout=args.timeout)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(result["message"])
    return EXIT_OK


# ------------------------------------------------------------------------------------------- upload / status / history
def upload_file(args: argparse.Namespace) -> int:
    from importer_cli import jobs_commands

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    key_prefix = args.key_prefix
    if args.partner:
        from importer_cli import partner_commands

        if args.key_prefix != "incoming/":
            raise CliError("--partner and --key-prefix both say where the file goes: give only one")
        key_prefix = f"incoming/{args.partner}/"
    jobs_commands.object_key(path, key_prefix)  # a bad prefix fails before the target is resolved
    target = targets.resolve(args)
    assert target is not None
    if args.partner:
        partner_commands.require(target, args.partner)  # a typo must not become an upload with the defaults
    uploaded = jobs_commands.upload(
        target,
        path,
        import_options.metadata(args),
        key_prefix=key_prefix,
        manifest=import_options.manifest(args),
    )
    if args.json:
        print(json.dumps(uploaded.to_dict(), indent=2))
    else:
        print(uploaded.job_id)
        stderr(
            f"uploaded {path} to {uploaded.source} ({target.label}); "
            f"follow it with: intercom-import status {uploaded.job_id} --watch"
        )
    return EXIT_OK


def job_status(args: argparse.Namespace) -> int:
    from importer_cli import jobs_commands

    target = targets.resolve(args)
    assert target is not None
    if args.watch:
        progress = Progress(enabled=not args.quiet)
        try:
            job = jobs_commands.follow(
                target, args.job, timeout=args.timeout, progress=progress, interval=args.interval
            )
        finally:
            progress.end()
    else:
        found = jobs_commands.get_job(target, args.job)
        if found is None:
            raise jobs_commands.not_found(target, args.job)
        job = found
    if args.json:
        print(json.dumps(job, indent=2, default=str))
    else:
        print(job_details(job))
    status = job.get("status")
    if status == "completed":
        return EXIT_OK
    return EXIT_PENDING if status in jobs_commands.UNFINISHED else EXIT_IMPORT_PROBLEMS


def job_history(args: argparse.Namespace) -> int:
    from importer_cli import jobs_commands

    if args.limit < 1:
        raise CliError(f"--limit {args.limit}: give a positive number of imports to list")
    since = jobs_commands.parse_since(args.since) if args.since else None
    prefix = args.source
    if args.partner:
        if prefix:
            raise CliError("--partner and --source both filter by where the file was uploaded: give only one")
        prefix = f"incoming/{args.partner}/"
    if prefix and prefix.startswith("s3://"):
        prefix = prefix[len("s3://") :].partition("/")[2]  # s3://bucket/incoming/acme/ -> incoming/acme/
    target = targets.resolve(args)
    assert target is not None
    rows = jobs_commands.history(target, limit=args.limit, status=args.status, since=since, source_prefix=prefix)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    if not rows:
        print("no imports found" + (" matching the filters" if (args.status or since or prefix) else ""))
        return EXIT_OK
    headers = (
        "JOB",
        "CREATED (UTC)",
        "SOURCE",
        "TYPE",
        "STATUS",
        "ROWS",
        "CREATED",
        "UPDATED",
        "SKIPPED",
        "FAILED",
        "INVALID",
        "UPLOADED BY",
    )
    body = [
        (
            r["job_id"],
            short_time(r["created_at"]),
            clip(r["key"] or "-", 40),
            r["import_type"] or "-",
            (r["status"] or "-") + (" (dry run)" if r.get("dry_run") else ""),
            r["rows"],
            r["created"],
            r["updated"],
            r["skipped"],
            r["failed"],
            r["invalid"],
            clip(r.get("uploaded_by") or "-", 30),
        )
        for r in rows
    ]
    print(table(headers, body, numeric=range(5, 11)))
    return EXIT_OK


# ------------------------------------------------------------------------------------------- sample
def write_sample(args: argparse.Namespace) -> int:
    from importer_cli.sample import sample, sample_csv

    text = sample_csv(args.import_type)
    info = sample(args.import_type)
    to_stdout = args.output in (None, "-")
    if not to_stdout:
        out = Path(args.output)
        if out.exists() and not args.force:
            raise CliError(f"-o {out}: the file exists; pick another name or add --force to overwrite it")
        if not out.parent.is_dir():
            raise CliError(f"-o {out}: folder {out.parent} does not exist")
        out.write_text(text, encoding="utf-8", newline="")
    if args.json:
        result = {**info, "path": None if to_stdout else str(args.output)}
        if to_stdout:
            result["csv"] = text
        print(json.dumps(result, indent=2))
    elif to_stdout:
        sys.stdout.write(text)
    if not args.json:
        stderr(
            (f"wrote {args.output}: " if not to_stdout else "")
            + f"{len(info['standard_columns'])} standard columns, custom column {', '.join(info['custom_columns'])} "
            "(any column that is not a standard attribute is imported as a custom data attribute); "
            "empty cells leave values unchanged"
        )
    return EXIT_OK


# ------------------------------------------------------------------------------------------- validate
def validate_local(args: argparse.Namespace) -> int:
    from importer_cli import partner_commands, validate_command

    config = load_config(args.config)
    partner = None
    if args.partner_config and not args.partner:
        raise CliError("--partner-config needs --partner NAME: the prefix the partner's files are uploaded to")
    if args.partner:
        if args.partner_config:
            document = partner_commands.read_config(args.partner_config)
            partner = partner_commands.parse(args.partner, document, source=f"the settings in {args.partner_config}")
        else:
            target = targets.resolve(args)
            assert target is not None
            partner = partner_commands.require(target, args.partner)
    intercom = None
    token = args.intercom_token or os.environ.get(local_stack.TOKEN_ENV)
    if args.intercom_url or args.intercom_region:
        if not token:
            raise CliError(
                f"reading the workspace's data attributes needs --intercom-token (or ${local_stack.TOKEN_ENV})"
            )
        from intercom_importer.intercom import build_client, resolve_base_url

        intercom = build_client(token=token, base_url=resolve_base_url(args.intercom_region, args.intercom_url))
    errors_out = Path(args.errors) if args.errors else None
    if errors_out is not None and not errors_out.parent.is_dir():
        raise CliError(f"--errors {args.errors}: folder {errors_out.parent} does not exist")
    result = validate_command.validate_file(
        Path(args.file),
        metadata=import_options.metadata(args, config),
        manifest=import_options.manifest(args, config),
        partner=partner,
        intercom=intercom,
        parameters=config.get("parameters") or {},
        errors_out=errors_out,
        problems_shown=args.limit,
    )
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        _print_validation(result)
    return EXIT_OK if result["valid"] else EXIT_IMPORT_PROBLEMS


def _print_validation(result: dict[str, Any]) -> None:
    where = f" (partner {result['partner']})" if result.get("partner") else ""
    if result["outcome"] == "rejected" and not result["rows"]:
        print(f"{result['file']}{where}: REJECTED")
        print(f"  {result['rejection']}")
        return
    shape = f"{result['import_type']}, {result['encoding']}, delimiter {result['delimiter']!r}"
    invalid = result["invalid_rows"]
    verdict = (
        "OK" if result["valid"] else ("REJECTED" if result["outcome"] == "rejected" else "IMPORTABLE, WITH ERRORS")
    )
    print(
        f"{result['file']}{where}: {verdict}: {result['rows']} rows, {result['valid_rows']} valid, {invalid} invalid ({shape})"
    )
    if result.get("rejection"):
        print(f"  {result['rejection']}")
    if result["outcome"] == "accepted":
        print(
            f"  would be imported in {result['chunks']} chunk(s)"
            + (f", {result['companies']} companies" if result["companies"] else "")
        )
    if result.get("settings"):
        settings = result["settings"]
        print("  settings: " + ", ".join(f"{k}={v}" for k, v in settings.items() if v not in (None, [], False)))
    print("Columns:")
    for column in result["columns"]:
        kind = f"custom {column['type']}" if column.get("custom") else column["type"]
        print(f"  {column['column']!s:<28} -> {column['attribute']} ({kind})")
    for attribute in result["new_attributes"]:
        print(f"New custom attribute: {attribute['name']} ({attribute['data_type']})")
    for note in result["attribute_notes"]:
        print(f"Note: {note}")
    if result["errors"]:
        print(f"Problems (first {len(result['errors'])} of {invalid} invalid rows):")
        for row in result["errors"]:
            for problem in row["problems"]:
                column = f", column {problem['column']}" if problem.get("column") else ""
                value = f" {problem['value']!r}" if problem.get("value") else ""
                print(f"  line {row['line']}{column}:{value} {problem['message']}")
    if result.get("errors_file"):
        print(f"Error file (every invalid row with its problems; fix and upload it): {result['errors_file']}")
    if not result["workspace_checked"] and result["new_attributes"]:
        print(
            "Custom attributes were checked against an empty workspace; give --intercom-url/--intercom-region and "
            "--intercom-token to check them against yours (read only)."
        )


# ------------------------------------------------------------------------------------------- partner / presign
def partner_command(args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    if args.action != "list" and not args.name:
        raise CliError(
            f"partner {args.action} needs the partner's NAME, e.g. `intercom-import partner {args.action} acme`"
        )
    if args.action == "add" and not args.config:
        raise CliError("partner add needs --config FILE: the partner's settings as JSON (docs/partner.schema.json)")
    if args.action != "add" and (args.config or args.replace):
        raise CliError(f"--config and --replace belong to `partner add`, not `partner {args.action}`")
    target = targets.resolve(args)
    assert target is not None
    if args.action == "add":
        result = partner_commands.add(target, args.name, args.config, replace=args.replace)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
            return EXIT_OK
        verb = "replaced" if result["replaced"] else "added"
        print(f"Partner {args.name} {verb}: settings stored at {result['settings_key']}")
        _print_onboarding(result)
        return EXIT_OK
    if args.action == "show":
        result = partner_commands.show(target, args.name)
        if args.json:
            print(json.dumps(result, indent=2, default=str))
            return EXIT_OK
        print(f"Partner {args.name}  ({result['settings_key']})")
        print(json.dumps(result["settings"], indent=2, sort_keys=True))
        last = result.get("last_upload_at")
        print(
            f"Uploads: {result['uploads']}"
            + (f", last {short_time(_iso(last))} (job {result.get('last_job_id')})" if last else ", none yet")
        )
        _print_onboarding(result)
        return EXIT_OK
    if args.action == "remove":
        result = partner_commands.remove(target, args.name)
        if args.json:
            print(json.dumps(result, indent=2))
        else:
            print(f"Partner {args.name} removed: uploads under incoming/{args.name}/ now use the stack's defaults")
        return EXIT_OK
    rows = partner_commands.list_all(target)
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return EXIT_OK
    if not rows:
        print("no partners yet: add one with `intercom-import partner add NAME --config FILE`")
        return EXIT_OK
    body = [
        (
            r["partner"],
            r["import_type"] or ("-" if r["valid"] else "INVALID"),
            {True: "yes", False: "paused", None: "-"}[r["enabled"]],
            r["expectation"] or "-",
            {True: "OVERDUE", False: "on time", None: "-"}[r["overdue"]],
            short_time(_iso(r["last_upload_at"])) if r["last_upload_at"] else "never",
            r["uploads"],
            clip(", ".join(r["recipients"]) or "-", 40),
        )
        for r in rows
    ]
    headers = ("PARTNER", "TYPE", "ENABLED", "EXPECTED", "SCHEDULE", "LAST UPLOAD (UTC)", "UPLOADS", "RECIPIENTS")
    print(table(headers, body, numeric=[6]))
    for r in rows:
        if r["error"]:
            stderr(f"partner {r['partner']}: {r['error']}")
    return EXIT_OK


def _iso(epoch: float | int | str) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(epoch)))


def _print_onboarding(result: dict[str, Any]) -> None:
    print("What the partner needs:")
    print(f"  bucket      {result['bucket']}")
    print(f"  prefix      {result['prefix']}   (every file uploaded here is imported with these settings)")
    print(f"  upload      {result['upload_example']}")
    print(f"  or          {result['cli_example']}")
    print(f"  presigned   {result['presign_example']}   (a URL to PUT the file with plain HTTP, no AWS account)")
    print(f"  emails to   {', '.join(result['recipients']) or '(the stack recipients)'}")
    if result.get("expectation"):
        print(f"  expected    {result['expectation']}; the OverduePartners alarm fires when it is late")


def presign_upload(args: argparse.Namespace) -> int:
    from importer_cli import partner_commands

    if args.mapping:
        raise CliError(
            "presign cannot carry a --mapping (a URL uploads one object); put the mapping in the partner's settings"
        )
    target = targets.resolve(args)
    assert target is not None
    result = partner_commands.presign(
        target, args.partner, args.file, expires=args.expires, metadata=import_options.metadata(args)
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return EXIT_OK
    print(result["url"])
    stderr(f"PUT the file to this URL before {result['expires_at']} (key {result['key']}), e.g.:\n  {result['curl']}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- sandbox
def run_sandbox(argv: Sequence[str]) -> int:
    from intercom_sandbox.cli import run_cli

    return run_cli(list(argv), prog="intercom-import sandbox")


# ------------------------------------------------------------------------------------------- parser
class _HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps multi-line texts (exit status, environment) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """Usage errors as one line with where to look, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _command(sub: Any, name: str, help_text: str, description: str, *, target: bool = False, as_json: str = "") -> Any:
    parser = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=EXIT_CODES_HELP + ("\n\n" + ENVIRONMENT_HELP if target or name in ("up", "down") else ""),
        formatter_class=_HelpFormatter,
    )
    if target:
        targets.add_target_options(parser)
    parser.add_argument("--json", action="store_true", help=as_json or "print the result as JSON on stdout")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="intercom-import",
        description="Import people and companies from CSV files into Intercom: the local pipeline, a deployed "
        "stack, and the tools around them. `intercom-import COMMAND --help` describes each command.",
        epilog=EXIT_CODES_HELP + "\n\n" + ENVIRONMENT_HELP,
        formatter_class=_HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = _command(
        sub,
        "run",
        "import a CSV file through the whole pipeline and follow it to the summary email",
        "Upload FILE under incoming/ exactly as a user would and follow the job (progress bar on stderr) until "
        "the summary email is sent; then print the job, the email and what landed in the Intercom sandbox. "
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
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--timeout", metavar="S", type=float, default=600.0, help="give up after this many seconds (default 600)"
    )

    up = _command(
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

    down = _command(
        sub,
        "down",
        "stop the local stack started by `up`",
        "Stop the local stack started by `up` (foreground or detached) and remove .local/stack.json. Doing "
        "nothing is a success: it exits 0 when no stack is running (and removes a stale stack.json).",
    )
    down.add_argument(
        "--timeout", metavar="S", type=float, default=30.0, help="wait this long for it to stop (default 30)"
    )

    upload = _command(
        sub,
        "upload",
        "upload a CSV file to the import bucket like a user would; prints the job id",
        "Upload FILE to the target's import bucket under --key-prefix (settings as S3 object metadata, "
        "the keys `run` uses: import-type, existing, role, invalid-rows, tags) and print the job id it "
        "starts, derived like the validator does from bucket, key and version. Follow it with "
        "`intercom-import status JOB --watch`.",
        target=True,
        as_json="print {job_id, source, bucket, key, version_id, etag, metadata} on stdout",
    )
    upload.add_argument("file", metavar="FILE", help="the CSV file to upload")
    import_options.add_import_options(upload)
    upload.add_argument(
        "--partner",
        metavar="NAME",
        help="upload under the partner's prefix incoming/NAME/ (its settings apply; see `partner show NAME`)",
    )
    upload.add_argument(
        "--key-prefix",
        default="incoming/",
        metavar="PREFIX",
        help="where in the bucket, under incoming/ (default incoming/; a partner's is incoming/<partner>/)",
    )

    status = _command(
        sub,
        "status",
        "show an import's record; --watch follows it with a progress bar",
        "Show the job record: status, source, settings, counts, duration, problems, error file and the "
        "summary email's status. --watch shows a live progress bar on stderr until the job is finished "
        "(its email sent), bounded by --timeout.",
        target=True,
        as_json="print the job record as JSON on stdout (task token left out; source and error_file as s3:// URLs)",
    )
    status.add_argument("job", metavar="JOB", help="the job id (printed by upload and run, listed by history)")
    status.add_argument("--watch", action="store_true", help="follow the job until it is finished")
    status.add_argument(
        "--timeout", metavar="S", type=float, default=600.0, help="--watch: give up after this many seconds"
    )
    status.add_argument(
        "--interval", metavar="S", type=float, help="--watch: seconds between polls (default 0.2 local, 2 AWS)"
    )
    status.add_argument("--quiet", action="store_true", help="--watch without the progress bar")

    history = _command(
        sub,
        "history",
        "list imports, newest first",
        "List imports newest first from the jobs table's by-created index: job id, created, source key, "
        "type, status, rows and the created/updated/skipped/failed/invalid counts.",
        target=True,
        as_json="print a JSON list of the rows (plus source, finished_at, duration_seconds)",
    )
    history.add_argument("--limit", metavar="N", type=int, default=20, help="at most this many imports (default 20)")
    history.add_argument(
        "--status",
        metavar="STATUS",
        choices=JOB_STATUSES,
        help="only imports with this status: " + ", ".join(JOB_STATUSES),
    )
    history.add_argument(
        "--since", metavar="DATE", help="only imports created since: 2026-11-01, 2026-11-01T09:30 (UTC), 12h, 7d"
    )
    history.add_argument(
        "--source", metavar="PREFIX", help="only uploads whose key starts with PREFIX, e.g. incoming/acme/"
    )
    history.add_argument("--partner", metavar="NAME", help="only the partner's uploads (incoming/NAME/)")

    sample = _command(
        sub,
        "sample",
        "write a template CSV (every standard attribute, a custom one, example rows)",
        "Write a template CSV for a people or companies import: every standard attribute the importer knows, "
        "one example custom attribute column, and example rows that pass validation. Empty cells leave "
        "values unchanged; any column that is not a standard attribute becomes a custom data attribute.",
        as_json="print the columns and rows as JSON (with the CSV text when writing to stdout)",
    )
    sample.add_argument("import_type", metavar="people|companies", choices=("people", "companies"))
    sample.add_argument("-o", "--output", metavar="FILE", help="write to FILE (default: stdout)")
    sample.add_argument("--force", action="store_true", help="overwrite FILE if it exists")

    validate = _command(
        sub,
        "validate",
        "check a CSV file exactly as the validator Lambda would, locally; nothing is imported",
        "Run the validator's own code on FILE, locally (an in-process moto stands in for S3 and DynamoDB): "
        "encoding, header, column mapping, custom attributes, every row against the JSON Schema, duplicate "
        "identifiers, the invalid-rows policy. Prints what an upload would give: accepted or rejected, the "
        "columns as matched, the custom attributes it would create, and every problem with its line, column and "
        "fix (--errors writes the error CSV the summary email links to). Intercom is never written; with "
        "--intercom-url/--intercom-region and a token its data attributes are read, so the attribute checks are "
        "exact. --partner NAME applies that partner's settings (from the target stack, or --partner-config FILE).",
        target=True,
        as_json="print the validation report as JSON (outcome, counts, columns, new attributes, errors)",
    )
    validate.add_argument("file", metavar="FILE", help="the CSV file to check")
    import_options.add_import_options(validate)
    validate.add_argument(
        "--partner", metavar="NAME", help="check it as an upload to incoming/NAME/ (its settings apply)"
    )
    validate.add_argument(
        "--partner-config",
        metavar="FILE",
        help="the partner's settings from FILE instead of the stack (before `partner add`)",
    )
    validate.add_argument("--config", metavar="FILE", help="JSON: import settings and template parameters, like `run`")
    validate.add_argument("--errors", metavar="FILE", help="write the error CSV (invalid rows and their problems) here")
    validate.add_argument("--limit", metavar="N", type=int, default=20, help="problems shown (default 20)")
    workspace = validate.add_argument_group("Intercom workspace (read only; default: none)")
    workspace.add_argument("--intercom-url", metavar="URL", help="Intercom API base URL (or a stand-in)")
    workspace.add_argument("--intercom-region", choices=("US", "EU", "AU"), help="Intercom's regional API host")
    workspace.add_argument("--intercom-token", metavar="TOKEN", help=f"access token (or ${local_stack.TOKEN_ENV})")

    partner = _command(
        sub,
        "partner",
        "add, list, show or remove partners (a prefix incoming/NAME/ with its own settings)",
        "A partner is an upload prefix incoming/NAME/ with its own settings: import type, mapping, "
        "existing/role/tags/invalid_rows, recipients of the summary email, which settings a file's manifest "
        "may override, and an optional schedule expectation. Settings are one JSON document per partner in the "
        "import bucket (config/partners/NAME.json), validated by docs/partner.schema.json here and again when an "
        "upload uses them. `add` validates and stores them and prints what the partner needs.",
        target=True,
        as_json="print the result as JSON on stdout",
    )
    partner.add_argument("action", choices=("add", "list", "show", "remove"), help="what to do")
    partner.add_argument("name", metavar="NAME", nargs="?", help="the partner (add, show, remove)")
    partner.add_argument(
        "--config", metavar="FILE", help="add: the partner's settings (JSON, docs/partner.schema.json)"
    )
    partner.add_argument("--replace", action="store_true", help="add: overwrite the settings of an existing partner")

    presign = _command(
        sub,
        "presign",
        "print a presigned URL a partner can PUT a file to (no AWS credentials needed)",
        "Print a presigned S3 PUT URL for incoming/PARTNER/<FILE's name>, valid for --expires seconds (at most 7 "
        "days), and a curl command that uses it. Settings given as flags are signed into the URL as object "
        "metadata, so the upload must send the same x-amz-meta-* headers (the curl command does); a partner's "
        "settings decide which of them an upload may change.",
        target=True,
        as_json="print {partner, key, url, method, headers, expires_in, expires_at, curl}",
    )
    presign.add_argument("partner", metavar="PARTNER", help="a partner added with `partner add`")
    presign.add_argument("file", metavar="FILE", help="the name the uploaded file will have (e.g. people.csv)")
    presign.add_argument(
        "--expires", metavar="S", type=int, default=3600, help="seconds the URL stays valid (default 3600)"
    )
    import_options.add_import_options(presign)

    sandbox = sub.add_parser(
        "sandbox",
        help="serve the stateful Intercom sandbox",
        description="Serve the local Intercom sandbox (any Bearer token is accepted unless --token is given).",
        add_help=False,
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, help="options of the sandbox (--port N --token T ...)")
    return parser


COMMANDS = {
    "run": run_import,
    "up": stack_up,
    "down": stack_down,
    "upload": upload_file,
    "status": job_status,
    "history": job_history,
    "sample": write_sample,
    "validate": validate_local,
    "partner": partner_command,
    "presign": presign_upload,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return run_sandbox(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    command = COMMANDS.get(args.command)
    if command is None:
        parser.error(f"unknown command {args.command}")
    try:
        return command(args)
    except CliError as exc:
        stderr(f"intercom-import {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr("intercom-import: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `intercom-import history | head`: the reader left, nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug or an environment problem: one line, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError | ClientError) and not os.environ.get("PYTHONDEVMODE"):
            error = targets.aws_error(exc)
            stderr(f"intercom-import {args.command}: error: {error}")
            return error.exit_code
        stderr(f"intercom-import: failed: {type(exc).__name__}: {exc} (run with PYTHONDEVMODE=1 for details)")
        if os.environ.get("PYTHONDEVMODE"):
            raise
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
