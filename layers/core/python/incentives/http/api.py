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
from ..domain.text import ascii_int, find_bad_text, has_lone_surrogate
from ..settings import get_settings
from .errors import error_body, status_for
from .routes import OPERATOR, PUBLIC, ROUTES, Route

M = TypeVar("M")
_UNPARSED = object()
JSON_HEADERS = {"Content-Type": "application/json"}
MAX_BODY = 64 * 1024  # no request of the contract needs more
MAX_FIELD_ERRORS = 20  # a 422 names the first ones and how many there were: its size never grows with the input


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
            data = json.loads(self.raw_body)  # an integer of thousands of digits is a ValueError too
        except (ValueError, RecursionError):
            raise errors.InvalidRequest("the body is not valid JSON") from None
        bad = find_bad_text(data)
        if bad:
            raise errors.InvalidRequest(f"{bad[0]} {bad[1]}", {"field": bad[0]})
        return data

    def parse(self, model: type[M]) -> M:
        data = self.json()
        if not isinstance(data, dict):
            raise errors.InvalidRequest("the body must be a JSON object")
        try:
            return parse(model, data)
        except SchemaError as e:
            details: dict[str, Any] = {"fields": e.errors[:MAX_FIELD_ERRORS]}
            if len(e.errors) > MAX_FIELD_ERRORS:
                details |= {"truncated": True, "field_error_count": len(e.errors)}
            raise errors.InvalidRequest("the request does not match the contract", details) from None

    def query_int(self, name: str, default: int, lo: int, hi: int) -> int:
        """The query parameter ``name`` as an integer in [lo, hi] (ASCII digits only), ``default`` when absent."""
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        n = ascii_int(raw, lo, hi)
        if n is None:
            raise errors.InvalidRequest(f"{name} must be an integer from {lo} to {hi}", {"field": name})
        return n

    def now(self) -> datetime:
        return utcnow()


Handler = Callable[[Request], Response]


def parse_time(value: str, field_name: str) -> datetime:
    try:
        return parse_rfc3339(value)
    except ValueError as e:  # the reason names no input (clock.py's messages are fixed texts)
        raise errors.InvalidRequest(f"{field_name} must be an RFC 3339 time with an offset ({e})",
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
        self.logger.append_keys(route=route.name)
        try:
            self._authorize(req)
            _check_text(req)
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


def _check_text(req: Request) -> None:
    """Refuses a lone surrogate in a path or query parameter or a header (the body: Request.json), so no handler
    holds a string that cannot be encoded; decodes a base64 body (as UTF-8, bad bytes replaced)."""
    for where, values in (("path", req.path_params), ("query", req.query), ("header", req.headers)):
        for name, value in values.items():
            if has_lone_surrogate(str(name)) or (isinstance(value, str) and has_lone_surrogate(value)):
                field_name = str(name).encode("utf-8", "replace").decode()
                raise errors.InvalidRequest(f"the {where} parameter {field_name} holds a lone surrogate",
                                            {"field": field_name})
    if req.event.get("isBase64Encoded") and req.raw_body:
        import base64
        import binascii
        try:
            req.raw_body = base64.b64decode(req.raw_body, validate=True).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            raise errors.InvalidRequest("the body is not valid base64") from None


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
    guard = IdempotencyGuard(table, scope, key, fp, req.now(), _subject(req))
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


def _subject(req: Request) -> dict | None:
    """Whom an Idempotency-Key's stored answer is about, for erasure: the customer the request names (path or
    body), else the e-mail address of a claim (by its keyed pseudonym's holder partition)."""
    from ..adapters import keys

    data = req.json()
    data = data if isinstance(data, dict) else {}
    for found in (req.path_params.get("customer_id"), *((data.get(f) or {}).get("id") if isinstance(
            data.get(f), dict) else None for f in ("customer", "referee"))):
        if isinstance(found, str) and found:
            return {"gsi1pk": keys.customer_gsi(found), "customer_id": found}
    email = data.get("email")
    if isinstance(email, str) and email.strip():
        from ..domain.customers import holder_for_email

        return {"gsi1pk": keys.holder_gsi(holder_for_email(email))}
    return None
