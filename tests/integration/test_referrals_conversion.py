"""Referral conversions against DynamoDB Local: the referee's order.paid converts (conditions, first order only), the
referrer's reward by tier is paid out after the return window (code, gift card, points event, cash owed), an event
delivered twice at once rewards once, concurrent conversions of one referrer get consecutive tiers, the period cap,
held conversions and their review, refunds that reverse a conversion before payout, the on/off switch."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from incentives.adapters import keys
from tests.integration.referral_support import EUR, PROGRAM, Shop, amount, at, program, write_config
from tests.support import retry_transient, scan_all


@pytest.fixture
def shop(handlers, table):
    return Shop(handlers, table)


def configure(config_dir, **overrides):
    write_config(config_dir, program(**overrides))


def items(shop, sk: str) -> list[dict]:
    return [i for i in scan_all(shop.table) if i["sk"] == sk]


def events_of(shop, event_type: str) -> list[dict]:
    return [i for i in items(shop, "EVENT") if i["type"] == event_type]


def test_each_tier_pays_its_reward_once_the_return_window_has_closed(shop, config_dir):
    configure(config_dir)
    refs = [shop.referred("ann", f"f{i}") for i in range(4)]
    for i in range(4):
        (outcome,) = shop.paid(f"p{i}", f"f{i}", 5000)
        assert outcome["outcome"] == "converted" and outcome["conversion_number"] == i + 1
    kinds = [shop.referral(r["id"])["reward"]["type"] for r in refs]
    assert kinds == ["code", "gift_card", "points", "cash"]
    # nothing is given before the return window (14 days) has closed
    assert shop.release(at(days=13))["released"] == 0
    assert not events_of(shop, "referral.converted") and not items(shop, "PAYOUT")
    assert shop.release(at(days=15))["released"] == 4
    assert shop.release(at(days=16))["released"] == 0  # each once
    code_1 = shop.referral(refs[0]["id"])["reward_code"]
    card = shop.table.get(*keys.code(shop.referral(refs[1]["id"])["reward_code"]), consistent=True)
    assert shop.table.get(*keys.code(code_1), consistent=True)["holder"] == "id:ann"
    assert (card["campaign_id"], card["balance"], card["holder"]) == ("thanks-card", 2000, "id:ann")
    (points,) = events_of(shop, "referral.reward_points")
    assert points["id"] == f"{refs[2]['id']}.reward_points" and points["customer_id"] == "ann"
    assert points["data"] == {"program_id": "points", "points": 500, "reward_id": refs[2]["id"],
                              "referral_program_id": PROGRAM}
    converted = {e["data"]["referee_id"] for e in events_of(shop, "referral.converted")}
    assert converted == {"f0", "f1", "f2", "f3"}
    assert all(e["customer_id"] == "ann" and e["gsi1pk"] == "CUSTOMER#ann"
               for e in events_of(shop, "referral.converted"))
    # the referrer's numbers and the leaderboard
    me = shop.referrer("ann")
    assert (me["converted"], me["pending"], me["rewards_paid"]) == (4, 0, 4)
    assert me["tier"] == {"from": 4, "reward": {"type": "cash", "value": 2500, "currency": EUR}}
    assert me["next_tier"] is None and len(me["rewards"]) == 4
    assert {r["payout_status"] for r in me["rewards"]} == {"paid"}
    # cash: an amount owed, exportable, then marked paid
    status, ledger = shop.call("GET", "/payouts", operator=True, query={"status": "owed"})
    assert status == 200 and ledger["totals"] == [amount(2500)] and ledger["payouts"][0]["customer_id"] == "ann"
    status, text, headers = shop.request("GET", "/payouts", operator=True, query={"format": "csv"})
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert text.splitlines()[0].startswith("id,referral_id,customer_id,amount,currency")
    assert f"{refs[3]['id']},{refs[3]['id']},ann,2500,EUR,owed" in text
    payout_id = ledger["payouts"][0]["id"]
    status, paid = shop.call("POST", "/payouts/{payout_id}/paid", {"reference": "SEPA-1"}, operator=True,
                             payout_id=payout_id)
    assert status == 200 and paid["status"] == "paid"
    assert shop.call("POST", "/payouts/{payout_id}/paid", {}, operator=True, payout_id=payout_id)[0] == 200
    assert shop.call("GET", "/payouts", operator=True, query={"status": "owed"})[1]["payouts"] == []


@pytest.mark.concurrency
def test_a_conversion_event_delivered_many_times_at_once_rewards_once(shop, config_dir):
    configure(config_dir, conversion={"min_order_amount": amount(3000), "return_window_days": 0})
    ref = shop.referred("ann", "bob")
    event = shop.event("pay-1", "order.paid", "bob", 5000, at())  # paid now: the window (0 days) is closed
    with ThreadPoolExecutor(8) as pool:
        outcomes = [o for out in pool.map(lambda e: retry_transient(lambda: shop.consume(e)), [event] * 8) for o in out]
    # one copy converts; the others find its marker, or the referral converted already, and change nothing
    assert [o["outcome"] for o in outcomes].count("converted") == 1
    assert {o["outcome"] for o in outcomes} <= {"converted", "duplicate", "ignored"}
    assert outcomes[[o["outcome"] for o in outcomes].index("converted")]["payout"] == "now"
    assert shop.consume(event)[0]["outcome"] != "converted"  # a late copy
    rewards = [i for i in items(shop, "CODE") if i["campaign_id"] == "thanks-ten"]
    assert len(rewards) == 1 and shop.referral(ref["id"])["reward_code"] == rewards[0]["code"]
    assert len(events_of(shop, "referral.converted")) == 1
    counters = shop.counters()
    assert (counters["conversions"], counters["rewards_paid"], counters["referrer_rewards"]) == (1, 1, 1)
    assert shop.referrer("ann")["converted"] == 1


@pytest.mark.concurrency
def test_concurrent_conversions_of_one_referrer_get_consecutive_tiers(shop, config_dir):
    configure(config_dir)
    refs = [shop.referred("ann", f"f{i}") for i in range(6)]
    events = [shop.event(f"p{i}", "order.paid", f"f{i}", 4000, at(minutes=1)) for i in range(6)]
    with ThreadPoolExecutor(6) as pool:
        outcomes = [o for out in pool.map(lambda e: retry_transient(lambda: shop.consume(e)), events) for o in out]
    assert sorted(o["conversion_number"] for o in outcomes) == [1, 2, 3, 4, 5, 6]
    tiers = sorted((shop.referral(r["id"])["conversion_number"], shop.referral(r["id"])["reward"]["type"])
                   for r in refs)
    assert tiers == [(1, "code"), (2, "gift_card"), (3, "points"), (4, "cash"), (5, "cash"), (6, "cash")]
    assert shop.referrer("ann")["converted"] == 6 and shop.counters()["conversions"] == 6


def test_first_order_only_minimum_and_window(shop, config_dir):
    configure(config_dir)
    small, _late, ok = (shop.referred("ann", r) for r in ("small", "late", "ok"))
    # the first order is below the minimum: the referral is closed, a bigger second order changes nothing
    assert shop.paid("s1", "small", 2999)[0] == {"referral_id": small["id"], "outcome": "disqualified",
                                                 "reason": "order_below_minimum"}
    assert shop.paid("s2", "small", 9000, when=at(minutes=5))[0]["reason"] == "referral_disqualified"
    # the first order after within_days (30)
    assert shop.paid("l1", "late", 9000, when=at(days=31))[0]["outcome"] == "expired"
    # the second order's event arrives first: only the first order decides
    first = shop.event("o1", "order.paid", "ok", 3000, at(minutes=1))
    second = shop.event("o2", "order.paid", "ok", 3000, at(minutes=2))
    assert shop.consume(second)[0] == {"referral_id": ok["id"], "outcome": "ignored", "reason": "not_first_order"}
    assert shop.consume(first)[0]["outcome"] == "converted"
    assert shop.referral(ok["id"])["order_id"] == "o-o1"
    counters = shop.counters()
    assert (counters["disqualified"], counters["expired"], counters["conversions"], counters["pending"]) == \
        (1, 1, 1, 0)
    assert counters["revenue_EUR"] == 3000  # the converting order (o2 was handled before the referee converted)
    shop.paid("o3", "ok", 2500, when=at(minutes=3))
    assert shop.counters()["revenue_EUR"] == 5500  # a converted referee's later orders count for LTV


def test_without_first_order_only_a_later_qualifying_order_converts(shop, config_dir):
    configure(config_dir, conversion={"min_order_amount": amount(3000), "first_order_only": False,
                                      "within_days": 30})
    ref = shop.referred("ann", "bob")
    assert shop.paid("b1", "bob", 1000)[0]["reason"] == "order_below_minimum"
    assert shop.referral(ref["id"])["status"] == "pending"
    assert shop.paid("b2", "bob", 3500, when=at(minutes=3))[0]["outcome"] == "converted"


@pytest.mark.parametrize("over_limit,expected", [("hold", "held"), ("reject", "rejected")])
def test_max_conversions_per_referrer_per_period(shop, config_dir, over_limit, expected):
    configure(config_dir, conversion={"min_order_amount": amount(3000)},
              limits={"max_conversions_per_referrer": 2, "period_days": 30, "over_limit": over_limit})
    for i in range(4):
        shop.referred("ann", f"f{i}")
    outcomes = [shop.paid(f"p{i}", f"f{i}", 5000, when=at(minutes=i + 1))[0]["outcome"] for i in range(3)]
    assert outcomes == ["converted", "converted", expected]
    # the next period starts 30 days after the first conversion of this one
    assert shop.paid("p3", "f3", 5000, when=at(days=31))[0]["outcome"] == "converted"
    me = shop.referrer("ann")
    assert me["converted"] == 3 and me["held"] == (1 if expected == "held" else 0)


def test_suspicious_conversions_are_held_for_review_then_approved_or_rejected(shop, config_dir):
    configure(config_dir)
    code = shop.enroll("ann", ip="198.51.100.7")["referral_code"]
    first = shop.refer(code, "b1", ip="198.51.100.7")[1]
    second = shop.refer(code, "b2", ip="198.51.100.7")[1]
    for i, who in enumerate(("b1", "b2")):
        (outcome,) = shop.paid(f"h{i}", who, 5000)
        assert outcome["outcome"] == "held" and outcome["reasons"] == ["same_ip_as_referrer"]
    status, held = shop.call("GET", "/conversions", operator=True, query={"status": "held"})
    assert status == 200 and {h["referral_id"] for h in held["held"]} == {first["id"], second["id"]}
    assert held["held"][0]["reasons"] == ["same_ip_as_referrer"] and held["held"][0]["order_amount"] == 5000
    assert shop.counters()["held"] == 2 and not [i for i in items(shop, "CODE") if i["campaign_id"] == "thanks-ten"]
    status, out = shop.call("POST", "/conversions/{referral_id}/approve", operator=True, referral_id=first["id"])
    assert status == 200 and out["status"] == "converted" and out["conversion_number"] == 1
    status, out = shop.call("POST", "/conversions/{referral_id}/reject", operator=True, referral_id=second["id"])
    assert status == 200 and out["status"] == "rejected"
    status, out = shop.call("POST", "/conversions/{referral_id}/approve", operator=True, referral_id=second["id"])
    assert status == 409 and out["error"]["code"] == "conversion_not_held"
    assert shop.call("POST", "/conversions/{referral_id}/approve", referral_id=first["id"])[0] == 403
    assert shop.call("GET", "/conversions", operator=True)[1]["held"] == []
    assert shop.release(at(days=15))["released"] == 1
    counters = shop.counters()
    assert (counters["held"], counters["conversions"], counters["rejected"], counters["rewards_paid"]) == (0, 1, 1, 1)


def test_a_refund_within_the_return_window_reverses_an_unpaid_conversion(shop, config_dir):
    configure(config_dir)
    full, _partial, late = (shop.referred("ann", r) for r in ("full", "partial", "late"))
    shop.paid("f1", "full", 5000, order_id="of")
    shop.paid("p1", "partial", 5000, order_id="op", when=at(minutes=2))
    assert shop.referrer("ann")["converted"] == 2
    assert shop.refunded("rf", "full", "of", 5000)[0]["outcome"] == "reversed"
    assert shop.refunded("rf", "full", "of", 5000)[0]["outcome"] in ("duplicate", "ignored")
    # a partial refund that leaves the order above the minimum keeps the conversion; the next one does not
    assert shop.refunded("rp1", "partial", "op", 1500)[0]["outcome"] == "partial_refund"
    assert shop.refunded("rp2", "partial", "op", 1000)[0]["outcome"] == "reversed"
    assert shop.referral(full["id"])["status"] == "reversed" and shop.referral(full["id"])["payout_status"] == \
        "cancelled"
    assert not [i for i in scan_all(shop.table) if i["pk"].startswith("REFDUE#")]
    assert shop.release(at(days=15))["released"] == 0
    me = shop.referrer("ann")
    assert (me["converted"], me["rewards_paid"]) == (0, 0)
    # after the payout, a refund no longer takes the reward back
    shop.paid("l1", "late", 5000, order_id="ol", when=at(minutes=3))
    assert shop.referrer("ann")["converted"] == 1  # the tier count went back down: this is conversion 1 again
    assert shop.release(at(days=15))["released"] == 1
    assert shop.refunded("rl", "late", "ol", 5000, when=at(days=16))[0]["outcome"] == "refund_after_payout"
    assert shop.referral(late["id"])["status"] == "converted"
    counters = shop.counters()
    assert (counters["conversions"], counters["reversed"], counters["rewards_paid"]) == (1, 2, 1)
    assert counters["revenue_EUR"] == 0  # every converting order refunded in full


def test_a_refund_whose_event_arrives_before_the_orders_payment_counts_against_it(shop, config_dir):
    configure(config_dir)
    ref = shop.referred("ann", "bob")
    paid = shop.event("pay", "order.paid", "bob", 5000, at(minutes=1), order_id="ob")
    refund = shop.event("ref", "order.refunded", "bob", 2500, at(minutes=2), order_id="ob")
    assert shop.consume(refund)[0]["outcome"] == "refund_recorded"
    assert shop.consume(paid)[0] == {"referral_id": ref["id"], "outcome": "disqualified",
                                     "reason": "order_below_minimum"}  # 50 EUR paid, 25 EUR back: below 30 EUR


def test_a_refund_of_a_held_conversion_reverses_it(shop, config_dir):
    configure(config_dir)
    code = shop.enroll("ann", device_id="d1")["referral_code"]
    ref = shop.refer(code, "bob", device_id="d1")[1]
    assert shop.paid("h", "bob", 5000, order_id="oh")[0]["outcome"] == "held"
    assert shop.refunded("rh", "bob", "oh", 5000)[0]["outcome"] == "reversed"
    assert shop.call("GET", "/conversions", operator=True)[1]["held"] == []
    assert shop.referral(ref["id"])["status"] == "reversed"


def test_a_program_switched_off_converts_nothing_but_still_reverses_on_refunds(shop, config_dir):
    configure(config_dir)
    ref, _ = shop.referred("ann", "bob"), shop.referred("ann", "cid")
    shop.paid("c", "cid", 5000, order_id="oc")
    configure(config_dir, enabled=False)
    assert shop.paid("x", "bob", 5000) == []
    assert shop.referral(ref["id"])["status"] == "pending"
    assert shop.refunded("rc", "cid", "oc", 5000)[0]["outcome"] == "reversed"


@pytest.mark.concurrency
def test_concurrent_payout_runs_pay_each_reward_once(shop, config_dir, dynamodb_faults):
    configure(config_dir, referrer_rewards=[{"from": 1, "campaign": "thanks-ten"}])
    for i in range(5):
        shop.referred(f"r{i}", f"f{i}")
        shop.paid(f"p{i}", f"f{i}", 5000)
    interrupted: list[int] = []  # runs that raised (only under injected faults) and were run again

    def release(when):
        def once():
            try:
                return shop.release(when)
            except Exception:
                interrupted.append(1)
                raise
        return retry_transient(once)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(release, [at(days=15)] * 4))
    # a payout that failed (only under injected faults) waits for its backoff: the next day's run pays it
    later = shop.release(at(days=16))["released"]
    assert len([i for i in items(shop, "CODE") if i["campaign_id"] == "thanks-ten"]) == 5
    assert len(events_of(shop, "referral.converted")) == 5 and shop.counters()["rewards_paid"] == 5
    released = sum(r["released"] for r in runs)
    if dynamodb_faults is None:
        assert (released, later, interrupted) == (5, 0, [])
    else:  # what an interrupted run released before it raised is in no answer; its rerun finds those paid
        assert released + later <= 5 and (released + later == 5 or interrupted)


def test_metrics_k_ltv_and_roi_from_the_programs_own_counters(shop, config_dir):
    configure(config_dir, referrer_rewards=[{"from": 1, "cash": amount(1000)}])
    for referrer, referees in (("ann", ["a1", "a2", "a3"]), ("bea", ["b1"])):
        for r in referees:
            shop.referred(referrer, r)
    shop.paid("pa1", "a1", 4000)
    shop.paid("pa2", "a2", 6000)
    shop.paid("pa2b", "a2", 2000, when=at(days=2))  # a converted referee's next order: revenue
    status, m = shop.call("GET", "/v1/metrics/referrals/{program_id}", operator=True)
    assert status == 200
    assert (m["referrers"], m["referrals"], m["conversions"], m["pending"]) == (2, 4, 2, 2)
    assert (m["conversion_rate"], m["invites_per_user"], m["k"]) == (0.5, 2.0, 1.0)
    assert m["rewards"]["referrer"]["cost"] == [amount(2000)] and m["rewards"]["referee"]["cost"] == [amount(6000)]
    assert m["ltv"] == {"amount": 6000, "currency": EUR, "source": "orders"}  # (4000 + 6000 + 2000) / 2
    # reward per conversion = (2 x 10 EUR to referrers + 4 x 15 EUR referee codes) / 2 = 40 EUR
    assert m["reward_per_conversion"] == amount(4000)
    assert m["roi"] == round((6000 * (1 + 1.0) - 4000) / 4000, 4)
    status, board = shop.call("GET", "/leaderboard", query={"limit": "5"})
    assert status == 200 and board["leaders"] == [{"rank": 1, "customer_id": "ann", "converted": 2}]
