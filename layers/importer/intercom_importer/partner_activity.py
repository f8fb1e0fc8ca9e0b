"""A partner's latest upload, for its schedule expectation: one item per partner in the jobs table,
``pk=PARTNER#<name>, sk=ACTIVITY``, holding ``last_upload_at`` (epoch seconds the latest upload was
validated, never moved back), ``last_job_id``, ``last_key`` and ``uploads``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from intercom_importer import aws
from intercom_importer.errors import JobStoreUnavailableError
from intercom_importer.jobs import JobStore, plain

if TYPE_CHECKING:
    from intercom_importer.settings import Settings

__all__ = ["PartnerActivity", "PartnerActivityLog"]


@dataclass(frozen=True)
class PartnerActivity:
    """A partner's latest upload and how many it made."""

    last_upload_at: float
    last_job_id: str | None = None
    last_key: str | None = None
    uploads: int = 0

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> PartnerActivity:
        values = plain(item)
        return cls(
            last_upload_at=values["last_upload_at"],
            last_job_id=values.get("last_job_id"),
            last_key=values.get("last_key"),
            uploads=values.get("uploads", 0),
        )


class PartnerActivityLog:
    """Partners' latest uploads in the jobs table (a boto3 DynamoDB ``Table``)."""

    def __init__(self, table: Any) -> None:
        self._table = table

    @classmethod
    def of(cls, store: JobStore) -> PartnerActivityLog:
        """The log in the job store's table."""
        return cls(store.table)

    @classmethod
    def from_settings(cls, settings: Settings) -> PartnerActivityLog:
        """The log of this environment: the settings' jobs table (one cached resource)."""
        return cls(aws.table(settings.jobs_table))

    def touch(self, partner: str, *, job_id: str, key: str) -> None:
        """Remember the partner's latest upload: the time it was validated (never moved back). A validation
        retried from the start counts the upload twice in ``uploads``, an approximate count."""
        now = time.time()
        try:
            self._table.update_item(
                Key=_key(partner),
                UpdateExpression="SET last_upload_at = :now, last_job_id = :job, last_key = :key, "
                "uploads = if_not_exists(uploads, :zero) + :one",
                ConditionExpression="attribute_not_exists(last_upload_at) OR last_upload_at < :now",
                ExpressionAttributeValues={
                    ":now": Decimal(str(now)),
                    ":job": job_id,
                    ":key": key,
                    ":zero": 0,
                    ":one": 1,
                },
            )
        except ClientError as exc:
            if aws.error_code(exc) != "ConditionalCheckFailedException":
                raise _unavailable(exc) from exc

    def latest(self, partner: str) -> PartnerActivity | None:
        """The partner's latest upload, or None before its first."""
        try:
            item = self._table.get_item(Key=_key(partner), ConsistentRead=True).get("Item")
        except ClientError as exc:
            raise _unavailable(exc) from exc
        return PartnerActivity.from_item(item) if item else None


def _key(partner: str) -> dict[str, str]:
    return {"pk": f"PARTNER#{partner}", "sk": "ACTIVITY"}


def _unavailable(exc: ClientError) -> JobStoreUnavailableError:
    return JobStoreUnavailableError(f"The job store could not be reached: {aws.error_code(exc) or exc}")
