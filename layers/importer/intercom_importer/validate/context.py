"""What every step of a validation works with: the clients it calls (``Clients``) and the one ``Context``
(settings, job store, clients) handed from step to step."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from intercom_importer import jobs
from intercom_importer.settings import Settings


@dataclass
class Clients:
    s3: Any
    sqs: Any
    sfn: Any
    intercom: Callable[[], Any]  # builds the Intercom client on first need (custom attributes, companies)
    lambda_: Any = None  # invokes the validator's continuation (None: a file is always read in one go)
    intercom_writes: bool = True  # False: validate only (``intercom-import validate``), Intercom is only read


@dataclass(frozen=True)
class Context:
    """The settings, the job store and the clients of one call of an entry point."""

    settings: Settings
    store: jobs.JobStore
    clients: Clients

    @property
    def s3(self) -> Any:
        return self.clients.s3

    @property
    def bucket(self) -> str:
        """The import bucket (uploads are read from the bucket their event names)."""
        return self.settings.import_bucket
