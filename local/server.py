"""A local stand-in for the API Gateway REST API (Lambda proxy integration) in front of the real handlers.

An HTTP request becomes a REST API proxy event (payload format 1.0) for the route that ROUTES
(incentives.http.routes) declares; the function's real ``lambda_handler`` answers it, exactly as deployed.
What API Gateway does before the function runs is emulated here: route matching (most specific literal
match wins), API keys (x-api-key; routes whose role is not public need a valid key, the handlers decide
the role from ``requestContext.identity.apiKeyId``), 404/405 for unknown paths and methods, a body size limit.

Stdlib only (ThreadingHTTPServer); ``local/run.py`` starts it with DynamoDB Local and the scheduled jobs.
"""
from __future__ import annotations

import base64
import json
import logging
import mimetypes
import os
import re
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl, unquote, urlsplit

from local import lambdas

log = logging.getLogger("local.server")

DEFAULT_PORT = 3000
DEFAULT_STOREFRONT_KEY = "local-storefront-key"
DEFAULT_OPERATOR_KEY = "local-operator-key"
STOREFRONT_KEY_ID = "local-storefront"
OPERATOR_KEY_ID = "local-operator"
MAX_BODY_BYTES = 1024 * 1024
DRAIN_LIMIT_BYTES = 32 * 1024 * 1024
STAGE = os.environ.get("API_STAGE", "local")  # deployed: the CDK stage name ("prod" by default)
API_ID = "local"
PUBLIC = "public"

_PARAM = re.compile(r"^\{([A-Za-z0-9_.-]+)\}$")

# ---- static files `make run` serves next to the API (not deployed): URL prefix -> directory, checked before the
# routes; the longest prefix wins; "<prefix>index.html" answers "<prefix>", and the prefix without its slash
# redirects to it. GET and HEAD only.
_ROOT = Path(__file__).resolve().parent.parent
STATIC: dict[str, Path] = {
    "/docs/": _ROOT / "local" / "docs",  # Swagger UI over GET /v1/openapi.json
    "/docs/swagger-ui/": _ROOT / "node_modules" / "swagger-ui-dist",  # npm package (package.json)
}


def static_response(method: str, path: str, static: dict[str, Path]) -> Response | None:
    """The answer for a static path, or None when no static prefix covers the path."""
    path = unquote(urlsplit(path).path)
    for prefix in sorted(static, key=len, reverse=True):
        if path == prefix.rstrip("/"):
            return Response(301, [("Location", prefix), ("Content-Type", "text/plain")], b"")
        if not path.startswith(prefix):
            continue
        if method not in ("GET", "HEAD"):
            return Response(405, [("Allow", "GET, HEAD"), ("Content-Type", "application/json")],
                            error_body("method_not_allowed", f"{method} is not allowed on {path}"))
        root = static[prefix].resolve()
        target = (root / (path[len(prefix):] or "index.html")).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return Response(404, [("Content-Type", "application/json")],
                            error_body("not_found", f"no file at {path}"))
        kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        kind += "; charset=utf-8" if kind.startswith("text/") or kind.endswith("javascript") else ""
        return Response(200, [("Content-Type", kind), ("Cache-Control", "no-cache")], target.read_bytes())
    return None


# --------------------------------------------------------------------------- routing

@dataclass(frozen=True)
class Match:
    """The outcome of routing: a route (200 path), or 404 (no resource) / 405 (resource without the method)."""
    status: int
    route: Any = None
    path_parameters: dict[str, str] = field(default_factory=dict)
    allowed: tuple[str, ...] = ()


def _segments(path: str) -> list[str]:
    path = path.split("?", 1)[0]
    if len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path.strip("/").split("/") if path.strip("/") else []


def _match_template(template: str, segments: list[str]) -> tuple[tuple[int, ...], dict[str, str]] | None:
    parts = _segments(template)
    if len(parts) != len(segments):
        return None
    params: dict[str, str] = {}
    rank: list[int] = []
    for part, seg in zip(parts, segments):
        m = _PARAM.match(part)
        if m:
            if seg == "":
                return None
            params[m.group(1)] = unquote(seg)
            rank.append(1)
        elif part == seg or part == unquote(seg):
            rank.append(0)
        else:
            return None
    return tuple(rank), params


def match_route(method: str, path: str, routes: Iterable[Any]) -> Match:
    """Find the route for a request path (raw, percent-encoded) and method.

    Among the resources (route paths) whose template fits the path, the most specific wins: literal segments
    beat parameters, earlier segments first (as API Gateway prefers /v1/jobs/run over /v1/jobs/{id}).
    """
    segments = _segments(path)
    best: tuple[tuple[int, ...], str, dict[str, str]] | None = None
    for r in routes:
        hit = _match_template(r.path, segments)
        if hit and (best is None or hit[0] < best[0]):
            best = (hit[0], r.path, hit[1])
    if best is None:
        return Match(404)
    _, resource, params = best
    methods = [r for r in routes if r.path == resource]
    for r in methods:
        if r.method == method.upper():
            return Match(200, r, params, tuple(sorted(x.method for x in methods)))
    return Match(405, None, params, tuple(sorted(x.method for x in methods)))


# --------------------------------------------------------------------------- events

def build_event(
    route: Any,
    method: str,
    raw_path: str,
    headers: list[tuple[str, str]],
    body: bytes | None,
    path_parameters: dict[str, str] | None = None,
    source_ip: str = "127.0.0.1",
    api_key: str | None = None,
    api_key_id: str | None = None,
    stage: str = STAGE,
    request_id: str | None = None,
    now: datetime | None = None,
) -> dict:
    """The API Gateway REST API Lambda proxy event (payload format 1.0) for one request."""
    split = urlsplit(raw_path)
    path = unquote(split.path) or "/"
    now = now or datetime.now(timezone.utc)
    request_id = request_id or str(uuid.uuid4())

    single_headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in headers:
        single_headers[name] = value
        multi_headers.setdefault(name, []).append(value)
    single_headers.setdefault("X-Forwarded-For", source_ip)
    multi_headers.setdefault("X-Forwarded-For", [source_ip])
    single_headers.setdefault("X-Forwarded-Proto", "http")
    multi_headers.setdefault("X-Forwarded-Proto", ["http"])

    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for k, v in parse_qsl(split.query, keep_blank_values=True):
        query[k] = v
        multi_query.setdefault(k, []).append(v)

    user_agent = next((v for k, v in headers if k.lower() == "user-agent"), None)
    is_b64 = False
    body_str: str | None = None
    if body:
        try:
            body_str = body.decode("utf-8")
        except UnicodeDecodeError:
            body_str, is_b64 = base64.b64encode(body).decode("ascii"), True

    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method.upper(),
        "headers": single_headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": path_parameters or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": lambdas.ACCOUNT_ID,
            "apiId": API_ID,
            "domainName": single_headers.get("Host") or next((v for k, v in headers if k.lower() == "host"), "localhost"),
            "domainPrefix": API_ID,
            "extendedRequestId": request_id,
            "httpMethod": method.upper(),
            "identity": {
                "accessKey": None,
                "accountId": None,
                "apiKey": api_key,
                "apiKeyId": api_key_id,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": source_ip,
                "user": None,
                "userAgent": user_agent,
                "userArn": None,
            },
            "path": f"/{stage}{path}",
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "requestTimeEpoch": int(now.timestamp() * 1000),
            "resourceId": "local",
            "resourcePath": route.path,
            "stage": stage,
        },
        "body": body_str,
        "isBase64Encoded": is_b64,
    }


def error_body(code: str, message: str, details: dict | None = None) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "details": details or {}}}).encode()


# --------------------------------------------------------------------------- the API

@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes


class LocalApi:
    """Routing, API keys and handler invocation; independent of the HTTP server so it can be unit-tested."""

    def __init__(self, routes: Iterable[Any] | None = None, functions_dir: str | Path | None = None,
                 storefront_key: str | None = None, operator_key: str | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, stage: str = STAGE):
        if routes is None:
            from incentives.http.routes import ROUTES
            routes = ROUTES
        self.routes = tuple(routes)
        self.functions_dir = Path(functions_dir).resolve() if functions_dir else lambdas.functions_dir()
        self.keys = {
            storefront_key or os.environ.get("STOREFRONT_API_KEY") or DEFAULT_STOREFRONT_KEY: STOREFRONT_KEY_ID,
            operator_key or os.environ.get("OPERATOR_API_KEY") or DEFAULT_OPERATOR_KEY: OPERATOR_KEY_ID,
        }
        self.max_body_bytes = max_body_bytes
        self.stage = stage
        self.static = dict(STATIC)  # static files next to the API (see STATIC)
        self.ready = threading.Event()
        self.load_errors: dict[str, str] = {}

    @property
    def storefront_key(self) -> str:
        return next(k for k, v in self.keys.items() if v == STOREFRONT_KEY_ID)

    @property
    def operator_key(self) -> str:
        return next(k for k, v in self.keys.items() if v == OPERATOR_KEY_ID)

    def functions(self) -> list[str]:
        seen: list[str] = []
        for r in self.routes:
            if r.function not in seen:
                seen.append(r.function)
        return seen

    def load_all(self, extra: Iterable[str] = ()) -> dict[str, str]:
        """Import every API function (and ``extra`` ones, e.g. jobs) now: cold starts happen at startup, and the
        core's local job dispatcher finds them already imported. Returns {function: error} for the failures."""
        self.load_errors = {}
        for folder in [*self.functions(), *(f for f in extra if f not in self.functions())]:
            try:
                lambdas.load_handler(folder, self.functions_dir)
            except Exception as exc:  # noqa: BLE001 - reported, the route answers 502 until fixed
                self.load_errors[folder] = f"{type(exc).__name__}: {exc}"
                log.error("cannot load function %s: %s", folder, self.load_errors[folder])
        return self.load_errors

    def _error(self, status: int, code: str, message: str, extra: list[tuple[str, str]] | None = None) -> Response:
        return Response(status, [("Content-Type", "application/json"), *(extra or [])], error_body(code, message))

    def check_body_size(self, length: int | None) -> Response | None:
        if length is not None and length > self.max_body_bytes:
            return self._error(413, "payload_too_large", f"request body over {self.max_body_bytes} bytes")
        return None

    def handle(self, method: str, raw_path: str, headers: list[tuple[str, str]], body: bytes | None,
               source_ip: str = "127.0.0.1") -> Response:
        static = static_response(method, raw_path, self.static)
        if static is not None:
            return static
        if not self.ready.is_set():
            return self._error(503, "service_unavailable", "the local API is starting", [("Retry-After", "1")])
        too_big = self.check_body_size(len(body) if body else 0)
        if too_big:
            return too_big
        path = urlsplit(raw_path).path
        m = match_route(method, path, self.routes)
        if m.status == 404:
            return self._error(404, "not_found", f"no resource at {unquote(path)}")
        if m.status == 405:
            return self._error(405, "method_not_allowed", f"{method} is not allowed on {unquote(path)}",
                               [("Allow", ", ".join(m.allowed))])
        route = m.route
        api_key = next((v for k, v in headers if k.lower() == "x-api-key"), None)
        key_id = self.keys.get(api_key) if api_key else None
        if route.role != PUBLIC:
            if key_id is None:
                return self._error(401, "unauthorized", "missing or invalid x-api-key")
        else:
            api_key = key_id = None  # API Gateway fills the key only on methods that require one
        event = build_event(route, method, raw_path, headers, body, m.path_parameters, source_ip,
                            api_key, key_id, self.stage)
        return self.invoke(route.function, event)

    def invoke(self, folder: str, event: dict) -> Response:
        request_id = event["requestContext"]["requestId"]
        try:
            handler: Callable = lambdas.load_handler(folder, self.functions_dir)
        except Exception as exc:  # noqa: BLE001
            log.error("function %s cannot be loaded: %s", folder, exc)
            return self._error(502, "internal_error", f"function {folder} is not available",
                               [("x-amzn-RequestId", request_id)])
        context = lambdas.LambdaContext(folder, timeout_seconds=29, request_id=str(uuid.uuid4()))
        try:
            result = handler(event, context)
        except Exception:  # noqa: BLE001 - API Gateway answers 502 when the function fails
            log.error("function %s raised (request %s):\n%s", folder, request_id, traceback.format_exc())
            return self._error(502, "internal_error", "internal server error", [("x-amzn-RequestId", request_id)])
        try:
            return to_response(result, request_id)
        except (TypeError, ValueError, KeyError) as exc:
            log.error("function %s returned a malformed proxy response: %s (%r)", folder, exc, result)
            return self._error(502, "internal_error", "malformed Lambda proxy response",
                               [("x-amzn-RequestId", request_id)])


def to_response(result: Any, request_id: str) -> Response:
    """A Lambda proxy integration result -> the HTTP response API Gateway sends."""
    if not isinstance(result, dict):
        raise TypeError("the result is not an object")
    status = int(result.get("statusCode", 200))
    if not 100 <= status <= 599:
        raise ValueError(f"bad statusCode {status}")
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for v in values:
            out.append((name, str(v)))
        seen.add(name.lower())
    for name, v in (result.get("headers") or {}).items():
        if name.lower() not in seen:
            out.append((name, str(v)))
    body = result.get("body")
    if body is None:
        raw = b""
    elif result.get("isBase64Encoded"):
        raw = base64.b64decode(body)
    else:
        if not isinstance(body, str):
            raise TypeError("body must be a string")
        raw = body.encode("utf-8")
    if not any(k.lower() == "content-type" for k, _ in out):
        out.append(("Content-Type", "application/json"))
    out.append(("x-amzn-RequestId", request_id))
    return Response(status, out, raw)


# --------------------------------------------------------------------------- HTTP server

class _Handler(BaseHTTPRequestHandler):
    server_version = "incentives-local"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    api: LocalApi  # set on the subclass made by make_server

    def _read_body(self) -> tuple[bytes | None, Response | None]:
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks, total = [], 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > self.api.max_body_bytes:
                    self.close_connection = True
                    return None, self.api.check_body_size(total)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks), None
        length = int(self.headers.get("Content-Length") or 0)
        too_big = self.api.check_body_size(length)
        if too_big:
            # Read and drop a body of reasonable size, so the client finishes sending and reads the 413 (instead
            # of a broken pipe); a huge one is not read. Either way the connection is closed afterwards.
            self.close_connection = True
            if length <= DRAIN_LIMIT_BYTES:
                while length > 0:
                    chunk = self.rfile.read(min(length, 65536))
                    if not chunk:
                        break
                    length -= len(chunk)
            return None, too_big
        return (self.rfile.read(length) if length else None), None

    def _serve(self) -> None:
        started = time.perf_counter()
        try:
            body, early = self._read_body()
        except ValueError:
            early, body = self.api._error(400, "bad_request", "malformed request body framing"), None
            self.close_connection = True
        response = early or self.api.handle(self.command, self.path, list(self.headers.items()), body,
                                            self.client_address[0])
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)
        log.log(logging.DEBUG if response.status == 503 else logging.INFO, "%s %s -> %d (%.1f ms)",
                self.command, self.path, response.status, (time.perf_counter() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the access log is _serve's
        log.debug(format, *args)


class LocalApiServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


def make_server(api: LocalApi, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> LocalApiServer:
    handler = type("BoundHandler", (_Handler,), {"api": api})
    return LocalApiServer((host, port), handler)


def serve_in_thread(server: LocalApiServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="local-api", daemon=True)
    t.start()
    return t
