"""The workspace's storage: every record and index, one lock, the clock; the lookups every subject uses."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from intercom_sandbox.attributes import DataAttributes
from intercom_sandbox.errors import ApiError, company_not_found
from intercom_sandbox.models import Clock, Company, Contact, Tag


class WorkspaceStore:
    """The state of one workspace; the subjects (``contacts.py``, ``companies.py``, ``tags.py``) add its rules."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._created_at = int(clock())
        self._clear()

    def _clear(self) -> None:
        self._seq = 0
        self._contacts: dict[str, Contact] = {}
        self._by_email: dict[str, set[str]] = {}
        self._by_external_id: dict[str, set[str]] = {}
        self._companies: dict[str, Company] = {}
        self._by_company_id: dict[str, str] = {}
        self._tags: dict[str, Tag] = {}
        self._tag_by_name: dict[str, str] = {}
        self._next_tag_id = 100
        self._plans: dict[str, str] = {}
        self.attributes = DataAttributes()

    def reset(self) -> None:
        """Forget everything (``POST /__sandbox/reset``)."""
        with self._lock:
            self._clear()

    def settle(self) -> int:
        """Every contact made so far becomes searchable with its current values, as once Intercom's search lag
        has passed (``POST /__sandbox/settle``: a test's seeded workspace, as it is before an import); returns
        how many."""
        with self._lock:
            for contact in self._contacts.values():
                contact.created_clock = float("-inf")
                contact.shown = []  # no update waits to reach search
            return len(self._contacts)

    def _now(self) -> tuple[float, int]:
        now = self._clock()
        return now, int(now)

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _live_contact(self, contact_id: str, missing: Callable[[], ApiError]) -> Contact:
        contact = self._contacts.get(contact_id)
        if contact is None or contact.archived:
            raise missing()
        return contact

    def _company(self, intercom_id: object) -> Company:
        company = self._companies.get(intercom_id) if isinstance(intercom_id, str) else None
        if company is None:
            raise company_not_found()
        return company
