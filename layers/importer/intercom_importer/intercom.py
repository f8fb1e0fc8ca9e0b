"""The Intercom REST client of the importer workers (API version pinned to 2.14).

One :class:`IntercomClient` is shared by the threads of a worker: it holds one ``requests.Session``
whose connection pool is sized for that concurrency, no other mutable state than its counters, and
paces itself through a :class:`~intercom_importer.ratelimit.RateLimiter`.

Retry policy (``RetryPolicy`` holds the numbers):

====================================  ==========================  =========================================
Outcome of an attempt                 Idempotent call             Non-idempotent create with
                                      (GET, PUT, search, upsert,  ``retry_on_ambiguous=False``
                                      attach, tag, archive)       (a lead ``POST /contacts``)
====================================  ==========================  =========================================
2xx                                   returned                    returned
429                                   wait until X-RateLimit-     same (the server refused the call, nothing
                                      Reset + jitter (or expo-    happened), then ``IntercomRateLimitError``
                                      nential without it), up to
                                      ``max_rate_limit_retries``,
                                      then ``IntercomRateLimitError``
500/502/503/504/408                   backoff + full jitter, up   **not retried**:
                                      to ``max_retries``, then    ``IntercomServerError`` at once; the
                                      ``IntercomServerError``     contact may or may not exist
connect timeout / refused             backoff, up to              same (the request never left this host)
                                      ``max_retries``, then
                                      ``IntercomConnectionError``
read timeout / reset after sending    backoff, up to              **not retried**:
                                      ``max_retries``, then       ``IntercomConnectionError`` at once
                                      ``IntercomConnectionError``
other status                          the named error at once     the named error at once
====================================  ==========================  =========================================

So after a call with ``retry_on_ambiguous=False``, an ``IntercomServerError`` or
``IntercomConnectionError`` means *the outcome is unknown*: search again before re-creating.

A retried user create whose earlier attempt may have been applied unseen (read timeout, reset after sending,
5xx) can be answered 409 about the very contact that attempt made: the ``IntercomConflictError`` then carries
``ambiguous_since``, when the first such attempt was sent (the ``clock``'s epoch seconds), so the caller can
tell its own create (``created_at`` not before it) from a contact that existed already.

Logging: failures are logged with the HTTP method, the route *template* (``/contacts/{contact_id}``,
never the URL with ids), the status, Intercom's error code and ``request_id``. Tokens, emails, request
and response bodies are never logged.
"""

from __future__ import annotations

import functools
import http.cookiejar
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
import urllib3.exceptions
from requests.adapters import HTTPAdapter

from intercom_importer.errors import (
    IntercomAuthError,
    IntercomConflictError,
    IntercomConnectionError,
    IntercomError,
    IntercomForbiddenError,
    IntercomGoneError,
    IntercomNotFoundError,
    IntercomPermanentError,
    IntercomRateLimitError,
    IntercomServerError,
    IntercomValidationError,
    SettingsError,
)
from intercom_importer.ratelimit import NullRateLimiter, RateLimiter
from intercom_importer.sequences import batched, unique

__all__ = [
    "DEFAULT_POOL_SIZE",
    "DEFAULT_TIMEOUT",
    "INTERCOM_VERSION",
    "MAX_FILTERS_PER_GROUP",
    "MAX_IN_VALUES",
    "MAX_PER_PAGE",
    "REGION_URLS",
    "TAG_BATCH_SIZE",
    "USER_AGENT",
    "ClientStats",
    "IntercomClient",
    "RetryPolicy",
    "build_client",
    "make_session",
    "parse_conflict",
    "resolve_base_url",
]

logger = logging.getLogger(__name__)

JSONDict = dict[str, Any]

INTERCOM_VERSION = "2.14"
"""``Intercom-Version`` sent on every call; the contract is devtools/intercom_openapi/...-2.14.yaml."""

REGION_URLS: Mapping[str, str] = {
    "US": "https://api.intercom.io",
    "EU": "https://api.eu.intercom.io",
    "AU": "https://api.au.intercom.io",
}

USER_AGENT = f"intercom-csv-importer/0.1.0 python-requests/{requests.__version__}"
DEFAULT_TIMEOUT: tuple[float, float] = (3.05, 20.0)
DEFAULT_POOL_SIZE = 32

MAX_PER_PAGE = 150
"""Intercom's maximum page size for any list or search."""
MAX_IN_VALUES = 100
"""Values per ``IN`` filter (Intercom documents no maximum; 100 is the brief's safe chunk)."""
MAX_FILTERS_PER_GROUP = 15
"""Filters per AND/OR group (documented limit)."""
TAG_BATCH_SIZE = 50
"""Contacts per ``POST /tags`` call (Intercom's recommendation against timeouts)."""


def is_transient(status: int) -> bool:
    """A status a later attempt may not get: a timeout or any server error but 501 (Not Implemented)."""
    return status == 408 or (status >= 500 and status != 501)


_CONFLICT_ID = re.compile(r"id=(\w+)")


def resolve_base_url(region: str | None, base_url: str | None) -> str:
    """The API root to call: ``base_url`` when given (sandbox, proxy), else the region's host.

    ``region`` is ``US``, ``EU`` or ``AU`` (any case); ``None`` means ``US``, Intercom's default host.
    Raises ``SettingsError`` for an unknown region or a base URL that is not http(s).
    """
    if base_url:
        parts = urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise SettingsError(f"The Intercom base URL {base_url!r} is not an http(s) URL.")
        return base_url.strip().rstrip("/")
    key = (region or "US").strip().upper()
    try:
        return REGION_URLS[key]
    except KeyError:
        raise SettingsError(
            f"Unknown Intercom region {region!r}; use one of {', '.join(REGION_URLS)} or set a base URL."
        ) from None


@functools.cache
def make_session(pool_size: int = DEFAULT_POOL_SIZE) -> requests.Session:
    """The process-wide ``requests.Session`` for a pool size, created on first use.

    The pool holds ``pool_size`` keep-alive connections per host so that many threads can share it;
    urllib3's own retries are off (the client retries). ``trust_env`` is off, so neither ``~/.netrc``
    (which would replace the Authorization header) nor proxy variables apply: point ``base_url`` at a
    proxy instead. Cookies are refused, so concurrent calls share no state through the session.
    """
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long the client retries (see the module docstring for the rules)."""

    max_retries: int = 3
    """Retries after 5xx, timeouts and connection errors."""
    max_rate_limit_retries: int = 8
    """Retries after 429."""
    backoff_base: float = 0.5
    backoff_max: float = 8.0
    rate_limit_jitter: float = 1.0
    """Up to this many seconds are added to the wait until ``X-RateLimit-Reset``."""
    rate_limit_backoff_base: float = 2.0
    """First wait after a 429 without a usable ``X-RateLimit-Reset``; doubles per retry."""
    max_rate_limit_wait: float = 60.0
    """Cap of one wait after a 429 (guards against a skewed reset)."""


@dataclass(frozen=True)
class ClientStats:
    """A snapshot of a client's counters (for the benchmark and the chunk summary)."""

    calls: int = 0
    """HTTP attempts made (retries included)."""
    by_status: Mapping[int, int] = field(default_factory=dict)
    connection_errors: int = 0
    retries: int = 0
    """Attempts repeated after a 5xx, timeout or connection error."""
    rate_limited_waits: int = 0
    """Attempts repeated after a 429."""
    seconds_waited: float = 0.0
    """Time slept by the client in backoff and 429 waits."""
    limiter_seconds: float = 0.0
    """Time spent blocked in ``limiter.acquire``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "connection_errors": self.connection_errors,
            "retries": self.retries,
            "rate_limited_waits": self.rate_limited_waits,
            "seconds_waited": round(self.seconds_waited, 3),
            "limiter_seconds": round(self.limiter_seconds, 3),
        }


class _StatsRecorder:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._calls = 0
            self._by_status: dict[int, int] = {}
            self._connection_errors = 0
            self._retries = 0
            self._rate_limited_waits = 0
            self._seconds_waited = 0.0
            self._limiter_seconds = 0.0

    def call(self) -> None:
        with self._lock:
            self._calls += 1

    def status(self, status: int) -> None:
        with self._lock:
            self._by_status[status] = self._by_status.get(status, 0) + 1

    def connection_error(self) -> None:
        with self._lock:
            self._connection_errors += 1

    def waited(self, seconds: float, *, rate_limited: bool) -> None:
        with self._lock:
            self._seconds_waited += seconds
            if rate_limited:
                self._rate_limited_waits += 1
            else:
                self._retries += 1

    def limiter(self, seconds: float) -> None:
        with self._lock:
            self._limiter_seconds += seconds

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(
                calls=self._calls,
                by_status=dict(self._by_status),
                connection_errors=self._connection_errors,
                retries=self._retries,
                rate_limited_waits=self._rate_limited_waits,
                seconds_waited=self._seconds_waited,
                limiter_seconds=self._limiter_seconds,
            )


@dataclass(frozen=True)
class _ErrorDetail:
    code: str | None
    message: str | None
    field: str | None
    request_id: str | None


def parse_conflict(message: str | None) -> tuple[str | None, bool]:
    """``(existing_id, archived)`` from a 409 message such as
    ``"An archived contact matching those details already exists with id=6762f0dd1bb69f9f2193bb83"``."""
    if not message:
        return None, False
    match = _CONFLICT_ID.search(message)
    return (match.group(1) if match else None), message.startswith("An archived")


class IntercomClient:
    """Thread-safe client for the Intercom REST API calls the importer makes.

    Every method returns the parsed JSON of the response (iterators yield list items) and raises a
    named ``IntercomError`` subclass for any failure. Build it with :func:`build_client` in Lambda
    code; pass ``session``, ``sleep``, ``clock`` and ``rand`` in tests.
    """

    def __init__(
        self,
        token: str,
        base_url: str = REGION_URLS["US"],
        *,
        session: requests.Session | None = None,
        limiter: RateLimiter | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        pool_size: int = DEFAULT_POOL_SIZE,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = random.random,
    ) -> None:
        if not token or not token.strip():
            raise SettingsError("The Intercom access token is empty.")
        self.base_url = resolve_base_url(None, base_url)
        self.limiter: RateLimiter = limiter if limiter is not None else NullRateLimiter()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._session = session if session is not None else make_session(pool_size)
        self._headers = {
            "Authorization": f"Bearer {token.strip()}",
            "Accept": "application/json",
            "Intercom-Version": INTERCOM_VERSION,
            "User-Agent": USER_AGENT,
        }
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self._stats = _StatsRecorder()

    def __repr__(self) -> str:  # never shows the token
        return f"IntercomClient(base_url={self.base_url!r})"

    @property
    def stats(self) -> ClientStats:
        """A consistent snapshot of the counters since creation or :meth:`reset_stats`."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    # --- admins --------------------------------------------------------------------------------

    def me(self) -> JSONDict:
        """``GET /me``: the admin owning the token and its workspace (``app.region`` included)."""
        return self._call("GET", "/me")

    # --- contacts ------------------------------------------------------------------------------

    def create_contact(self, body: Mapping[str, Any], *, retry_on_ambiguous: bool | None = None) -> JSONDict:
        """``POST /contacts``: create a user or a lead; returns the contact.

        ``retry_on_ambiguous`` says whether the create may be repeated after a 5xx, a read timeout or
        a connection reset, i.e. when it may already have succeeded. The default (``None``) decides
        by role: **users** are retried (a duplicate user is refused with a 409 that carries the id),
        **leads** are not (Intercom does not deduplicate leads, a repeat would create a second
        one). When not retried, such a failure raises ``IntercomServerError`` or
        ``IntercomConnectionError`` at once: the outcome is unknown, search before creating again.
        429 and failures to connect are always retried: the request was not processed.

        Raises ``IntercomConflictError`` (409) with ``existing_id`` and ``archived`` for an existing
        user, and ``IntercomValidationError`` for a refused value.
        """
        if retry_on_ambiguous is None:
            retry_on_ambiguous = body.get("role", "user") != "lead"
        return self._call("POST", "/contacts", body=body, retry_ambiguous=retry_on_ambiguous)

    def update_contact(self, contact_id: str, body: Mapping[str, Any]) -> JSONDict:
        """``PUT /contacts/{contact_id}``: partial update; returns the contact.

        Raises ``IntercomNotFoundError`` (also for a contact merged away), ``IntercomConflictError`` when
        the new email/external_id belongs to another user.
        """
        return self._call("PUT", "/contacts/{contact_id}", path={"contact_id": contact_id}, body=body)

    def get_contact(self, contact_id: str) -> JSONDict:
        """``GET /contacts/{contact_id}``. Raises ``IntercomNotFoundError``/``IntercomGoneError`` (merged)."""
        return self._call("GET", "/contacts/{contact_id}", path={"contact_id": contact_id})

    def find_contact_by_external_id(self, external_id: str) -> JSONDict | None:
        """``GET /contacts/find_by_external_id/{external_id}``: the user, or ``None`` on 404.

        Users only (Intercom does not look up leads this way); not subject to search lag.
        """
        try:
            return self._call(
                "GET",
                "/contacts/find_by_external_id/{external_id}",
                path={"external_id": external_id},
                expected=(404,),
            )
        except IntercomNotFoundError:
            return None

    def search_contacts(self, query: Mapping[str, Any], *, per_page: int = MAX_PER_PAGE) -> Iterator[JSONDict]:
        """``POST /contacts/search``: yield every matching contact, page after page.

        ``query`` is a single filter ``{field, operator, value}`` or a group
        ``{operator: "AND"|"OR", value: [filters]}``. Pages are followed through
        ``pages.next.starting_after``, sent back *in the body* (``pagination.starting_after``).
        Recently created contacts may be missing for a few minutes (Intercom's indexing lag).
        """
        pagination: JSONDict = {"per_page": _check_per_page(per_page)}
        seen: set[str] = set()
        while True:
            page = self._call("POST", "/contacts/search", body={"query": query, "pagination": pagination})
            yield from page.get("data") or []
            cursor = _next_cursor(page, seen)
            if cursor is None:
                return
            pagination = {"per_page": per_page, "starting_after": cursor}

    def list_contacts(self, per_page: int = MAX_PER_PAGE) -> Iterator[JSONDict]:
        """``GET /contacts``: yield every contact (cursor pagination in the query string)."""
        params: JSONDict = {"per_page": _check_per_page(per_page)}
        seen: set[str] = set()
        while True:
            page = self._call("GET", "/contacts", params=params)
            yield from page.get("data") or []
            cursor = _next_cursor(page, seen)
            if cursor is None:
                return
            params = {"per_page": per_page, "starting_after": cursor}

    def archive_contact(self, contact_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/archive``; returns ``{type, id, external_id, archived}``."""
        return self._call("POST", "/contacts/{contact_id}/archive", path={"contact_id": contact_id})

    def unarchive_contact(self, contact_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/unarchive`` (restores a contact behind an "archived" 409)."""
        return self._call("POST", "/contacts/{contact_id}/unarchive", path={"contact_id": contact_id})

    def search_by_identifiers(
        self,
        emails: Iterable[str],
        external_ids: Iterable[str],
        *,
        per_page: int = MAX_PER_PAGE,
        max_in_values: int = MAX_IN_VALUES,
        max_filters: int = MAX_FILTERS_PER_GROUP,
    ) -> list[JSONDict]:
        """Every contact whose email or external_id is one of the given ones, each contact once.

        Emails are trimmed and lower-cased (compare case-insensitively on your side too). The values
        are split into ``IN`` filters of at most ``max_in_values`` values, combined in ``OR`` groups
        of at most ``max_filters`` filters, one search (all its pages) per group. One email can match
        several contacts (a lead and a user, duplicate leads): all are returned.
        """
        wanted_emails = unique(e.strip().lower() for e in emails if e and e.strip())
        wanted_ids = unique(str(x) for x in external_ids if x is not None and str(x) != "")
        filters = [
            {"field": "email", "operator": "IN", "value": chunk} for chunk in batched(wanted_emails, max_in_values)
        ] + [{"field": "external_id", "operator": "IN", "value": chunk} for chunk in batched(wanted_ids, max_in_values)]
        found: dict[str, JSONDict] = {}
        anonymous: list[JSONDict] = []
        for group in batched(filters, max_filters):
            query = group[0] if len(group) == 1 else {"operator": "OR", "value": group}
            for contact in self.search_contacts(query, per_page=per_page):
                contact_id = contact.get("id")
                if contact_id is None:
                    anonymous.append(contact)
                else:
                    found.setdefault(str(contact_id), contact)
        return [*found.values(), *anonymous]

    # --- companies -----------------------------------------------------------------------------

    def upsert_company(self, body: Mapping[str, Any]) -> JSONDict:
        """``POST /companies``: create or update the company with ``body["company_id"]``.

        Returns the company; its ``id`` (Intercom's) is what :meth:`attach_contact_to_company` needs.
        Retried after ambiguous failures only when ``company_id`` is set (then it is an upsert).
        In 2.14 the description types company ``custom_attributes`` values as strings.
        """
        return self._call("POST", "/companies", body=body, retry_ambiguous=bool(body.get("company_id")))

    def find_company(self, company_id: str) -> JSONDict | None:
        """``GET /companies?company_id=...``: the company with your ``company_id``, or ``None`` (404).

        The 2.14 description types the answer as a ``company_list``; Intercom has also been seen to
        return a single ``company`` (intercom-ruby #612): both shapes are accepted.
        """
        try:
            found = self._call("GET", "/companies", params={"company_id": company_id})
        except IntercomNotFoundError:
            return None
        if found.get("type") == "list":
            data = found.get("data") or []
            return data[0] if data else None
        return found

    def attach_contact_to_company(self, contact_id: str, company_intercom_id: str) -> JSONDict:
        """``POST /contacts/{contact_id}/companies {"id": company_intercom_id}``; returns the company.

        ``company_intercom_id`` is Intercom's ``id`` of the company, not your ``company_id``
        (that gives ``IntercomNotFoundError``, code ``company_not_found``).
        """
        return self._call(
            "POST",
            "/contacts/{contact_id}/companies",
            path={"contact_id": contact_id},
            body={"id": company_intercom_id},
        )

    def list_companies(self, per_page: int = 50) -> Iterator[JSONDict]:
        """``POST /companies/list``: yield every company that has at least one contact.

        Page-number pagination; Intercom stops at 10,000 companies (use the scroll API beyond).
        """
        _check_per_page(per_page)
        page_number = 1
        while True:
            page = self._call("POST", "/companies/list", params={"page": page_number, "per_page": per_page})
            data = page.get("data") or []
            yield from data
            pages = page.get("pages") or {}
            total_pages = pages.get("total_pages") if isinstance(pages, dict) else None
            if not data or not isinstance(total_pages, int) or page_number >= total_pages:
                return
            page_number += 1

    # --- data attributes -----------------------------------------------------------------------

    def list_data_attributes(
        self, model: Literal["contact", "company"], *, include_archived: bool = False
    ) -> list[JSONDict]:
        """``GET /data_attributes?model=...``: standard and custom attributes of contacts or companies."""
        if model not in ("contact", "company"):
            raise ValueError("model must be 'contact' or 'company'")
        params: JSONDict = {"model": model}
        if include_archived:
            params["include_archived"] = "true"
        page = self._call("GET", "/data_attributes", params=params)
        return list(page.get("data") or [])

    def create_data_attribute(
        self,
        name: str,
        model: Literal["contact", "company"],
        data_type: str,
        *,
        options: Sequence[str] | None = None,
        description: str | None = None,
        retry_on_ambiguous: bool = False,
    ) -> JSONDict:
        """``POST /data_attributes``: create a custom attribute; returns it.

        ``data_type`` is ``string|integer|float|boolean|date|datetime``, or ``options`` for a list
        attribute with ``options`` (at least two values). A repeated create is refused with
        ``IntercomValidationError`` ("You already have ..."), so by default an ambiguous failure is
        not retried: re-list the attributes instead.
        """
        body: JSONDict = {"name": name, "model": model, "data_type": data_type}
        if options is not None:
            body["options"] = [{"value": str(value)} for value in options]
        if description is not None:
            body["description"] = description
        return self._call("POST", "/data_attributes", body=body, retry_ambiguous=retry_on_ambiguous)

    # --- tags ----------------------------------------------------------------------------------

    def create_tag(self, name: str) -> JSONDict:
        """``POST /tags {"name": name}``: find or create the tag (names are case-insensitive)."""
        return self._call("POST", "/tags", body={"name": name})

    def tag_contacts(self, tag_name: str, contact_ids: Sequence[str], *, batch_size: int = TAG_BATCH_SIZE) -> JSONDict:
        """Tag contacts (Intercom ids) with ``tag_name``, creating the tag if needed; returns the tag.

        Sends ``POST /tags {"name", "users": [{"id"}...]}`` per batch of at most ``batch_size``
        distinct ids. Tagging is idempotent, so after a failure the whole call can be repeated.
        """
        return self._tag_many(tag_name, "users", contact_ids, batch_size)

    def tag_companies(self, tag_name: str, company_ids: Sequence[str], *, batch_size: int = TAG_BATCH_SIZE) -> JSONDict:
        """Tag companies (Intercom ids, not your ``company_id``) with ``tag_name``, as :meth:`tag_contacts`
        does contacts: ``POST /tags {"name", "companies": [{"id"}...]}`` per batch (``tag_company_request``)."""
        return self._tag_many(tag_name, "companies", company_ids, batch_size)

    def _tag_many(self, tag_name: str, targets: str, ids: Sequence[str], batch_size: int) -> JSONDict:
        """One ``POST /tags`` per batch of distinct ``ids`` under ``targets`` (``users`` or ``companies``:
        Intercom refuses both in one request)."""
        if not 1 <= batch_size <= TAG_BATCH_SIZE:
            raise ValueError(f"batch_size must be between 1 and {TAG_BATCH_SIZE}")
        distinct = unique(str(i) for i in ids)
        if not distinct:
            return self.create_tag(tag_name)
        tag: JSONDict = {}
        for batch in batched(distinct, batch_size):
            tag = self._call("POST", "/tags", body={"name": tag_name, targets: [{"id": i} for i in batch]})
        return tag

    def list_tags(self) -> list[JSONDict]:
        """``GET /tags``: every tag of the workspace."""
        return list(self._call("GET", "/tags").get("data") or [])

    # --- transport -----------------------------------------------------------------------------

    def _call(
        self,
        method: str,
        route: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        retry_ambiguous: bool = True,
        expected: tuple[int, ...] = (),
    ) -> JSONDict:
        """Send one logical call with the retry policy; return the parsed JSON of a 2xx."""
        url = self.base_url + _expand(route, path)
        headers = dict(self._headers)
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        policy = self.retry
        transient_retries = 0
        rate_limit_retries = 0
        ambiguous_since: float | None = None  # when the first attempt that may have been applied unseen was sent
        while True:
            self._acquire()
            self._stats.call()
            sent_at = self._clock()
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException as exc:
                self._stats.connection_error()
                not_sent = _never_sent(exc)
                if not not_sent and ambiguous_since is None:
                    ambiguous_since = sent_at
                if (not_sent or retry_ambiguous) and transient_retries < policy.max_retries:
                    transient_retries += 1
                    self._log_retry(method, route, None, transient_retries, type(exc).__name__)
                    self._backoff(transient_retries)
                    continue
                lost = _connection_error(exc, method, route, not_sent, transient_retries)
                self._log_failure(lost, method, route, logging.WARNING)
                raise lost from exc

            status = response.status_code
            self._stats.status(status)
            self._observe(response)
            if 200 <= status < 300:
                return _parse_success(response, method, route)
            if status == 429 and rate_limit_retries < policy.max_rate_limit_retries:
                rate_limit_retries += 1
                self._log_retry(method, route, response, rate_limit_retries, "rate_limited")
                self._wait_for_reset(response, rate_limit_retries)
                continue
            if is_transient(status) and retry_ambiguous and transient_retries < policy.max_retries:
                ambiguous_since = sent_at if ambiguous_since is None else ambiguous_since
                transient_retries += 1
                self._log_retry(method, route, response, transient_retries, "server_error")
                self._backoff(transient_retries)
                continue
            retries = rate_limit_retries if status == 429 else transient_retries
            error = _error_from_response(response, method, route, retries=retries, ambiguous_since=ambiguous_since)
            self._log_failure(error, method, route, _failure_level(status, expected))
            raise error

    def _acquire(self) -> None:
        started = time.monotonic()
        self.limiter.acquire()
        self._stats.limiter(time.monotonic() - started)

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        limit = _int_header(headers, "X-RateLimit-Limit")
        remaining = _int_header(headers, "X-RateLimit-Remaining")
        reset_at = _float_header(headers, "X-RateLimit-Reset")
        self.limiter.observe(limit, remaining, reset_at, response.status_code)

    def _backoff(self, attempt: int) -> None:
        """Exponential backoff with full jitter before retry number ``attempt`` (1-based)."""
        ceiling = min(self.retry.backoff_max, self.retry.backoff_base * 2 ** (attempt - 1))
        delay = self._rand() * ceiling
        self._stats.waited(delay, rate_limited=False)
        self._sleep(delay)

    def _wait_for_reset(self, response: requests.Response, attempt: int) -> None:
        """Sleep until ``X-RateLimit-Reset`` plus jitter, or back off exponentially without it."""
        policy = self.retry
        reset_at = _float_header(response.headers, "X-RateLimit-Reset")
        now = self._clock()
        if reset_at is not None and reset_at > now:
            delay = min(reset_at - now, policy.max_rate_limit_wait) + self._rand() * policy.rate_limit_jitter
        else:
            ceiling = min(policy.max_rate_limit_wait, policy.rate_limit_backoff_base * 2 ** (attempt - 1))
            delay = ceiling / 2 + self._rand() * ceiling / 2
        self._stats.waited(delay, rate_limited=True)
        self._sleep(delay)

    @staticmethod
    def _log_retry(method: str, route: str, response: requests.Response | None, attempt: int, reason: str) -> None:
        logger.info(
            "Intercom call retried",
            extra={
                "http_method": method,
                "route": route,
                "status": response.status_code if response is not None else None,
                "intercom_request_id": _request_id_header(response) if response is not None else None,
                "retry": attempt,
                "reason": reason,
            },
        )

    @staticmethod
    def _log_failure(error: IntercomError, method: str, route: str, level: int) -> None:
        logger.log(
            level,
            "Intercom call failed",
            extra={
                "http_method": method,
                "route": route,
                "status": error.status,
                "error_code": error.code,
                "intercom_request_id": error.request_id,
                "error_type": type(error).__name__,
            },
        )


def build_client(
    *,
    token: str,
    base_url: str,
    limiter: RateLimiter | None = None,
    timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    pool_size: int = DEFAULT_POOL_SIZE,
    retry: RetryPolicy | None = None,
) -> IntercomClient:
    """The client for Lambda code: the process-wide session of ``pool_size`` (see :func:`make_session`),
    so warm invocations reuse their keep-alive connections. Use ``resolve_base_url`` for ``base_url``."""
    return IntercomClient(
        token,
        base_url,
        session=make_session(pool_size),
        limiter=limiter,
        timeout=timeout,
        pool_size=pool_size,
        retry=retry,
    )


# --- helpers -------------------------------------------------------------------------------------


def _expand(route: str, path: Mapping[str, str] | None) -> str:
    if not path:
        return route
    values = {}
    for name, value in path.items():
        text = str(value) if value is not None else ""
        if not text:
            raise ValueError(f"{name} must not be empty")
        values[name] = quote(text, safe="")
    return route.format(**values)


def _check_per_page(per_page: int) -> int:
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    return per_page


def _next_cursor(page: Mapping[str, Any], seen: set[str]) -> str | None:
    pages = page.get("pages")
    nxt = pages.get("next") if isinstance(pages, dict) else None
    cursor = nxt.get("starting_after") if isinstance(nxt, dict) else None
    if not cursor or not isinstance(cursor, str):
        return None
    if cursor in seen:
        raise IntercomServerError(
            "Intercom returned the same page cursor twice; the listing was stopped to avoid a loop."
        )
    seen.add(cursor)
    return cursor


def _int_header(headers: Mapping[str, str], name: str) -> int | None:
    value = headers.get(name)
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _float_header(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def _request_id_header(response: requests.Response) -> str | None:
    return response.headers.get("X-Request-Id") or response.headers.get("X-Intercom-Request-Id")


def _never_sent(exc: requests.RequestException) -> bool:
    """True when the request certainly did not reach Intercom (connect timeout, refused, DNS)."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.ConnectionError) and not isinstance(exc, requests.exceptions.SSLError):
        reason = exc.args[0] if exc.args else None
        reason = getattr(reason, "reason", reason)  # MaxRetryError wraps the cause
        # NewConnectionError (refused, DNS failure) subclasses ConnectTimeoutError in urllib3 2.x.
        return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
    return False


def _connection_error(
    exc: requests.RequestException, method: str, route: str, not_sent: bool, retries: int
) -> IntercomConnectionError:
    if isinstance(exc, requests.ConnectTimeout):
        what = "timed out connecting to Intercom"
    elif isinstance(exc, requests.Timeout):
        what = "timed out waiting for Intercom's answer"
    elif not_sent:
        what = "could not connect to Intercom"
    else:
        what = "lost the connection to Intercom"
    outcome = "" if not_sent else " The call may or may not have taken effect."
    after = f" after {retries} retries" if retries else ""
    return IntercomConnectionError(f"The importer {what} ({method} {route}, {type(exc).__name__}){after}.{outcome}")


def _parse_success(response: requests.Response, method: str, route: str) -> JSONDict:
    if not response.content:
        return {}
    try:
        parsed = response.json()
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise IntercomServerError(
            f"Intercom answered {method} {route} with HTTP {response.status_code} but not with a JSON object.",
            status=response.status_code,
            request_id=_request_id_header(response),
        )
    return parsed


def _error_detail(response: requests.Response) -> _ErrorDetail:
    """Code, message and field of the first error of Intercom's ``error.list`` envelope."""
    header_id = _request_id_header(response)
    try:
        payload = response.json()
    except ValueError:
        payload = None
    if not isinstance(payload, dict):
        return _ErrorDetail(None, None, None, header_id)
    errors = payload.get("errors")
    items = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    first = items[0] if items else {}
    messages = [str(e["message"]) for e in items if e.get("message")]
    if not messages and isinstance(payload.get("message"), str):
        messages = [payload["message"]]
    request_id = payload.get("request_id")
    return _ErrorDetail(
        code=str(first["code"]) if first.get("code") else None,
        message="; ".join(messages) or None,
        field=str(first["field"]) if first.get("field") else None,
        request_id=str(request_id) if request_id else header_id,
    )


_SUMMARIES: Mapping[int, str] = {
    400: "Intercom refused the data",
    401: "Intercom rejected the access token; check that it is current and the app is still installed",
    403: "Intercom refused the call: the app lacks a permission or the workspace plan lacks this API",
    404: "Intercom could not find the record",
    409: "A user with this email or external_id already exists in Intercom",
    410: "The contact was merged into another contact",
    422: "Intercom refused the data",
    429: "Intercom kept refusing calls for exceeding the rate limit; lower the concurrency or retry later",
}

_ERROR_CLASSES: Mapping[int, type[IntercomError]] = {
    400: IntercomValidationError,
    401: IntercomAuthError,
    403: IntercomForbiddenError,
    404: IntercomNotFoundError,
    409: IntercomConflictError,
    410: IntercomGoneError,
    422: IntercomValidationError,
    429: IntercomRateLimitError,
}


def _error_from_response(
    response: requests.Response, method: str, route: str, *, retries: int, ambiguous_since: float | None = None
) -> IntercomError:
    """The named error for a non-2xx response, with a message a person can act on. ``ambiguous_since`` goes on
    a 409 (see ``IntercomConflictError``)."""
    status = response.status_code
    detail = _error_detail(response)
    if status >= 500 or status == 408:
        summary = f"Intercom had a server error (HTTP {status})"
    else:
        summary = _SUMMARIES.get(status, f"Intercom refused the call (HTTP {status} {response.reason or ''})")
    if status == 409 and detail.message and detail.message.startswith("An archived"):
        summary = "An archived contact with this email or external_id already exists in Intercom"
    parts = [f"HTTP {status}"]
    if detail.code:
        parts.append(f"code {detail.code}")
    if detail.field:
        parts.append(f"field {detail.field}")
    if detail.request_id:
        parts.append(f"request_id {detail.request_id}")
    parts.append(f"{method} {route}")
    if retries:
        parts.append(f"after {retries} retries")
    said = f": {detail.message}" if detail.message else ""
    if not detail.message and not _is_json(response):
        said = f" (the answer was not JSON, {len(response.content)} bytes)"
    message = f"{summary}{said} [{', '.join(parts)}]"
    common: dict[str, Any] = {
        "status": status,
        "code": detail.code,
        "request_id": detail.request_id,
        "field": detail.field,
    }
    if status == 409:
        existing_id, archived = parse_conflict(detail.message)
        return IntercomConflictError(
            message, existing_id=existing_id, archived=archived, ambiguous_since=ambiguous_since, **common
        )
    if status == 429:
        reset_at = _float_header(response.headers, "X-RateLimit-Reset")
        return IntercomRateLimitError(message, reset_at=reset_at, **common)
    cls = _ERROR_CLASSES.get(status)
    if cls is None:
        cls = IntercomServerError if status >= 500 or status == 408 else IntercomPermanentError
    return cls(message, **common)


def _is_json(response: requests.Response) -> bool:
    return "json" in response.headers.get("Content-Type", "")


def _failure_level(status: int, expected: tuple[int, ...]) -> int:
    if status in expected:
        return logging.DEBUG
    if status in (401, 403, 429) or status >= 500:
        return logging.WARNING
    return logging.INFO
