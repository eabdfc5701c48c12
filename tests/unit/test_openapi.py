"""The OpenAPI 3.1 document (http/openapi.py): valid for a real validator, one operation per route of ROUTES and
nothing else, its request declarations the ones the handlers parse, its error codes real, and docs/openapi.json
current. (Response declarations against real answers: tests/integration/test_openapi_responses.py.)"""
from __future__ import annotations

import ast
import copy
import dataclasses
import json
import subprocess
import sys

import pytest
from incentives.domain import errors as domain_errors
from incentives.domain.json_schema import DRAFT_2020_12, Generator, document_schema
from incentives.domain.programs import LoyaltyProgram
from incentives.domain.schema import SchemaError, _key_of, parse
from incentives.http import schemas
from incentives.http.errors import STATUS, status_for
from incentives.http.openapi import MissingDeclaration, document, render
from incentives.http.operations import OPERATIONS, Operation
from incentives.http.routes import OPERATOR, PUBLIC, ROUTES, STOREFRONT, Route
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator

from tests.support import ROOT, modules_loaded_by_every_handler

DOC = document()
GATEWAY_CODES = {"bad_request", "method_not_allowed"}  # answered by API Gateway / the local server, not a handler


def operations(doc: dict = DOC) -> dict[tuple[str, str], dict]:
    return {(method.upper(), path): op for path, item in doc["paths"].items() for method, op in item.items()}


def test_the_document_is_valid_openapi_3_1():
    assert DOC["openapi"].startswith("3.1.") and DOC["jsonSchemaDialect"] == DRAFT_2020_12
    OpenAPIV31SpecValidator(DOC).validate()  # raises OpenAPIValidationError naming the fault
    Draft202012Validator.check_schema({"$defs": DOC["components"]["schemas"]})


def test_the_validator_refuses_a_broken_document():
    broken = copy.deepcopy(DOC)
    del broken["paths"]["/v1/redemptions"]["post"]["responses"]
    broken["paths"]["/v1/codes/{code}"]["get"]["parameters"][0]["in"] = "body"
    errors = list(OpenAPIV31SpecValidator(broken).iter_errors())
    assert len(errors) >= 2


def test_one_operation_per_route_and_nothing_else():
    assert set(operations()) == {(r.method, r.path) for r in ROUTES}
    assert [op["operationId"] for op in operations().values()] == [r.name for r in ROUTES]
    assert len({r.name for r in ROUTES}) == len(ROUTES)
    for route in ROUTES:
        op = operations()[(route.method, route.path)]
        assert op["x-role"] == route.role and op["tags"] == [route.function]
        assert op["responses"], route


def test_a_route_without_its_declaration_fails_loudly():
    new = Route("GET", "/v1/campaigns/{campaign_id}/codes", "operators", OPERATOR, "list_codes")
    with pytest.raises(MissingDeclaration, match=r"GET /v1/campaigns/\{campaign_id\}/codes \(list_codes\)"):
        document((*ROUTES, new))
    with pytest.raises(MissingDeclaration, match="list_codes"):
        document(ROUTES, {**OPERATIONS, "list_codes": Operation("x", {200: None})})
    odd = Route("GET", "/v1/customers/{customer_id}/things/{thing}", "operators", OPERATOR, "things")
    with pytest.raises(MissingDeclaration, match="thing"):
        document((*ROUTES, odd), {**OPERATIONS, "things": Operation("x", {200: None})})


def test_committed_docs_openapi_json_is_current():
    committed = (ROOT / "docs" / "openapi.json").read_text(encoding="utf-8")
    assert committed == render(DOC), "docs/openapi.json is stale: run `.venv/bin/python -m tools.openapi`"


def test_the_regeneration_command_checks_and_writes(tmp_path):
    r = subprocess.run([sys.executable, "-m", "tools.openapi", "--check"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "tools.openapi", "--stdout"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert json.loads(r.stdout) == DOC


def test_security_follows_the_route_roles():
    keys = DOC["components"]["securitySchemes"]
    assert {s["in"] for s in keys.values()} == {"header"} and {s["name"] for s in keys.values()} == {"x-api-key"}
    expected = {PUBLIC: [], STOREFRONT: [{"storefrontKey": []}, {"operatorKey": []}], OPERATOR: [{"operatorKey": []}]}
    for route in ROUTES:
        op = operations()[(route.method, route.path)]
        assert op["security"] == expected[route.role], route
        codes = _codes(op)
        assert ("unauthorized" in codes) is (route.role != PUBLIC), route
        assert "forbidden" in codes if route.role == OPERATOR else True


def _codes(op: dict) -> dict[str, int]:
    out = {}
    for status, answer in op["responses"].items():
        if int(status) >= 400:
            schema = answer["content"]["application/json"]["schema"]
            assert schema["allOf"][0] == {"$ref": "#/components/schemas/ErrorOut"}
            for code in schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"]:
                out[code] = int(status)
    return out


def test_every_error_code_is_real_and_under_its_status():
    known = {cls.code for cls in vars(domain_errors).values()
             if isinstance(cls, type) and issubclass(cls, domain_errors.IncentiveError)} | set(STATUS)
    for (method, path), op in operations().items():
        for code, status in _codes(op).items():
            assert code in known - GATEWAY_CODES, (method, path, code)
            assert status == status_for(code), (method, path, code)
        assert "internal_error" in _codes(op) and "rate_limited" in _codes(op)
    # the contract's rejections of a redemption, each under its status
    redeem = _codes(operations()[("POST", "/v1/redemptions")])
    assert redeem["code_not_found"] == 404 and redeem["budget_exhausted"] == 409 and redeem["code_expired"] == 422


# Routes whose handler never calls DynamoDB (Operation.dynamodb=False); tests/integration/test_openapi_responses.py
# calls them with every DynamoDB call failing.
NO_DYNAMODB = {"openapi", "claim_preflight"}


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_declares_its_retry_later_answers_with_retry_after(route):
    """From the route table, so a new route cannot forget them: 503 contention (DynamoDB busy past the retries;
    the header required, http/api.py always sends it) on every route that touches DynamoDB, and 429 rate_limited
    (API Gateway's throttling, the engine's limits) on every route."""
    op = operations()[(route.method, route.path)]
    codes, answers = _codes(op), op["responses"]
    assert codes["rate_limited"] == 429 and "Retry-After" in answers["429"]["headers"], route.name
    assert not answers["429"]["headers"]["Retry-After"]["required"]  # API Gateway's own 429 sends none
    if route.name in NO_DYNAMODB:
        assert "contention" not in codes, route.name
        return
    assert codes["contention"] == 503, route.name
    assert answers["503"]["headers"]["Retry-After"]["required"] is True, route.name
    assert "may have applied" in answers["503"]["description"], route.name


def test_only_the_listed_routes_are_exempt_and_a_new_route_gets_503_by_default():
    assert {name for name, op in OPERATIONS.items() if not op.dynamodb} == NO_DYNAMODB
    new = Route("GET", "/v1/things", "operators", OPERATOR, "things")
    doc = document((*ROUTES, new), {**OPERATIONS, "things": Operation("Things", {200: None})})
    assert _codes(doc["paths"]["/v1/things"]["get"])["contention"] == 503


def test_idempotency_key_on_the_value_moving_posts_docs_api_md_names():
    with_key = {op["operationId"] for op in operations().values()
                if any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in op.get("parameters", []))}
    assert with_key == {"redeem", "rollback", "claim", "attribute_referral", "redeem_loyalty_reward",
                        "adjust_loyalty_points"}
    for name in with_key:
        op = next(o for o in operations().values() if o["operationId"] == name)
        assert {"idempotency_key_reused", "request_in_progress"} <= set(_codes(op))


# ---- the declarations are what the handlers do ------------------------------------------------------------

def _handler_facts(function: str) -> dict[str, dict]:
    """route name -> {parses: {class names}, idempotent: bool, query: {keys}} read from the handler's source
    (the decorated function and the module's helpers it calls)."""
    tree = ast.parse((ROOT / "functions" / function / f"{function}_handler.py").read_text(encoding="utf-8"))
    funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}

    def facts(fn: ast.FunctionDef, seen: set[str]) -> dict:
        out = {"parses": set(), "idempotent": False, "query": set()}
        for node in ast.walk(fn):
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "parse" and node.args and isinstance(node.args[0], ast.Name):
                out["parses"].add(node.args[0].id)
            if isinstance(f, ast.Name) and f.id == "idempotent":
                out["idempotent"] = True
            if isinstance(f, ast.Attribute) and f.attr == "get" and isinstance(f.value, ast.Attribute) \
                    and f.value.attr == "query" and node.args and isinstance(node.args[0], ast.Constant):
                out["query"].add(node.args[0].value)
            if isinstance(f, ast.Attribute) and f.attr == "query_int" and node.args \
                    and isinstance(node.args[0], ast.Constant):  # req.query_int("limit", ...)
                out["query"].add(node.args[0].value)
            if isinstance(f, ast.Name) and f.id in funcs and f.id not in seen:
                more = facts(funcs[f.id], seen | {f.id})
                out["parses"] |= more["parses"]
                out["query"] |= more["query"]
                out["idempotent"] |= more["idempotent"]
        return out

    routes = {}
    for fn in funcs.values():
        for dec in fn.decorator_list:
            if isinstance(dec, ast.Call) and getattr(dec.func, "attr", None) == "route":
                routes[dec.args[0].value] = facts(fn, {fn.name})
    return routes


@pytest.mark.parametrize("route", ROUTES, ids=[r.name for r in ROUTES])
def test_the_declared_body_query_and_idempotency_are_what_the_handler_does(route):
    handled = _handler_facts(route.function)
    assert route.name in handled, f"functions/{route.function} has no @api.route({route.name!r})"
    facts, op = handled[route.name], OPERATIONS[route.name]
    assert facts["parses"] == {cls.__name__ for cls in op.body}
    assert facts["idempotent"] is op.idempotent
    declared = set() if op.query is None else {_key_of(op.query)(f.name) for f in dataclasses.fields(op.query)}
    assert facts["query"] == declared


# ---- request schemas and schema.parse agree ------------------------------------------------------------------

CUSTOMER = {"id": "c1", "country": "DE"}
ORDER = {"currency": "EUR", "amount": 1000, "items": [{"sku": "A", "quantity": 1, "unit_price": 1000}]}
BODIES = [  # (class, body, valid for schema.parse)
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": CUSTOMER, "order": ORDER}, True),
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": CUSTOMER, "order": ORDER, "extra": 1}, True),
    (schemas.CheckoutIn, {"code": "ABC 1", "customer": CUSTOMER, "order": ORDER}, False),
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": CUSTOMER, "order": {**ORDER, "amount": "1000"}}, False),
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": CUSTOMER, "order": {**ORDER, "amount": 10.5}}, False),
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": {"id": ""}, "order": ORDER}, False),
    (schemas.CheckoutIn, {"code": "ABC-1", "customer": {**CUSTOMER, "country": "de"}, "order": ORDER}, False),
    (schemas.CheckoutIn, {"customer": CUSTOMER, "order": ORDER}, False),
    (schemas.StackedCheckoutIn, {"codes": ["A", "B"], "customer": CUSTOMER, "order": ORDER}, True),
    (schemas.StackedCheckoutIn, {"codes": [], "customer": CUSTOMER, "order": ORDER}, False),
    (schemas.StackedCheckoutIn, {"codes": list("ABCDEF"), "customer": CUSTOMER, "order": ORDER}, False),
    (schemas.ClaimIn, {"email": "a@example.com", "consent": True}, True),
    (schemas.ClaimIn, {"email": "a@example.com", "consent": 1}, False),
    (schemas.IssueCodesIn, {}, True),
    (schemas.IssueCodesIn, {"count": 0}, False),
    (schemas.IssueCodesIn, {"count": 1_000_001}, False),
    (schemas.EventIn, {"id": "e1", "type": "order.paid", "occurred_at": "2026-12-01T10:00:00Z",
                       "customer": CUSTOMER, "order": ORDER}, True),
    (schemas.EventIn, {"id": "e1", "type": "order.shipped", "occurred_at": "2026-12-01T10:00:00Z",
                       "customer": CUSTOMER}, False),
    (schemas.RollbackIn, {"reason": "x" * 501}, False),
]


@pytest.mark.parametrize("cls, body, valid", BODIES)
def test_request_schemas_give_the_verdicts_of_schema_parse(cls, body, valid):
    try:
        parse(cls, body)
        parsed = True
    except SchemaError:
        parsed = False
    assert parsed is valid
    schema = {"$ref": f"#/components/schemas/{cls.__name__}", "components": DOC["components"]}
    assert Draft202012Validator(schema).is_valid(body) is valid


def test_the_2020_12_dialect_of_the_json_schema_walker():
    """Decimal lower bounds are numbers in 2020-12 (booleans in draft-04); the config document stays draft-04."""
    gen = Generator(DRAFT_2020_12, "#/$defs/")
    ref = gen.schema(LoyaltyProgram)
    schema = {"$schema": DRAFT_2020_12, **ref, "$defs": gen.definitions}
    Draft202012Validator.check_schema(schema)
    multiplier = gen.definitions["Tier"]["properties"]["multiplier"]
    assert multiplier["exclusiveMinimum"] == 0 and "minimum" not in multiplier
    assert '"exclusiveMinimum": true' in json.dumps(document_schema())
    assert all(r.startswith("#/$defs/") for r in _refs(gen.definitions))


def _refs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _refs(v)]
    return []


def test_two_declarations_of_one_name_are_refused():
    first = dataclasses.make_dataclass("Twin", [("a", int)], frozen=True)
    second = dataclasses.make_dataclass("Twin", [("b", str)], frozen=True)
    gen = Generator(DRAFT_2020_12)
    gen.schema(first)
    with pytest.raises(TypeError, match="two declarations named Twin"):
        gen.schema(second)


def test_no_lambda_handler_loads_the_generator_at_import():
    """Only GET /v1/openapi.json loads it, when called: no function's cold start (checkout's above all) pays."""
    assert modules_loaded_by_every_handler(
        "m.startswith('incentives.http.') and m.split('.')[-1] in ('openapi', 'operations', 'responses')") == []


def test_declared_descriptions_reach_the_document():
    schemas = DOC["components"]["schemas"]
    assert "negative while the member owes points" in schemas["MemberPoints"]["properties"]["balance"]["description"]
    assert schemas["ErrorOut"]["description"].startswith("Every non-2xx answer")
    assert "description" not in schemas["Money"]  # dataclass()'s own docstring is not a description
    ledger = operations()[("GET", "/v1/loyalty-programs/{program_id}/members/{customer_id}/transactions")]
    cursor = next(p for p in ledger["parameters"] if p["name"] == "cursor")
    assert cursor["description"] == "`next_cursor` of the previous page" and "description" not in cursor["schema"]
