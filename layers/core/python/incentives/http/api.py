"""A small resolver for API Gateway REST proxy events, reading the shared route table.

Why not Powertools' APIGatewayRestResolver: its import costs ~90 ms of cold start on the checkout path, and
routes here are declared once in routes.py for both CDK and the local server anyway.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from ..adapters.dynamo import Table, is_transient
from ..adapters.idempotency import IdempotencyGuard, fingerprint
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.clock import parse_rfc3339, utcnow
from ..domain.schema import SchemaError, parse
from ..settings import get_settings
from .errors import error_body, status_for
from .routes import OPERATOR, PUBLIC, ROUTES, Route

M = TypeVar("M")
_UNPARSED = object()
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_BODY = 64 * 1024  # no request of the contract needs more


@dataclass
class Response:
    status: int
    body: dict | None
    headers: dict = field(default_factory=dict)
    text: str | None = None  # a body that is not JSON (e.g. CSV); its Content-Type goes in ``headers``

    def to_proxy(self) -> dict:
        if self.text is not None:
            return {"statusCode": self.status, "headers": {**JSON_HEADERS, **self.headers}, "body": self.text}
        return {"statusCode": self.status, "headers": {**JSON_HEADERS, **self.headers},
                "body": json.dumps(self.body, separators=(",", ":")) if self.body is not None else ""}


@dataclass
class Request:
    route: Route
    event: dict
    headers: dict
    path_params: dict
    query: dict
    raw_body: str | None
    _parsed: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._parsed = _UNPARSED

    @property
    def api_key_id(self) -> str | None:
        return ((self.event.get("requestContext") or {}).get("identity") or {}).get("apiKeyId")

    @property
    def source_ip(self) -> str:
        return ((self.event.get("requestContext") or {}).get("identity") or {}).get("sourceIp") or "unknown"

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        """The parsed body (parsed once per request)."""
        if self._parsed is _UNPARSED:
            self._parsed = self._load_json()
        return self._parsed

    def _load_json(self) -> Any:
        if not self.raw_body:
            return {}
        if len(self.raw_body) > MAX_BODY:
            raise errors.InvalidRequest("the request body is too large", {"max_bytes": MAX_BODY})
        try:
            return json.loads(self.raw_body)
        except (ValueError, RecursionError):
            raise errors.InvalidRequest("the body is not valid JSON") from None

    def parse(self, model: type[M]) -> M:
        data = self.json()
        if not isinstance(data, dict):
            raise errors.InvalidRequest("the body must be a JSON object")
        try:
            return parse(model, data)
        except SchemaError as e:
            raise errors.InvalidRequest("the request does not match the contract", {"fields": e.errors}) from None

    def now(self) -> datetime:
        return utcnow()


Handler = Callable[[Request], Response]


def parse_time(value: str, field_name: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise errors.InvalidRequest(f"{field_name} must be an RFC 3339 time with an offset",
                                    {"field": field_name}) from None


class Api:
    def __init__(self, function: str, logger: Any):
        self.logger = logger
        self.routes = {(r.method, r.path): r for r in ROUTES if r.function == function}
        self.handlers: dict[str, Handler] = {}

    def route(self, name: str) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            self.handlers[name] = fn
            return fn
        return register

    def __call__(self, event: dict, context: Any = None) -> dict:
        route = self.routes.get((event.get("httpMethod", ""), event.get("resource", "")))
        if route is None:
            return Response(404, error_body("not_found", "no such route")).to_proxy()
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if v is not None}
        req = Request(route, event, headers, event.get("pathParameters") or {},
                      event.get("queryStringParameters") or {}, event.get("body"))
        if event.get("isBase64Encoded") and req.raw_body:
            import base64
            req.raw_body = base64.b64decode(req.raw_body).decode("utf-8", errors="replace")
        self.logger.append_keys(route=route.name)
        try:
            self._authorize(req)
            resp = self.handlers[route.name](req)
        except errors.IncentiveError as e:
            status = status_for(e.code)
            log = self.logger.warning if status < 500 else self.logger.error
            log("request rejected", extra={"error_code": e.code, "status": status, "route": route.name})
            resp = Response(status, error_body(e.code, e.message, e.details))
            if status in (429, 503):  # every "retry later" says when
                resp.headers["Retry-After"] = str(e.details.get("retry_after_seconds", 1))
        except Exception as e:
            if is_transient(e):  # throttled, conflicting or timed out after botocore's retries: retry later
                self.logger.warning("dynamodb unavailable", extra={"route": route.name, "error": type(e).__name__})
                resp = Response(503, error_body("contention", "the database is busy; retry"),
                                {"Retry-After": "1"})
            else:
                self.logger.exception("unhandled error", extra={"route": route.name})
                resp = Response(500, error_body("internal_error", "internal error"))
        return resp.to_proxy()

    @staticmethod
    def _authorize(req: Request) -> None:
        if req.route.role == PUBLIC:
            return
        key_id = req.api_key_id
        if not key_id:  # API Gateway rejects these before the function; the check stays for defence in depth
            raise errors.Unauthorized()
        if req.route.role == OPERATOR and key_id not in get_settings().operator_api_key_ids:
            raise errors.Forbidden()


def idempotent(req: Request, table: Table, operation: Callable[[UnitOfWork], Response],
               status: int = 201) -> Response:
    """Runs ``operation`` once per Idempotency-Key: a repeat gets the first answer, a reused key with another
    body 409 idempotency_key_reused, a repeat during the first 409 request_in_progress.

    ``operation`` gets the unit of work its use case commits; with a key, that commit also stores the use case's
    result as the answer with ``status`` (so the effect and the stored answer commit together). When the
    operation ends without that commit (an error, or an answer that wrote nothing, e.g. a repeated claim), the
    key is released and a retry is evaluated afresh."""
    uow = UnitOfWork(table)
    key = req.header("idempotency-key")
    if key is None:
        return operation(uow)
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise errors.InvalidRequest("Idempotency-Key must be 1-255 printable characters",
                                    {"field": "Idempotency-Key"})
    scope = req.api_key_id or f"public-{req.route.name}"
    fp = fingerprint(req.route.method, req.event.get("path") or req.route.path, req.json())
    guard = IdempotencyGuard(table, scope, key, fp, req.now())
    try:
        stored = guard.begin()
    except errors.IncentiveError:
        raise
    except Exception:  # e.g. a timeout after our claim applied: do not leave the key leased to no one for 30 s
        guard.release(quiet=True)
        raise
    if stored is not None:
        return Response(stored[0], stored[1], {"Idempotent-Replayed": "true"})
    guard.attach(uow, status)
    try:
        resp = operation(uow)
    except BaseException:
        guard.release(quiet=True)
        raise
    if not guard.completed:
        guard.release(quiet=True)
    return resp
