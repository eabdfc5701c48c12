"""GET /v1/metrics/retention against DynamoDB Local: a seeded order history fed to the metrics_events consumer,
and the figures computed by hand (repeat customers, a refund in full and one in part, a refund before its
order.paid, two currencies, a campaign cohort, window boundaries, weekly and monthly series, 422 cases)."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from incentives.adapters import keys
from incentives.services.consumers import Consumer
from incentives.services.retention import RetentionEvents
from local import lambdas

from tests.support import OPERATOR_KEY_ID, ROOT, _Ctx, campaign

NOW = datetime(2026, 12, 20, tzinfo=UTC)
ROUTE = "/v1/metrics/retention"

# (event id, type, customer, order, amount, currency, occurred_at)
HISTORY = [
    ("p-a1", "order.paid", "alice", "o-a1", 10_000, "EUR", "2026-11-02T00:00:00Z"),  # first day of the window
    ("p-a2", "order.paid", "alice", "o-a2", 5_000, "EUR", "2026-11-10T12:00:00Z"),
    ("r-a2", "order.refunded", "alice", "o-a2", 1_000, "EUR", "2026-11-12T12:00:00Z"),  # in part
    ("p-a3", "order.paid", "alice", "o-a3", 3_000, "USD", "2026-11-05T09:00:00Z"),
    ("p-b1", "order.paid", "bob", "o-b1", 8_000, "EUR", "2026-11-03T09:00:00Z"),
    ("r-b1a", "order.refunded", "bob", "o-b1", 5_000, "EUR", "2026-11-04T09:00:00Z"),
    ("r-b1b", "order.refunded", "bob", "o-b1", 3_000, "EUR", "2026-12-15T09:00:00Z"),  # in full, after the window
    ("p-b2", "order.paid", "bob", "o-b2", 4_000, "EUR", "2026-11-20T09:00:00Z"),
    # +02:00: 2026-11-01 22:30 UTC, the day before the window
    ("p-c1", "order.paid", "carol", "o-c1", 7_000, "EUR", "2026-11-02T00:30:00+02:00"),
    ("r-c1", "order.refunded", "carol", "o-c1", 2_000, "EUR", "2026-11-05T10:00:00Z"),  # in the window, order not
    ("p-c2", "order.paid", "carol", "o-c2", 3_000, "EUR", "2026-12-01T00:00:00Z"),  # the day after
    ("p-c3", "order.paid", "carol", "o-c3", 6_001, "EUR", "2026-11-30T23:59:59Z"),  # last second of the window
    ("r-d1", "order.refunded", "dave", "o-d1", 2_000, "EUR", "2026-11-16T10:00:00Z"),  # before its order.paid
    ("p-d1", "order.paid", "dave", "o-d1", 2_000, "EUR", "2026-11-15T10:00:00Z"),
    ("p-e1", "order.paid", "erin", "o-e1", 2_500, "USD", "2026-11-06T10:00:00Z"),
    ("p-e2", "order.paid", "erin", "o-e2", 1_500, "USD", "2026-11-25T10:00:00Z"),
    ("r-e2", "order.refunded", "erin", "o-e2", 500, "USD", "2026-11-26T10:00:00Z"),
]


def detail(eid, kind, customer, order, amount, currency, at) -> dict:
    return {"id": eid, "type": kind, "customer_id": customer, "occurred_at": at, "received_at": at,
            "order_id": order, "order_amount": amount, "currency": currency}


def get(query: dict | None, key: str = OPERATOR_KEY_ID) -> tuple[int, dict]:
    event = {"resource": ROUTE, "path": ROUTE, "httpMethod": "GET", "headers": {}, "queryStringParameters": query,
             "pathParameters": None, "body": None, "isBase64Encoded": False,
             "requestContext": {"resourcePath": ROUTE, "httpMethod": "GET", "stage": "v1",
                                "identity": {"sourceIp": "203.0.113.9", "apiKeyId": key}}}
    out = lambdas.load_handler("operators", ROOT / "functions")(event, _Ctx("operators"))
    return out["statusCode"], json.loads(out["body"])


@pytest.fixture
def shop(handlers, table, config_dir):
    config_dir(campaign("spring", codes={"type": "public", "code": "SPRING"}),
               campaign("other", codes={"type": "public", "code": "OTHER"}))
    consumer = RetentionEvents(table, Consumer("metrics_events", table))
    for row in HISTORY:
        consumer.handle(detail(*row), NOW)
    for i, (code, customer) in enumerate((("SPRING", "alice"), ("SPRING", "erin"), ("OTHER", "bob"))):
        status, out, _ = handlers.call("storefront", "POST", "/v1/redemptions", body={
            "code": code, "customer": {"id": customer, "country": "DE"},
            "order": {"id": f"r-{i}", "currency": "EUR", "amount": 1_000}})
        assert status == 201, out
    return consumer


def test_the_window_per_currency_matches_the_figures_computed_by_hand(shop):
    status, out = get({"from": "2026-11-02", "to": "2026-11-30"})
    assert status == 200
    assert out == {"from": "2026-11-02", "to": "2026-11-30", "currencies": {
        # alice 2 orders (10000 + 5000 - 1000), bob 1 (o-b1 refunded in full; 4000), carol 1 (6001: o-c1 and
        # o-c2 fall outside), dave none (his only order refunded in full, the refund first)
        "EUR": {"customers": 3, "repeat_customers": 1, "orders": 4, "revenue": 24_001,
                "repeat_purchase_rate": 1 / 3, "purchase_frequency": 4 / 3,
                "average_order_value": 6_000, "customer_value": 8_000},  # 24001/4 = 6000.25, /3 = 8000.33
        # alice 1 (3000), erin 2 (2500 + 1500 - 500)
        "USD": {"customers": 2, "repeat_customers": 1, "orders": 3, "revenue": 6_500,
                "repeat_purchase_rate": 0.5, "purchase_frequency": 1.5,
                "average_order_value": 2_166, "customer_value": 3_250}}}


def test_a_campaign_cohort_counts_only_its_redeemers(shop):
    status, out = get({"from": "2026-11-02", "to": "2026-11-30", "campaign_id": "spring"})
    assert status == 200
    assert out["currencies"] == {
        "EUR": {"customers": 1, "repeat_customers": 1, "orders": 2, "revenue": 14_000, "repeat_purchase_rate": 1.0,
                "purchase_frequency": 2.0, "average_order_value": 7_000, "customer_value": 14_000},
        "USD": {"customers": 2, "repeat_customers": 1, "orders": 3, "revenue": 6_500, "repeat_purchase_rate": 0.5,
                "purchase_frequency": 1.5, "average_order_value": 2_166, "customer_value": 3_250}}
    assert get({"from": "2026-11-02", "to": "2026-11-30", "campaign_id": "other"})[1]["currencies"]["EUR"][
        "customers"] == 1  # bob
    status, out = get({"from": "2026-11-02", "to": "2026-11-30", "campaign_id": "nope"})
    assert (status, out["error"]["code"]) == (404, "campaign_not_found")


def test_weekly_series_start_at_from_and_follow_iso_weeks(shop):
    status, out = get({"from": "2026-11-03", "to": "2026-11-30", "granularity": "week"})
    assert status == 200
    series = {p["period"]: p["currencies"] for p in out["series"]}
    assert list(series) == ["2026-11-03", "2026-11-09", "2026-11-16", "2026-11-23", "2026-11-30"]
    assert {c: (f["customers"], f["orders"], f["revenue"]) for c, f in series["2026-11-03"].items()} == {
        "USD": (2, 2, 5_500)}  # bob's o-b1 refunded in full; alice's o-a1 (11-02) is before the window
    assert {c: (f["orders"], f["revenue"]) for c, f in series["2026-11-09"].items()} == {"EUR": (1, 4_000)}
    assert {c: (f["orders"], f["revenue"]) for c, f in series["2026-11-16"].items()} == {"EUR": (1, 4_000)}
    assert {c: (f["orders"], f["revenue"]) for c, f in series["2026-11-23"].items()} == {"USD": (1, 1_000)}
    assert {c: (f["orders"], f["revenue"]) for c, f in series["2026-11-30"].items()} == {"EUR": (1, 6_001)}
    assert out["currencies"]["EUR"]["orders"] == 3 and out["currencies"]["EUR"]["customers"] == 3


def test_monthly_series_cut_at_the_window(shop):
    status, out = get({"from": "2026-10-15", "to": "2026-12-10", "granularity": "month"})
    assert status == 200
    series = {p["period"]: p["currencies"] for p in out["series"]}
    assert list(series) == ["2026-10-15", "2026-11-01", "2026-12-01"]
    assert series["2026-10-15"] == {}
    # alice 2 (14000), bob 1 (4000), carol 2 (7000 - 2000 + 6001)
    assert series["2026-11-01"]["EUR"] == {
        "customers": 3, "repeat_customers": 2, "orders": 5, "revenue": 29_001, "repeat_purchase_rate": 2 / 3,
        "purchase_frequency": 5 / 3, "average_order_value": 5_800, "customer_value": 9_667}
    assert series["2026-11-01"]["USD"]["revenue"] == 6_500
    assert {c: (f["customers"], f["orders"], f["revenue"]) for c, f in series["2026-12-01"].items()} == {
        "EUR": (1, 1, 3_000)}
    assert (out["currencies"]["EUR"]["orders"], out["currencies"]["EUR"]["revenue"],
            out["currencies"]["EUR"]["repeat_customers"]) == (6, 32_001, 2)


def test_daily_series_has_a_period_per_day(shop):
    out = get({"from": "2026-11-29", "to": "2026-11-30", "granularity": "day"})[1]
    assert [(p["period"], p["currencies"].get("EUR", {}).get("revenue")) for p in out["series"]] == [
        ("2026-11-29", None), ("2026-11-30", 6_001)]


def test_each_event_counts_once(shop, table):
    for row in HISTORY[:3]:  # the same events again
        assert shop.handle(detail(*row), NOW) == {"status": "duplicate"}
    # the same order under another event id
    assert shop.handle(detail("p-a1-again", "order.paid", "alice", "o-a1", 10_000, "EUR", "2026-11-02T00:00:00Z"),
                       NOW) == {"status": "order_seen_before"}
    out = get({"from": "2026-11-02", "to": "2026-11-30"})[1]
    assert (out["currencies"]["EUR"]["orders"], out["currencies"]["EUR"]["revenue"]) == (4, 24_001)
    assert table.get(*keys.retention_order("o-b1"))["refunded"] == 8_000


@pytest.mark.parametrize("query", [
    None, {"to": "2026-11-30"}, {"from": "2026-11-02"}, {"from": "2026-11-30", "to": "2026-11-02"},
    {"from": "2026-11-2", "to": "2026-11-30"}, {"from": "20261102", "to": "20261130"},
    {"from": "2026-02-30", "to": "2026-03-01"}, {"from": "2026-11-02", "to": "2026-11-30", "granularity": "year"},
    {"from": "1990-01-01", "to": "2026-11-30"},
])
def test_a_window_the_contract_refuses_is_422(handlers, config_dir, query):
    config_dir(campaign("spring"))
    status, out = get(query)
    assert (status, out["error"]["code"]) == (422, "invalid_request")


def test_a_single_day_window_and_an_empty_one(shop):
    assert get({"from": "2026-11-30", "to": "2026-11-30"})[1]["currencies"]["EUR"]["revenue"] == 6_001
    assert get({"from": "2025-01-01", "to": "2025-01-31"})[1] == {"from": "2025-01-01", "to": "2025-01-31",
                                                                  "currencies": {}}


def test_a_storefront_key_is_refused(handlers, config_dir):
    config_dir(campaign("spring"))
    assert get({"from": "2026-11-02", "to": "2026-11-30"}, key="storefront-key")[0] in (401, 403)


@pytest.mark.stream
def test_events_posted_to_the_api_reach_the_metrics_through_the_stream(handlers, config_dir, fan_out):
    config_dir(campaign("spring"))
    for body in ({"id": "s1", "type": "order.paid", "occurred_at": "2026-11-21T10:00:00Z", "customer": {"id": "c1"},
                  "order": {"id": "so-1", "currency": "EUR", "amount": 25_000}},
                 {"id": "s2", "type": "order.refunded", "occurred_at": "2026-11-22T10:00:00Z",
                  "customer": {"id": "c1"}, "order": {"id": "so-1", "currency": "EUR", "amount": 5_000}}):
        assert handlers.call("events", "POST", "/v1/events", body=body)[0] == 202
    fan_out()
    out = get({"from": "2026-11-21", "to": "2026-11-21"})[1]
    assert out["currencies"]["EUR"]["revenue"] == 20_000 and out["currencies"]["EUR"]["orders"] == 1


def test_campaign_stats_carry_revenue_per_currency_less_rolled_back_redemptions(handlers, config_dir):
    config_dir(campaign("rev", codes={"type": "public", "code": "REV"}))
    ids = []
    for i, (currency, amount) in enumerate((("EUR", 5_000), ("EUR", 7_000), ("USD", 3_000), ("EUR", 2_500))):
        status, out, _ = handlers.call("storefront", "POST", "/v1/redemptions", body={
            "code": "REV", "customer": {"id": f"c{i}"}, "order": {"id": f"o{i}", "currency": currency,
                                                                  "amount": amount}})
        assert status == 201, out
        ids.append(out["id"])
    status, out, _ = handlers.call("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback",
                                   path_params={"redemption_id": ids[1]}, body={"reason": "refund"})
    assert status == 200, out
    status, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                    path_params={"campaign_id": "rev"}, key_id=OPERATOR_KEY_ID)
    assert status == 200
    # before the 10 % discount; the 7000 rolled back
    assert view["stats"]["revenue"] == [{"amount": 7_500, "currency": "EUR"}, {"amount": 3_000, "currency": "USD"}]


def test_erasure_leaves_no_retention_item_naming_the_customer_and_the_figures_unchanged(handlers, config_dir,
                                                                                        fan_out, table):
    config_dir(campaign("spring"))
    for i, day in enumerate(("2026-11-21", "2026-11-23")):
        body = {"id": f"e{i}", "type": "order.paid", "occurred_at": f"{day}T10:00:00Z", "customer": {"id": "gone"},
                "order": {"id": f"eo-{i}", "currency": "EUR", "amount": 10_000}}
        assert handlers.call("events", "POST", "/v1/events", body=body)[0] == 202
    fan_out()
    window = {"from": "2026-11-20", "to": "2026-11-30"}
    before = get(window)[1]
    assert before["currencies"]["EUR"]["repeat_customers"] == 1
    status, out, _ = handlers.call("operators", "DELETE", "/v1/customers/{customer_id}",
                                   path_params={"customer_id": "gone"}, key_id=OPERATOR_KEY_ID)
    assert status == 200 and out["erased"]["orders"] == 2
    assert get(window)[1] == before  # still one repeat customer: now an anonymised one
    for order in ("eo-0", "eo-1"):
        item = table.get(*keys.retention_order(order))
        assert item["customer_id"].startswith("anon")
    days = [i for d in ("2026-11-21", "2026-11-23") for i in table.query(keys.retention_day(d))]
    assert len(days) == 2 and all("gone" not in i["sk"] and i["customer_id"].startswith("anon") for i in days)
