"""The OpenAPI document's response declarations against what the handlers really answer.

Every answer below comes from a function's real lambda_handler against DynamoDB Local and is validated, with a
JSON Schema 2020-12 validator, against the schema the document gives for its route and status: success bodies
against http/responses.py's declarations, error bodies against the envelope with the route's `code` enum (an
error code the document does not list for that route and status fails). The scenarios pass through most
routes, success and error; a test at the end checks that they did."""
from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from incentives.http.openapi import document
from incentives.http.routes import ROUTES
from jsonschema import Draft202012Validator
from local import lambdas

from tests.integration.loyalty_support import make_loyalty
from tests.integration.referral_support import PROGRAM, Shop, at, write_config
from tests.support import OPERATOR_KEY_ID, ROOT, STOREFRONT_KEY_ID, _Ctx, campaign

DOC = document()
ROUTE = {(r.method, r.path): r for r in ROUTES}
SEEN: set[tuple[str, int]] = set()  # (route name, status) checked by this module
UNKNOWN_LINK_ID = "no-such-unsubscribe-token"  # a token the engine never handed out


def _validator(schema: dict) -> Draft202012Validator:
    return Draft202012Validator({**schema, "components": DOC["components"]},
                                format_checker=Draft202012Validator.FORMAT_CHECKER)  # date-time: RFC 3339


def check(method: str, resource: str, status: int, body, headers: dict) -> None:
    route = ROUTE[(method, resource)]
    answers = DOC["paths"][resource][method.lower()]["responses"]
    assert str(status) in answers, f"{route.name} answered {status}, which the document does not list: {body}"
    content = answers[str(status)].get("content")
    if content is None:
        assert body is None, f"{route.name} {status}: the document says no body"
    else:
        kind = headers.get("Content-Type", "application/json").split(";")[0]
        assert kind in content, f"{route.name} {status}: {kind} is not a declared content type"
        if kind == "application/json":
            errors = sorted(_validator(content[kind]["schema"]).iter_errors(body), key=lambda e: list(e.path))
            assert not errors, f"{route.name} {status}: " + "; ".join(
                f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}" for e in errors[:5])
    SEEN.add((route.name, status))


class Api:
    """Any function's lambda_handler with a REST proxy event (query strings too); every answer is checked."""

    def call(self, method: str, resource: str, body=None, *, key: str | None = STOREFRONT_KEY_ID,
             query: dict | None = None, headers: dict | None = None, context: dict | None = None, **params):
        route = ROUTE[(method, resource)]
        path = resource
        for k, v in params.items():
            path = path.replace("{" + k + "}", v)
        event = {"resource": resource, "path": path, "httpMethod": method, "headers": headers or {},
                 "queryStringParameters": query, "pathParameters": params or None,
                 "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1",
                                    "identity": {"sourceIp": "203.0.113.9", "apiKeyId": key}, **(context or {})},
                 "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False}
        out = lambdas.load_handler(route.function, ROOT / "functions")(event, _Ctx(route.function))
        text = out.get("body") or ""
        is_json = out["headers"].get("Content-Type", "application/json").startswith("application/json")
        parsed = json.loads(text) if text and is_json else (text or None)
        check(method, resource, out["statusCode"], parsed, out["headers"])
        self.headers = out["headers"]
        return out["statusCode"], parsed


@pytest.fixture
def api(handlers) -> Api:
    return Api()


def order(amount=10_000, **extra) -> dict:
    return {"id": "o1", "currency": "EUR", "amount": amount, **extra}


def test_storefront_events_and_claims_answers_match_the_document(api, config_dir):
    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100},
                        eligibility={"min_order_amount": {"amount": 5000, "currency": "EUR"}}),
               campaign("card", codes={"type": "unique", "pattern": "CARD-####-####"},
                        reward={"type": "gift_card", "balance": {"amount": 3000, "currency": "EUR"}}),
               campaign("auto", codes={"type": "unique", "pattern": "AUTO-####-####", "bind_to_customer": True},
                        auto_apply=True, combinable=True),
               campaign("land", codes={"type": "unique", "pattern": "LAND-####-####", "expires_in_days": 30},
                        claims={"allowed_origins": ["https://shop.example"], "max_claims": 1}))
    customer = {"id": "c1", "country": "DE"}
    # validations: valid and invalid (both 200), a bad body (422)
    assert api.call("POST", "/v1/validations", {"code": "pubcode", "customer": customer, "order": order()})[1]["valid"]
    status, out = api.call("POST", "/v1/validations", {"code": "PUBCODE", "customer": customer, "order": order(100)})
    assert (status, out["valid"], out["reason"]) == (200, False, "order_below_minimum")
    assert api.call("POST", "/v1/validations", {"code": "PUBCODE", "customer": customer,
                                                "order": {"currency": "EUR", "amount": "100"}})[0] == 422
    # redemptions: one code, a gift card (balance_after), a stack, rejections
    status, redemption = api.call("POST", "/v1/redemptions", {"code": "PUBCODE", "customer": customer,
                                                              "order": order()}, headers={"Idempotency-Key": "k1"})
    assert status == 201
    assert api.call("POST", "/v1/redemptions", {"code": "PUBCODE", "customer": customer, "order": order(20_000)},
                    headers={"Idempotency-Key": "k1"})[1]["error"]["code"] == "idempotency_key_reused"
    assert api.call("POST", "/v1/redemptions", {"code": "NOPE-0000", "customer": customer,
                                                "order": order()})[0] == 404
    assert api.call("POST", "/v1/redemptions", {"code": "PUBCODE", "customer": customer,
                                                "order": order(100)})[0] == 422
    status, issued = api.call("POST", "/v1/campaigns/{campaign_id}/codes", {"count": 2}, key=OPERATOR_KEY_ID,
                              campaign_id="card")
    assert status == 201
    card, other_card = (c["code"] for c in issued["codes"])
    status, out = api.call("POST", "/v1/redemptions", {"code": card, "customer": customer, "order": order(1000)})
    assert status == 201 and out["balance_after"] == {"amount": 2000, "currency": "EUR"}
    status, out = api.call("POST", "/v1/redemptions", {"codes": ["PUBCODE", other_card], "customer": customer,
                                                       "order": order()})
    assert status == 422 and out["error"]["code"] == "not_combinable"
    # rollback, again (409), unknown (404)
    assert api.call("POST", "/v1/redemptions/{redemption_id}/rollback", {"reason": "refund"},
                    redemption_id=redemption["id"])[0] == 200
    assert api.call("POST", "/v1/redemptions/{redemption_id}/rollback", {},
                    redemption_id=redemption["id"])[0] == 409
    assert api.call("POST", "/v1/redemptions/{redemption_id}/rollback", {}, redemption_id="rdm_nope")[0] == 404
    # code lookups: a card (balance), a public code, an unknown code
    assert "balance" in api.call("GET", "/v1/codes/{code}", code=card)[1]
    assert api.call("GET", "/v1/codes/{code}", code="PUBCODE")[0] == 200
    assert api.call("GET", "/v1/codes/{code}", code="NOPE-0000")[0] == 404
    # qualifications
    api.call("POST", "/v1/campaigns/{campaign_id}/codes", {"customer": {"id": "c1"}}, key=OPERATOR_KEY_ID,
             campaign_id="auto")
    status, out = api.call("POST", "/v1/qualifications", {"customer": customer, "order": order()})
    assert status == 200 and len(out["qualifications"]) == 1
    # events: accepted, duplicate, invalid
    event = {"id": "ev1", "type": "order.paid", "occurred_at": "2026-12-01T10:00:00Z", "customer": customer,
             "order": order()}
    assert api.call("POST", "/v1/events", event)[1]["status"] == "accepted"
    assert api.call("POST", "/v1/events", event)[1]["status"] == "duplicate"
    assert api.call("POST", "/v1/events", {**event, "order": None})[0] == 422
    # claims: new (201), again (200), exhausted (409), a foreign origin (403), no claims offered (404), preflight
    claim = ("POST", "/v1/public/campaigns/{campaign_id}/claims")
    assert api.call(*claim, {"email": "a@example.com"}, key=None, campaign_id="land")[0] == 201
    assert api.call(*claim, {"email": "a@example.com"}, key=None, campaign_id="land")[0] == 200
    assert api.call(*claim, {"email": "b@example.com"}, key=None, campaign_id="land")[0] == 409
    assert api.call(*claim, {"email": "c@example.com"}, key=None, campaign_id="land",
                    headers={"Origin": "https://evil.example"})[0] == 403
    assert api.call(*claim, {"email": "c@example.com"}, key=None, campaign_id="pub")[0] == 404
    assert api.call("OPTIONS", claim[1], key=None, campaign_id="land",
                    headers={"Origin": "https://shop.example"})[0] == 204


def test_operator_answers_match_the_document(api, config_dir):
    config_dir(campaign("ops", limits={"total_redemptions": 10, "budget": {"amount": 10_000, "currency": "EUR"}}),
               campaign("pub", codes={"type": "public", "code": "PUBCODE"}))
    op = {"key": OPERATOR_KEY_ID}
    assert api.call("GET", "/v1/health", key=None)[0] == 200
    assert api.call("GET", "/v1/campaigns", **op)[0] == 200
    assert api.call("GET", "/v1/campaigns")[0] == 403  # a storefront key
    assert api.call("GET", "/v1/campaigns", key=None)[0] == 401
    status, issued = api.call("POST", "/v1/campaigns/{campaign_id}/codes", {"count": 1, "customer": {"email":
                              "x@example.com"}, "expires_at": "2099-01-01T00:00:00Z"}, campaign_id="ops", **op)
    assert status == 201 and issued["codes"][0]["customer"] == {"email": "x@example.com"}
    api.call("POST", "/v1/redemptions", {"code": issued["codes"][0]["code"], "customer": {"id": "c1", "email":
             "x@example.com"}, "order": order()})
    status, view = api.call("GET", "/v1/campaigns/{campaign_id}", campaign_id="ops", **op)
    assert status == 200 and view["stats"]["redeemed"] == 1 and "budget_remaining" in view["stats"]
    assert api.call("GET", "/v1/campaigns/{campaign_id}", campaign_id="nope", **op)[0] == 404
    assert api.call("POST", "/v1/campaigns/{campaign_id}/codes", {"count": 3}, campaign_id="pub", **op)[0] == 422
    status, job = api.call("POST", "/v1/campaigns/{campaign_id}/codes", {"count": 120}, campaign_id="ops", **op)
    assert status == 202
    deadline = time.monotonic() + 60
    while api.call("GET", "/v1/jobs/{job}", job=job["job_id"], **op)[1]["status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the bulk job did not finish"
        time.sleep(0.2)
    assert api.call("GET", "/v1/jobs/{job}", job="job_nope", **op)[0] == 404
    assert api.call("POST", "/v1/jobs/{job}/run", {}, job="campaign-activation", **op)[0] == 200
    assert api.call("POST", "/v1/jobs/{job}/run", {}, job="nope", **op)[0] == 404
    codes = "/v1/campaigns/{campaign_id}/codes"
    status, page = api.call("GET", codes, campaign_id="ops", query={"limit": "50"}, **op)
    assert status == 200 and len(page["codes"]) >= 2 and page["next_cursor"] is not None
    status, csv_page = api.call("GET", codes, campaign_id="ops", query={"format": "csv", "limit": "5"}, **op)
    assert status == 200 and csv_page.startswith("code,status")
    assert api.call("GET", codes, campaign_id="ops", query={"cursor": "forged"}, **op)[0] == 422
    assert api.call("GET", codes, campaign_id="nope", **op)[0] == 404
    exports, export = "/v1/campaigns/{campaign_id}/exports", "/v1/campaigns/{campaign_id}/exports/{export_id}"
    status, started = api.call("POST", exports, campaign_id="ops", **op)
    assert status == 202
    deadline = time.monotonic() + 60
    while (state := api.call("GET", export, campaign_id="ops", export_id=started["export_id"], **op)[1])[
            "status"] in ("queued", "running"):
        assert time.monotonic() < deadline, "the export did not finish"
        time.sleep(0.2)
    assert state["status"] == "succeeded" and state["path"].endswith(".csv")
    assert api.call("GET", export, campaign_id="ops", export_id="exp_nope", **op)[0] == 404
    assert api.call("POST", exports, campaign_id="pub", **op)[0] == 422
    assert api.call("POST", exports, campaign_id="nope", **op)[0] == 404
    assert api.call("DELETE", "/v1/customers/{customer_id}", customer_id="c1", **op)[1]["status"] == "erased"
    assert api.call("DELETE", "/v1/customers/{customer_id}", customer_id="x" * 129, **op)[0] == 422
    assert api.call("DELETE", "/v1/customers", query={"email": "ann@example.com"}, **op)[1]["status"] == "erased"
    assert api.call("DELETE", "/v1/customers", query={"email": "not-an-address"}, **op)[0] == 422


def test_retention_answers_match_the_document(api, table, config_dir):
    from incentives.services.consumers import Consumer
    from incentives.services.retention import RetentionEvents

    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}))
    consumer = RetentionEvents(table, Consumer("metrics_events", table))
    for i, (kind, amount) in enumerate((("order.paid", 9_000), ("order.refunded", 1_000))):
        consumer.handle({"id": f"e{i}", "type": kind, "customer_id": "c1", "occurred_at": "2026-11-10T10:00:00Z",
                         "order_id": "o1", "order_amount": amount, "currency": "EUR"}, datetime.now(UTC))
    op = {"key": OPERATOR_KEY_ID}
    window = {"from": "2026-11-01", "to": "2026-11-30"}
    status, out = api.call("GET", "/v1/metrics/retention", query={**window, "granularity": "week"}, **op)
    assert status == 200 and out["currencies"]["EUR"]["revenue"] == 8_000 and len(out["series"]) == 6  # 11-01: Sunday
    status, out = api.call("GET", "/v1/metrics/retention", query={**window, "campaign_id": "pub"}, **op)
    assert status == 200 and out["currencies"] == {}  # c1 redeemed nothing
    assert api.call("GET", "/v1/metrics/retention", query={**window, "campaign_id": "nope"}, **op)[0] == 404
    assert api.call("GET", "/v1/metrics/retention", query={"from": "2026-11-30", "to": "2026-11-01"}, **op)[0] == 422
    assert api.call("GET", "/v1/metrics/retention", query=window)[0] == 403


def test_the_served_document_is_the_generated_one_with_the_stage_url_deployed(api):
    status, doc = api.call("GET", "/v1/openapi.json", key=None)
    assert status == 200 and doc == DOC
    status, doc = api.call("GET", "/v1/openapi.json", key=None, context={
        "domainName": "abc123.execute-api.eu-central-1.amazonaws.com", "stage": "prod"})
    assert doc["servers"] == [{"url": "https://abc123.execute-api.eu-central-1.amazonaws.com/prod"}]
    assert {k: v for k, v in doc.items() if k != "servers"} == DOC


def test_referral_answers_match_the_document(api, handlers, table, config_dir):
    write_config(config_dir, {"id": PROGRAM, "name": "Friends", "enabled": True,
                              "link_template": "https://shop.example/r/{code}", "code_pattern": "REF-####-####",
                              "referee_reward": {"campaign": "friend-welcome"},
                              "referrer_rewards": [{"from": 1, "cash": {"amount": 2500, "currency": "EUR"}},
                                                   {"from": 2, "campaign": "thanks-ten"}],
                              "conversion": {"min_order_amount": {"amount": 3000, "currency": "EUR"},
                                             "within_days": 30, "return_window_days": 14},
                              "limits": {"max_conversions_per_referrer": 1, "period_days": 30}})
    base = "/v1/referral-programs/{program_id}"
    p = {"program_id": PROGRAM}
    status, enrolment = api.call("POST", base + "/referrers", {"customer": {"id": "alice"}}, **p)
    assert status == 201
    assert api.call("POST", base + "/referrers", {"customer": {"id": "alice"}}, **p)[0] == 200
    assert api.call("POST", base + "/referrers", {"customer": {"id": "alice"}}, program_id="nope")[0] == 404
    code = enrolment["referral_code"]
    shop = Shop(handlers, table)
    for referee in ("bob", "carol"):
        status, out = api.call("POST", base + "/referrals", {"referral_code": code, "referee": {"id": referee}},
                               headers={"Idempotency-Key": f"ref-{referee}"}, **p)
        assert status == 201 and "referee_reward" in out
        shop.paid(f"pay-{referee}", referee, 5000)  # bob converts (cash); carol is held (over the cap of 1)
    assert api.call("POST", base + "/referrals", {"referral_code": code, "referee": {"id": "alice"}},
                    **p)[1]["error"]["code"] == "self_referral"
    assert api.call("POST", base + "/referrals", {"referral_code": code, "referee": {"id": "bob"}}, **p)[0] == 409
    status, referrer = api.call("GET", base + "/referrers/{customer_id}", customer_id="alice", **p)
    assert status == 200 and referrer["converted"] == 1 and referrer["tier"] and referrer["rewards"]
    assert api.call("GET", base + "/referrers/{customer_id}", customer_id="nobody", **p)[0] == 404
    assert api.call("GET", base + "/leaderboard", query={"limit": "5"}, **p)[1]["leaders"]
    assert api.call("GET", base + "/leaderboard", query={"limit": "0"}, **p)[0] == 422
    op = {"key": OPERATOR_KEY_ID, **p}
    status, held = api.call("GET", base + "/conversions", query={"status": "held"}, **op)
    assert status == 200 and len(held["held"]) == 1
    referral_id = held["held"][0]["referral_id"]
    assert api.call("POST", base + "/conversions/{referral_id}/approve", referral_id=referral_id, **op)[0] == 200
    assert api.call("POST", base + "/conversions/{referral_id}/reject", referral_id=referral_id, **op)[0] == 409
    assert shop.release(at(days=15))["released"] == 2  # the return window closed: the rewards are paid out
    status, referrer = api.call("GET", base + "/referrers/{customer_id}", customer_id="alice", **p)
    assert {r["payout_status"] for r in referrer["rewards"]} == {"paid"}
    status, payouts = api.call("GET", base + "/payouts", query={"status": "owed"}, **op)
    assert status == 200 and payouts["payouts"]
    assert api.call("GET", base + "/payouts", query={"format": "csv"}, **op)[0] == 200
    payout_id = payouts["payouts"][0]["id"]
    assert api.call("POST", base + "/payouts/{payout_id}/paid", {"reference": "bank-1"}, payout_id=payout_id,
                    **op)[0] == 200
    assert api.call("POST", base + "/payouts/{payout_id}/paid", {}, payout_id="pay_nope", **op)[0] == 404
    status, metrics = api.call("GET", "/v1/metrics/referrals/{program_id}", **op)
    assert status == 200 and metrics["conversions"] == 2


def test_loyalty_answers_match_the_document(api, handlers, table, config_dir):
    loyalty = make_loyalty(handlers, table, config_dir)
    loyalty.points("ann", 80_000, occurred_at=datetime.now(UTC) - timedelta(days=20))
    base = "/v1/loyalty-programs/{program_id}"
    member = base + "/members/{customer_id}"
    p = {"program_id": "club"}
    assert api.call("GET", base, **p)[0] == 200
    assert api.call("GET", base, program_id="nope")[0] == 404
    status, view = api.call("GET", member, customer_id="ann", **p)
    assert status == 200 and view["points"]["balance"] == 800
    assert api.call("GET", member, customer_id="nobody", **p)[0] == 404
    status, out = api.call("POST", member + "/rewards", {"reward_id": "five-off"}, customer_id="ann", **p,
                           headers={"Idempotency-Key": "r1"})
    assert status == 201 and out["reward"]["code"]
    assert api.call("POST", member + "/rewards", {"reward_id": "five-off"}, customer_id="ann",
                    **p)[1]["error"]["code"] == "insufficient_points"
    assert api.call("POST", member + "/rewards", {"reward_id": "nope"}, customer_id="ann", **p)[0] == 404
    assert api.call("POST", member + "/adjustments", {"points": 25, "reason": "goodwill"}, customer_id="ann",
                    key=OPERATOR_KEY_ID, **p)[0] == 201
    assert api.call("POST", member + "/adjustments", {"points": 0, "reason": "x"}, customer_id="ann",
                    key=OPERATOR_KEY_ID, **p)[0] == 422
    status, page = api.call("GET", member + "/transactions", query={"limit": "2"}, customer_id="ann", **p)
    assert status == 200 and len(page["transactions"]) == 2 and page["next_cursor"]
    status, rest = api.call("GET", member + "/transactions", query={"cursor": page["next_cursor"]},
                            customer_id="ann", **p)
    assert status == 200 and rest["next_cursor"] is None


def test_consent_and_unsubscribe_answers_match_the_document(api, handlers, table, config_dir):
    from incentives.services.unsubscribe import unsubscribe_token_item

    config_dir(campaign("ops"))
    op = {"key": OPERATOR_KEY_ID}
    event = {"id": "ev-consent-1", "type": "customer.updated", "occurred_at": "2026-12-01T10:00:00Z",
             "customer": {"id": "c9", "email": "c9@example.com"},
             "data": {"consents": {"email": True}, "consent_source": "checkout", "consent_text": "Offers by e-mail"}}
    assert api.call("POST", "/v1/events", event)[0] == 202
    status, view = api.call("GET", "/v1/customers/{customer_id}/consents", customer_id="c9", **op)
    assert status == 200 and view["consents"]["email"]["granted"] is True
    assert api.call("GET", "/v1/customers/{customer_id}/consents", customer_id="x" * 129, **op)[0] == 422
    assert api.call("GET", "/v1/customers/{customer_id}/messages", customer_id="c9", **op) == (200, {"messages": []})
    assert api.call("GET", "/v1/customers/{customer_id}/messages", customer_id="x" * 129, **op)[0] == 422
    secret, item = unsubscribe_token_item("c9", "email", "birthday", datetime.now(UTC))
    table.put(item)
    page = "/v1/public/unsubscribe/{token}"
    assert api.call("GET", page, key=None, token=secret)[0] == 200
    assert api.call("GET", page, key=None, token=UNKNOWN_LINK_ID)[0] == 404
    status, out = api.call("POST", page, key=None, token=secret,
                           headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (status, out) == (200, {"status": "unsubscribed", "channel": "email"})
    assert api.call("POST", page, key=None, token=UNKNOWN_LINK_ID)[0] == 404
    status, view = api.call("GET", "/v1/customers/{customer_id}/consents", customer_id="c9", **op)
    assert view["consents"]["email"]["granted"] is False


def test_with_dynamodb_down_the_routes_that_touch_it_answer_their_declared_503(api, config_dir, monkeypatch):
    """Every DynamoDB call throttled past botocore's retries (DYNAMODB_FAULTS at rate 1): routes that read or write
    the table answer 503 contention with Retry-After, which the document declares for them (check() refuses an
    undeclared status or code); the routes it exempts (Operation.dynamodb=False) still answer without the table."""
    from incentives.http.operations import OPERATIONS
    from incentives.services.unsubscribe import unsubscribe_token_item

    from tools import faultrun

    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}),
               campaign("land", codes={"type": "unique", "pattern": "LAND-####-####"},
                        claims={"allowed_origins": ["https://shop.example"]}))
    monkeypatch.setenv("DYNAMODB_FAULTS", "rate=1,seed=1,kinds=throttle")
    faultrun.reset_handlers()
    customer = {"id": "c1", "country": "DE"}
    op = {"key": OPERATOR_KEY_ID}
    token, _ = unsubscribe_token_item("c1", "email", "birthday", datetime.now(UTC))  # well-formed: looked up
    try:
        assert {name for name, o in OPERATIONS.items() if not o.dynamodb} == {"openapi", "claim_preflight"}
        assert api.call("GET", "/v1/openapi.json", key=None)[0] == 200
        assert api.call("OPTIONS", "/v1/public/campaigns/{campaign_id}/claims", key=None, campaign_id="land",
                        headers={"Origin": "https://shop.example"})[0] == 204
        for method, resource, body, extra in (
                ("GET", "/v1/health", None, {"key": None}),
                ("POST", "/v1/validations", {"code": "PUBCODE", "customer": customer, "order": order()}, {}),
                ("POST", "/v1/events", {"id": "ev-down", "type": "customer.updated",
                                        "occurred_at": "2026-12-01T10:00:00Z", "customer": {"id": "c1"}}, {}),
                ("POST", "/v1/public/campaigns/{campaign_id}/claims", {"email": "a@example.com"},
                 {"key": None, "campaign_id": "land"}),
                ("GET", "/v1/public/unsubscribe/{token}", None, {"key": None, "token": token}),
                ("DELETE", "/v1/customers/{customer_id}", None, {**op, "customer_id": "c1"}),
        ):
            status, out = api.call(method, resource, body, **extra)
            assert (status, out["error"]["code"], api.headers.get("Retry-After")) == (503, "contention", "1"), \
                (method, resource, status, out)
    finally:
        monkeypatch.delenv("DYNAMODB_FAULTS")
        faultrun.reset_handlers()


def test_the_scenarios_answered_on_every_route():
    """Run with the module: the routes above answered at least once (a new route needs a scenario here)."""
    if not SEEN:
        pytest.skip("run with the rest of this module")
    missing = sorted({r.name for r in ROUTES} - {name for name, _ in SEEN})
    assert not missing, (f"no scenario here called {missing}: add calls through Api (each answer is validated "
                         "against the document, so its response declaration is held to the handler)")
