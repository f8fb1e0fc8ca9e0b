"""The client's transport: one logical call to Intercom, sent through the shared session with the
headers, the timeouts, the pacing of a :class:`~intercom_importer.ratelimit.RateLimiter`, the retry policy
and the counters; an answer other than a 2xx becomes the named error of ``answers.py``.

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

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from intercom_importer.errors import IntercomError, SettingsError
from intercom_importer.intercom.answers import (
    JSONDict,
    connection_error,
    error_from_response,
    failure_level,
    float_header,
    int_header,
    never_sent,
    parse_success,
    request_id_header,
)
from intercom_importer.intercom.connection import INTERCOM_VERSION, USER_AGENT, app_key, resolve_base_url
from intercom_importer.intercom.retry import RetryPolicy, backoff_delay, is_transient, rate_limit_delay
from intercom_importer.intercom.stats import ClientStats, StatsRecorder
from intercom_importer.ratelimit import NullRateLimiter, RateLimiter

logger = logging.getLogger("intercom_importer.intercom")  # the client's one logger, whichever module logs


@dataclass(frozen=True)
class _Request:
    """One logical call, as every attempt of it sends it."""

    method: str
    route: str
    """The route template (``/contacts/{contact_id}``): what the logs show."""
    url: str
    params: Mapping[str, Any] | None
    data: bytes | None
    headers: Mapping[str, str]
    retry_ambiguous: bool
    expected: tuple[int, ...]


@dataclass
class _Attempts:
    """What the attempts of one logical call have met so far."""

    transient: int = 0
    """Retries after a 5xx, a timeout or a connection error."""
    rate_limited: int = 0
    """Retries after a 429."""
    ambiguous_since: float | None = None
    """When the first attempt that may have been applied unseen was sent."""


class Transport:
    """Sends the calls of one client; thread-safe (its only mutable state is its counters)."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        session: requests.Session,
        limiter: RateLimiter | None,
        timeout: tuple[float, float],
        retry: RetryPolicy | None,
        sleep: Callable[[float], None],
        clock: Callable[[], float],
        rand: Callable[[], float],
    ) -> None:
        if not token or not token.strip():
            raise SettingsError("The Intercom access token is empty.")
        self.base_url = resolve_base_url(None, base_url)
        self.app = app_key(self.base_url, token.strip())  # the app's key (a hash; never the token)
        self.limiter: RateLimiter = limiter if limiter is not None else NullRateLimiter()
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.session = session
        self._headers = {
            "Authorization": f"Bearer {token.strip()}",
            "Accept": "application/json",
            "Intercom-Version": INTERCOM_VERSION,
            "User-Agent": USER_AGENT,
        }
        self._sleep = sleep
        self._clock = clock
        self._rand = rand
        self._stats = StatsRecorder()

    def __repr__(self) -> str:  # never shows the token
        return f"Transport(base_url={self.base_url!r})"

    @property
    def stats(self) -> ClientStats:
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.reset()

    def call(
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
        """Send one logical call with the retry policy; return the parsed JSON of a 2xx.

        ``path`` fills the route's ``{placeholders}`` (percent-encoded); ``retry_ambiguous`` says whether an
        attempt that may have been applied unseen is repeated; a status in ``expected`` is logged at DEBUG.
        """
        url = self.base_url + _expand(route, path)
        headers = dict(self._headers)
        data: bytes | None = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        request = _Request(method, route, url, params, data, headers, retry_ambiguous, expected)
        attempts = _Attempts()
        while True:
            sent_at, answer = self._send(request)
            if isinstance(answer, requests.RequestException):
                self._after_no_answer(request, answer, sent_at, attempts)
            elif 200 <= answer.status_code < 300:
                return parse_success(answer, method, route)
            else:
                self._after_refusal(request, answer, sent_at, attempts)

    def _send(self, request: _Request) -> tuple[float, requests.Response | requests.RequestException]:
        """One attempt, paced and counted: when it was sent, and its answer or why there was none."""
        self._acquire()
        self._stats.call()
        sent_at = self._clock()
        try:
            response = self.session.request(
                request.method,
                request.url,
                params=request.params,
                data=request.data,
                headers=request.headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self._stats.connection_error()
            return sent_at, exc
        self._stats.status(response.status_code)
        self._observe(response)
        return sent_at, response

    def _after_no_answer(
        self, request: _Request, exc: requests.RequestException, sent_at: float, attempts: _Attempts
    ) -> None:
        """Back off before the next attempt, or raise ``IntercomConnectionError``."""
        not_sent = never_sent(exc)
        if not not_sent and attempts.ambiguous_since is None:
            attempts.ambiguous_since = sent_at
        if (not_sent or request.retry_ambiguous) and attempts.transient < self.retry.max_retries:
            attempts.transient += 1
            self._log_retry(request, None, attempts.transient, type(exc).__name__)
            self._backoff(attempts.transient)
            return
        lost = connection_error(exc, request.method, request.route, not_sent, attempts.transient)
        self._log_failure(lost, request, logging.WARNING)
        raise lost from exc

    def _after_refusal(
        self, request: _Request, response: requests.Response, sent_at: float, attempts: _Attempts
    ) -> None:
        """Wait before the next attempt of a 429 or a transient status, or raise the status's named error."""
        status = response.status_code
        policy = self.retry
        if status == 429 and attempts.rate_limited < policy.max_rate_limit_retries:
            attempts.rate_limited += 1
            self._log_retry(request, response, attempts.rate_limited, "rate_limited")
            self._wait_for_reset(response, attempts.rate_limited)
            return
        if is_transient(status) and request.retry_ambiguous and attempts.transient < policy.max_retries:
            attempts.ambiguous_since = sent_at if attempts.ambiguous_since is None else attempts.ambiguous_since
            attempts.transient += 1
            self._log_retry(request, response, attempts.transient, "server_error")
            self._backoff(attempts.transient)
            return
        retries = attempts.rate_limited if status == 429 else attempts.transient
        error = error_from_response(
            response, request.method, request.route, retries=retries, ambiguous_since=attempts.ambiguous_since
        )
        self._log_failure(error, request, failure_level(status, request.expected))
        raise error

    def now(self) -> float:
        return self._clock()

    def _acquire(self) -> None:
        started = time.monotonic()
        self.limiter.acquire()
        self._stats.limiter(time.monotonic() - started)

    def _observe(self, response: requests.Response) -> None:
        headers = response.headers
        limit = int_header(headers, "X-RateLimit-Limit")
        remaining = int_header(headers, "X-RateLimit-Remaining")
        reset_at = float_header(headers, "X-RateLimit-Reset")
        self.limiter.observe(limit, remaining, reset_at, response.status_code)

    def _backoff(self, attempt: int) -> None:
        delay = backoff_delay(self.retry, attempt, self._rand)
        self._stats.waited(delay, rate_limited=False)
        self._sleep(delay)

    def _wait_for_reset(self, response: requests.Response, attempt: int) -> None:
        reset_at = float_header(response.headers, "X-RateLimit-Reset")
        delay = rate_limit_delay(self.retry, reset_at, self._clock(), attempt, self._rand)
        self._stats.waited(delay, rate_limited=True)
        self._sleep(delay)

    @staticmethod
    def _log_retry(request: _Request, response: requests.Response | None, attempt: int, reason: str) -> None:
        logger.info(
            "Intercom call retried",
            extra={
                "http_method": request.method,
                "route": request.route,
                "status": response.status_code if response is not None else None,
                "intercom_request_id": request_id_header(response) if response is not None else None,
                "retry": attempt,
                "reason": reason,
            },
        )

    @staticmethod
    def _log_failure(error: IntercomError, request: _Request, level: int) -> None:
        logger.log(
            level,
            "Intercom call failed",
            extra={
                "http_method": request.method,
                "route": request.route,
                "status": error.status,
                "error_code": error.code,
                "intercom_request_id": error.request_id,
                "error_type": type(error).__name__,
            },
        )


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
