"""``upload``, ``status``, ``history``, ``undo``, ``errors``: upload a file like a user would, show one import, list
the imports, undo one, download one's error file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from importer_cli import import_options, targets
from importer_cli.commands.common import Handler, command
from importer_cli.display import Progress, clip, job_details, short_time, stderr, table
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, EXIT_OK, EXIT_PENDING, CliError

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


def register(sub: Any) -> dict[str, Handler]:
    _register_upload(sub)
    _register_status(sub)
    _register_history(sub)
    _register_undo(sub)
    _register_errors(sub)
    return {
        "upload": upload_file,
        "status": job_status,
        "history": job_history,
        "undo": undo_job,
        "errors": download_errors,
    }


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
    link = _error_link(target, job)
    if args.json:
        shown = jobs_commands.present(job)
        if job.error_file_key:
            shown.update(error_file_link=link, error_file_command=f"intercom-import errors {job.job_id}")
        print(json.dumps(shown, indent=2, default=str))
    else:
        print(job_details(job, error_link=link))
    status = job.status
    if status == "completed":
        return EXIT_OK
    return EXIT_PENDING if status in jobs_commands.UNFINISHED else EXIT_IMPORT_PROBLEMS


def _error_link(target: targets.Target, job: Any) -> str | None:
    """A fresh link to the job's error file (presigned for an hour: signed here, no call made), None without one."""
    from botocore.exceptions import BotoCoreError, ClientError

    if not job.error_file_key or not job.bucket:
        return None
    try:
        return str(
            target.client("s3").generate_presigned_url(
                "get_object", Params={"Bucket": job.bucket, "Key": job.error_file_key}, ExpiresIn=3600
            )
        )
    except (BotoCoreError, ClientError):  # no credentials to sign with: the s3:// URL and the command still say where
        return None


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
    found = jobs_commands.history(target, limit=args.limit, status=args.status, since=since, source_prefix=prefix)
    if args.json:
        print(json.dumps([jobs_commands.history_row(job) for job in found], indent=2, default=str))
        return EXIT_OK
    if not found:
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
        "UNCHANGED",
        "SKIPPED",
        "FAILED",
        "INVALID",
        "UPLOADED BY",
        "UNDONE",
    )
    body = [
        (
            job.job_id,
            short_time(job.created_at),
            clip(job.key or "-", 40),
            job.import_type or "-",
            (job.status or "-") + (" (dry run)" if job.dry_run else ""),
            job.rows,
            job.created,
            job.updated,
            job.unchanged,
            job.skipped,
            job.failed,
            job.invalid,
            clip(job.uploaded_by or "-", 30),
            f"{short_time(job.undone_at)} ({job.undo_job_id})" if job.undone_at else "-",
        )
        for job in found
    ]
    print(table(headers, body, numeric=range(5, 12)))
    return EXIT_OK


def undo_job(args: argparse.Namespace) -> int:
    from importer_cli import undo_command

    target = targets.resolve(args)
    assert target is not None
    progress = Progress(enabled=not (args.quiet or args.json))
    result = undo_command.undo(target, args.job, dry_run=args.dry_run, yes=args.yes, progress=progress)
    if args.json:
        print(json.dumps(undo_command.as_json(result), indent=2, default=str))
    else:
        print(undo_command.describe(result))
    return EXIT_OK


def download_errors(args: argparse.Namespace) -> int:
    from importer_cli import errors_command

    target = targets.resolve(args)
    assert target is not None
    done = errors_command.download_errors(target, args.job, args.output)
    print(json.dumps(done.to_json()) if args.json else errors_command.describe(done))
    return EXIT_OK


def _register_errors(sub: Any) -> None:
    errors = command(
        sub,
        "errors",
        "download an import's error file",
        "Download the error file of an import: its invalid and failed rows as they were, with error_line, "
        "error_column and error, and a last column naming the import. Fix the rows and upload the file again under "
        "any name: it is read with that import's settings, mapping and tags.",
        target=True,
        as_json="print {job_id, path, rows, bytes} on stdout",
    )
    errors.add_argument("job", metavar="JOB", help="the import's job id (listed by history)")
    errors.add_argument("-o", "--output", metavar="FILE", help="where to write it (default: JOB-errors.csv here)")


def _register_upload(sub: Any) -> None:
    upload = command(
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


def _register_status(sub: Any) -> None:
    status = command(
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


def _register_history(sub: Any) -> None:
    history = command(
        sub,
        "history",
        "list imports, newest first",
        "List imports newest first from the jobs table's by-created index: job id, created, source key, "
        "type, status, rows and the created/updated/unchanged/skipped/failed/invalid counts.",
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


def _register_undo(sub: Any) -> None:
    undo = command(
        sub,
        "undo",
        "undo an import: restore the values it changed, archive the contacts it created",
        "Undo a finished import from its change log: each value it changed is put back where Intercom still holds "
        "the import's value, the contacts it created are archived (never deleted), the company links and tags it "
        "added are removed; a value changed in Intercom since the import is left alone and reported. Shares the "
        "workers' rate budget; a re-run after a crash goes on without doing anything twice; one summary email "
        "at the end. Asks first unless --yes.",
        target=True,
        as_json="print {job, undo_job_id, dry_run, already_undone, restored, contacts_restored, archived, "
        "already_restored, left_alone: [{line, id, field, reason}], write_calls, api_calls, email} on stdout",
    )
    undo.add_argument("job", metavar="JOB", help="the import's job id (listed by history)")
    undo.add_argument(
        "--dry-run", action="store_true", help="read and compare only: say what it would do, write nothing"
    )
    undo.add_argument(
        "--yes", action="store_true", help="do not ask before writing (needed when stdin is not a terminal)"
    )
    undo.add_argument("--quiet", action="store_true", help="no progress on stderr")
