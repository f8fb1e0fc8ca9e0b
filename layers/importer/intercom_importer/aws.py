"""Cached AWS client factories: one client per service and execution environment, built on first use.

Endpoints come only from the standard ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_<SERVICE>``
variables that boto3 reads itself, so the same code talks to AWS, LocalStack or moto.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

_CONFIG = Config(
    retries={"mode": "standard", "max_attempts": 5},
    connect_timeout=5,
    read_timeout=30,
    max_pool_connections=32,
)


# One session per environment: its loader keeps the service models, endpoint rules and credentials it has read, so
# the second client (or the DynamoDB resource beside the client) costs a fraction of the first. A boto3 session is
# not thread-safe, so clients are made from it under a lock; the clients themselves are.
_SESSION_LOCK = threading.Lock()


@functools.cache
def _session() -> boto3.session.Session:
    return boto3.session.Session()


@functools.cache
def client(service: str) -> Any:
    """A boto3 client for ``service`` shared by every caller in this environment (thread-safe)."""
    with _SESSION_LOCK:
        return _session().client(service, config=_CONFIG)


@functools.cache
def table(name: str) -> Any:
    """A DynamoDB Table resource for ``name``."""
    with _SESSION_LOCK:
        return _session().resource("dynamodb", config=_CONFIG).Table(name)


NOT_FOUND = frozenset({"NoSuchKey", "404", "NotFound"})
"""The codes S3 answers a missing object with (GetObject, and HeadObject's bare 404)."""


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (``ConditionalCheckFailedException``, ``NoSuchKey``...), or ""."""
    return str(exc.response.get("Error", {}).get("Code", ""))
