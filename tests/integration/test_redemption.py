"""Redemption, validation and rollback against DynamoDB Local: limits under concurrency, nothing written on
rejection, rollback restoring every counter."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, UTC

import pytest

from tests.support import campaign, retry_transient, scan_all
from incentives.adapters import keys
from incentives.adapters.checkout_store import CheckoutStore
from incentives.domain import errors
from incentives.domain.orders import Customer, Order
from incentives.domain.schema import parse
from incentives.services.checkout import Checkout, CheckoutRequest
from incentives.services.issuance import Issuance

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
EUR = {"currency": "EUR"}


def eur(amount: int) -> dict:
    return {"amount": amount, "currency": "EUR"}


def req(code: str, customer: str = "c1", amount: int = 10_000, email: str | None = None) -> CheckoutRequest:
    return CheckoutRequest(code, Customer(customer, email=email), Order("EUR", amount, id=f"o-{customer}"))


def attempt(checkout: Checkout, r: CheckoutRequest) -> str:
    try:
        retry_transient(lambda: checkout.redeem(r, NOW))
        return "ok"
    except errors.IncentiveError as e:
        return e.code


def hammer(checkout: Checkout, requests: list[CheckoutRequest], threads: int = 50) -> list[str]:
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda r: attempt(checkout, r), requests))


@pytest.fixture
def setup(table, config_dir):
    def make(*campaigns):
        cfg = config_dir(*campaigns)
        return Checkout(CheckoutStore(table), cfg), Issuance(table, cfg)
    return make


def counters(table, cid):
    return table.get(*keys.campaign_counters(cid), consistent=True) or {}


@pytest.mark.concurrency(faults_in_suite=True)
def test_200_concurrent_redemptions_of_a_code_limited_to_50_give_exactly_50(setup, table):
    pub = campaign("fifty", codes={"type": "public", "code": "FIFTY"}, limits={"per_code": 50})
    checkout, _ = setup(pub)
    results = hammer(checkout, [req("FIFTY", customer=f"c{i}") for i in range(200)])
    assert results.count("ok") == 50
    assert set(results) == {"ok", "redemption_limit_reached"}
    assert table.get(*keys.code("FIFTY"), consistent=True)["redemptions"] == 50
    assert counters(table, "fifty")["redeemed"] == 50
    redemptions = [i for i in scan_all(table) if i["sk"] == "REDEMPTION"]
    assert len(redemptions) == 50


@pytest.mark.concurrency
def test_campaign_total_and_budget_hold_under_concurrency(setup, table):
    pub = campaign("budget", codes={"type": "public", "code": "BUDGET"},
                   reward={"type": "amount_off", "amount": eur(700)}, limits={"budget": eur(10_000)})
    checkout, _ = setup(pub)
    results = hammer(checkout, [req("BUDGET", customer=f"c{i}") for i in range(60)])
    assert results.count("ok") == 14  # 14 x 7.00 = 98.00 <= 100.00 < 15 x 7.00
    assert set(results) == {"ok", "budget_exhausted"}
    assert counters(table, "budget")["discount_total"] == 9_800


@pytest.mark.concurrency
def test_per_customer_limit_holds_under_concurrency(setup, table):
    pub = campaign("twice", codes={"type": "public", "code": "TWICE"}, limits={"per_customer": 2})
    checkout, _ = setup(pub)
    results = hammer(checkout, [req("TWICE", customer="same") for _ in range(40)]
                     + [req("TWICE", customer="other") for _ in range(3)])
    assert results[:40].count("ok") == 2
    assert set(results[:40]) == {"ok", "customer_limit_reached"}
    assert results[40:].count("ok") == 2
    usage = table.get(*keys.customer_usage("twice", "same"), consistent=True)
    assert usage["redeemed"] == 2


@pytest.mark.concurrency
def test_single_use_unique_code_is_redeemed_once(setup, table):
    checkout, issuance = setup(campaign("single", limits={"per_code": 1}))
    code = issuance.issue("single", 1, None, None, NOW).codes[0]["code"]
    results = hammer(checkout, [req(code, customer=f"c{i}") for i in range(30)], threads=30)
    assert results.count("ok") == 1
    assert set(results) == {"ok", "redemption_limit_reached"}


def test_rollback_restores_every_counter_and_the_code_can_be_used_again(setup, table):
    c = campaign("roll", codes={"type": "public", "code": "ROLL"},
                 limits={"per_code": 1, "per_customer": 1, "total_redemptions": 1, "budget": eur(5_000)})
    checkout, _ = setup(c)
    first = checkout.redeem(req("ROLL"), NOW)
    assert first["discount"] == {"amount": 1_000, "currency": "EUR"}
    assert attempt(checkout, req("ROLL", customer="c2")) == "redemption_limit_reached"
    before = {k: counters(table, "roll")[k] for k in ("redeemed", "discount_total", "discount_EUR")}
    assert before == {"redeemed": 1, "discount_total": 1_000, "discount_EUR": 1_000}

    assert checkout.rollback(first["id"], "refund", NOW) == {"id": first["id"], "status": "rolled_back"}
    after = counters(table, "roll")
    assert (after["redeemed"], after["discount_total"], after["discount_EUR"]) == (0, 0, 0)
    assert table.get(*keys.code("ROLL"), consistent=True)["redemptions"] == 0
    assert table.get(*keys.customer_usage("roll", "c1"), consistent=True)["redeemed"] == 0
    with pytest.raises(errors.AlreadyRolledBack):
        checkout.rollback(first["id"], "refund", NOW)
    assert checkout.redeem(req("ROLL"), NOW)["status"] == "succeeded"  # the same customer may use it again


@pytest.mark.concurrency
def test_concurrent_rollbacks_restore_once(setup, table):
    checkout, _ = setup(campaign("rb", codes={"type": "public", "code": "RBACK"}, limits={"per_code": 5}))
    first = checkout.redeem(req("RBACK"), NOW)
    checkout.redeem(req("RBACK", customer="c2"), NOW)

    def rollback(_):
        try:
            retry_transient(lambda: checkout.rollback(first["id"], None, NOW))
            return "ok"
        except errors.IncentiveError as e:
            return e.code

    with ThreadPoolExecutor(10) as pool:
        results = list(pool.map(rollback, range(10)))
    assert results.count("ok") == 1
    assert set(results) <= {"ok", "already_rolled_back", "request_in_progress"}
    assert table.get(*keys.code("RBACK"), consistent=True)["redemptions"] == 1
    assert counters(table, "rb")["redeemed"] == 1


REJECTIONS = [
    ("order_below_minimum", {"eligibility": {"min_order_amount": eur(20_000)}}, {}),
    ("country_not_eligible", {"eligibility": {"countries": ["AT"]}}, {}),
    ("campaign_inactive", {"enabled": False}, {}),
    ("code_not_active_yet", {"schedule": {"starts_at": "2027-01-01T00:00:00", "timezone": "Europe/Berlin"}}, {}),
    ("campaign_inactive", {"schedule": {"ends_at": "2026-12-01T00:00:00", "timezone": "Europe/Berlin"}}, {}),
    ("currency_mismatch", {"reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "USD"}}}, {}),
    ("code_assigned_to_other_customer", {"codes": {"type": "unique", "pattern": "BND-####-####"}},
     {"bound": True}),
    ("code_expired", {"codes": {"type": "unique", "pattern": "EXP-####-####"}}, {"expires_at": "2026-12-01T00:00:00Z"}),
    ("redemption_limit_reached", {"limits": {"per_code": 1}}, {"used": True}),
    ("customer_limit_reached", {"limits": {"per_customer": 1}}, {"used": True}),
]


@pytest.mark.parametrize("reason,overrides,setup_kw", REJECTIONS, ids=[r[0] + str(i) for i, r in enumerate(REJECTIONS)])
def test_a_rejected_redemption_writes_nothing(setup, table, reason, overrides, setup_kw):
    c = campaign("rej", **overrides)
    checkout, issuance = setup(c)
    # Issue under a valid copy of the campaign, then redeem against the (stricter) config under test.
    customer = {"id": "owner"} if setup_kw.get("bound") else None
    issued_at = NOW - timedelta(days=30) if setup_kw.get("expires_at") else NOW
    code = Issuance(table, _always_valid(c)).issue("rej", 1, customer, setup_kw.get("expires_at"),
                                                   issued_at).codes[0]["code"]
    if setup_kw.get("used"):
        checkout.redeem(req(code, customer="c1"), NOW)
        other = code if reason == "redemption_limit_reached" else \
            issuance.issue("rej", 1, None, None, NOW).codes[0]["code"]
        code = other
    snapshot = sorted(map(repr, scan_all(table)))
    validation = checkout.validate(req(code, customer="c1"), NOW)
    assert validation["valid"] is False and validation["reason"] == reason
    with pytest.raises(errors.IncentiveError) as exc:
        checkout.redeem(req(code, customer="c1"), NOW)
    assert exc.value.code == reason
    assert sorted(map(repr, scan_all(table))) == snapshot


def _always_valid(c: dict):
    from incentives.adapters.config_source import StaticConfig
    from incentives.domain.config import Campaign, ConfigBundle

    ok = {k: v for k, v in c.items() if k not in ("schedule",)} | {"enabled": True}
    return StaticConfig(ConfigBundle({c["id"]: parse(Campaign, ok)}))


def test_validation_answers_without_writing(setup, table):
    c = campaign("val", reward={"type": "percent_off", "percent": 12.5, "max_amount": eur(1_000)},
                 limits={"per_code": 1, "per_customer": 1, "total_redemptions": 10})
    checkout, issuance = setup(c)
    code = issuance.issue("val", 1, None, None, NOW).codes[0]["code"]
    snapshot = sorted(map(repr, scan_all(table)))
    ok = checkout.validate(req(code.lower(), amount=4_999), NOW)
    assert ok == {"valid": True, "code": code, "campaign_id": "val", "discount": {"amount": 624, "currency": "EUR"},
                  "order_amount_after": 4_375}
    capped = checkout.validate(req(code, amount=100_000), NOW)
    assert capped["discount"]["amount"] == 1_000
    assert sorted(map(repr, scan_all(table))) == snapshot
    assert checkout.validate(req("VAL-2222-2222"), NOW)["reason"] == "code_not_found"
    # an unknown code is the one write of a validation: it counts against the shopper (services/guessing.py)
    items = scan_all(table)
    assert [i["hits"] for i in items if i["pk"].startswith("GUESS#")] == [1]
    assert sorted(repr(i) for i in items if not i["pk"].startswith("GUESS#")) == snapshot


def test_bound_code_is_redeemable_by_its_holder_only(setup, table):
    checkout, issuance = setup(campaign("sorry", limits={"per_code": 1}))
    by_id = issuance.issue("sorry", 1, {"id": "alice"}, None, NOW).codes[0]["code"]
    by_mail = issuance.issue("sorry", 1, {"email": "Bob@Example.com"}, None, NOW).codes[0]["code"]
    assert attempt(checkout, req(by_id, customer="mallory")) == "code_assigned_to_other_customer"
    assert attempt(checkout, req(by_mail, customer="mallory", email="mallory@example.com")) == \
        "code_assigned_to_other_customer"
    assert attempt(checkout, req(by_id, customer="alice")) == "ok"
    assert attempt(checkout, req(by_mail, customer="b-77", email="bob@example.com")) == "ok"


def test_code_lookup_reports_count_limit_and_status(setup, table):
    checkout, issuance = setup(campaign("look", limits={"per_code": 1},
                                        codes={"type": "unique", "pattern": "LOOK-####-####", "expires_in_days": 30}))
    code = issuance.issue("look", 1, None, None, NOW).codes[0]["code"]
    assert checkout.get_code(code, NOW) == {"code": code, "campaign_id": "look", "status": "active",
                                            "redemptions": {"count": 0, "limit": 1},
                                            "expires_at": "2027-01-09T12:00:00Z"}
    checkout.redeem(req(code), NOW)
    assert checkout.get_code(code, NOW)["status"] == "redeemed"
    assert checkout.get_code(code, NOW + timedelta(days=31))["status"] == "expired"


@pytest.mark.concurrency
def test_per_customer_limit_per_period_resets_at_the_shops_midnight(setup, table):
    c = campaign("daily", codes={"type": "public", "code": "DAILYDEAL"},
                 schedule={"timezone": "Europe/Berlin"},
                 limits={"per_customer_per_period": {"count": 1, "period": "day"}})
    checkout, _ = setup(c)
    evening = datetime(2026, 12, 10, 22, 30, tzinfo=UTC)  # 23:30 in Berlin
    results = hammer(checkout, [req("DAILYDEAL", customer="same") for _ in range(8)])
    assert results.count("ok") == 1 and set(results) == {"ok", "customer_limit_reached"}
    first = checkout.redeem(req("DAILYDEAL", customer="night"), evening)
    with pytest.raises(errors.CustomerLimitReached):
        checkout.redeem(req("DAILYDEAL", customer="night"), evening + timedelta(minutes=20))  # 23:50 Berlin
    assert checkout.redeem(req("DAILYDEAL", customer="night"), evening + timedelta(minutes=40))  # 00:10 next day
    assert not checkout.validate(req("DAILYDEAL", customer="night"), evening + timedelta(minutes=50))["valid"]
    checkout.rollback(first["id"], None, evening + timedelta(hours=1))  # gives back the day it was taken on
    assert checkout.redeem(req("DAILYDEAL", customer="night"), evening + timedelta(minutes=10))["status"] == \
        "succeeded"
