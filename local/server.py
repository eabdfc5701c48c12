"""A local stand-in for the API Gateway REST API (Lambda proxy integration) in front of the real handlers.

An HTTP request becomes a REST API proxy event (payload format 1.0) for the route that ROUTES
(incentives.http.routes) declares; the function's real ``lambda_handler`` answers it, exactly as deployed.
What API Gateway does before the function runs is emulated here: route matching (most specific literal
match wins), API keys (x-api-key; routes whose role is not public need a valid key, the handlers decide
the role from ``requestContext.identity.apiKeyId``), 404/405 for unknown paths and methods, a body size limit.

Stdlib only: an HTTP/1.1 server sized for load (keep-alive, TCP_NODELAY, a listen backlog of at least 1024, a
bounded worker pool that answers 503 + Retry-After when saturated, a graceful stop), on http.server's request
parsing; ``local/run.py`` starts it with DynamoDB Local and the scheduled jobs.
"""
from __future__ import annotations

import base64
import contextlib
import json
import logging
import mimetypes
import os
import queue
import re
import select
import selectors
import socket
import threading
import time
import traceback
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, UTC
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterable
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
    "/claim/": _ROOT / "web" / "claim",  # the landing page: /claim/{campaign_id} (STATIC_PAGES)
    "/dashboard/": _ROOT / "web" / "dashboard",  # the read-only operator dashboard
}
# Prefixes whose paths without a file answer the prefix's index.html: the page reads its argument from the path.
STATIC_PAGES: frozenset[str] = frozenset({"/claim/"})


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
        if prefix in STATIC_PAGES and "/" not in path[len(prefix):] and not target.is_file():
            target = root / "index.html"
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
    for part, seg in zip(parts, segments, strict=True):
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
    now = now or datetime.now(UTC)
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
            "domainName": single_headers.get("Host")
            or next((v for k, v in headers if k.lower() == "host"), "localhost"),
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
#
# Sized for load: `make run` is what a shop load-tests before a sale, and what the concurrency tests and the
# benchmarks go through, so a figure measured through it must be a figure of the engine, not of this server.
# - The listen backlog is at least 1024 (or the system's maximum if larger): simultaneous connection attempts wait
#   in the kernel's queue instead of being dropped and retried by the client 1, 3, 7 s later.
# - HTTP/1.1 keep-alive. A connection between requests is parked in one selector thread and holds no worker; a
#   connection with a request ready is handed to a BOUNDED pool of workers through a bounded queue. When the queue
#   is full the request is answered 503 with Retry-After (by a separate small thread, so the answer does not wait
#   for a worker) instead of stalling silently.
# - TCP_NODELAY on every accepted socket, and the head and body of a response go out in one write: no Nagle delay
#   meeting the client's delayed ACK (about 40-50 ms per keep-alive request).
# - shutdown() stops accepting, closes idle connections, lets the requests in flight and queued finish (answered
#   with "Connection: close") within a grace period.
# Why not a server library (waitress): docs/decision-log.md, "Local server: ...".

DEFAULT_THREADS = 32
DEFAULT_QUEUE = 512
READ_TIMEOUT_SECONDS = 10.0  # a request that has started must arrive within this (a worker waits for it)
IDLE_TIMEOUT_SECONDS = 75.0  # a keep-alive connection without a request for this long is closed
SHUTDOWN_GRACE_SECONDS = 10.0
RETRY_AFTER_SECONDS = 1
REJECT_THREADS = 2
REJECT_QUEUE = 1024
REJECT_READ_TIMEOUT_SECONDS = 1.0
LINGER_MS = 5  # a worker waits this long for a keep-alive client's next request (while other workers are free)
_poll = getattr(select, "poll", None)  # not on Windows: no lingering there
_POLLIN = getattr(select, "POLLIN", 1)
_WAKER = object()
# epoll and kqueue take registrations from any thread while another waits in them: a worker parks a connection
# itself, without waking the selector thread (one thread switch less per keep-alive request).
_SHARED_SELECTORS = tuple(getattr(selectors, n) for n in ("EpollSelector", "KqueueSelector") if hasattr(selectors, n))


def listen_backlog() -> int:
    """At least 1024, or the system's maximum (net.core.somaxconn) if larger; Linux caps a larger request at it."""
    try:
        system = int(Path("/proc/sys/net/core/somaxconn").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        system = socket.SOMAXCONN
    return max(1024, min(system, 65535))


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value else default


class _Handler(BaseHTTPRequestHandler):
    """One client connection, driven by LocalApiServer one request at a time (socketserver's handlers serve a
    whole connection inside __init__; this one is set up once and called per request)."""

    server_version = "incentives-local"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = READ_TIMEOUT_SECONDS
    disable_nagle_algorithm = True  # TCP_NODELAY
    api: LocalApi  # set on the subclass made by LocalApiServer
    server: LocalApiServer

    def __init__(self, sock: socket.socket, client_address: Any, server: LocalApiServer):
        self.request = sock
        self.client_address = client_address
        self.server = server
        self.rejecting = False
        self.setup()

    def serve_one(self) -> bool:
        """Read and answer the next request; True when the connection stays open for another."""
        self.close_connection = True  # parse_request keeps HTTP/1.1 connections open unless asked to close
        self.handle_one_request()
        return not self.close_connection

    def has_pending_input(self) -> bool:
        """A next request has (partly) arrived already: pipelined, or a fast client. Never blocks."""
        try:
            self.connection.settimeout(0)
            return bool(self.rfile.peek(1))
        except (OSError, ValueError):
            return False
        finally:
            with contextlib.suppress(OSError):
                self.connection.settimeout(self.timeout)

    def close(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.finish()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
        self.connection.close()

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
        if early is None and self.rejecting:
            early = self.api._error(503, "service_unavailable", "the local API is saturated; retry later",
                                    [("Retry-After", str(RETRY_AFTER_SECONDS))])
            self.close_connection = True
        response = early or self.api.handle(self.command, self.path, list(self.headers.items()), body,
                                            self.client_address[0])
        if self.server.stopping:
            self.close_connection = True
        self.send_response(response.status)
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        # Head and body in one write (one segment for a small answer), instead of end_headers() + write().
        self._headers_buffer.append(b"\r\n")
        head = b"".join(self._headers_buffer)
        self._headers_buffer = []
        self.wfile.write(head if self.command == "HEAD" else head + response.body)
        log.log(logging.DEBUG if response.status == 503 else logging.INFO, "%s %s -> %d (%.1f ms)",
                self.command, self.path, response.status, (time.perf_counter() - started) * 1000)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the access log is _serve's
        log.debug(format, *args)


class _Slot:
    """An idle worker: the connection it is handed, and the event that wakes it."""

    __slots__ = ("conn", "event")

    def __init__(self) -> None:
        self.conn: _Handler | None = None
        self.event = threading.Event()


class LocalApiServer:
    """The local API's HTTP/1.1 server: one selector thread (accepts, parks idle keep-alive connections), a bounded
    pool of ``threads`` workers fed by a queue of ``queue_size`` connections with a request ready, and 503 +
    Retry-After beyond that. ``threads`` and ``queue_size`` default to $LOCAL_API_THREADS (32) and
    $LOCAL_API_QUEUE (512): 544 requests at once are served without a 503 (each keep-alive client has at most one
    request outstanding, so that many clients never see one)."""

    def __init__(self, api: LocalApi, host: str = "127.0.0.1", port: int = DEFAULT_PORT,
                 threads: int | None = None, queue_size: int | None = None, backlog: int | None = None):
        self.api = api
        self.threads = threads or _env_int("LOCAL_API_THREADS", DEFAULT_THREADS)
        self.queue_size = queue_size or _env_int("LOCAL_API_QUEUE", DEFAULT_QUEUE)
        self.backlog = backlog or listen_backlog()
        self.handler_class: type[_Handler] = type("BoundHandler", (_Handler,), {"api": api})
        self.socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.socket.bind((host, port))
            self.socket.listen(self.backlog)
            self.socket.setblocking(False)
        except OSError:
            self.socket.close()
            raise
        self.server_address: tuple[str, int] = self.socket.getsockname()[:2]
        self.stopping = False
        self.rejected = 0  # requests answered 503 because the pool was saturated
        self._work: queue.Queue[_Handler] = queue.Queue(self.queue_size)
        self._rejects: queue.Queue[_Handler | None] = queue.Queue(REJECT_QUEUE)
        self._parked: deque[_Handler] = deque()  # handed back by workers, for the selector thread to register
        self._waker_r, self._waker_w = socket.socketpair()
        self._waker_r.setblocking(False)
        self._waker_w.setblocking(False)
        self._selector = selectors.DefaultSelector()
        self._shared = isinstance(self._selector, _SHARED_SELECTORS)
        self._lock = threading.Lock()  # the selector's registrations and _idle
        self._selector_open = True
        self._idle: dict[_Handler, float] = {}  # connections waiting in the selector -> since when
        self._idle_workers: list[_Slot] = []  # a stack: the worker that finished last is woken first
        self._threads: list[threading.Thread] = []
        self._loop_started = threading.Event()
        self._loop_done = threading.Event()
        self._last_reject_log = 0.0

    # ---- the selector thread

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        workers = [threading.Thread(target=self._work_loop, name=f"local-api-{i}", daemon=True)
                   for i in range(self.threads)]
        rejecters = [threading.Thread(target=self._reject_loop, name=f"local-api-503-{i}", daemon=True)
                     for i in range(REJECT_THREADS)]
        self._threads = [*workers, *rejecters]
        for t in self._threads:
            t.start()
        sel = self._selector
        sel.register(self.socket, selectors.EVENT_READ, None)
        sel.register(self._waker_r, selectors.EVENT_READ, _WAKER)
        self._loop_started.set()
        next_sweep = time.monotonic() + 1.0
        try:
            while not self.stopping:
                for key, _ in sel.select(poll_interval):
                    if key.data is None:
                        self._accept()
                    elif key.data is _WAKER:
                        self._unpark()
                    else:
                        conn = key.data
                        with self._lock:
                            sel.unregister(key.fileobj)
                            self._idle.pop(conn, None)
                        if self._closed_by_peer(conn):
                            conn.close()
                        else:
                            self._dispatch(conn)
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep(now)
                    next_sweep = now + 1.0
        finally:
            with contextlib.suppress(KeyError, ValueError, OSError):
                sel.unregister(self.socket)
            self.socket.close()  # from here on, clients get "connection refused"
            with self._lock:
                self._selector_open = False
                idle, self._idle = list(self._idle), {}
                for conn in idle:
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        sel.unregister(conn.connection)
            for conn in idle:
                conn.close()
            self._loop_done.set()

    def _accept(self) -> None:
        for _ in range(256):  # a bounded burst: parked connections get their turn too
            try:
                sock, addr = self.socket.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # out of file descriptors (EMFILE): the attempt stays in the backlog
                log.warning("cannot accept a connection: %s", exc)
                time.sleep(0.05)
                return
            try:
                conn = self.handler_class(sock, addr, self)
            except OSError:
                sock.close()
                continue
            self._watch(conn)

    def _watch(self, conn: _Handler) -> None:
        """Wait (in the selector, holding no worker) for the connection's next request."""
        with self._lock:
            if self._selector_open and not self.stopping:
                try:
                    self._selector.register(conn.connection, selectors.EVENT_READ, conn)
                    self._idle[conn] = time.monotonic()
                    return
                except (OSError, ValueError, KeyError):
                    pass
        conn.close()

    def _park(self, conn: _Handler) -> None:
        """From a worker: the connection is idle again."""
        if self._shared:
            self._watch(conn)
        else:
            self._parked.append(conn)
            self._wake()

    @staticmethod
    def _closed_by_peer(conn: _Handler) -> bool:
        """The client closed the connection (it is readable at EOF): no need to give it to a worker."""
        try:
            return conn.connection.recv(1, socket.MSG_PEEK | getattr(socket, "MSG_DONTWAIT", 0)) == b""
        except (BlockingIOError, InterruptedError):
            return False
        except OSError:
            return True

    def _unpark(self) -> None:
        with contextlib.suppress(BlockingIOError, InterruptedError):
            while self._waker_r.recv(4096):
                pass
        while self._parked:
            self._watch(self._parked.popleft())

    def _dispatch(self, conn: _Handler) -> None:
        with self._lock:
            if self._idle_workers:
                slot = self._idle_workers.pop()
                slot.conn = conn
                slot.event.set()
                return
            try:
                self._work.put_nowait(conn)  # every worker is busy: wait for one, in a bounded queue
                return
            except queue.Full:
                pass
        self.rejected += 1
        now = time.monotonic()
        if now - self._last_reject_log > 5.0:
            self._last_reject_log = now
            log.warning("local API saturated (%d workers busy, %d requests queued): answering 503",
                        self.threads, self.queue_size)
        try:
            self._rejects.put_nowait(conn)
        except queue.Full:
            conn.close()

    def _sweep(self, now: float) -> None:
        expired = []
        with self._lock:
            for conn, since in list(self._idle.items()):
                if now - since > IDLE_TIMEOUT_SECONDS:
                    with contextlib.suppress(KeyError, ValueError, OSError):
                        self._selector.unregister(conn.connection)
                    del self._idle[conn]
                    expired.append(conn)
        for conn in expired:
            conn.close()

    def _wake(self) -> None:
        with contextlib.suppress(OSError):  # BlockingIOError: wake-ups are pending already
            self._waker_w.send(b"\0")

    # ---- workers

    def _next_connection(self, slot: _Slot) -> _Handler | None:
        """A queued connection, else wait on the idle stack (the last worker to finish gets the next request: the
        same warm thread serves a sequential client, instead of all of them in turn). None: stop."""
        with self._lock:
            try:
                return self._work.get_nowait()
            except queue.Empty:
                if self.stopping:
                    return None
                self._idle_workers.append(slot)
        slot.event.wait()
        slot.event.clear()
        conn, slot.conn = slot.conn, None
        return conn

    def _work_loop(self) -> None:
        slot = _Slot()
        while True:
            conn = self._next_connection(slot)
            if conn is None:
                return
            try:
                while conn.serve_one() and not self.stopping:
                    if not (conn.has_pending_input() or self._linger(conn)):
                        self._park(conn)
                        break
                else:
                    conn.close()
            except OSError as exc:  # the client went away
                log.debug("connection from %s: %s", conn.client_address, exc)
                conn.close()
            except Exception:  # a bug here must not kill the worker
                log.exception("error serving %s", conn.client_address)
                conn.close()

    def _linger(self, conn: _Handler) -> bool:
        """While other workers are free, wait a moment for the client's next request on this connection: a client
        sending requests back to back then gets it served without two thread switches (selector, then a worker)."""
        if not _poll or not self._idle_workers or not self._work.empty():
            return False
        poller = _poll()
        poller.register(conn.connection, _POLLIN)
        return bool(poller.poll(LINGER_MS))

    def _reject_loop(self) -> None:
        while True:
            conn = self._rejects.get()
            if conn is None:
                return
            conn.rejecting = True
            try:
                conn.connection.settimeout(REJECT_READ_TIMEOUT_SECONDS)
                conn.serve_one()
            except Exception as exc:  # noqa: BLE001 - best effort: the client gets a 503 or a closed connection
                log.debug("503 to %s not delivered: %s", conn.client_address, exc)
            conn.close()

    # ---- stopping

    def shutdown(self, timeout: float = SHUTDOWN_GRACE_SECONDS) -> bool:
        """Stop accepting and close idle connections; the requests in flight and queued are answered (with
        "Connection: close"). Returns True when all of them finished within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        self.stopping = True
        self._wake()
        if self._loop_started.is_set():
            self._loop_done.wait(timeout)
        with self._lock:  # idle workers stop; busy ones finish, serve what is queued, then stop
            for slot in self._idle_workers:
                slot.conn = None
                slot.event.set()
            self._idle_workers.clear()
        for _ in range(REJECT_THREADS if self._threads else 0):
            try:
                self._rejects.put(None, timeout=max(0.01, deadline - time.monotonic()))
            except queue.Full:
                break
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
        while self._parked:
            self._parked.popleft().close()
        running = sum(t.is_alive() for t in self._threads)
        if running:
            log.warning("%d requests still running %.0f s after the stop; not waiting for them", running, timeout)
        return running == 0

    def server_close(self) -> None:
        for s in (self.socket, self._waker_r, self._waker_w):
            s.close()
        with contextlib.suppress(OSError, RuntimeError):
            self._selector.close()


def make_server(api: LocalApi, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: Any) -> LocalApiServer:
    """A bound and listening server (connections wait in the backlog until serve_forever runs); ``options``:
    threads, queue_size, backlog."""
    return LocalApiServer(api, host, port, **options)


def serve_in_thread(server: LocalApiServer) -> threading.Thread:
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.5}, name="local-api", daemon=True)
    t.start()
    return t
