"""POST /v1/events through the real events handler: each event id counts once, also when copies race, and the
customer's profile never loses an update."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from incentives.adapters import keys
from tests.support import retry_503, scan_all

EVENTS = ("events", "POST", "/v1/events")


def paid(eid, customer="c1", amount=4_000, at="2026-12-01T10:00:00Z", **customer_fields):
    return {"id": eid, "type": "order.paid", "occurred_at": at, "customer": {"id": customer, **customer_fields},
            "order": {"id": f"o-{eid}", "currency": "EUR", "items": [
                {"sku": "mug", "category": "kitchen", "quantity": 2, "unit_price": amount // 2}]}}


@pytest.fixture
def api(handlers, config_dir):
    config_dir()
    return handlers


def profile(table, customer="c1"):
    return table.get(*keys.customer_profile(customer), consistent=True)


def test_events_build_the_profile(api, table):
    created = {"id": "e0", "type": "customer.created", "occurred_at": "2026-11-01T09:00:00Z",
               "customer": {"id": "c1", "email": "Ann@Example.com", "country": "DE", "timezone": "Europe/Berlin"},
               "data": {"birthday": "1990-04-02", "consents": {"email": True, "sms": False}}}
    assert api.call(*EVENTS, body=created)[:2] == (202, {"id": "e0", "status": "accepted"})
    api.call(*EVENTS, body=paid("e1", at="2026-12-03T10:00:00Z"))
    api.call(*EVENTS, body=paid("e2", at="2026-12-01T10:00:00Z"))  # late, out of order
    p = profile(table)
    assert (p["order_count"], p["total_spent"], p["categories"]) == (2, {"EUR": 8_000}, {"kitchen": 4})
    assert (p["first_order_at"], p["last_order_at"]) == ("2026-12-01T10:00:00Z", "2026-12-03T10:00:00Z")
    assert (p["email"], p["country"], p["birthday"], p["signed_up_at"]) == \
        ("ann@example.com", "DE", "1990-04-02", "2026-11-01T09:00:00Z")
    assert p["consents"]["email"]["given"] is True and p["consents"]["sms"]["given"] is False
    refund = {**paid("e3", amount=2_000), "type": "order.refunded"}
    api.call(*EVENTS, body=refund)
    p = profile(table)
    assert (p["order_count"], p["refund_count"], p["total_spent"]) == (2, 1, {"EUR": 6_000})
    assert "ann@example.com" not in repr([i for i in scan_all(table) if i["sk"] == "EVENT"]).lower()


@pytest.mark.concurrency
def test_a_repeated_event_id_changes_nothing_also_when_copies_race(api, table):
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: retry_503(lambda: api.call(*EVENTS, body=paid("same"))), range(10)))
    assert all(s == 202 for s, _, _ in answers)
    assert [b["status"] for _, b, _ in answers].count("accepted") == 1
    assert profile(table)["order_count"] == 1
    assert api.call(*EVENTS, body=paid("same"))[1]["status"] == "duplicate"
    assert profile(table)["order_count"] == 1


@pytest.mark.concurrency(faults_in_suite=True)
def test_concurrent_events_of_one_customer_lose_no_update(api, table):
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: retry_503(lambda: api.call(*EVENTS, body=paid(f"e{i}", amount=1_000))),
                                range(24)))
    assert all(b["status"] == "accepted" for _, b, _ in answers)
    p = profile(table)
    assert p["order_count"] == 24 and p["total_spent"] == {"EUR": 24_000} and p["version"] == 24


@pytest.mark.parametrize("body,field", [
    ({**paid("x"), "type": "order.shipped"}, "type"),
    ({**paid("x"), "order": None}, "(body)"),
    ({**paid("x"), "occurred_at": "yesterday"}, "occurred_at"),
    ({**paid("x"), "occurred_at": "2026-12-01T10:00:00"}, "occurred_at"),
    ({**paid("x"), "customer": {}}, "customer.id"),
    ({**paid("x"), "data": {"birthday": "2 April"}}, "data.birthday"),
])
def test_bad_events_are_rejected_with_the_field(api, table, body, field):
    status, out, _ = api.call(*EVENTS, body=body)
    assert status == 422 and out["error"]["code"] == "invalid_request"
    fields = [f["field"] for f in out["error"]["details"].get("fields", [])] or [out["error"]["details"].get("field")]
    assert field in fields
    assert profile(table) is None


def test_a_full_refund_rolls_back_redemptions_of_campaigns_that_say_so(handlers, config_dir, table, fan_out):
    from tests.support import campaign

    config_dir(campaign("back", codes={"type": "public", "code": "BACKAGAIN"}, rollback_on_refund=True,
                        limits={"per_customer": 1, "total_redemptions": 10}),
               campaign("keep", codes={"type": "public", "code": "KEEPUSED"}, limits={"per_customer": 1}))
    order = {"id": "o-77", "currency": "EUR", "amount": 5_000}
    for code in ("BACKAGAIN", "KEEPUSED"):
        status, _, _ = handlers.call("storefront", "POST", "/v1/redemptions",
                                     body={"code": code, "customer": {"id": "c1"}, "order": order})
        assert status == 201
    partial = {"id": "r1", "type": "order.refunded", "occurred_at": "2026-12-02T10:00:00Z",
               "customer": {"id": "c1"}, "order": {**order, "amount": 1_000}}
    handlers.call(*EVENTS, body=partial)
    fan_out()
    assert table.get(*keys.campaign_counters("back"), consistent=True)["redeemed"] == 1  # partial: kept
    full = {**partial, "id": "r2", "order": order}
    assert handlers.call(*EVENTS, body=full)[0] == 202
    assert table.get(*keys.campaign_counters("back"), consistent=True)["redeemed"] == 1  # the request only records
    assert handlers.call(*EVENTS, body=full)[1]["status"] == "duplicate"
    fan_out()  # the stream -> event_fanout -> the bus -> the refunds consumer
    assert table.get(*keys.campaign_counters("back"), consistent=True)["redeemed"] == 0
    assert table.get(*keys.customer_usage("back", "c1"), consistent=True)["redeemed"] == 0
    assert table.get(*keys.campaign_counters("keep"), consistent=True)["redeemed"] == 1
    statuses = {i["campaign_id"]: i["status"] for i in scan_all(table) if i["sk"] == "REDEMPTION"}
    assert statuses == {"back": "rolled_back", "keep": "succeeded"}
