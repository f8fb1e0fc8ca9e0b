"""Where and how the client reaches Intercom: the API root of each region, the pinned API version, the
timeouts, and the process-wide ``requests.Session`` (one per pool size and container)."""

from __future__ import annotations

import functools
import hashlib
import http.cookiejar
from collections.abc import Mapping
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from intercom_importer.errors import SettingsError

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


def app_key(base_url: str, token: str) -> str:
    """A stable key for one Intercom app (its host and token), safe to store: a hash, never the token."""
    return hashlib.sha256(f"{base_url}\0{token}".encode()).hexdigest()[:16]
