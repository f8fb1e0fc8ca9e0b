"""The request pipeline, independent of the HTTP server: routing, auth, rate limit, faults, admin API.

Order for an Intercom API call: latency -> ``Authorization`` (401, no rate-limit headers) -> rate limit
(429) -> ``Accept`` (406) -> injected fault -> route (404) -> body (415/400) -> handler -> after-commit
fault. Every answer carries ``X-Request-Id``; errors use Intercom's envelope with the same id.
``/__sandbox/...`` is the admin API: no auth, no rate limit, not counted in the stats.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, unquote

from intercom_sandbox.config import ConfigError, SandboxConfig
from intercom_sandbox.errors import ApiError, invalid, resource_not_found
from intercom_sandbox.faults import Fault, FaultQueue, FaultSpecError
from intercom_sandbox.ratelimit import FixedWindowLimiter, RateDecision, window_label
from intercom_sandbox.state import Workspace
from intercom_sandbox.stats import Stats

Json = dict[str, Any]
Headers = list[tuple[str, str]]
ADMIN_PREFIX = "/__sandbox/"
_JSON_TYPES = ("application/json", "application/*", "*/*")


@dataclass
class Request:
    """One HTTP request; header names are lower-case."""

    method: str
    target: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass
class Response:
    """What to answer. ``reset`` means: close the connection without answering."""

    status: int
    headers: Headers = field(default_factory=list)
    body: bytes = b""
    reset: bool = False

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Call:
    """What a route handler gets."""

    workspace: Workspace
    config: SandboxConfig
    params: dict[str, str]
    query: dict[str, str]
    body: Any


Handler = Callable[[Call], Json]


@dataclass(frozen=True)
class Route:
    method: str
    template: str
    handler: Handler

    @property
    def pattern(self) -> re.Pattern[str]:
        return _template_pattern(self.template)


def _template_pattern(template: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
    return re.compile(regex)


# Templates are the 2.14 description's paths, so stats keys and fault templates match the spec.
ROUTES: tuple[Route, ...] = (
    Route("GET", "/me", lambda c: c.workspace.me()),
    Route(
        "POST",
        "/contacts",
        lambda c: c.workspace.create_contact(c.body, email_conflicts=c.config.email_conflicts == "always"),
    ),
    Route("GET", "/contacts", lambda c: c.workspace.list_contacts(c.query)),
    Route(
        "POST",
        "/contacts/search",
        lambda c: c.workspace.search_contacts(c.body, c.config.search_lag_seconds, c.config.search_update_lag_seconds),
    ),
    Route(
        "GET",
        "/contacts/find_by_external_id/{external_id}",
        lambda c: c.workspace.find_by_external_id(c.params["external_id"]),
    ),
    Route("GET", "/contacts/{contact_id}", lambda c: c.workspace.get_contact(c.params["contact_id"])),
    Route(
        "PUT",
        "/contacts/{contact_id}",
        lambda c: c.workspace.update_contact(
            c.params["contact_id"], c.body, keep_shown_for=c.config.search_update_lag_seconds
        ),
    ),
    Route("DELETE", "/contacts/{contact_id}", lambda c: c.workspace.delete_contact(c.params["contact_id"])),
    Route(
        "POST",
        "/contacts/{contact_id}/archive",
        lambda c: c.workspace.archive_contact(c.params["contact_id"]),
    ),
    Route(
        "POST",
        "/contacts/{contact_id}/unarchive",
        lambda c: c.workspace.unarchive_contact(c.params["contact_id"]),
    ),
    Route(
        "POST",
        "/contacts/{contact_id}/companies",
        lambda c: c.workspace.attach_company(c.params["contact_id"], c.body),
    ),
    Route(
        "GET",
        "/contacts/{contact_id}/companies",
        lambda c: c.workspace.list_contact_companies(c.params["contact_id"], c.query),
    ),
    Route(
        "DELETE",
        "/contacts/{contact_id}/companies/{company_id}",
        lambda c: c.workspace.detach_company(c.params["contact_id"], c.params["company_id"]),
    ),
    Route(
        "POST",
        "/contacts/{contact_id}/tags",
        lambda c: c.workspace.tag_contact(c.params["contact_id"], c.body),
    ),
    Route("GET", "/contacts/{contact_id}/tags", lambda c: c.workspace.list_contact_tags(c.params["contact_id"])),
    Route(
        "DELETE",
        "/contacts/{contact_id}/tags/{tag_id}",
        lambda c: c.workspace.untag_contact(c.params["contact_id"], c.params["tag_id"]),
    ),
    Route("POST", "/companies", lambda c: c.workspace.upsert_company(c.body)),
    Route("GET", "/companies", lambda c: c.workspace.list_companies(c.query)),
    Route("POST", "/companies/list", lambda c: c.workspace.list_all_companies(c.query)),
    Route("GET", "/companies/{company_id}", lambda c: c.workspace.get_company(c.params["company_id"])),
    Route(
        "GET",
        "/companies/{company_id}/contacts",
        lambda c: c.workspace.list_company_contacts(c.params["company_id"], c.query),
    ),
    Route("GET", "/data_attributes", lambda c: c.workspace.list_data_attributes(c.query)),
    Route(
        "POST",
        "/data_attributes",
        lambda c: c.workspace.create_data_attribute(c.body, c.config.attribute_cap),
    ),
    Route("GET", "/tags", lambda c: c.workspace.list_tags()),
    Route("POST", "/tags", lambda c: c.workspace.create_tag(c.body)),
)
_COMPILED = tuple((route, route.pattern) for route in ROUTES)


def resolve(method: str, path: str) -> tuple[str | None, Route | None, dict[str, str]]:
    """(template of the first route whose path matches, the route if the method matches too, params)."""
    template = None
    for route, pattern in _COMPILED:
        found = pattern.fullmatch(path)
        if found is None:
            continue
        if route.method == method:
            return route.template, route, {k: unquote(v) for k, v in found.groupdict().items()}
        template = template or route.template
    return template, None, {}


def accepts_json(accept: str | None) -> bool:
    """Whether an ``Accept`` header allows ``application/json``; a missing header does not (406)."""
    if not accept:
        return False
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        if quality > 0 and media.lower() in _JSON_TYPES:
            return True
    return False


def _bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _json_response(status: int, payload: Any, headers: Headers) -> Response:
    body = json.dumps(payload, separators=(",", ":")).encode()
    return Response(status, [("Content-Type", "application/json; charset=utf-8"), *headers], body)


class SandboxApp:
    """The whole sandbox behind a ``handle(Request) -> Response`` function.

    ``sleep`` waits for latency and timeout faults; the server passes one that returns early when it
    stops. ``clock`` drives rate-limit windows, timestamps and search lag.
    """

    def __init__(
        self,
        config: SandboxConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = time.sleep,
    ) -> None:
        self._config = config or SandboxConfig()
        self._config_lock = threading.Lock()
        self._sleep = sleep
        self.workspace = Workspace(clock)
        self.limiter = FixedWindowLimiter(clock)
        self.faults = FaultQueue()
        self.stats = Stats(clock)

    @property
    def config(self) -> SandboxConfig:
        return self._config

    def configure(self, **changes: Any) -> SandboxConfig:
        """Change config fields at run time (``profile=`` applies a profile's values first, see
        :meth:`SandboxConfig.replace`); raises :class:`ConfigError` on a bad value."""
        with self._config_lock:
            self._config = self._config.replace(**changes)
            return self._config

    def reset(self) -> None:
        """Empty workspace, no pending faults, zeroed stats and rate-limit window; config unchanged."""
        self.workspace.reset()
        self.faults.clear()
        self.stats.reset()
        self.limiter.reset()

    # ------------------------------------------------------------------ entry point

    def handle(self, request: Request) -> Response:
        path, _, query_string = request.target.partition("?")
        if path.startswith(ADMIN_PREFIX):
            return self._admin(request.method, path.removeprefix(ADMIN_PREFIX).rstrip("/"), request.body)
        template, route, params = resolve(request.method, path)
        request_id = str(uuid.uuid4())
        response, injected = self._api(request, path, query_string, route, params, request_id)
        status: int | str = "reset" if response.reset else response.status
        self.stats.record(request.method, template or "<unknown>", status, injected=injected)
        return response

    def _api(
        self,
        request: Request,
        path: str,
        query_string: str,
        route: Route | None,
        params: dict[str, str],
        request_id: str,
    ) -> tuple[Response, bool]:
        config = self._config
        delay_ms = config.latency_ms + (random.uniform(0, config.jitter_ms) if config.jitter_ms else 0.0)  # noqa: S311
        if delay_ms > 0:
            self._sleep(delay_ms / 1000)
        headers: Headers = [("X-Request-Id", request_id)]

        token = _bearer_token(request.headers.get("authorization"))
        if token is None or (config.token is not None and token != config.token):
            return self._error(ApiError.for_status(401), headers, request_id), False

        if config.rate_limit_per_window is not None:
            decision = self.limiter.check(config.rate_limit_per_window, config.window_seconds)
            headers += decision.headers()
            if not decision.allowed:
                return self._error(self._rate_limited(decision, config), headers, request_id), False

        if not accepts_json(request.headers.get("accept")):
            return self._error(ApiError.for_status(406), headers, request_id), False

        fault = self.faults.take(request.method, path)
        if fault is not None and not fault.after_commit:
            if fault.kind in ("status", "reset"):
                return self._fault_response(fault, headers, request_id, config), True
            self._sleep(fault.delay_ms / 1000)

        response = self._route(request, query_string, route, params, config, headers, request_id)

        if fault is not None and fault.after_commit:
            if fault.kind in ("status", "reset"):
                return self._fault_response(fault, headers, request_id, config), True
            self._sleep(fault.delay_ms / 1000)
        return response, fault is not None

    def _route(
        self,
        request: Request,
        query_string: str,
        route: Route | None,
        params: dict[str, str],
        config: SandboxConfig,
        headers: Headers,
        request_id: str,
    ) -> Response:
        try:
            if route is None:
                raise resource_not_found()
            call = Call(
                workspace=self.workspace,
                config=config,
                params=params,
                query=dict(parse_qsl(query_string, keep_blank_values=True)),
                body=self._body(request),
            )
            return _json_response(200, route.handler(call), headers)
        except ApiError as error:
            return self._error(error, headers, request_id)

    @staticmethod
    def _body(request: Request) -> Any:
        if not request.body.strip():
            return None
        content_type = request.headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ApiError.for_status(415)
        try:
            return json.loads(request.body)
        except ValueError as exc:
            raise invalid(f"The request body is not valid JSON: {exc}") from exc

    @staticmethod
    def _error(error: ApiError, headers: Headers, request_id: str) -> Response:
        return _json_response(error.status, error.envelope(request_id), headers)

    @staticmethod
    def _rate_limited(decision: RateDecision, config: SandboxConfig) -> ApiError:
        return ApiError(
            429,
            "rate_limit_exceeded",
            f"Exceeded rate limit of {decision.limit} in {window_label(config.window_seconds)}",
        )

    def _fault_response(self, fault: Fault, headers: Headers, request_id: str, config: SandboxConfig) -> Response:
        if fault.kind == "reset":
            return Response(0, reset=True)
        assert fault.status is not None
        if fault.status == 429:
            limit = config.rate_limit_per_window or 167
            peek = self.limiter.peek(limit, config.window_seconds)
            decision = RateDecision(False, limit, 0, peek.reset)
            headers = [h for h in headers if not h[0].startswith("X-RateLimit")] + decision.headers()
            error = self._rate_limited(decision, config)
            if fault.code or fault.message:
                error = ApiError(429, fault.code or error.code, fault.message or error.message)
        else:
            error = ApiError.for_status(fault.status, fault.code, fault.message)
        return self._error(error, headers, request_id)

    # ------------------------------------------------------------------ admin API

    def _admin(self, method: str, name: str, raw_body: bytes) -> Response:
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            return self._admin_error(400, "the body is not valid JSON")
        try:
            payload = self._admin_call(method, name, body)
        except (ConfigError, FaultSpecError) as exc:
            return self._admin_error(400, str(exc))
        except TypeError as exc:
            return self._admin_error(400, f"bad body: {exc}")
        if payload is None:
            return self._admin_error(404, f"no admin endpoint {method} {ADMIN_PREFIX}{name}")
        return _json_response(200, payload, [])

    def _admin_call(self, method: str, name: str, body: Any) -> Json | None:
        if (method, name) == ("GET", "state"):
            return self.workspace.dump()
        if (method, name) == ("POST", "reset"):
            self.reset()
            return {"reset": True}
        if (method, name) == ("POST", "settle"):
            return {"settled": self.workspace.settle()}
        if (method, name) == ("GET", "config"):
            return self.config.as_admin_dict()
        if (method, name) == ("POST", "config"):
            if not isinstance(body, dict):
                raise ConfigError("the body must be a JSON object of config fields (and a profile)")
            return self.configure(**body).as_admin_dict()
        if (method, name) == ("GET", "stats"):
            return self.stats.snapshot()
        if (method, name) == ("DELETE", "stats"):
            self.stats.reset()
            return {"reset": True}
        if (method, name) == ("GET", "faults"):
            return {"faults": self.faults.pending()}
        if (method, name) == ("POST", "faults"):
            return self.faults.add(body).to_json()
        if (method, name) == ("DELETE", "faults"):
            return {"cleared": self.faults.clear()}
        return None

    @staticmethod
    def _admin_error(status: int, message: str) -> Response:
        code = "not_found" if status == 404 else "parameter_invalid"
        error = ApiError(status, code, message)
        return _json_response(status, error.envelope(str(uuid.uuid4())), [])


def reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"
