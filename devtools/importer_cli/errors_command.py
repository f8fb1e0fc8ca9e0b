"""``errors JOB [-o FILE]``: download an import's error file, the way to get it that keeps it tied to its import.

The error file names its import in its last column (``import job-<id>``), so a fixed copy uploaded again, under any
name, is read with that import's settings, mapping and tags. Any download keeps that column; this one also writes
the file under the name the bucket's link suggests (``<job>-errors.csv``) unless ``-o`` says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from importer_cli import jobs_commands
from importer_cli.errors import EXIT_IMPORT_PROBLEMS, CliError
from importer_cli.targets import Target, aws_error


@dataclass(frozen=True)
class Downloaded:
    """An error file written to ``path``: its rows (the header not counted) and bytes."""

    job_id: str
    path: Path
    rows: int
    size: int

    def to_json(self) -> dict[str, object]:
        return {"job_id": self.job_id, "path": str(self.path), "rows": self.rows, "bytes": self.size}


def download_errors(target: Target, job_id: str, out: str | None) -> Downloaded:
    """Write job ``job_id``'s error file to ``out`` (default: ``<job>-errors.csv`` here)."""
    from botocore.exceptions import BotoCoreError, ClientError

    job = jobs_commands.get_job(target, job_id)
    if job is None:
        error = jobs_commands.not_found(target, job_id)
        error.exit_code = EXIT_IMPORT_PROBLEMS
        raise error
    if not job.error_file_key:
        state = "it is not finished yet" if job.status in jobs_commands.UNFINISHED else "every row was imported"
        raise CliError(f"job {job_id} has no error file: {state}", EXIT_IMPORT_PROBLEMS)
    path = Path(out) if out else Path(f"{job_id}-errors.csv")
    bucket = target.output("ImportBucketName")
    try:
        body = target.client("s3").get_object(Bucket=bucket, Key=job.error_file_key)["Body"].read()
    except (BotoCoreError, ClientError) as exc:
        raise aws_error(exc, f"reading s3://{bucket}/{job.error_file_key} (s3:GetObject)") from exc
    path.write_bytes(body)
    rows = max(0, body.decode("utf-8-sig", errors="replace").count("\n") - 1)
    return Downloaded(job_id, path, rows, len(body))


def describe(done: Downloaded) -> str:
    return (
        f"wrote {done.path} ({done.rows} row{'s' if done.rows != 1 else ''} with their errors). Fix the rows and "
        f"upload the file again, under any name: its last column names import {done.job_id}, whose settings, mapping "
        "and tags it is then read with."
    )
