"""A moto server of a test module's own, for tests that drive domain code against AWS APIs over HTTP
(without the whole local runtime), and the jobs table as template.yaml declares it.

``moto_url = moto_server_fixture()`` in a test module; ``session()`` for clients; ``create_jobs_table``.
"""

from __future__ import annotations

import copy
import functools
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
import yaml
from moto.server import ThreadedMotoServer

from local_runtime import moto_hooks

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"


class _CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form tags read as nothing (only plain properties are needed)."""


_CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def _service_models() -> Any:
    """One loader of botocore's service models for every session (each new one would parse them again)."""
    return botocore.loaders.create_loader()


def session() -> boto3.session.Session:
    core = botocore.session.get_session()
    core.register_component("data_loader", _service_models())
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name=REGION, botocore_session=core
    )


def moto_server_fixture(scope: str = "module") -> Any:
    """A pytest fixture yielding the URL of a started moto server (DynamoDB writes made atomic, as on AWS)."""

    @pytest.fixture(scope=scope)  # type: ignore[call-overload]
    def moto_url() -> Iterator[str]:
        moto_hooks.make_dynamodb_writes_atomic()  # DynamoDB applies a conditional ADD atomically; moto needs help
        werkzeug = logging.getLogger("werkzeug")
        level = werkzeug.level
        werkzeug.setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()
            werkzeug.setLevel(level)

    return moto_url


@functools.cache
def _resources(mtime_ns: int) -> dict[str, Any]:
    """The resources of template.yaml (parsed once per version of the file: ~1 s in pure Python)."""
    return dict(yaml.load((ROOT / "template.yaml").read_text(), Loader=_CfnLoader)["Resources"])


def _table_properties(resource: str) -> dict[str, Any]:
    resources = _resources((ROOT / "template.yaml").stat().st_mtime_ns)
    return copy.deepcopy(dict(resources[resource]["Properties"]))


def create_ledger_table(dynamodb: Any, name: str) -> Any:
    """The identity ledger's table (key, billing, TTL) as template.yaml declares it; ``dynamodb`` is a resource."""
    return _create_table(dynamodb, name, "IdentityLedgerTable")


def create_jobs_table(dynamodb: Any, name: str) -> Any:
    """The jobs table (keys, index, billing, TTL) as template.yaml declares it; ``dynamodb`` is a resource."""
    return _create_table(dynamodb, name, "JobsTable")


def _create_table(dynamodb: Any, name: str, resource: str) -> Any:
    properties = _table_properties(resource)
    keys = ("BillingMode", "KeySchema", "AttributeDefinitions", "GlobalSecondaryIndexes")
    table = dynamodb.create_table(TableName=name, **{key: properties[key] for key in keys if key in properties})
    dynamodb.meta.client.update_time_to_live(
        TableName=name, TimeToLiveSpecification=properties["TimeToLiveSpecification"]
    )
    return table


class ImporterAws:
    """The AWS side of the importer on a moto server, under unique names: the import bucket (versioned),
    the jobs table, the chunk queue and a state machine of the given definition (``None``: one that ends
    at once); ``settings(...)`` gives the domain code's settings for them."""

    def __init__(self, moto_url: str, definition: dict[str, Any] | None = None) -> None:
        import json
        import uuid

        aws = session()
        self.s3 = aws.client("s3", endpoint_url=moto_url)
        self.sqs = aws.client("sqs", endpoint_url=moto_url)
        self.sfn = aws.client("stepfunctions", endpoint_url=moto_url)
        name = uuid.uuid4().hex[:10]
        self.bucket = f"icimport-{name}"
        self.s3.create_bucket(Bucket=self.bucket)
        self.s3.put_bucket_versioning(Bucket=self.bucket, VersioningConfiguration={"Status": "Enabled"})
        self.table = create_jobs_table(aws.resource("dynamodb", endpoint_url=moto_url), f"jobs-{name}")
        self.queue_url = self.sqs.create_queue(QueueName=f"chunks-{name}")["QueueUrl"]
        self.machine = self.sfn.create_state_machine(
            name=f"import-{name}",
            definition=json.dumps(definition or {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn="arn:aws:iam::123456789012:role/sfn",
        )["stateMachineArn"]

    def settings(self, intercom_url: str, **overrides: Any) -> Any:
        return importer_settings(
            jobs_table=self.table.name,
            import_bucket=self.bucket,
            chunk_queue_url=self.queue_url,
            state_machine_arn=self.machine,
            intercom_base_url=intercom_url,
            **overrides,
        )


def importer_settings(**overrides: Any) -> Any:
    """The domain code's settings for tests: test values for every field, ``overrides`` on top."""
    from intercom_importer.settings import Settings

    values: dict[str, Any] = {
        "jobs_table": "jobs",
        "import_bucket": "bucket",
        "chunk_queue_url": "http://127.0.0.1:9/queue",
        "state_machine_arn": "arn:aws:states:us-east-1:123456789012:stateMachine:import",
        "intercom_token_secret": "unused",
        "intercom_region": "US",
        "intercom_base_url": "http://127.0.0.1:9",
        "intercom_rate_limit_per_minute": 10_000,
        "chunk_rows": 100,
        "worker_threads": 2,
        "default_existing": "update",
        "default_role": "user",
        "default_invalid_rows": "skip_rows",
        "notify_recipients": ("ops@example.com",),
        "sender_email": "importer@example.com",
        "job_timeout_seconds": 3600,
        "job_retention_days": 1,
        "report_link_expiry_seconds": 3600,
    }
    values.update(overrides)
    return Settings(**values)
