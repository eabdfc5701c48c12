"""The OpenAPI 3.1 document of the HTTP API, generated from the code's own declarations, never written by hand.

- the paths, methods, roles and functions: the route table (http/routes.py ROUTES, which CDK and the local
  server read too);
- request bodies and query parameters: the frozen dataclasses the handlers parse (http/schemas.py, ...);
- answers per status: the response declarations (http/responses.py), held to the handlers' real answers by
  tests/integration/test_openapi_responses.py;
- error answers: the route's error codes (http/operations.py), grouped by the status http/errors.py maps
  each to, as the contract's envelope `{"error": {"code", "message", "details"}}` with `code` an enum.
Schemas are JSON Schema 2020-12 (OpenAPI 3.1's dialect), made by the walker that makes the config document's
schema (domain/json_schema.py).

Served by `GET /v1/openapi.json` (public; the operators function imports this module only when that route is
called, never at start: no checkout-path import), committed as docs/openapi.json (`python -m tools.openapi`
writes it; tests/unit/test_openapi.py fails when it is stale) and shown by Swagger UI at /docs in `make run`.
"""
from __future__ import annotations

import dataclasses
import json
import re
import types
import typing
from typing import Any, Union

from ..domain.json_schema import DRAFT_2020_12, Generator
from ..domain.schema import _key_of
from .errors import status_for
from .operations import OPERATIONS, Operation, common_errors
from .responses import ErrorOut
from .routes import OPERATOR, PUBLIC, ROUTES, RUNNABLE_JOBS, STOREFRONT, Route

OPENAPI_VERSION = "3.1.0"
REF = "#/components/schemas/"
ERROR_SCHEMA = ErrorOut.__name__

# Every {parameter} of a route path: schema and meaning (a new name needs a line here).
PATH_PARAMETERS: dict[str, tuple[dict, str]] = {
    "code": ({"type": "string", "minLength": 1}, "The code; case-insensitive, surrounding spaces ignored."),
    "redemption_id": ({"type": "string"}, "The `id` of a redemption answer."),
    "campaign_id": ({"type": "string"}, "A campaign's id (the name of its config file)."),
    "customer_id": ({"type": "string", "minLength": 1, "maxLength": 128}, "The shop's customer id."),
    "program_id": ({"type": "string"}, "A referral or loyalty program's id (the name of its config file)."),
    "referral_id": ({"type": "string"}, "The `id` of a referral."),
    "payout_id": ({"type": "string"}, "The `id` of a payout."),
    "token": ({"type": "string"}, "The unsubscribe token of a message's `List-Unsubscribe` link (names no one)."),
    "export_id": ({"type": "string"}, "The `export_id` of a 202 answer of POST .../exports."),
    "job": ({"type": "string"}, "A job id (`job_id` of a 202 answer), or on `/run` a runnable job's name: "
                                + ", ".join(RUNNABLE_JOBS) + "."),
}
ROLE_SECURITY: dict[str, list[dict[str, list[str]]]] = {
    PUBLIC: [],
    STOREFRONT: [{"storefrontKey": []}, {"operatorKey": []}],
    OPERATOR: [{"operatorKey": []}],
}
TAGS = {
    "storefront": "The checkout path: validate, redeem, roll back, look a code up, qualifications.",
    "events": "Customer and order events from the shop.",
    "claims": "Landing pages: public claims of a code (CORS per campaign).",
    "operators": "Campaigns and their numbers, code issuance, jobs, erasure, health, this document.",
    "referrals": "Referral programs: referrers, referees, held conversions, payouts, numbers.",
    "loyalty": "Loyalty programs: catalog, members, ledger, rewards, adjustments.",
}
DESCRIPTION = """\
The incentives engine's HTTP API (contract v1). JSON, UTF-8; amounts are integers in minor units with a \
`currency`; times RFC 3339.

**Roles** (`x-role` on each operation): `public` paths need no key; `storefront` paths take a storefront or an \
operator key; `operator` paths take an operator key only. The key goes in the `x-api-key` header. A missing or \
unknown key is 401 `unauthorized`, a key without the role 403 `forbidden`.

**Errors**: every non-2xx answer is `{"error": {"code", "message", "details"}}`; each operation lists the codes \
it can answer under their status. 422 `invalid_request` names the fields (`details.fields: [{field, message}]`, \
the first 20; with more, `details.truncated: true` and `details.field_error_count`). \
API Gateway itself answers an unknown path or method with 404 `not_found`, and a request it cannot take with \
`bad_request`.

**Idempotency**: operations with an `Idempotency-Key` parameter answer a repeat with the same key and body with \
the first answer (header `Idempotent-Replayed: true`); the same key with another body is 409 \
`idempotency_key_reused`, a repeat while the first runs 409 `request_in_progress`.

**Retry later**: every operation that reads or writes the database can answer 503 `contention` with \
`Retry-After` (seconds): DynamoDB throttled, conflicted or timed out after the engine's retries. The request may \
have applied: retry it after `Retry-After` seconds, with the same Idempotency-Key where the operation takes one, \
and the first answer comes back, never a second effect. 429 `rate_limited` is API Gateway's throttling of a key \
(no `Retry-After`) or, with `Retry-After`, one of the engine's limits: unknown codes tried by one shopper, claims \
per client and per campaign.

Generated from the route table and the request and response declarations of the code (never edited by hand)."""


class MissingDeclaration(LookupError):
    """A route without its Operation (or an Operation without its route): http/operations.py and ROUTES differ."""


def document(routes: tuple[Route, ...] = ROUTES, operations: dict[str, Operation] = OPERATIONS) -> dict:
    """The whole OpenAPI 3.1 document (deterministic: the same declarations give the same document)."""
    names = [r.name for r in routes]
    missing = [f"{r.method} {r.path} ({r.name})" for r in routes if r.name not in operations]
    if missing:
        raise MissingDeclaration("routes without an Operation in incentives/http/operations.py: " + "; ".join(missing))
    extra = sorted(set(operations) - set(names))
    if extra:
        raise MissingDeclaration("Operations in incentives/http/operations.py without a route in ROUTES: "
                                 + ", ".join(extra))
    gen = Generator(DRAFT_2020_12, REF)
    gen.schema(ErrorOut)
    paths: dict[str, dict] = {}
    for route in routes:
        paths.setdefault(route.path, {})[route.method.lower()] = _operation(route, operations[route.name], gen)
    used_tags = list(dict.fromkeys(r.function for r in routes))
    return {
        "openapi": OPENAPI_VERSION,
        "jsonSchemaDialect": DRAFT_2020_12,
        "info": {"title": "incentives engine HTTP API", "version": "1", "description": DESCRIPTION},
        "tags": [{"name": t, "description": TAGS.get(t, f"Routes served by the {t} function.")} for t in used_tags],
        "paths": paths,
        "components": {
            "schemas": {name: _described(gen.classes[name], schema)
                        for name, schema in sorted(gen.definitions.items())},
            "securitySchemes": {
                "storefrontKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                  "description": "A storefront key: storefront and public paths."},
                "operatorKey": {"type": "apiKey", "in": "header", "name": "x-api-key",
                                "description": "An operator key: operator, storefront and public paths."},
            },
        },
    }


def render(doc: dict) -> str:
    """The committed form of docs/openapi.json."""
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def served(doc: dict, request_context: dict | None) -> dict:
    """The document as `GET /v1/openapi.json` answers it: with a `servers` entry for API Gateway's own URL
    (https://{api}.execute-api.{region}.amazonaws.com/{stage}), where the paths sit below the stage; elsewhere
    (the local server, a custom domain) the default server `/` is right."""
    ctx = request_context or {}
    domain, stage = ctx.get("domainName") or "", ctx.get("stage") or ""
    if re.fullmatch(r"[a-z0-9]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com(\.cn)?", domain) and \
            re.fullmatch(r"[A-Za-z0-9_-]+", stage):
        return {**doc, "servers": [{"url": f"https://{domain}/{stage}"}]}
    return doc


# ---- one operation -----------------------------------------------------------------------------------------

def _operation(route: Route, op: Operation, gen: Generator) -> dict:
    out: dict[str, Any] = {"operationId": route.name, "summary": op.summary}
    if op.description:
        out["description"] = op.description
    out["tags"] = [route.function]
    out["x-role"] = route.role
    out["security"] = ROLE_SECURITY[route.role]
    params = [*_path_parameters(route), *_query_parameters(op, gen)]
    if op.idempotent:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "1-255 printable characters; a repeat answers the first answer (24 h).",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255}})
    if op.shopper_ip:
        params.append({"name": "X-Shopper-IP", "in": "header", "required": False,
                       "description": "The shopper's IP address as the storefront saw it (IPv4 or IPv6). Unknown "
                                      "codes are counted per customer id and per shopper IP (an IPv6 address per "
                                      "/64), never per API key; past the limit the shopper gets 429 rate_limited "
                                      "with Retry-After. Not an IP address: 422.",
                       "schema": {"type": "string", "maxLength": 64}})
    if params:
        out["parameters"] = params
    if op.body:
        refs = [gen.schema(cls) for cls in op.body]
        required = any(_required_fields(cls) for cls in op.body)
        out["requestBody"] = {"required": required, "content": {
            "application/json": {"schema": refs[0] if len(refs) == 1 else {"anyOf": refs}}}}
    out["responses"] = {**_successes(op, gen), **_errors(route, op)}
    return out


def _path_parameters(route: Route) -> list[dict]:
    out = []
    for name in re.findall(r"\{([^}]+)\}", route.path):
        if name not in PATH_PARAMETERS:
            raise MissingDeclaration(f"{route.path}: path parameter {{{name}}} has no entry in "
                                     "incentives/http/openapi.py PATH_PARAMETERS")
        schema, description = PATH_PARAMETERS[name]
        if name == "job" and route.name == "run_job":
            schema = {**schema, "enum": list(RUNNABLE_JOBS)}
        out.append({"name": name, "in": "path", "required": True, "description": description, "schema": schema})
    return out


def _query_parameters(op: Operation, gen: Generator) -> list[dict]:
    if op.query is None:
        return []
    key = _key_of(op.query)
    hints = typing.get_type_hints(op.query, include_extras=True)
    out = []
    for f in dataclasses.fields(op.query):
        schema = dict(gen.schema(_not_none(hints[f.name])))
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if not required and f.default is not None:
            schema["default"] = f.default
        param = {"name": key(f.name), "in": "query", "required": required, "schema": schema}
        if "description" in schema:
            param["description"] = schema.pop("description")
        out.append(param)
    return out


def _successes(op: Operation, gen: Generator) -> dict:
    out = {}
    for status, decl in sorted(op.responses.items()):
        answer: dict[str, Any] = {"description": _reason(status)}
        headers = {name: {"description": text, "schema": {"type": "string"}}
                   for name, text in op.response_headers.items()}
        if op.idempotent:
            headers["Idempotent-Replayed"] = {"description": "`true` on the stored answer of a repeat",
                                              "schema": {"type": "string", "enum": ["true"]}}
        if headers:
            answer["headers"] = headers
        if decl is not None:
            answer["content"] = {"application/json": {"schema": gen.schema(decl)}}
            if op.csv and status == 200:
                answer["content"]["text/csv"] = {"schema": {"type": "string"}}
        if op.html and status == 200:  # a page for a person (e.g. the unsubscribe link's)
            answer.setdefault("content", {})["text/html"] = {"schema": {"type": "string"}}
        out[str(status)] = answer
    return out


def _errors(route: Route, op: Operation) -> dict:
    codes = list(dict.fromkeys([*common_errors(route.role, op), *op.errors]))
    by_status: dict[int, list[str]] = {}
    for code in codes:
        by_status.setdefault(status_for(code), []).append(code)
    out = {}
    for status, group in sorted(by_status.items()):
        answer: dict[str, Any] = {
            "description": f"{_reason(status)}: " + ", ".join(f"`{c}`" for c in group),
            "content": {"application/json": {"schema": {"allOf": [
                {"$ref": REF + ERROR_SCHEMA},
                {"properties": {"error": {"properties": {"code": {"enum": group}}}}},
            ]}}},
        }
        if status in _RETRY_LATER:  # every "retry later" of the engine says when (http/api.py)
            answer["description"] += ". " + _RETRY_LATER[status]
            answer["headers"] = {"Retry-After": {"description": "seconds to wait", "required": status == 503,
                                                 "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
        out[str(status)] = answer
    return out


def _described(cls: type, schema: dict) -> dict:
    """The class's own docstring as the schema's description (not the one dataclass() writes)."""
    doc = (cls.__doc__ or "").strip()
    if not doc or doc.startswith(f"{cls.__name__}("):
        return schema
    return {"description": " ".join(doc.split()), **schema}


def _required_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]


def _not_none(hint: Any) -> Any:
    """`X | None` -> X (a query parameter is absent or a value, never null)."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return hint


# What a client does with an answer that says "retry later" (docs/api.md, "Errors").
_RETRY_LATER = {
    429: "Retry after `Retry-After` seconds (sent by the engine's own limits; API Gateway's throttling of the "
         "key sends none)",
    503: "`contention`: DynamoDB throttled, conflicted or timed out after the engine's retries; the request may "
         "have applied: retry after `Retry-After` seconds (with the same Idempotency-Key where the operation "
         "takes one: the first answer comes back, never a second effect)",
}
_REASONS = {200: "OK", 201: "Created", 202: "Accepted", 204: "No Content", 401: "Unauthorized", 403: "Forbidden",
            404: "Not Found", 409: "Conflict", 413: "Payload Too Large", 422: "Unprocessable Content",
            429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def _reason(status: int) -> str:
    return _REASONS.get(status, str(status))


if __name__ == "__main__":
    import sys

    sys.stdout.write(render(document()))
