"""Consumers of customer events apply each event once, however often and however concurrently EventBridge
delivers it (against DynamoDB Local: moto's transactions over-admit)."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, UTC

import pytest

from incentives.adapters import keys
from incentives.adapters.dynamo import values
from incentives.services.consumers import Consumer
from incentives.services.fanout import entry
from incentives.subscriptions import CustomerEvent
from local import lambdas
from local.bus import eventbridge_event
from tests.support import ROOT, campaign, retry_transient

NOW = datetime(2026, 12, 2, 10, tzinfo=UTC)
ORDER = {"id": "o-1", "currency": "EUR", "amount": 5_000}


@pytest.mark.concurrency
def test_the_marker_makes_a_non_idempotent_effect_apply_once_also_when_copies_race(table):
    consumer = Consumer("points", table)

    def add_one(event_id: str) -> bool:
        return consumer.apply_once(event_id, [table.update_op("TEST#points", "C1", "ADD points :one",
                                                              vals=values(one=1))], NOW)

    assert (add_one("e1"), add_one("e1")) == (True, False)
    with ThreadPoolExecutor(16) as pool:
        applied = list(pool.map(lambda e: retry_transient(lambda: add_one(e)), ["e2"] * 16))
    assert applied.count(True) == 1
    assert table.get("TEST#points", "C1", consistent=True)["points"] == 2
    assert table.get(*keys.consumed("points", "e2"), consistent=True)["event_id"] == "e2"


@pytest.fixture
def refund(handlers, config_dir, table):
    """A redemption of order o-1 in a rollback_on_refund campaign; refund(amount, event_id) is the EventBridge
    event the refunds consumer gets for an order.refunded event of that order, recorded like POST /v1/events."""
    config_dir(campaign("back", codes={"type": "public", "code": "BACKAGAIN"}, rollback_on_refund=True,
                        limits={"per_customer": 1, "total_redemptions": 10}))
    status, body, _ = handlers.call("storefront", "POST", "/v1/redemptions",
                                    body={"code": "BACKAGAIN", "customer": {"id": "c1"}, "order": ORDER})
    assert status == 201

    def make(amount: int = ORDER["amount"], event_id: str = "r1", order_id: str = ORDER["id"]) -> dict:
        body_ = {"id": event_id, "type": "order.refunded", "occurred_at": "2026-12-02T10:00:00Z",
                 "customer": {"id": "c1"}, "order": {**ORDER, "id": order_id, "amount": amount}}
        assert handlers.call("events", "POST", "/v1/events", body=body_)[0] == 202
        item = table.get(*keys.event(event_id), consistent=True)
        return eventbridge_event(entry(CustomerEvent.from_item(item)))

    make.redemption_id = body["id"]
    return make


def consume(event: dict) -> dict:
    return lambdas.invoke("refunds", event, ROOT / "functions")


def counted(table) -> tuple[int, int, int]:
    return (table.get(*keys.campaign_counters("back"), consistent=True)["redeemed"],
            table.get(*keys.customer_usage("back", "c1"), consistent=True)["redeemed"],
            table.get(*keys.code("BACKAGAIN"), consistent=True)["redemptions"])


@pytest.mark.concurrency
def test_a_refund_delivered_many_times_at_once_rolls_back_once(refund, table):
    event = refund()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda e: retry_transient(lambda: consume(e)), [event] * 8))
    assert sorted(len(a["rolled_back"]) for a in answers) == [0] * 7 + [1]
    assert counted(table) == (0, 0, 0)
    assert consume(event)["rolled_back"] == []  # a late copy
    assert counted(table) == (0, 0, 0)
    assert table.get(*keys.redemption(refund.redemption_id), consistent=True)["status"] == "rolled_back"


def test_partial_refunds_and_other_orders_roll_nothing_back(refund, table):
    assert consume(refund(amount=4_999, event_id="r1"))["rolled_back"] == []
    assert consume(refund(event_id="r2", order_id="o-2"))["rolled_back"] == []
    assert counted(table) == (1, 1, 1)


def test_a_refund_after_a_rollback_through_the_api_changes_nothing(refund, handlers, table):
    event = refund()
    rid = refund.redemption_id
    assert handlers.call("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback",
                         {"redemption_id": rid}, body={})[0] == 200
    assert consume(event)["rolled_back"] == []
    assert counted(table) == (0, 0, 0)
