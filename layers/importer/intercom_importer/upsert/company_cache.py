"""The environment's ``company_id -> Intercom id`` cache: a company missing from the import's map is upserted
at most once per environment and import, however many rows and threads ask for it at once."""

from __future__ import annotations

import threading
from collections.abc import Callable


class CompanyCache:
    """``company_id -> Intercom id`` for this environment: a company missing from the import's map is
    upserted at most once per environment and import."""

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()
        self._pending: dict[tuple[str, str], threading.Lock] = {}

    def get_or_create(self, scope: str, company_id: str, create: Callable[[], str]) -> str:
        key = (scope, company_id)
        with self._lock:
            if key in self._ids:
                return self._ids[key]
            pending = self._pending.setdefault(key, threading.Lock())
        with pending:  # one upsert per company even with many threads asking at once
            with self._lock:
                if key in self._ids:
                    return self._ids[key]
            intercom_id = create()
            with self._lock:
                self._ids[key] = intercom_id
                if len(self._ids) > 100_000:
                    self._ids.clear()
            return intercom_id


COMPANIES = CompanyCache()
