"""The doctor's checks that need probe contacts: the search lag, measured (a probe lead created, search polled until
it shows), the e-mail case in search (the importer searches lower-cased e-mails), and whether a lead keeps an
external_id. The probes are made through :class:`~importer_cli.doctor.probes.Probes`, which deletes them."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from importer_cli.doctor.model import NOT_CHECKED, OK, WARNING, Check
from importer_cli.doctor.probes import PROBE_NAME, PROBE_PREFIX, Probes, probe_email
from intercom_importer.errors import IntercomValidationError
from intercom_importer.intercom.client import IntercomClient

SEARCH_LAG = "search lag"
UPDATE_LAG = "search shows updates"
EMAIL_CASE = "email case in search"
LEAD_EXTERNAL_ID = "lead external_id"

FIRST_POLL_INTERVAL = 1.0
LAST_POLL_INTERVAL = 5.0
BACKOFF_SECONDS = 30.0
"""The interval grows by one second per this many seconds waited, from the first to the last interval."""

LEAD_FIX = (
    "import rows that carry an external_id with the role user (--role user, or a role column), or leave their "
    "external_id empty: a lead row with an external_id would fail or lose its external_id"
)


@dataclass(frozen=True)
class Waiting:
    """How the lag probe waits: at most ``max_wait`` seconds, on ``clock`` and ``sleep``; ``on_wait(seconds)`` is told
    how long it has waited so far, after each poll that missed."""

    max_wait: float = 600.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    on_wait: Callable[[float], None] | None = None


@dataclass(frozen=True)
class LagProbe:
    """The lag probe lead, as created: its id and e-mail, and the e-mail Intercom stored."""

    contact_id: str
    email: str
    stored_email: str | None


def poll_interval(waited: float) -> float:
    """Seconds until the next poll: 1 s at first, one more per 30 s waited, at most 5 s."""
    return min(LAST_POLL_INTERVAL, FIRST_POLL_INTERVAL + waited / BACKOFF_SECONDS)


def search_finds(client: IntercomClient, contact_id: str, query: dict[str, Any]) -> bool:
    return any(str(c.get("id")) == contact_id for c in client.search_contacts(query))


def measure_search_lag(
    client: IntercomClient, probes: Probes, tag: str, waiting: Waiting
) -> tuple[Check, float | None, LagProbe | None]:
    """``search lag``: create the probe lead, poll search for it; the check, the lag in seconds (``None`` when it did
    not show within ``max_wait``) and the probe (``None`` if Intercom refused it)."""
    email = probe_email(tag)
    try:
        contact = probes.create_lead({"role": "lead", "email": email, "name": PROBE_NAME})
    except IntercomValidationError as exc:
        return Check(SEARCH_LAG, NOT_CHECKED, f"Intercom refused the probe lead: {exc.message}"), None, None
    created = waiting.clock()
    probe = LagProbe(str(contact["id"]), email, contact.get("email"))
    query = {"field": "email", "operator": "IN", "value": [email, email.lower()]}
    while True:
        found = search_finds(client, probe.contact_id, query)
        waited = waiting.clock() - created
        if found:
            lag = round(waited, 1)
            return Check(SEARCH_LAG, OK, _lag_detail(lag, waited)), lag, probe
        if waited >= waiting.max_wait:
            return _never_showed(waiting.max_wait), None, probe
        if waiting.on_wait is not None:
            waiting.on_wait(waited)
        waiting.sleep(min(poll_interval(waited), max(0.0, waiting.max_wait - waited)))


def _lag_detail(lag: float, waited: float) -> str:
    precision = round(poll_interval(waited), 1)
    return (
        f"a new lead showed in search {lag:g} s after Intercom answered its create (to within about "
        f"{precision:g} s, the poll interval)"
    )


def _never_showed(max_wait: float) -> Check:
    return Check(
        SEARCH_LAG,
        WARNING,
        f"the probe lead did not show in search within {max_wait:g} s (--max-wait)",
        f"run the doctor again with a longer --max-wait (e.g. {max(1200, int(max_wait * 2))}); until the lag is known, "
        "keep the stack's IntercomSearchLagSeconds at its default or above",
    )


def update_lag_check(
    client: IntercomClient, probe: LagProbe | None, lag: float | None, waiting: Waiting
) -> tuple[Check, float | None]:
    """``search shows updates``: the lag probe renamed (``PUT``), search polled until it shows the new name; the
    check and the seconds it took (None: not measured). Intercom documents a delay for new contacts only; an import
    compares its rows with what search shows, so values search shows late could be taken for current."""
    if probe is None or lag is None:
        return Check(UPDATE_LAG, NOT_CHECKED, "needs the lag probe to show in search first"), None
    renamed = f"{PROBE_NAME} renamed"
    client.update_contact(probe.contact_id, {"name": renamed})
    updated = waiting.clock()
    query = {"field": "email", "operator": "IN", "value": [probe.email, probe.email.lower()]}
    while True:
        shown = [c for c in client.search_contacts(query) if str(c.get("id")) == probe.contact_id]
        waited = waiting.clock() - updated
        if shown and shown[0].get("name") == renamed:
            return _update_lag_result(round(waited, 1)), round(waited, 1)
        if waited >= waiting.max_wait:
            return _update_lag_result(None, waiting.max_wait), None
        if waiting.on_wait is not None:
            waiting.on_wait(waited)
        waiting.sleep(min(poll_interval(waited), max(0.0, waiting.max_wait - waited)))


def _update_lag_result(seconds: float | None, max_wait: float = 0.0) -> Check:
    if seconds is not None and seconds <= FIRST_POLL_INTERVAL:
        return Check(
            UPDATE_LAG, OK, f"search showed the probe's new name {seconds:g} s after the update (its first poll)"
        )
    late = f"{seconds:g} s" if seconds is not None else f"more than {max_wait:g} s (--max-wait)"
    return Check(
        UPDATE_LAG,
        WARNING,
        f"search showed the probe's old name for {late} after an update: an import compares each row with what search "
        "shows, so within that time after a value was changed (by an import or anyone), a row holding the old value "
        "would be taken for unchanged and not written",
        f"leave more than {late} between two imports of the same contacts (a corrected file right after a wrong one "
        "included)",
    )


def email_case_check(client: IntercomClient, probe: LagProbe | None, lag: float | None) -> Check:
    """``email case in search``: the lag probe (created with capitals) searched by its lower-cased e-mail, as the
    importer searches."""
    if probe is None or lag is None:
        return Check(EMAIL_CASE, NOT_CHECKED, "needs the lag probe to show in search first")
    stored = f"Intercom stored the e-mail as {'sent' if probe.stored_email == probe.email else 'lower-cased'}"
    if search_finds(client, probe.contact_id, {"field": "email", "operator": "=", "value": probe.email.lower()}):
        return Check(EMAIL_CASE, OK, f"search matches e-mails whatever their case ({stored})")
    return Check(
        EMAIL_CASE,
        WARNING,
        f"search by the lower-cased e-mail misses a contact stored with capitals ({stored}): the importer searches "
        "lower-cased e-mails, so it would not find contacts others stored with capitals and would create duplicates",
        "before importing, lower-case the e-mails of the workspace's existing contacts (an export, then an import "
        "with existing=update), or deduplicate afterwards in Intercom",
    )


def lead_external_id_check(probes: Probes, tag: str) -> Check:
    """``lead external_id``: a second probe lead, created with an external_id: does Intercom keep it?"""
    external_id = f"{PROBE_PREFIX}{tag}"
    try:
        contact = probes.create_lead({"role": "lead", "external_id": external_id, "name": PROBE_NAME})
    except IntercomValidationError as exc:
        return Check(LEAD_EXTERNAL_ID, WARNING, f"Intercom refuses a lead with an external_id: {exc.message}", LEAD_FIX)
    if contact.get("external_id") == external_id:
        return Check(LEAD_EXTERNAL_ID, OK, "Intercom keeps the external_id of a lead")
    return Check(
        LEAD_EXTERNAL_ID,
        WARNING,
        f"Intercom accepted a lead with an external_id but answered external_id={contact.get('external_id')!r}",
        LEAD_FIX,
    )
