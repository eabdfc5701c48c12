"""The storefront and operator functions through their real lambda_handler: idempotency, auth, bad input."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.support import OPERATOR_KEY_ID, campaign, retry_503, scan_all

REDEEM = ("storefront", "POST", "/v1/redemptions")
VALIDATE = ("storefront", "POST", "/v1/validations")
ROLLBACK = ("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback")


def body(code="PUBCODE", customer="c1", amount=10_000, **order):
    return {"code": code, "customer": {"id": customer, "country": "DE"},
            "order": {"id": "o1", "currency": "EUR", "amount": amount, **order}}


@pytest.fixture
def api(handlers, config_dir):
    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100}))
    return handlers


@pytest.mark.concurrency(faults_in_suite=True)
def test_20_concurrent_retries_with_one_idempotency_key_redeem_once(api, table):
    headers = {"Idempotency-Key": "order-o1-attempt"}

    def send(_):
        return retry_503(lambda: api.call(*REDEEM, body=body(), headers=headers))

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(send, range(20)))
    created = [b for s, b, _ in answers if s == 201]
    in_progress = [b for s, b, _ in answers if s == 409]
    assert len(created) + len(in_progress) == 20
    assert created, "at least the first request answers 201"
    assert len({b["id"] for b in created}) == 1
    assert all(b["error"]["code"] == "request_in_progress" for b in in_progress)
    assert len([i for i in scan_all(table) if i["sk"] == "REDEMPTION"]) == 1

    status, later, headers_out = api.call(*REDEEM, body=body(), headers=headers)
    assert status == 201 and later == created[0]
    assert headers_out.get("Idempotent-Replayed") == "true"
    assert len([i for i in scan_all(table) if i["sk"] == "REDEMPTION"]) == 1


def test_same_idempotency_key_with_another_body_is_409(api):
    h = {"Idempotency-Key": "k1"}
    assert api.call(*REDEEM, body=body(), headers=h)[0] == 201
    status, out, _ = api.call(*REDEEM, body=body(amount=20_000), headers=h)
    assert status == 409 and out["error"]["code"] == "idempotency_key_reused"


def test_rejected_request_is_not_stored_under_its_key(api, config_dir):
    h = {"Idempotency-Key": "k2"}
    status, out, _ = api.call(*REDEEM, body=body(code="NOPE-0000"), headers=h)
    assert status == 404 and out["error"]["code"] == "code_not_found"
    status, out, _ = api.call(*REDEEM, body=body(code="NOPE-0000"), headers=h)
    assert status == 404 and out["error"]["code"] == "code_not_found"


def test_rollback_honours_idempotency_key_and_then_says_already_rolled_back(api):
    status, redemption, _ = api.call(*REDEEM, body=body())
    rid = {"redemption_id": redemption["id"]}
    h = {"Idempotency-Key": "rb-1"}
    first = api.call(*ROLLBACK, path_params=rid, body={"reason": "refund"}, headers=h)
    again = api.call(*ROLLBACK, path_params=rid, body={"reason": "refund"}, headers=h)
    assert first[:2] == (200, {"id": redemption["id"], "status": "rolled_back"})
    assert again[:2] == first[:2]
    status, out, _ = api.call(*ROLLBACK, path_params=rid, body={})
    assert status == 409 and out["error"]["code"] == "already_rolled_back"
    status, out, _ = api.call(*ROLLBACK, path_params={"redemption_id": "rdm_unknown"}, body={})
    assert status == 404 and out["error"]["code"] == "not_found"


def test_redemption_answer_has_the_contract_shape(api):
    status, out, _ = api.call(*REDEEM, body=body())
    assert status == 201
    assert set(out) >= {"id", "code", "campaign_id", "customer_id", "order_id", "discount", "status", "created_at"}
    assert out["discount"] == {"amount": 1_000, "currency": "EUR"} and out["status"] == "succeeded"
    status, code, _ = api.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": "pubcode"})
    assert status == 200 and code["redemptions"] == {"count": 1, "limit": 100}


def test_operator_routes_need_an_operator_key(api):
    status, out, _ = api.call("operators", "GET", "/v1/campaigns")
    assert status == 403 and out["error"]["code"] == "forbidden"
    status, out, _ = api.call("operators", "GET", "/v1/campaigns", key_id=OPERATOR_KEY_ID)
    assert status == 200 and [c["id"] for c in out["campaigns"]] == ["pub"]
    status, out, _ = api.call(*VALIDATE, body=body(), key_id=None)
    assert status == 401 and out["error"]["code"] == "unauthorized"


LONG = "x" * 10_240
BAD_INPUT = [
    ("malformed json", None, "{not json"),
    ("body is a list", [1, 2], None),
    ("empty object", {}, None),
    ("amount as string", body(amount="100"), None),
    ("amount as float", body(amount=10.5), None),
    ("amount as bool", body(amount=True), None),
    ("negative amount", body(amount=-1), None),
    ("huge amount", body(amount=10**30), None),
    ("unknown currency", {**body(), "order": {"currency": "EUX", "amount": 100}}, None),
    ("lower-case currency", {**body(), "order": {"currency": "eur", "amount": 100}}, None),
    ("no amount and no items", {**body(), "order": {"currency": "EUR"}}, None),
    ("negative unit price", {**body(), "order": {"currency": "EUR", "items": [{"sku": "a", "quantity": 1,
                                                                               "unit_price": -5}]}}, None),
    ("items overflow", {**body(), "order": {"currency": "EUR", "items": [
        {"sku": "a", "quantity": 10_000, "unit_price": 10**12}]}}, None),
    ("10 kB code", body(code=LONG), None),
    ("10 kB customer id", {**body(), "customer": {"id": LONG}}, None),
    ("10 kB sku", {**body(), "order": {"currency": "EUR", "items": [{"sku": LONG, "quantity": 1,
                                                                     "unit_price": 5}]}}, None),
    ("customer missing", {"code": "PUBCODE", "order": {"currency": "EUR", "amount": 1}}, None),
    ("customer is a string", {**body(), "customer": "c1"}, None),
    ("country not alpha-2", {**body(), "customer": {"id": "c1", "country": "Germany"}}, None),
    ("code with spaces inside", body(code="PUB CODE"), None),
    ("null bytes", body(code="PUB\u0000CODE"), None),
    ("deeply nested", None, "[" * 100_000 + "]" * 100_000),
]


@pytest.mark.parametrize("route", [REDEEM, VALIDATE], ids=["redeem", "validate"])
@pytest.mark.parametrize("name,payload,raw", BAD_INPUT, ids=[b[0] for b in BAD_INPUT])
def test_bad_input_gets_a_contract_4xx_never_a_5xx(api, table, route, name, payload, raw):
    before = len(scan_all(table))
    status, out, _ = api.call(*route, body=payload, raw_body=raw)
    assert 400 <= status < 500, (status, out)
    assert out["error"]["code"] == "invalid_request"
    assert set(out["error"]) == {"code", "message", "details"}
    assert len(scan_all(table)) == before


def test_invalid_request_names_the_fields(api):
    status, out, _ = api.call(*REDEEM, body={**body(amount=-1), "customer": {"id": ""}})
    fields = {f["field"] for f in out["error"]["details"]["fields"]}
    assert status == 422 and fields == {"customer.id", "order.amount"}


def test_error_body_is_json_even_for_unknown_routes(api):
    status, out, _ = api.call("storefront", "DELETE", "/v1/redemptions")
    assert status == 404 and out["error"]["code"] == "not_found"
    assert json.dumps(out)
