"""Loyalty against DynamoDB Local through the real functions: earning (once per event, caps, multipliers), the
lots a spend draws from, rewards under concurrency, refunds, milestones, adjustments, the ledger and erasure."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest

from incentives.adapters import keys
from tests.integration.loyalty_support import PROGRAM_ID, UTC, days, make_loyalty
from tests.support import STOREFRONT_KEY_ID, retry_503, retry_transient, scan_all


@pytest.fixture
def loyalty(handlers, table, config_dir):
    return make_loyalty(handlers, table, config_dir)


def test_members_join_on_their_first_earning_event_and_the_view_follows_the_contract(loyalty):
    assert loyalty.call("GET", "c1")[0] == 404  # not a member yet
    out = loyalty.send("customer.created", "c1")
    assert out["programs"][0]["status"] == "joined" and out["programs"][0]["points"] == 100
    loyalty.points("c1", 12_345)  # 123 points, pending for 14 days
    view = loyalty.view("c1")
    assert view["points"] == {"balance": 100, "pending": 123, "expiring": []}
    assert (view["tier"], view["lifetime_points"], view["tier_points"]) == ("silver", 223, 223)
    assert loyalty.send("customer.updated", "c1")["programs"] == []  # no rule: nothing, no error
    status, body, _ = loyalty.handlers.call("loyalty", "GET", "/v1/loyalty-programs/{program_id}/members/{customer_id}",
                                            {"program_id": "nope", "customer_id": "c1"})
    assert (status, body["error"]["code"]) == (404, "loyalty_program_not_found")
    status, body, _ = loyalty.handlers.call("loyalty", "GET", "/v1/loyalty-programs/{program_id}",
                                            {"program_id": PROGRAM_ID})
    assert status == 200 and body["rewards"] == [{"id": "five-off", "points": 500, "campaign_id": "club-5off"}]


@pytest.mark.concurrency
def test_a_repeated_and_a_concurrent_duplicate_event_earn_once(loyalty):
    detail = loyalty.detail("review.submitted", "c2", event_id="rev-1")
    assert loyalty.deliver(detail)["programs"][0]["points"] == 50
    assert loyalty.deliver(detail)["programs"][0]["status"] == "duplicate"
    # eight copies of one new event at the same moment, on eight "Lambda instances"
    order = loyalty.detail("order.paid", "c2", order={"id": "o-42", "amount": 10_000}, event_id="paid-42")
    with ThreadPoolExecutor(8) as pool:
        outcomes = [o["programs"][0] for o in pool.map(lambda d: retry_transient(lambda: loyalty.deliver(d)),
                                                         [order] * 8)]
    assert sorted(o["points"] for o in outcomes) == [0] * 7 + [100]
    # the same order again under another event id earns nothing either
    again = loyalty.detail("order.paid", "c2", order={"id": "o-42", "amount": 10_000}, event_id="paid-42-again")
    assert loyalty.deliver(again)["programs"][0]["status"] == "order_earned_before"
    earned = [e for e in loyalty.ledger("c2") if e["type"] == "earn"]
    assert sorted(e["points"] for e in earned) == [50, 100]
    assert sorted(lot["points"] for lot in loyalty.lots("c2")) == [50, 100]
    assert loyalty.lots_total("c2") == 150 and loyalty.member("c2")["lifetime_points"] == 150


def test_caps_per_rule_and_period_in_the_programs_zone(loyalty):
    day1 = datetime(2026, 6, 1, 9, tzinfo=UTC)
    got = [loyalty.send("review.submitted", "c3", occurred_at=at)["programs"] for at in
           (day1, day1 + days(0.1), day1 + days(0.6), day1 + days(2))]
    # 1 June: once a day; 1 June 23:24 UTC is 2 June in Berlin: the second of the month; 3 June: the month's cap
    assert [p[0]["points"] if p else None for p in got] == [50, 0, 50, 0]
    assert got[1][0]["status"] == got[3][0]["status"] == "capped"
    assert loyalty.member("c3")["caps"] == {"1:D:2026-06-01": 1, "1:D:2026-06-02": 1, "1:M:2026-06": 2}


def test_lots_are_spent_earliest_expiring_first(loyalty):
    loyalty.configure(pending_days=0)
    now = datetime.now(UTC)
    for age in (100, 300, 200):  # arrival order differs from expiry order
        loyalty.points("c4", 40_000, occurred_at=now - days(age))  # 400 points each
    loyalty.adjust("c4", 300, "late delivery", expires_on=(now + days(10)).date().isoformat())
    status, body, _ = loyalty.redeem("c4")
    assert status == 201 and body["points_spent"] == 500 and body["balance"] == 1000
    by_expiry = [(lot["source"], lot["remaining"]) for lot in loyalty.lots("c4")]
    # the adjustment expires in 10 days, then the lot earned 300 days ago: 300 + 200 of it
    assert by_expiry == [("adjustment", 0), ("order.paid", 200), ("order.paid", 400), ("order.paid", 400)]
    (spend,) = [e for e in loyalty.ledger("c4") if e["type"] == "reward"]
    assert [x["points"] for x in spend["lots"]] == [300, 200] and spend["points"] == -500
    assert loyalty.lots_total("c4") == 1000


@pytest.mark.concurrency(faults_in_suite=True)
def test_ten_concurrent_redemptions_with_points_for_two_give_exactly_two(loyalty):
    loyalty.adjust("c5", 1_000, "points for two rewards")
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda _: retry_503(lambda: loyalty.redeem("c5")), range(10)))
    statuses = sorted(a[0] for a in answers)
    assert statuses == [201, 201] + [409] * 8, [a[1] for a in answers]
    assert {a[1]["error"]["code"] for a in answers if a[0] == 409} == {"insufficient_points"}
    codes = [a[1]["reward"]["code"] for a in answers if a[0] == 201]
    assert len(set(codes)) == 2
    for code in codes:
        item = loyalty.table.get(*keys.code(code), consistent=True)
        assert item["holder"] == "id:c5" and item["campaign_id"] == "club-5off"
    assert loyalty.view("c5")["points"]["balance"] == 0 and loyalty.lots_total("c5") == 0
    assert all(lot["remaining"] >= 0 for lot in loyalty.lots("c5"))
    assert len([e for e in loyalty.ledger("c5") if e["type"] == "reward"]) == 2
    # the code works at checkout, for this customer
    status, body, _ = loyalty.handlers.call("storefront", "POST", "/v1/validations", body={
        "code": codes[0], "customer": {"id": "c5"}, "order": {"currency": "EUR", "amount": 3000}})
    assert status == 200 and body["valid"] is True and body["discount"]["amount"] == 500


def test_a_reward_honours_the_idempotency_key_and_its_errors(loyalty):
    loyalty.adjust("c6", 700, "welcome back")
    first = loyalty.redeem("c6", key="k-1")
    again = loyalty.redeem("c6", key="k-1")
    assert first[0] == again[0] == 201 and first[1] == again[1] and again[2].get("Idempotent-Replayed") == "true"
    assert loyalty.view("c6")["points"]["balance"] == 200
    status, body, _ = loyalty.redeem("c6", key="k-2")
    assert (status, body["error"]["code"], body["error"]["details"]["balance"]) == (409, "insufficient_points", 200)
    assert loyalty.redeem("c6", reward_id="yacht")[1]["error"]["code"] == "reward_not_found"
    assert loyalty.redeem("nobody")[0] == 404


def test_refund_takes_back_pending_points_first_and_partial_refunds_in_proportion(loyalty):
    loyalty.points("c7", 20_000, order_id="o-7")  # 200 points, pending
    assert loyalty.view("c7")["points"]["pending"] == 200
    out = loyalty.send("order.refunded", "c7", order={"id": "o-7", "amount": 5_000})  # a quarter
    assert out["programs"][0]["points"] == -50
    assert loyalty.view("c7")["points"] == {"balance": 0, "pending": 150, "expiring": []}
    loyalty.send("order.refunded", "c7", order={"id": "o-7", "amount": 15_000})  # the rest
    assert loyalty.view("c7")["points"]["pending"] == 0 and loyalty.member("c7")["lifetime_points"] == 0
    refunds = [e["points"] for e in loyalty.ledger("c7") if e["type"] == "refund"]
    assert sorted(refunds) == [-150, -50]


def test_refund_of_spent_points_records_a_shortfall_or_a_debt_when_allowed(loyalty):
    loyalty.configure(pending_days=0)
    loyalty.points("c8", 60_000, order_id="o-8")  # 600 points, spendable at once
    loyalty.send("review.submitted", "c8")  # 50 more
    assert loyalty.redeem("c8")[0] == 201  # 500 spent: 100 of the order's lot and 50 of the review lot left
    out = loyalty.send("order.refunded", "c8", order={"id": "o-8", "amount": 60_000})["programs"][0]
    assert (out["points"], out["taken"], out["shortfall"], out["debt"]) == (-600, 150, 450, 0)
    assert loyalty.view("c8")["points"]["balance"] == 0 and loyalty.member("c8")["shortfall"] == 450

    loyalty.configure(pending_days=0, allow_negative_balance=True)
    loyalty.points("c9", 60_000, order_id="o-9")
    assert loyalty.redeem("c9")[0] == 201
    out = loyalty.send("order.refunded", "c9", order={"id": "o-9", "amount": 60_000})["programs"][0]
    assert (out["taken"], out["debt"]) == (100, 500)
    assert loyalty.view("c9")["points"]["balance"] == -500
    assert loyalty.redeem("c9")[1]["error"]["code"] == "insufficient_points"
    loyalty.points("c9", 70_000)  # 700 earned: 500 pay the debt, a lot of 200 remains
    assert loyalty.view("c9")["points"]["balance"] == 200 and loyalty.member("c9")["debt"] == 0


def test_an_order_refunded_before_its_payment_arrives_earns_only_the_rest(loyalty):
    loyalty.send("order.refunded", "c10", order={"id": "o-10", "amount": 4_000})
    out = loyalty.points("c10", 10_000, order_id="o-10")
    assert out["programs"][0]["points"] == 60


def test_tier_upgrade_at_once_and_the_multiplier_floors(loyalty):
    loyalty.points("c11", 99_900)  # 999: silver
    assert loyalty.view("c11")["tier"] == "silver"
    out = loyalty.send("review.submitted", "c11")["programs"][0]  # 1049 in the window: gold now
    assert out["tier"] == "gold"
    assert loyalty.points("c11", 1_099)["programs"][0]["points"] == 15  # floor(10 * 1.5)
    (changed,) = loyalty.engine_events("loyalty.tier_changed")
    assert changed["data"] == {"program_id": PROGRAM_ID, "from": "silver", "to": "gold", "direction": "up"}
    assert changed["customer_id"] == "c11"


@pytest.mark.concurrency
def test_a_milestone_is_granted_once_also_when_crossed_again_or_concurrently(loyalty):
    loyalty.points("c12", 150_000, order_id="o-12a")  # 1500
    with ThreadPoolExecutor(2) as pool:  # two orders cross 2000 at the same moment: one of them crosses it
        list(pool.map(lambda oid: retry_transient(lambda: loyalty.points("c12", 30_000, order_id=oid)),
                      ["o-12b", "o-12c"]))
    milestones = [e for e in loyalty.ledger("c12") if e["type"] == "milestone"]
    assert len(milestones) == 1 and milestones[0]["threshold"] == 2000
    code = loyalty.table.get(*keys.code(milestones[0]["code"]), consistent=True)
    assert code["holder"] == "id:c12" and code["campaign_id"] == "club-5off"
    loyalty.send("order.refunded", "c12", order={"id": "o-12a", "amount": 150_000})  # back below 2000
    loyalty.points("c12", 200_000)  # and above again
    assert len([e for e in loyalty.ledger("c12") if e["type"] == "milestone"]) == 1
    assert len(loyalty.engine_events("loyalty.milestone_reached")) == 1


def test_a_disabled_program_earns_nothing_and_refuses_spends(loyalty):
    loyalty.adjust("c13", 800, "before the switch")
    loyalty.configure(enabled=False)
    assert loyalty.send("review.submitted", "c13")["programs"] == []
    status, body, _ = loyalty.redeem("c13")
    assert (status, body["error"]["code"]) == (422, "loyalty_program_inactive")
    assert loyalty.view("c13")["points"]["balance"] == 800


def test_referral_conversions_earn_by_rule_and_reward_points_exactly(loyalty):
    loyalty.points("c14", 100_000)
    loyalty.send("review.submitted", "c14")  # gold: 1050
    conv = loyalty.send("referral.converted", "c14", data={"program_id": "friends", "referral_id": "r1",
                                                            "referee_id": "c99"})
    assert conv["programs"][0]["points"] == 300  # the rule's 200, times gold's 1.5
    reward = loyalty.detail("referral.reward_points", "c14", data={
        "program_id": PROGRAM_ID, "points": 1000, "reward_id": "rw-1", "referral_program_id": "friends"})
    assert loyalty.deliver(reward)["programs"][0]["points"] == 1000  # exactly, no multiplier
    assert loyalty.deliver(reward)["programs"][0]["status"] == "duplicate"
    other = loyalty.send("referral.reward_points", "c14", data={"program_id": "another", "points": 5})
    assert other["programs"] == []
    (entry,) = [e for e in loyalty.ledger("c14") if e.get("source") == "referral.reward_points"]
    assert (entry["reward_id"], entry["referral_program_id"]) == ("rw-1", "friends")


def test_operator_adjustments_need_the_operator_key_a_reason_and_cannot_go_below_zero(loyalty):
    assert loyalty.adjust("c15", 100, key_id=STOREFRONT_KEY_ID)[0] == 403
    status, body, _ = loyalty.adjust("c15", 100, reason="")
    assert status == 422 and body["error"]["code"] == "invalid_request"
    assert loyalty.adjust("c15", 300, "support ticket 17")[0] == 201  # joins the program
    status, body, _ = loyalty.adjust("c15", -301, "typo")
    assert (status, body["error"]["code"]) == (409, "insufficient_points")
    status, body, _ = loyalty.adjust("c15", -100, "typo")
    assert status == 201 and body["balance"] == 200 and body["transaction"]["reason"] == "typo"
    assert loyalty.member("c15")["lifetime_points"] == 0  # adjustments move the balance only


def test_the_ledger_pages_newest_first(loyalty):
    for i in range(5):
        loyalty.adjust("c16", i + 1, f"entry {i}")
    status, page, _ = loyalty._call_with_query("GET", "/v1/loyalty-programs/{program_id}/members/{customer_id}"
                                               "/transactions", {"program_id": PROGRAM_ID, "customer_id": "c16"},
                                               {"limit": "2"}, {})
    assert status == 200 and [e["points"] for e in page["transactions"]] == [5, 4] and page["next_cursor"]
    seen = [5, 4]
    while page["next_cursor"]:
        status, page, _ = loyalty._call_with_query(
            "GET", "/v1/loyalty-programs/{program_id}/members/{customer_id}/transactions",
            {"program_id": PROGRAM_ID, "customer_id": "c16"}, {"limit": "2", "cursor": page["next_cursor"]}, {})
        seen += [e["points"] for e in page["transactions"]]
    assert seen == [5, 4, 3, 2, 1]


def test_erasure_moves_the_member_to_the_anonymised_id_and_keeps_the_ledger(loyalty):
    loyalty.points("c17", 150_000)
    loyalty.adjust("c17", 1_000, "goodwill")
    assert loyalty.redeem("c17")[0] == 201
    member_id = loyalty.member("c17")["member_id"]
    ledger_before = loyalty.ledger("c17")
    status, body, _ = loyalty.handlers.call("operators", "DELETE", "/v1/customers/{customer_id}",
                                            {"customer_id": "c17"}, key_id="key-operator")
    assert status == 200 and body["erased"]["loyalty"] == 1
    assert loyalty.member("c17") is None and loyalty.call("GET", "c17")[0] == 404
    items = scan_all(loyalty.table)
    assert not [i for i in items if "c17" in str(i)]  # not in the member, balance, events or codes
    (moved,) = [i for i in items if i.get("member_id") == member_id and i["sk"] == "MEMBER"]
    assert moved["customer_id"].startswith("anon_") and moved["lifetime_points"] == 1500
    entries = [i for i in items if i["pk"] == keys.loyalty_ledger(member_id) and i["sk"].startswith("TX#")]
    assert len(entries) == len(ledger_before)
    assert loyalty.table.get(*keys.loyalty_balance(member_id), consistent=True)["lots_total"] == 2000


@pytest.mark.stream
def test_events_posted_to_the_api_reach_the_loyalty_consumer_through_the_stream(loyalty, fan_out):
    def post(body: dict) -> None:
        assert loyalty.handlers.call("events", "POST", "/v1/events", body=body)[0] == 202

    post({"id": "e2e-1", "type": "customer.created", "occurred_at": "2026-11-20T10:00:00Z",
          "customer": {"id": "c18", "email": "c18@example.com"}})
    post({"id": "e2e-2", "type": "order.paid", "occurred_at": "2026-11-21T10:00:00Z", "customer": {"id": "c18"},
          "order": {"id": "o-18", "currency": "EUR", "amount": 25_000}})
    fan_out()
    fan_out()  # a second drain: the stream may hold the member's own outbox events by now
    view = loyalty.view("c18")
    assert (view["points"]["balance"], view["points"]["pending"], view["lifetime_points"]) == (100, 250, 350)
