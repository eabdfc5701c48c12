"""No request gives a 5xx: hostile or careless input is refused at the edge with a 4xx that names the field.

Each case below gave a 500 (or a stored value that broke a later reader) before the edge checked it
(issue 12): lone surrogates anywhere in a request, years outside 1000-9999 and times whose offset moves them
out of range, non-ASCII digits and integers of thousands of digits in query parameters, error lists as long as the
input, deep nesting."""
from __future__ import annotations

import json

import pytest

from tests.support import OPERATOR_KEY_ID, ROOT, _Ctx

CUSTOMER = {"id": "c1", "country": "DE"}
ORDER = {"id": "o1", "currency": "EUR", "amount": 5000}


def _event(**over) -> dict:
    return {"id": "e1", "type": "customer.created", "occurred_at": "2026-12-01T10:00:00Z", "customer": CUSTOMER,
            **over}


@pytest.fixture
def shop(handlers, monkeypatch):
    monkeypatch.setenv("INCENTIVES_CONFIG_DIR", str(ROOT / "config"))  # the repository's campaigns and programs
    return handlers


def call(h, function, method, resource, *, body=None, raw=None, key=OPERATOR_KEY_ID, params=None, query=None,
         headers=None):
    """The function's real handler with a REST proxy event (``raw``: the body exactly as sent)."""
    from local.lambdas import load_handler

    path = resource
    for k, v in (params or {}).items():
        path = path.replace("{" + k + "}", v)
    event = {"resource": resource, "path": path, "httpMethod": method, "headers": headers or {},
             "queryStringParameters": query, "pathParameters": params,
             "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1",
                                "identity": {"sourceIp": "203.0.113.9", "apiKeyId": key}},
             "body": raw if raw is not None else (json.dumps(body) if body is not None else None),
             "isBase64Encoded": False}
    out = load_handler(function, ROOT / "functions")(event, _Ctx(function))
    return out["statusCode"], json.loads(out["body"]) if out.get("body") else None


SURROGATE = "\ud800"
TRANSACTIONS = "/v1/loyalty-programs/{program_id}/members/{customer_id}/transactions"
CASES = {
    "surrogate in body": ("storefront", "POST", "/v1/validations", dict(
        raw='{"code": "A\\ud800", "customer": {"id": "c\\udfff"}, "order": {"currency": "EUR", "amount": 1}}')),
    "surrogate in event id": ("events", "POST", "/v1/events", dict(raw=json.dumps(_event(id="e" + SURROGATE)))),
    "surrogate in path": ("storefront", "GET", "/v1/codes/{code}", dict(params={"code": "A" + SURROGATE})),
    "surrogate in customer path": ("operators", "DELETE", "/v1/customers/{customer_id}",
                                   dict(params={"customer_id": "c" + SURROGATE})),
    "surrogate in query": ("operators", "GET", "/v1/campaigns/{campaign_id}/codes",
                           dict(params={"campaign_id": "welcome10"}, query={"cursor": SURROGATE})),
    "surrogate in header": ("storefront", "POST", "/v1/redemptions", dict(
        body={"code": "BLACKFRIDAY", "customer": CUSTOMER, "order": ORDER}, headers={"Idempotency-Key": SURROGATE})),
    "year 999": ("events", "POST", "/v1/events", dict(body=_event(occurred_at="0999-12-31T10:00:00Z"))),
    "year 1 with offset": ("events", "POST", "/v1/events", dict(body=_event(occurred_at="0001-01-01T00:00:00+01:00"))),
    "year 9999 with offset": ("events", "POST", "/v1/events",
                              dict(body=_event(occurred_at="9999-12-31T23:59:59-01:00"))),
    "signed_up_at overflow": ("events", "POST", "/v1/events", dict(body=_event(
        data={"signed_up_at": "9999-12-31T23:59:59-01:00"}))),
    "birthday in other digits": ("events", "POST", "/v1/events", dict(
        body=_event(data={"birthday": "\u0661\u0669\u0669\u0660-\u0660\u0661-\u0660\u0661"}))),  # 1990-01-01
    "birthday not a date": ("events", "POST", "/v1/events", dict(body=_event(data={"birthday": "1990-13-45"}))),
    "job now overflow": ("operators", "POST", "/v1/jobs/{job}/run", dict(
        params={"job": "campaign-activation"}, body={"now": "0001-01-01T00:00:00+01:00"})),
    "codes expires_at overflow": ("operators", "POST", "/v1/campaigns/{campaign_id}/codes", dict(
        params={"campaign_id": "welcome10"}, body={"count": 1, "expires_at": "9999-12-31T23:59:59-05:00"})),
    "codes expires_at year 5": ("operators", "POST", "/v1/campaigns/{campaign_id}/codes", dict(
        params={"campaign_id": "welcome10"}, body={"count": 1, "expires_at": "0005-01-01T00:00:00Z"})),
    "retention year 1": ("operators", "GET", "/v1/metrics/retention",
                         dict(query={"from": "0001-01-01", "to": "0001-01-02"})),
    "arabic digits limit": ("referrals", "GET", "/v1/referral-programs/{program_id}/leaderboard",
                            dict(params={"program_id": "friends"}, query={"limit": "\u0661\u0662"})),
    "arabic digits export": ("operators", "GET", "/v1/campaigns/{campaign_id}/codes",
                             dict(params={"campaign_id": "welcome10"}, query={"limit": "\u0661\u0662"})),
    "huge limit": ("operators", "GET", "/v1/campaigns/{campaign_id}/codes",
                   dict(params={"campaign_id": "welcome10"}, query={"limit": "9" * 5000})),
    "huge leaderboard limit": ("referrals", "GET", "/v1/referral-programs/{program_id}/leaderboard",
                               dict(params={"program_id": "friends"}, query={"limit": "9" * 5000})),
    "huge transactions limit": ("loyalty", "GET", TRANSACTIONS, dict(
        params={"program_id": "rewards", "customer_id": "c1"}, query={"limit": "9" * 5000})),
    "huge integer in body": ("storefront", "POST", "/v1/validations", dict(
        raw='{"code": "BLACKFRIDAY", "customer": {"id": "c1"}, "order": {"currency": "EUR", "amount": '
            + "9" * 5000 + "}}")),  # over Python's int-str limit: json.loads raises ValueError
    "nesting beyond the parser": ("events", "POST", "/v1/events", dict(raw='{"x": ' + "[" * 5000 + "]" * 5000 + "}")),
    "nesting beyond DynamoDB": ("events", "POST", "/v1/events", dict(
        raw=json.dumps({**_event(), "extension": json.loads("[" * 40 + "]" * 40)}))),
}


@pytest.mark.parametrize("name", CASES)
def test_hostile_input_is_refused_with_422_naming_the_field(shop, name):
    function, method, resource, kw = CASES[name]
    status, body = call(shop, function, method, resource, **kw)
    assert status == 422, (status, body)
    assert body["error"]["code"] == "invalid_request"


@pytest.mark.parametrize("job", ["campaign-activation", "referral-rewards", "points-expiry", "win-back", "birthdays",
                                 "anniversaries", "replenishment", "post-purchase", "points-expiring"])
@pytest.mark.parametrize("now", ["9999-12-31T23:59:59Z", "1000-01-01T00:00:00Z"])
def test_every_job_runs_at_the_edges_of_the_accepted_years(shop, job, now):
    status, body = call(shop, "operators", "POST", "/v1/jobs/{job}/run", params={"job": job}, body={"now": now})
    assert status == 200, body


@pytest.mark.parametrize("granularity", ["day", "week", "month"])
def test_the_retention_window_at_the_last_accepted_days_answers(shop, granularity):
    status, body = call(shop, "operators", "GET", "/v1/metrics/retention",
                        query={"from": "9999-12-25", "to": "9999-12-31", "granularity": granularity})
    assert status == 200, body
    assert body["series"][0]["period"] == "9999-12-25" and body["to"] == "9999-12-31"


def test_a_422_names_the_first_20_field_errors_and_counts_them(shop):
    items = [{"sku": "", "quantity": "1", "unit_price": -1}] * 400  # three errors each
    status, body = call(shop, "storefront", "POST", "/v1/validations",
                        body={"code": "BLACKFRIDAY", "customer": CUSTOMER, "order": {**ORDER, "items": items}})
    assert status == 422
    details = body["error"]["details"]
    assert len(details["fields"]) == 20 and details["truncated"] is True
    assert details["field_error_count"] == 1200
    assert details["fields"][0] == {"field": "order.items.0.sku", "message": "must have at least 1 characters"}


def test_a_few_field_errors_are_all_named_without_truncation(shop):
    status, body = call(shop, "storefront", "POST", "/v1/validations",
                        body={"code": "BLACKFRIDAY", "customer": {"id": ""},
                              "order": {"currency": "EUR", "amount": "1"}})
    assert status == 422
    assert body["error"]["details"] == {"fields": [
        {"field": "customer.id", "message": "must have at least 1 characters"},
        {"field": "order.amount", "message": "must be an integer"}]}


def test_a_valid_birthday_and_signup_time_are_accepted(shop):
    status, body = call(shop, "events", "POST", "/v1/events", body=_event(
        data={"birthday": "1990-02-28", "signed_up_at": "1999-12-31T23:30:00-01:00"}))
    assert status == 202, body


@pytest.mark.parametrize("event_id", ["campaign.welcome10.active.2026-12-01T00:00:00Z", "loyalty.m1.lot.l1.expiring",
                                      "message.msg_1.requested", "rfl_01JD0000000000000000000000.converted"])
def test_a_shop_event_id_in_the_engines_namespace_is_refused(shop, event_id):
    """The engine's own events share the EVENT# keys and the consumers' markers: a shop event that took such an id
    first would make the engine's put fail forever (a stuck warning or conversion) or swallow it."""
    status, body = call(shop, "events", "POST", "/v1/events", body=_event(id=event_id))
    assert status == 422, body
    assert body["error"]["details"]["fields"][0]["field"] == "id"
    status, body = call(shop, "events", "POST", "/v1/events", body=_event(id="shop." + event_id))
    assert status == 202 and body["status"] == "accepted"  # the same text elsewhere in an id is the shop's own


def test_the_engine_cannot_put_an_event_outside_its_namespace(table):
    from datetime import UTC, datetime

    from incentives.services.outbox import event_put

    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert event_put(table, "loyalty.m1.tier.1", "loyalty.tier_changed", "c1", now, now, {})["Put"]
    with pytest.raises(ValueError, match="engine event id"):
        event_put(table, "order-1", "loyalty.tier_changed", "c1", now, now, {})
