"""The auth matrix, generated from the route table: every non-public route x (no key, a wrong key, a storefront key
on an operator route) is refused with 401 or 403 before its handler does anything, through the local API Gateway
emulation (local/server.py: the key check API Gateway makes) and the function's own check (http/api.py, defence
in depth). A route added to http/routes.py is covered without touching this file."""
from __future__ import annotations

import json

import pytest
from incentives.http.routes import OPERATOR, PUBLIC, ROUTES

from tests.support import ROOT, STOREFRONT_KEY_ID, _Ctx

GUARDED = [r for r in ROUTES if r.role != PUBLIC]
STOREFRONT_KEY, OPERATOR_KEY = "matrix-storefront-key", "matrix-operator-key"
CALLERS = {"no key": None, "wrong key": "not-a-key-of-this-api", "storefront key": STOREFRONT_KEY}


def _path(route) -> str:
    return route.path.replace("{", "").replace("}", "")  # /v1/codes/{code} -> /v1/codes/code


def cases():
    for route in GUARDED:
        for caller in CALLERS:
            if caller == "storefront key" and route.role != OPERATOR:
                continue  # a storefront key may call storefront routes
            yield pytest.param(route, caller, id=f"{route.method} {route.path} [{caller}]")


@pytest.fixture
def local_api(handlers):
    from local.server import LocalApi

    api = LocalApi(functions_dir=ROOT / "functions", storefront_key=STOREFRONT_KEY, operator_key=OPERATOR_KEY)
    api.ready.set()
    return api


def test_the_matrix_covers_every_guarded_route_and_both_roles():
    ids = list(cases())
    assert {p.values[0] for p in ids} == set(GUARDED) and len(GUARDED) >= 25
    assert any(r.role == OPERATOR for r in GUARDED) and any(r.role != OPERATOR for r in GUARDED)


@pytest.mark.parametrize("route, caller", cases())
def test_a_caller_without_the_role_is_refused(local_api, route, caller):
    key = CALLERS[caller]
    headers = [("Content-Type", "application/json"), *([("x-api-key", key)] if key else [])]
    body = b"{}" if route.method in ("POST", "PUT", "PATCH") else None
    out = local_api.handle(route.method, _path(route), headers, body)
    want = 403 if caller == "storefront key" else 401
    assert out.status == want, out.body
    assert json.loads(out.body)["error"]["code"] == ("forbidden" if want == 403 else "unauthorized")


@pytest.mark.parametrize("route", GUARDED, ids=lambda r: f"{r.method} {r.path}")
def test_the_function_itself_refuses_an_event_without_a_key_and_a_storefront_key_on_operator_routes(handlers, route):
    """Should API Gateway's key check ever be misconfigured, the function still refuses."""
    from local.lambdas import load_handler

    handler = load_handler(route.function, ROOT / "functions")
    params = {p.strip("{}"): p.strip("{}") for p in route.path.split("/") if p.startswith("{")}
    key_ids = [None] + ([STOREFRONT_KEY_ID] if route.role == OPERATOR else [])
    for key_id in key_ids:
        event = {"resource": route.path, "path": _path(route), "httpMethod": route.method, "headers": {},
                 "queryStringParameters": None, "pathParameters": params or None,
                 "requestContext": {"identity": {"sourceIp": "203.0.113.9", "apiKeyId": key_id}},
                 "body": "{}" if route.method == "POST" else None, "isBase64Encoded": False}
        out = handler(event, _Ctx(route.function))
        assert out["statusCode"] == (401 if key_id is None else 403), (key_id, out["body"])
