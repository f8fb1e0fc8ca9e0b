"""The windows every worker shares: one item per app and window in the jobs table (DynamoDB).

    pk = "RATE#<app>"   sk = "W#<window start, epoch seconds>"
    used, cap, blocked_until, expires_at (see the package's docstring)

:class:`SharedWindows` takes blocks of calls, lowers a window's cap, closes a window and writes a 429's
``blocked_until``, counting its DynamoDB calls in the governor's counters (with the governor's lock).
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer
from botocore.exceptions import BotoCoreError, ClientError

from intercom_importer import aws
from intercom_importer.governor.config import MAX_BLOCKED_WINDOWS, GovernorConfig
from intercom_importer.governor.stats import GovernorCounters
from intercom_importer.governor.window import Fetch, Outcome

logger = logging.getLogger("intercom_importer.governor")

_DESERIALIZER = TypeDeserializer()
_TAKE_UPDATE = "ADD #used :k SET #cap = if_not_exists(#cap, :cap), #exp = if_not_exists(#exp, :exp)"
_TAKE_CONDITION = (
    "(attribute_not_exists(#used) OR #used <= :max_before)"
    " AND (attribute_not_exists(#cap) OR #cap >= :cap)"
    " AND (attribute_not_exists(#blocked) OR #blocked <= :now)"
)
_TAKE_NAMES = {"#used": "used", "#cap": "cap", "#exp": "expires_at", "#blocked": "blocked_until"}


class SharedWindowsUnavailable(Exception):
    """The table could not be used to take a block (the cause is chained): pace on the local share."""


class SharedWindows:
    """One app's window items in ``table`` (a boto3 DynamoDB ``Table``: ``pk``/``sk``, TTL ``expires_at``)."""

    def __init__(
        self,
        table: Any,
        config: GovernorConfig,
        *,
        counters: GovernorCounters,
        lock: threading.Condition,
        clock: Callable[[], float],
    ) -> None:
        self._table = table
        self._config = config
        self._pk = f"RATE#{config.app}"
        self._counters = counters
        self._lock = lock
        self._clock = clock

    def key(self, window_start: float) -> dict[str, str]:
        return {"pk": self._pk, "sk": f"W#{_window_label(window_start)}"}

    def item(self, window_start: float) -> dict[str, Any] | None:
        """The shared item of a window (tests, diagnostics)."""
        item = self._table.get_item(Key=self.key(window_start), ConsistentRead=True).get("Item")
        return _plain(item) if item else None

    def take_block(self, fetch: Fetch) -> Outcome:
        """Take up to ``fetch.k`` calls from the shared window (a few conditional updates at most).

        Raises :class:`SharedWindowsUnavailable` when DynamoDB fails otherwise than on the condition."""
        k, cap = fetch.k, fetch.cap
        expires = int(fetch.end) + self._config.item_ttl_seconds
        for _ in range(4):
            now = self._clock()
            try:
                self._count_dynamo()
                response = self._table.update_item(
                    Key=self.key(fetch.start),
                    UpdateExpression=_TAKE_UPDATE,
                    ConditionExpression=_TAKE_CONDITION,
                    ExpressionAttributeNames=_TAKE_NAMES,
                    ExpressionAttributeValues={
                        ":k": k,
                        ":cap": cap,
                        ":max_before": cap - k,
                        ":exp": expires,
                        ":now": _decimal(now),
                    },
                    ReturnValues="ALL_NEW",
                    ReturnValuesOnConditionCheckFailure="ALL_OLD",
                )
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    raise SharedWindowsUnavailable from exc
                with self._lock:
                    self._counters.refused_updates += 1
                old = self._old_item(exc, fetch)
                if old is None:  # the item vanished (TTL): try again as a fresh window
                    continue
                blocked = float(old.get("blocked_until") or 0)
                used = int(old.get("used") or 0)
                stored_cap = int(old.get("cap", cap))
                if blocked > now:
                    return Outcome(used=used, cap=stored_cap, blocked_until=blocked)
                cap = min(cap, stored_cap)
                left = cap - used
                if left <= 0:
                    return Outcome(used=used, cap=cap, exhausted=True)
                k = min(k, left)
                continue
            except BotoCoreError as exc:
                raise SharedWindowsUnavailable from exc
            attributes = _plain(response.get("Attributes") or {})
            stored_cap = int(attributes.get("cap", cap))
            if stored_cap > cap:  # we know of a lower limit than the worker that created the window
                self.publish_cap(fetch.start, cap)
            return Outcome(granted=k, used=int(attributes.get("used", k)), cap=min(cap, stored_cap))
        return Outcome()

    def _old_item(self, exc: ClientError, fetch: Fetch) -> dict[str, Any] | None:
        raw = exc.response.get("Item")
        if raw:
            return {name: _plain(_DESERIALIZER.deserialize(value)) for name, value in raw.items()}
        try:  # a DynamoDB (emulator) that does not return the old item
            self._count_dynamo()
            return self.item(fetch.start)
        except (ClientError, BotoCoreError):
            return None

    def publish_cap(self, window_start: float, cap: int) -> bool:
        """Lower the shared window's cap (never raises it); whether it was lowered."""
        try:
            self._count_dynamo()
            self._table.update_item(
                Key=self.key(window_start),
                UpdateExpression="SET #cap = :cap, #exp = if_not_exists(#exp, :exp)",
                ConditionExpression="attribute_not_exists(#cap) OR #cap > :cap",
                ExpressionAttributeNames={"#cap": "cap", "#exp": "expires_at"},
                ExpressionAttributeValues={":cap": cap, ":exp": self._config.expiry(window_start)},
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                logger.warning("rate-limit cap not shared", extra={"error": aws.error_code(exc) or type(exc).__name__})
            return False
        except BotoCoreError as exc:
            logger.warning("rate-limit cap not shared", extra={"error": type(exc).__name__})
            return False
        return True

    def close_window(self, window_start: float) -> None:
        """No more grants in this window for anyone (``cap = used``)."""
        try:
            self._count_dynamo()
            self._table.update_item(
                Key=self.key(window_start),
                UpdateExpression="SET #cap = #used",
                ConditionExpression="attribute_exists(#used) AND #cap > #used",
                ExpressionAttributeNames={"#cap": "cap", "#used": "used"},
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                logger.warning(
                    "rate-limit window not closed", extra={"error": aws.error_code(exc) or type(exc).__name__}
                )
            return
        except BotoCoreError as exc:
            logger.warning("rate-limit window not closed", extra={"error": type(exc).__name__})
            return
        with self._lock:
            self._counters.windows_closed += 1
        logger.info("rate-limit window closed: Intercom reports the workspace budget used up")

    def publish_block(self, now: float, until: float) -> None:
        """Write ``blocked_until`` into every window item from now until ``until`` (after a 429)."""
        window_seconds = self._config.window_seconds
        first = math.floor(now / window_seconds)
        last = math.floor(max(now, until - 1e-6) / window_seconds)
        for index in range(first, min(last, first + MAX_BLOCKED_WINDOWS - 1) + 1):
            start = index * window_seconds
            try:
                self._count_dynamo()
                self._table.update_item(
                    Key=self.key(start),
                    UpdateExpression="SET #blocked = :until, #exp = if_not_exists(#exp, :exp)",
                    ConditionExpression="attribute_not_exists(#blocked) OR #blocked < :until",
                    ExpressionAttributeNames={"#blocked": "blocked_until", "#exp": "expires_at"},
                    ExpressionAttributeValues={":until": _decimal(until), ":exp": self._config.expiry(start)},
                )
            except ClientError as exc:
                if aws.error_code(exc) != "ConditionalCheckFailedException":
                    logger.warning(
                        "rate-limit block not shared", extra={"error": aws.error_code(exc) or type(exc).__name__}
                    )
                    return
                continue
            except BotoCoreError as exc:
                logger.warning("rate-limit block not shared", extra={"error": type(exc).__name__})
                return
            with self._lock:
                self._counters.blocks_published += 1
        logger.info("Intercom refused a call (429): every worker waits for the reset", extra={"seconds": until - now})

    def _count_dynamo(self) -> None:
        with self._lock:
            self._counters.dynamo_calls += 1


def _window_label(window_start: float) -> str:
    return f"{window_start:.3f}".rstrip("0").rstrip(".")


def _decimal(value: float) -> Decimal:
    return Decimal(str(round(value, 3)))


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
