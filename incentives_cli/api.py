"""A small client of the engine's HTTP API (stdlib urllib: no extra dependency for a handful of calls).

Every failure becomes one exception with a one-line message: ApiError for an error answer (the contract's
`{"error": {"code", "message"}}`), Unreachable when no answer came at all. 429 and 503 answers that carry
Retry-After (throttling, a saturated local server) are retried a few times: the server did not act on them.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from email.message import Message

from incentives_cli import __version__

RETRIES = 5
MAX_RETRY_WAIT_S = 5.0


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: dict | None = None):
        super().__init__(f"{code} ({status}): {message}")
        self.status, self.code, self.message, self.details = status, code, message, details or {}


class Unreachable(Exception):
    """No HTTP answer: connection refused, DNS, timeout."""


@dataclass
class Answer:
    status: int
    headers: Message
    body: bytes = field(repr=False)

    def json(self):
        return json.loads(self.body) if self.body else None

    @property
    def text(self) -> str:
        return self.body.decode("utf-8")


class Client:
    def __init__(self, base_url: str, api_key: str, timeout: float = 30.0, sleep=None):
        base = base_url.rstrip("/")
        if urllib.parse.urlsplit(base).scheme not in ("http", "https"):
            raise Unreachable(f"INCENTIVES_URL must be an http(s) URL, not {base_url!r}")
        self.base_url = base[: -len("/v1")] if base.endswith("/v1") else base
        self.api_key, self.timeout, self.sleep = api_key, timeout, sleep or time.sleep

    def url(self, path: str, query: dict | None = None) -> str:
        q = {k: v for k, v in (query or {}).items() if v is not None}
        return self.base_url + path + ("?" + urllib.parse.urlencode(q) if q else "")

    def call(self, method: str, path: str, body=None, query: dict | None = None,
             accept: str = "application/json") -> Answer:
        """The answer of a 2xx; raises ApiError for any other status, Unreachable without an answer."""
        data = None if body is None else json.dumps(body).encode()
        headers = {"x-api-key": self.api_key, "Accept": accept, "User-Agent": f"incentives-cli/{__version__}"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        url = self.url(path, query)
        for attempt in range(RETRIES + 1):
            # the scheme is checked in __init__: http or https only
            request = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - http(s) only, see __init__  # nosec B310
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as r:  # noqa: S310 - http(s) only, see __init__  # nosec B310
                    return Answer(r.status, r.headers, r.read())
            except urllib.error.HTTPError as e:
                answer = Answer(e.code, e.headers, e.read())
                wait = _retry_after(answer)
                if wait is not None and attempt < RETRIES:
                    self.sleep(wait)
                    continue
                raise _error(answer, method, path) from None
            except (urllib.error.URLError, OSError) as e:  # refused, reset, DNS, timeout
                reason = getattr(e, "reason", e)
                raise Unreachable(f"cannot reach {self.base_url}: {reason}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def json(self, method: str, path: str, body=None, query: dict | None = None):
        return self.call(method, path, body, query).json()


def _retry_after(answer: Answer) -> float | None:
    if answer.status not in (429, 503):
        return None
    try:
        return min(MAX_RETRY_WAIT_S, max(0.0, float(answer.headers.get("Retry-After", ""))))
    except ValueError:
        return None


def _error(answer: Answer, method: str, path: str) -> ApiError:
    try:
        err = json.loads(answer.body)["error"]
        return ApiError(answer.status, str(err["code"]), str(err.get("message", "")), err.get("details"))
    except (ValueError, KeyError, TypeError):
        snippet = answer.body[:200].decode("utf-8", "replace").replace("\n", " ").strip()
        return ApiError(answer.status, "http_error", f"{method} {path}: {snippet or 'no body'}")
