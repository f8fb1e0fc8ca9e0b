"""The Intercom REST client of the importer (API version pinned to 2.14).

``IntercomClient`` (``client.py``) is the one object callers use; behind it:

- ``transport.py``: one logical call (session, headers, timeouts, pacing, retries and 429 waits, counters);
- ``answers.py``: answers read and failures translated into the named errors of ``intercom_importer.errors``;
- ``retry.py``, ``stats.py``, ``connection.py``: the retry numbers, the counters, the hosts and the session;
- ``contacts.py``, ``companies.py``, ``data_attributes.py``, ``tags.py``, ``pages.py``: the endpoints;
- ``factory.py``: the client of this environment from its settings (not imported here: it loads boto3).
"""

from intercom_importer.intercom.answers import parse_conflict
from intercom_importer.intercom.client import IntercomClient, build_client
from intercom_importer.intercom.connection import (
    DEFAULT_POOL_SIZE,
    DEFAULT_TIMEOUT,
    INTERCOM_VERSION,
    REGION_URLS,
    USER_AGENT,
    make_session,
    resolve_base_url,
)
from intercom_importer.intercom.contacts import MAX_FILTERS_PER_GROUP, MAX_IN_VALUES
from intercom_importer.intercom.pages import MAX_PER_PAGE
from intercom_importer.intercom.retry import RetryPolicy
from intercom_importer.intercom.stats import ClientStats
from intercom_importer.intercom.tags import TAG_BATCH_SIZE

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
