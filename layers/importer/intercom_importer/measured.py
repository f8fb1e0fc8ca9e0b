"""Intercom's search lag as measured, per workspace: what ``intercom-import doctor`` measured, stored where the
workers read it, so the importer's waiting is measured, not guessed.

One item per Intercom workspace in the jobs table, ``pk=SETTINGS#intercom, sk=<workspace id>`` (the app's
``id_code`` from ``GET /me``), no TTL: ``search_lag_seconds`` (the latest measurement), ``search_lag_max_seconds``
(the largest seen, kept across measurements), ``measured_at`` and ``app_name``.

The workers wait ``effective_lag(search_lag_max_seconds)``, never the bare measurement: one measurement is one
moment of Intercom's load, and search can lag longer the next hour. Waiting too little is the dangerous side: a
lead's create claimed in the ledger (``upsert/people.py``) is sent again once its claim is older than the lag, and
a claim that expires before search shows the first create's lead lets the lead be created twice. So the workers
take the larger of twice the largest measurement and that plus 30 s, never under 30 s and never over 900 s (the
longest SQS delays a message). Nothing measured: the stack's ``IntercomSearchLagSeconds`` (default 180 s).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from intercom_importer import aws
from intercom_importer.errors import JobStoreUnavailableError
from intercom_importer.jobs import now_iso, plain

__all__ = [
    "CACHE_SECONDS",
    "MAX_EFFECTIVE_SECONDS",
    "MIN_EFFECTIVE_SECONDS",
    "PK",
    "MeasuredLag",
    "MeasuredLags",
    "clear_cache",
    "effective_lag",
    "search_lag_seconds",
]

PK = "SETTINGS#intercom"
MARGIN_SECONDS = 30  # added to the largest measurement when doubling it would add less
MIN_EFFECTIVE_SECONDS = 30
MAX_EFFECTIVE_SECONDS = 900  # SQS's longest DelaySeconds: a set-aside chunk cannot wait longer in one delivery
CACHE_SECONDS = 300.0  # a worker environment reads the item again after this long (a new measurement applies)


def effective_lag(max_seconds: float) -> float:
    """The delay the workers use for a workspace whose largest measured search lag is ``max_seconds``:
    ``max(2 * max, max + 30)``, clamped to [30, 900] and rounded up to whole seconds (SQS delays are)."""
    wanted = max(2 * max_seconds, max_seconds + MARGIN_SECONDS)
    return float(min(MAX_EFFECTIVE_SECONDS, max(MIN_EFFECTIVE_SECONDS, math.ceil(wanted))))


@dataclass(frozen=True)
class MeasuredLag:
    """One workspace's measured search lag: the latest, the largest seen, when and for which app."""

    workspace: str
    seconds: float
    max_seconds: float
    measured_at: str
    app_name: str = ""

    @property
    def effective_seconds(self) -> float:
        return effective_lag(self.max_seconds)

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> MeasuredLag:
        values = plain(item)
        return cls(
            workspace=str(values["sk"]),
            seconds=float(values["search_lag_seconds"]),
            max_seconds=float(values["search_lag_max_seconds"]),
            measured_at=str(values.get("measured_at", "")),
            app_name=str(values.get("app_name", "")),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "app_name": self.app_name,
            "search_lag_seconds": self.seconds,
            "search_lag_max_seconds": self.max_seconds,
            "effective_search_lag_seconds": self.effective_seconds,
            "measured_at": self.measured_at,
        }


class MeasuredLags:
    """The measured search lags in the jobs table (a boto3 DynamoDB ``Table``)."""

    def __init__(self, table: Any) -> None:
        self.table = table

    def get(self, workspace: str) -> MeasuredLag | None:
        try:
            item = self.table.get_item(Key=key(workspace), ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return MeasuredLag.from_item(item) if item else None

    def all(self) -> list[MeasuredLag]:
        """Every workspace's measurement (one stack normally reaches one workspace)."""
        query: dict[str, Any] = {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": PK}}
        found: list[MeasuredLag] = []
        try:
            while True:
                page = self.table.query(**query)
                found += [MeasuredLag.from_item(item) for item in page.get("Items", [])]
                if "LastEvaluatedKey" not in page:
                    return found
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        except ClientError as exc:
            raise _unavailable(exc) from exc

    def record(self, workspace: str, seconds: float, *, app_name: str = "", replace_max: bool = False) -> MeasuredLag:
        """Store a measurement: it becomes the latest, and the largest seen when it is larger (or when
        ``replace_max``: a value set by hand replaces the largest too). Returns the stored item."""
        values = {":s": _number(seconds), ":at": now_iso(), ":app": app_name}
        latest = "SET search_lag_seconds = :s, measured_at = :at, app_name = :app"
        try:
            if replace_max:
                return self._update(workspace, latest + ", search_lag_max_seconds = :s", values)
            try:  # the largest seen only grows: the condition keeps a larger one written meanwhile
                return self._update(
                    workspace,
                    latest + ", search_lag_max_seconds = :s",
                    values,
                    condition="attribute_not_exists(search_lag_max_seconds) OR search_lag_max_seconds <= :s",
                )
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise
                return self._update(workspace, latest, values)
        except ClientError as exc:
            raise _unavailable(exc) from exc

    def forget(self, workspace: str) -> bool:
        """Remove the workspace's measurement (the workers go back to the stack's parameter); False: none."""
        try:
            old = self.table.delete_item(Key=key(workspace), ReturnValues="ALL_OLD").get("Attributes")
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return bool(old)

    def _update(self, workspace: str, expression: str, values: dict[str, Any], condition: str = "") -> MeasuredLag:
        request: dict[str, Any] = {
            "Key": key(workspace),
            "UpdateExpression": expression,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            request["ConditionExpression"] = condition
        return MeasuredLag.from_item(self.table.update_item(**request)["Attributes"])


# ------------------------------------------------------------------------------------------ what workers read
_CACHE: dict[tuple[str, str], tuple[float, MeasuredLag | None]] = {}  # (table, workspace) -> (read at, item)
_CACHE_LOCK = threading.Lock()


def search_lag_seconds(
    table: Any, workspace: str, *, default: float, clock: Callable[[], float] = time.monotonic
) -> float:
    """The search lag a worker waits for ``workspace``: ``effective_lag`` of the stored measurement, or
    ``default`` (the stack's ``IntercomSearchLagSeconds``) when none is stored. The item is read at most once per
    ``CACHE_SECONDS`` per environment; a read DynamoDB refuses raises ``JobStoreUnavailableError`` (the chunk is
    retried: the lag is never guessed)."""
    cache_key = (str(getattr(table, "name", "")), workspace)
    with _CACHE_LOCK:
        cached = _CACHE.get(cache_key)
    if cached is None or clock() - cached[0] >= CACHE_SECONDS:
        cached = (clock(), MeasuredLags(table).get(workspace))
        with _CACHE_LOCK:
            _CACHE[cache_key] = cached
    measured = cached[1]
    return measured.effective_seconds if measured is not None else float(default)


def clear_cache() -> None:
    """Forget what this environment read (tests; a new measurement otherwise applies within ``CACHE_SECONDS``)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def key(workspace: str) -> dict[str, str]:
    return {"pk": PK, "sk": workspace}


def _number(seconds: float) -> Decimal:
    return Decimal(str(round(float(seconds), 3)))


def _unavailable(exc: ClientError) -> JobStoreUnavailableError:
    return JobStoreUnavailableError(f"The job store could not be reached: {aws.error_code(exc) or exc}")
