"""EMF metrics: what the worker, the dead-letter handler and the report emit, as CloudWatch would read them.

The domain functions run against moto in-process (S3, DynamoDB) and an Intercom client whose transport is
scripted (no sockets); the EMF lines are what ``@metrics.log_metrics`` prints, captured with capsys
(Powertools' documented way to test metrics).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Iterator
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
import requests
from moto import mock_aws
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from intercom_importer import jobs, observability
from intercom_importer.intercom import IntercomClient
from intercom_importer.observability import metrics
from intercom_importer.options import ImportOptions
from intercom_importer.report import build_report
from intercom_importer.worker import process_chunk, record_dead_chunk

pytestmark = pytest.mark.unit

NAMESPACE = "IntercomImporterTest"
SERVICE = "intercom-importer-test"
BUCKET = "icimport-test"
NOW = 1_800_000_000.0  # the scripted Intercom's and its client's clock
SETTINGS = SimpleNamespace(
    import_bucket=BUCKET,
    worker_threads=2,
    report_link_expiry_seconds=3600,
    notify_recipients=("ops@example.com",),
    intercom_rate_limit_per_minute=10_000,
    intercom_token_secret="arn:aws:secretsmanager:us-east-1:123456789012:secret:intercom-test",
    identity_ledger_table="",  # the worker's metrics, without the ledger
    intercom_search_lag_seconds=180.0,
    stack_keeps_history=True,
)


# ------------------------------------------------------------------------------------------ fixtures
@pytest.fixture(autouse=True)
def emf(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The namespace and service the template sets (POWERTOOLS_METRICS_NAMESPACE / _SERVICE_NAME), and
    an empty metric set before and after each test (Metrics keeps its set at class level)."""
    monkeypatch.setattr(metrics.provider, "namespace", NAMESPACE)
    monkeypatch.setattr(metrics.provider, "service", SERVICE)
    metrics.clear_metrics()
    yield
    metrics.clear_metrics()


@pytest.fixture
def aws() -> Iterator[SimpleNamespace]:
    with mock_aws():
        region = {"region_name": "us-east-1", "aws_access_key_id": "test", "aws_secret_access_key": "test"}
        s3 = boto3.client("s3", **region)
        s3.create_bucket(Bucket=BUCKET)
        table = boto3.resource("dynamodb", **region).create_table(
            TableName="jobs",
            BillingMode="PAY_PER_REQUEST",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
        )
        yield SimpleNamespace(s3=s3, store=jobs.JobStore(table), sfn=boto3.client("stepfunctions", **region))


def flushed(capsys: pytest.CaptureFixture[str], handler: Callable[[], Any]) -> list[dict[str, Any]]:
    """Runs ``handler`` under ``@metrics.log_metrics`` as a Lambda handler would; returns the EMF documents."""

    @metrics.log_metrics
    def lambda_handler(event: dict[str, Any], context: Any) -> Any:
        return handler()

    capsys.readouterr()
    lambda_handler({}, None)
    return [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]


def values(documents: list[dict[str, Any]]) -> dict[str, float]:
    """Metric name -> summed value (what CloudWatch's Sum statistic gives for one flush)."""
    total: dict[str, float] = {}
    for document in documents:
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[definition["Name"]]
            total[definition["Name"]] = total.get(definition["Name"], 0) + sum(
                value if isinstance(value, list) else [value]
            )
    return total


def units(documents: list[dict[str, Any]]) -> dict[str, str]:
    return {
        definition["Name"]: definition["Unit"]
        for document in documents
        for definition in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]
    }


class ScriptedIntercom(BaseAdapter):
    """Answers like Intercom: an empty search, a created contact per POST /contacts, after ``first`` answers (the
    app's GET /me, asked once per environment before any chunk's call, is always answered)."""

    def __init__(self, first: list[int]) -> None:
        super().__init__()
        self.first = list(first)
        self.created = 0

    def send(self, request, stream=False, timeout=None, verify=True, cert=None, proxies=None):
        response = requests.Response()
        response.request, response.url = request, request.url
        headers = {"Content-Type": "application/json", "X-RateLimit-Reset": str(int(NOW))}  # already due
        if request.url.endswith("/me"):
            status, body = 200, {"type": "admin", "id": "1", "app": {"type": "app", "id_code": "scripted-app"}}
        elif self.first:
            status, body = self.first.pop(0), {"type": "error.list", "errors": [{"code": "rate_limit_exceeded"}]}
        elif request.url.endswith("/contacts/search"):
            status, body = 200, {"type": "list", "data": [], "total_count": 0, "pages": {"type": "pages"}}
        else:
            self.created += 1
            sent = json.loads(request.body)
            status, body = 200, {"type": "contact", "id": f"c{self.created}", **sent}
        response.status_code = status
        response.headers = CaseInsensitiveDict(headers)
        response._content = json.dumps(body).encode()
        return response

    def close(self) -> None:
        pass


def scripted_client(first: list[int]) -> IntercomClient:
    session = requests.Session()
    session.mount("https://", ScriptedIntercom(first))
    return IntercomClient(
        "token", "https://api.intercom.io", session=session, sleep=lambda _s: None, clock=lambda: NOW, rand=lambda: 0.5
    )


def chunk(aws: SimpleNamespace, message: str, client_factory: Callable[[], Any]) -> str:
    """The worker's domain call for one chunk message, against the test's moto and a scripted Intercom."""
    return process_chunk(
        message, settings=SETTINGS, store=aws.store, s3=aws.s3, sfn=aws.sfn, client_factory=client_factory
    )


def put_job(aws: SimpleNamespace, job_id: str, rows: int, **fields: Any) -> str:
    """A job record and its first chunk object, as the validator writes them; returns the chunk message."""
    key = f"work/{job_id}/chunks/000001.json"
    chunk_rows = [
        {"line": line, "cells": [f"u{line}@example.com"], "record": {"email": f"u{line}@example.com"}}
        for line in range(2, 2 + rows)
    ]
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps({"rows": chunk_rows}).encode())
    options = ImportOptions(import_type="people", existing="update", role="user", invalid_rows="reject_file")
    aws.store.create(
        job_id,
        {
            "status": jobs.IMPORTING,
            "bucket": BUCKET,
            "key": f"incoming/{job_id}.csv",
            "import_type": "people",
            "options": options.to_dict(),
            "columns": [],
            "rows": rows,
            "chunks_total": 1,
            **fields,
        },
    )
    return json.dumps({"v": 1, "job_id": job_id, "chunk": 1, "key": key})


# ------------------------------------------------------------------------------------------ tests
def test_chunk_emits_rows_by_outcome_api_calls_429s_retries_and_duration(aws, capsys):
    message = put_job(aws, "job-metrics-1", rows=3)
    client = scripted_client(first=[429])  # the search is refused once, then answered

    documents = flushed(capsys, lambda: chunk(aws, message, lambda: client))

    emitted = values(documents)
    assert {k: emitted[k] for k in ("RowsCreated", "RowsUpdated", "RowsUnchanged", "RowsSkipped", "RowsFailed")} == {
        "RowsCreated": 3,
        "RowsUpdated": 0,
        "RowsUnchanged": 0,
        "RowsSkipped": 0,
        "RowsFailed": 0,
    }
    assert emitted["IntercomApiCalls"] == 5  # the refused search, the search, three creates
    assert emitted["IntercomRateLimited"] == 1
    assert emitted["IntercomRetries"] == 1
    assert emitted["ChunkDuration"] >= 0  # a measured time: only its sign (and unit, below) is certain
    assert units(documents)["ChunkDuration"] == "Seconds"
    assert units(documents)["RowsCreated"] == "Count"
    assert aws.store.get("job-metrics-1").created == 3


def test_metrics_have_only_the_service_dimension_and_the_job_in_metadata(aws, capsys):
    message = put_job(aws, "job-metrics-2", rows=1)

    [document] = flushed(
        capsys,
        lambda: chunk(aws, message, lambda: scripted_client(first=[])),
    )

    directive = document["_aws"]["CloudWatchMetrics"][0]
    assert directive["Namespace"] == NAMESPACE
    assert directive["Dimensions"] == [["service"]]
    assert document["service"] == SERVICE
    assert document["job_ids"] == ["job-metrics-2"]


def test_aborted_chunk_counts_its_rows_failed_without_calling_intercom(aws, capsys):
    message = put_job(aws, "job-metrics-3", rows=4, abort={"error": "IntercomAuthError", "message": "401"})

    def no_client() -> IntercomClient:
        raise AssertionError("an aborted job must not reach Intercom")

    emitted = values(
        flushed(
            capsys,
            lambda: chunk(aws, message, no_client),
        )
    )

    assert emitted["RowsFailed"] == 4
    assert "IntercomApiCalls" not in emitted


def test_dry_run_chunk_emits_api_calls_but_no_rows(aws, capsys):
    message = put_job(aws, "job-metrics-4", rows=2)
    job = aws.store.get("job-metrics-4")
    aws.store.update("job-metrics-4", {"options": {**job.options, "dry_run": True}, "dry_run": True})

    emitted = values(
        flushed(
            capsys,
            lambda: chunk(aws, message, lambda: scripted_client(first=[])),
        )
    )

    assert emitted["IntercomApiCalls"] == 1  # the search only
    assert not {"RowsCreated", "RowsUpdated", "RowsUnchanged", "RowsSkipped", "RowsFailed"} & set(emitted)


def test_retried_chunk_still_reports_the_calls_of_the_failed_attempt(aws, capsys):
    message = put_job(aws, "job-metrics-5", rows=1)
    client = scripted_client(first=[503, 503, 503, 503])  # the search fails after 3 retries

    def handler() -> None:
        with pytest.raises(Exception, match="503"):
            chunk(aws, message, lambda: client)

    emitted = values(flushed(capsys, handler))

    assert emitted == {"IntercomApiCalls": 4, "IntercomRateLimited": 0, "IntercomRetries": 3}


def test_dead_lettered_chunk_counts_rows_failed_and_the_chunk(aws, capsys):
    message = put_job(aws, "job-metrics-6", rows=3)

    emitted = values(
        flushed(capsys, lambda: record_dead_chunk(message, settings=SETTINGS, store=aws.store, s3=aws.s3, sfn=aws.sfn))
    )

    assert emitted["RowsFailed"] == 3
    assert emitted["ChunksDeadLettered"] == 1
    assert "ChunkDuration" not in emitted


@pytest.mark.parametrize("dead_lettered", [False, True], ids=["worker", "dead-letter"])
def test_recorded_chunk_emits_its_unchanged_rows(capsys, dead_lettered: bool):
    counts = {"created": 1, "updated": 2, "unchanged": 3}

    def record() -> None:
        if dead_lettered:
            observability.record_dead_chunk("job-metrics-9", counts)
        else:
            observability.record_chunk("job-metrics-9", counts, seconds=0.5)

    emitted = values(flushed(capsys, record))

    rows = {
        name: emitted[name] for name in ("RowsCreated", "RowsUpdated", "RowsUnchanged", "RowsSkipped", "RowsFailed")
    }
    assert rows == {"RowsCreated": 1, "RowsUpdated": 2, "RowsUnchanged": 3, "RowsSkipped": 0, "RowsFailed": 0}


def test_report_counts_unchanged_rows_as_accounted_for(aws, capsys):
    put_job(aws, "job-metrics-10", rows=5)
    aws.store.update("job-metrics-10", {"created": 1, "updated": 1, "unchanged": 3, "chunks_done": 1})

    emitted = values(
        flushed(capsys, lambda: build_report("job-metrics-10", {}, settings=SETTINGS, store=aws.store, s3=aws.s3))
    )

    assert aws.store.get("job-metrics-10").status == jobs.COMPLETED  # not incomplete: every row is counted
    assert (emitted["JobsCompleted"], emitted["JobsIncomplete"]) == (1, 0)


def test_report_emits_the_final_status_duration_and_invalid_rows(aws, capsys):
    put_job(aws, "job-metrics-7", rows=5)
    aws.store.update("job-metrics-7", {"created": 3, "invalid": 2, "chunks_done": 1, "invalid_key": ""})

    documents = flushed(
        capsys, lambda: build_report("job-metrics-7", {}, settings=SETTINGS, store=aws.store, s3=aws.s3)
    )

    emitted = values(documents)
    assert {name: emitted[name] for name in observability.JOB_METRICS.values()} == {
        "JobsCompleted": 0,
        "JobsCompletedWithErrors": 1,
        "JobsRejected": 0,
        "JobsFailed": 0,
        "JobsIncomplete": 0,
    }
    assert emitted["RowsInvalid"] == 2
    assert emitted["ImportDuration"] == pytest.approx(aws.store.get("job-metrics-7").duration_seconds)
    assert units(documents)["ImportDuration"] == "Seconds"


def test_missing_namespace_skips_metrics_instead_of_failing_the_import(aws, capsys, monkeypatch):
    monkeypatch.setattr(metrics.provider, "namespace", None)
    message = put_job(aws, "job-metrics-8", rows=1)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Powertools' "no metrics to publish"
        documents = flushed(
            capsys,
            lambda: chunk(aws, message, lambda: scripted_client(first=[])),
        )

    assert documents == []
    assert aws.store.get("job-metrics-8").created == 1


def test_handler_without_metrics_warns_and_prints_nothing(capsys):
    with pytest.warns(UserWarning, match="No application metrics to publish"):
        documents = flushed(capsys, lambda: None)

    assert documents == []


def test_every_metric_name_fits_cloudwatch():
    assert len(set(observability.ALL_METRICS)) == len(observability.ALL_METRICS)
    assert all(name.isalnum() and 1 <= len(name) <= 255 for name in observability.ALL_METRICS)
