"""first_order_only and segments decided from the profile that events build, enforced in the redemption's write."""
from __future__ import annotations

import pytest

from tests.support import campaign, scan_all

REDEEM = ("storefront", "POST", "/v1/redemptions")
VALIDATE = ("storefront", "POST", "/v1/validations")


def checkout(customer="c1", code="FIRSTORDER"):
    return {"code": code, "customer": {"id": customer}, "order": {"currency": "EUR", "amount": 5_000}}


def paid(eid, customer="c1"):
    return {"id": eid, "type": "order.paid", "occurred_at": "2026-11-20T10:00:00Z", "customer": {"id": customer},
            "order": {"currency": "EUR", "amount": 3_000}}


@pytest.fixture
def api(handlers, config_dir):
    config_dir(campaign("first", codes={"type": "public", "code": "FIRSTORDER"},
                        eligibility={"first_order_only": True}),
               campaign("loyal", codes={"type": "public", "code": "LOYAL"},
                        eligibility={"segments": ["returning_customers"]}))
    return handlers


def test_first_order_only_follows_the_customers_paid_orders(api, table):
    assert api.call(*VALIDATE, body=checkout("new"))[1]["valid"] is True
    api.call("events", "POST", "/v1/events", body=paid("e1", "old"))
    status, out, _ = api.call(*VALIDATE, body=checkout("old"))
    assert out == {"valid": False, "reason": "not_first_order", "message": out["message"]}
    before = sorted(map(repr, scan_all(table)))
    status, out, _ = api.call(*REDEEM, body=checkout("old"))
    assert status == 422 and out["error"]["code"] == "not_first_order"
    assert sorted(map(repr, scan_all(table))) == before
    assert api.call(*REDEEM, body=checkout("new"))[0] == 201


def test_segment_rules_use_the_order_history(api):
    status, out, _ = api.call(*REDEEM, body=checkout("c9", code="LOYAL"))
    assert status == 422 and out["error"]["code"] == "segment_not_eligible"
    for i in range(2):
        api.call("events", "POST", "/v1/events", body=paid(f"p{i}", "c9"))
    assert api.call(*REDEEM, body=checkout("c9", code="LOYAL"))[0] == 201


def test_custom_segments_from_config(handlers, config_dir):
    import yaml

    seg = config_dir.path / "segments"
    seg.mkdir()
    (seg / "vip-de.yaml").write_text(yaml.safe_dump({
        "id": "vip-de", "countries": ["DE"], "tags_any": ["vip"], "min_total_spent": {"amount": 10_000,
                                                                                     "currency": "EUR"}}))
    config_dir(campaign("vip", codes={"type": "public", "code": "VIPONLY"}, eligibility={"segments": ["vip-de"]}))

    def event(eid, etype, **kw):
        return {"id": eid, "type": etype, "occurred_at": "2026-11-20T10:00:00Z",
                "customer": {"id": "v1", "country": "DE"}, **kw}

    handlers.call("events", "POST", "/v1/events", body=event("a", "customer.created", data={"tags": ["vip"]}))
    status, out, _ = handlers.call(*REDEEM, body=checkout("v1", code="VIPONLY"))
    assert status == 422 and out["error"]["code"] == "segment_not_eligible"  # not enough spent yet
    handlers.call("events", "POST", "/v1/events",
                  body=event("b", "order.paid", order={"currency": "EUR", "amount": 12_000}))
    assert handlers.call(*REDEEM, body=checkout("v1", code="VIPONLY"))[0] == 201
