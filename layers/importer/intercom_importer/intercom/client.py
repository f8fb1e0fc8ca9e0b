"""The public face of the Intercom package: :class:`IntercomClient`, one object with every call the importer
makes (the resource methods of ``contacts``, ``companies``, ``data_attributes`` and ``tags``, mixed in) over
one :class:`~intercom_importer.intercom.transport.Transport`, and :func:`build_client` for Lambda code."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable

import requests

from intercom_importer.intercom.answers import JSONDict
from intercom_importer.intercom.companies import CompaniesAPI
from intercom_importer.intercom.connection import DEFAULT_POOL_SIZE, DEFAULT_TIMEOUT, REGION_URLS, make_session
from intercom_importer.intercom.contacts import ContactsAPI
from intercom_importer.intercom.data_attributes import DataAttributesAPI
from intercom_importer.intercom.retry import RetryPolicy
from intercom_importer.intercom.stats import ClientStats
from intercom_importer.intercom.tags import TagsAPI
from intercom_importer.intercom.transport import Transport
from intercom_importer.ratelimit import RateLimiter


class IntercomClient(ContactsAPI, CompaniesAPI, DataAttributesAPI, TagsAPI):
    """Thread-safe client for the Intercom REST API calls the importer makes (API version pinned to 2.14).

    One client is shared by the threads of a worker: it holds one ``requests.Session`` whose connection pool
    is sized for that concurrency, no other mutable state than its counters, and paces itself through a
    :class:`~intercom_importer.ratelimit.RateLimiter`. Every method returns the parsed JSON of the response
    (iterators yield list items) and raises a named ``IntercomError`` subclass for any failure (the retry
    policy is in ``transport.py``). Build it with :func:`build_client` in Lambda code; pass ``session``,
    ``sleep``, ``clock`` and ``rand`` in tests.
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
        self._transport = Transport(
            token,
            base_url,
            session=session if session is not None else make_session(pool_size),
            limiter=limiter,
            timeout=timeout,
            retry=retry,
            sleep=sleep,
            clock=clock,
            rand=rand,
        )

    def __repr__(self) -> str:  # never shows the token
        return f"IntercomClient(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    @property
    def limiter(self) -> RateLimiter:
        return self._transport.limiter

    @property
    def _session(self) -> requests.Session:
        """The transport's session (``build_client`` shares one per pool size)."""
        return self._transport.session

    def now(self) -> float:
        """The client's clock (epoch seconds): what ``ambiguous_since`` and Intercom's ``created_at`` compare with."""
        return self._transport.now()

    @property
    def stats(self) -> ClientStats:
        """A consistent snapshot of the counters since creation or :meth:`reset_stats`."""
        return self._transport.stats

    def reset_stats(self) -> None:
        self._transport.reset_stats()

    def me(self) -> JSONDict:
        """``GET /me``: the admin owning the token and its workspace (``app.region`` included)."""
        return self._transport.call("GET", "/me")

    def workspace_id(self) -> str:
        """The token's workspace (``app.id_code`` of ``GET /me``), asked once per app and environment."""
        app = self._transport.app
        with _WORKSPACES_LOCK:
            known = _WORKSPACES.get(app)
        if known is None:
            known = str(self.me()["app"]["id_code"])
            with _WORKSPACES_LOCK:
                _WORKSPACES[app] = known
        return known


_WORKSPACES: dict[str, str] = {}  # app key -> workspace id: a token's workspace never changes
_WORKSPACES_LOCK = threading.Lock()


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
