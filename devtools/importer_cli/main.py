"""``intercom-import``: run the whole pipeline locally, or serve the Intercom sandbox.

    intercom-import run FILE [--type people|companies] [--config FILE] [--intercom-url URL]
                             [--intercom-token TOKEN] [--json]
    intercom-import sandbox [--port N] [--token T] ...

``run`` starts moto (S3, SQS, DynamoDB, SES, Secrets Manager, Step Functions) and, unless
``--intercom-url`` is given, the Intercom sandbox; creates the stack from template.yaml; uploads FILE
under incoming/ exactly as a user would; follows the job with a progress bar on stderr until the
summary email is sent; then prints the email and what landed in Intercom. With ``--json`` the final
job summary is one JSON object on stdout (progress and logs stay on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
EXIT_OK, EXIT_IMPORT_PROBLEMS, EXIT_USAGE, EXIT_ERROR = 0, 1, 2, 3
SANDBOX_TOKEN = "local-sandbox-token"  # noqa: S105 - the sandbox accepts any token unless told otherwise


class CliError(Exception):
    """A problem the user can fix; printed as one line with the fix."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load_config(path: str | None) -> dict[str, Any]:
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CliError(f"--config {path}: no such file") from exc
    except ValueError as exc:
        raise CliError(f"--config {path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise CliError(f'--config {path}: must be a JSON object like {{"parameters": {{...}}, "existing": "skip"}}')
    return data


def _metadata(args: argparse.Namespace, config: dict[str, Any]) -> dict[str, str]:
    """Per-import settings travel as S3 object metadata, exactly as a deployed upload would carry them."""
    meta: dict[str, str] = {}
    import_type = args.type or config.get("import_type")
    if import_type:
        meta["import-type"] = import_type
    for key, meta_key in (("existing", "existing"), ("role", "role"), ("invalid_rows", "invalid-rows")):
        value = getattr(args, key, None) or config.get(key)
        if value:
            meta[meta_key] = str(value)
    tags = list(getattr(args, "tag", None) or []) or list(config.get("tags") or [])
    if tags:
        meta["tags"] = ",".join(tags)
    return meta


class _Progress:
    """A one-line progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = ""

    def show(self, job: dict[str, Any]) -> None:
        if not self.enabled:
            return
        status = job.get("status", "?")
        total = int(job.get("chunks_total", 0) or 0)
        done = int(job.get("chunks_done", 0) or 0)
        if status == "validating":
            line = f"validating: {int(job.get('rows_read', 0) or 0):,} rows read"
        elif total:
            width = 30
            filled = int(width * done / total)
            line = (
                f"importing [{'#' * filled}{'.' * (width - filled)}] {done}/{total} chunks  "
                f"created {job.get('created', 0)}  updated {job.get('updated', 0)}  "
                f"skipped {job.get('skipped', 0)}  failed {job.get('failed', 0)}  invalid {job.get('invalid', 0)}"
            )
        else:
            line = f"{status}"
        if line == self.last:
            return
        self.last = line
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
        else:
            sys.stderr.write(line + "\n")
        sys.stderr.flush()

    def end(self) -> None:
        if self.enabled and self.tty and self.last:
            sys.stderr.write("\n")


def run_import(args: argparse.Namespace) -> int:
    from intercom_sandbox import SandboxConfig, SandboxServer
    from local_runtime import LocalRuntime

    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{args.file}: no such file. Give the path of a CSV file, e.g. events/people.csv")
    config = _load_config(args.config)
    if args.intercom_url and not args.intercom_token:
        raise CliError("--intercom-url needs --intercom-token (the access token of that Intercom workspace)")
    sandbox = None
    if args.intercom_url:
        intercom_url, token = args.intercom_url.rstrip("/"), args.intercom_token
    else:
        sandbox = SandboxServer(port=0, config=SandboxConfig(token=None))
        sandbox.start()
        intercom_url, token = sandbox.url, args.intercom_token or SANDBOX_TOKEN
    parameters = {"IntercomBaseUrl": intercom_url, **(config.get("parameters") or {})}
    log_dir = Path(args.log_dir or ROOT / ".local" / "logs")
    progress = _Progress(enabled=not args.quiet)
    try:
        _stderr(
            f"starting the local stack (moto + {('Intercom at ' + intercom_url) if args.intercom_url else 'Intercom sandbox'}) ..."
        )
        with LocalRuntime(
            template_path=str(TEMPLATE),
            parameters=parameters,
            intercom_token=token,
            log_dir=str(log_dir),
            # No X-Ray daemon locally; everything else runs exactly as configured by the template.
            function_env_overrides={"*": {"POWERTOOLS_TRACE_DISABLED": "true"}},
        ) as runtime:
            summary = _upload_and_follow(runtime, path, _metadata(args, config), progress, args.timeout)
            summary["intercom"] = _landed(sandbox)
            summary["logs"] = str(log_dir)
    finally:
        progress.end()
        if sandbox is not None:
            sandbox.stop()
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    else:
        _print_human(summary)
    return EXIT_OK if summary["status"] == "completed" else EXIT_IMPORT_PROBLEMS


def _upload_and_follow(runtime: Any, path: Path, metadata: dict[str, str], progress: _Progress, timeout: float) -> dict:
    from intercom_importer.jobs import TERMINAL, job_id_for

    outputs = runtime.outputs
    bucket = outputs["ImportBucketName"]
    table = outputs["JobsTableName"]
    s3 = runtime.client("s3")
    ddb = runtime.client("dynamodb")
    sfn = runtime.client("stepfunctions")
    key = f"incoming/{path.name}"
    with path.open("rb") as body:
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, Metadata=metadata)
    job_id = job_id_for(bucket, key, put.get("VersionId") or put.get("ETag"))
    execution_arn = outputs["StateMachineArn"].replace(":stateMachine:", ":execution:") + f":{job_id}"
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    execution: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = _read_job(ddb, table, job_id)
        if job:
            progress.show(job)
        if job.get("status") in TERMINAL:
            try:
                execution = sfn.describe_execution(executionArn=execution_arn)
            except sfn.exceptions.ExecutionDoesNotExist:
                execution = {}
            if execution.get("status") not in (None, "RUNNING"):
                break
        time.sleep(0.1)
    else:
        raise CliError(
            f"the import did not finish within {timeout:.0f} s (job {job_id}, status {job.get('status', 'unknown')}); "
            "see the function logs, or raise --timeout"
        )
    job = _read_job(ddb, table, job_id)
    emails = [e for e in runtime.sent_emails() if job_id in (e.get("text") or "") or job_id in (e.get("html") or "")]
    email = emails[-1] if emails else None
    return {
        "job_id": job_id,
        "status": job.get("status"),
        "source": f"s3://{bucket}/{key}",
        "import_type": job.get("import_type"),
        "rows": job.get("rows", 0),
        "created": job.get("created", 0),
        "updated": job.get("updated", 0),
        "skipped": job.get("skipped", 0),
        "failed": job.get("failed", 0),
        "invalid": job.get("invalid", 0),
        "reason": job.get("reason") or None,
        "problems": job.get("problems_sample") or [],
        "error_file": f"s3://{bucket}/{job['error_file_key']}" if job.get("error_file_key") else None,
        "duration_seconds": job.get("duration_seconds"),
        "execution_status": execution.get("status"),
        "emails_sent": len(emails),
        "email": email,
    }


def _read_job(ddb: Any, table: str, job_id: str) -> dict[str, Any]:
    from boto3.dynamodb.types import TypeDeserializer

    item = ddb.get_item(TableName=table, Key={"pk": {"S": f"JOB#{job_id}"}, "sk": {"S": "META"}}, ConsistentRead=True)
    if "Item" not in item:
        return {}
    des = TypeDeserializer()
    data = {k: des.deserialize(v) for k, v in item["Item"].items()}
    return json.loads(json.dumps(data, default=lambda d: int(d) if d == int(d) else float(d)))


def _landed(sandbox: Any) -> dict[str, Any] | None:
    """What the sandbox holds now (None when importing into a real Intercom)."""
    if sandbox is None:
        return None
    state = sandbox.state()
    contacts = [
        {k: c.get(k) for k in ("id", "role", "email", "external_id", "name")} for c in state.get("contacts", [])
    ]
    companies = [{k: c.get(k) for k in ("id", "company_id", "name")} for c in state.get("companies", [])]
    return {"contacts": contacts, "companies": companies}


def _print_human(summary: dict[str, Any]) -> None:
    email = summary.get("email") or {}
    print()
    print(f"Job {summary['job_id']}: {summary['status']}")
    print(
        f"  rows {summary['rows']}  created {summary['created']}  updated {summary['updated']}  "
        f"skipped {summary['skipped']}  failed {summary['failed']}  invalid {summary['invalid']}"
    )
    print()
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
    print(f"\nFunction logs: {summary.get('logs')}")


def run_sandbox(argv: Sequence[str]) -> int:
    from intercom_sandbox.cli import run_cli

    return run_cli(list(argv))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intercom-import",
        description="Import people and companies from CSV files into Intercom (local pipeline and tools).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = sub.add_parser(
        "run",
        help="run the whole pipeline locally on a CSV file",
        description="Start moto and the Intercom sandbox, create the stack from template.yaml, upload FILE under "
        "incoming/ and follow the job to its summary email.",
    )
    run.add_argument("file", metavar="FILE", help="the CSV file to import")
    run.add_argument("--type", choices=("people", "companies"), help="import type (default: from the header)")
    run.add_argument("--config", metavar="FILE", help="JSON settings: import options and template parameters")
    run.add_argument(
        "--intercom-url", metavar="URL", help="import into this Intercom (or stand-in) instead of the sandbox"
    )
    run.add_argument("--intercom-token", metavar="TOKEN", help="access token for --intercom-url")
    run.add_argument("--existing", choices=("update", "skip"), help="what happens to contacts that exist")
    run.add_argument("--role", choices=("user", "lead"), help="role of new contacts")
    run.add_argument("--tag", action="append", metavar="NAME", help="tag every imported contact (repeatable)")
    run.add_argument("--invalid-rows", dest="invalid_rows", choices=("reject_file", "skip_rows"))
    run.add_argument("--json", action="store_true", help="print the job summary as one JSON object on stdout")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--timeout", type=float, default=600.0, help="give up after this many seconds (default 600)")
    run.add_argument("--log-dir", metavar="DIR", help="where function logs go (default .local/logs)")
    sandbox = sub.add_parser(
        "sandbox",
        help="serve the stateful Intercom sandbox",
        description="Serve the local Intercom sandbox (any Bearer token is accepted unless --token is given).",
        add_help=False,
    )
    sandbox.add_argument("args", nargs=argparse.REMAINDER, help="options of the sandbox (--port N --token T ...)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return run_sandbox(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    try:
        if args.command == "run":
            return run_import(args)
    except CliError as exc:
        _stderr(f"intercom-import: error: {exc}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        _stderr("intercom-import: interrupted")
        return 130
    except Exception as exc:  # a bug or an environment problem: one line, not a traceback
        _stderr(f"intercom-import: failed: {type(exc).__name__}: {exc} (run with PYTHONDEVMODE=1 for details)")
        if os.environ.get("PYTHONDEVMODE"):
            raise
        return EXIT_ERROR
    parser.error(f"unknown command {args.command}")
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
