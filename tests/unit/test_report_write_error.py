"""The error file's S3 failures become ReportWriteError, the name the state machine retries BuildReport on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from intercom_importer import report
from intercom_importer.errors import ReportWriteError
from intercom_importer.job_record import ChunkRecord, Job
from moto_server import importer_settings

pytestmark = pytest.mark.unit

ASL = json.loads((Path(__file__).resolve().parents[2] / "statemachine" / "import_job.asl.json").read_text())


class RefusingS3:
    """An S3 client whose calls fail as ``error`` does."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_object(self, **_: Any) -> Any:
        raise self.error

    def put_object(self, **_: Any) -> Any:
        raise self.error


class Store:
    def chunk_records(self, job_id: str) -> list[ChunkRecord]:
        return [ChunkRecord(1, "worker", "a1", result_key=f"work/{job_id}/results/000001.a1.json")]


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}}, "GetObject"),
        EndpointConnectionError(endpoint_url="https://s3.example"),
    ],
    ids=["refused", "unreachable"],
)
def test_s3_failing_while_the_error_file_is_written_raises_the_retried_report_write_error(error: Exception):
    with pytest.raises(ReportWriteError, match="The error file of job job-1 could not be written to S3"):
        report.write_error_file(RefusingS3(error), importer_settings(), Store(), Job(job_id="job-1"))


def test_the_state_machine_retries_the_report_step_on_report_write_error():
    [retry] = ASL["States"]["BuildReport"]["Retry"]
    assert "ReportWriteError" in retry["ErrorEquals"] and retry["MaxAttempts"] >= 2
