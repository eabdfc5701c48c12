"""The referral repository's items <-> domain objects (adapters/referral_store.py): the layout the rest of the
table relies on (keys, gsi1 entries, which attributes a new item has) and lossless round trips."""
from __future__ import annotations

import pytest

from incentives.adapters import keys
from incentives.adapters import referral_store as items
from incentives.domain.referrals import (ConvertingOrder, DueReward, HeldConversion, Payout, Referral, ReferralCode,
                                         Referrer, Reward, reward_view)

AT = "2026-12-01T10:00:00Z"


def pending() -> Referral:
    return Referral("rfl_1", "friends", "ann", "bob", "REF-1234-5678", AT, signals=("same_ip_as_referrer",),
                    mailbox_hash="mbx", variant="b",
                    referee_reward={"code": "FRND-1", "campaign_id": "friend-welcome", "expires_at": None})


def test_a_new_referral_item_is_keyed_by_id_and_listed_under_its_referrer_by_time():
    item = items.referral_item(pending())
    assert (item["pk"], item["sk"]) == keys.referral("rfl_1")
    assert item["gsi1pk"] == keys.referrals_gsi("friends", "ann") and item["gsi1sk"] == f"{AT}#rfl_1"
    assert item == {"pk": "REFERRAL#rfl_1", "sk": "REFERRAL", "id": "rfl_1", "program_id": "friends",
                    "referrer_id": "ann", "referee_id": "bob", "referral_code": "REF-1234-5678", "status": "pending",
                    "attributed_at": AT, "signals": ["same_ip_as_referrer"], "mailbox_hash": "mbx", "variant": "b",
                    "referee_reward": {"code": "FRND-1", "campaign_id": "friend-welcome", "expires_at": None},
                    "gsi1pk": "REFERRALS#friends#ann", "gsi1sk": f"{AT}#rfl_1"}
    bare = items.referral_item(Referral("rfl_2", "friends", "ann", "bob", "REF-1", AT))
    assert "signals" not in bare and "mailbox_hash" not in bare and "payout_attempts" not in bare


def test_a_converted_referral_round_trips_with_its_order_reward_and_early_refunds():
    r = Referral("rfl_1", "friends", "ann", "bob", "REF-1", AT, status="converted", variant="b",
                 order=ConvertingOrder("o-1", 5000, "EUR", "2026-12-02T10:00:00Z", 500),
                 early_refunds={"o-1": 500}, converted_at="2026-12-02T10:00:01Z", conversion_number=2,
                 reward=Reward("gift_card", 2, campaign_id="thanks-card", value=2000, currency="EUR"),
                 payout_status="scheduled", release_at="2026-12-16T10:00:00Z", due_at="2026-12-16T10:10:00Z",
                 period_start="2026-12-02T10:00:00Z", payout_error="code_space_exhausted", payout_attempts=1)
    item = items.referral_item(r)
    assert item["order_amount"] == 5000 and item["order_at"] == "2026-12-02T10:00:00Z"
    assert item["refund#o-1"] == 500 and item["refunded_amount"] == 500
    assert item["reward"] == {"type": "gift_card", "tier_from": 2, "campaign_id": "thanks-card", "value": 2000,
                              "currency": "EUR"}
    assert items.referral_from_item(item) == r
    assert items.referral_item(items.referral_from_item(item)) == item
    assert r.early_refund("o-1") == 500 and r.early_refund("o-2") == 0 and r.early_refund(None) == 0
    assert r.payout_scheduled and not r.payout_final


@pytest.mark.parametrize("reward,view", [
    (Reward("code", 1, campaign_id="ten", value=1000, currency="EUR"),
     {"type": "code", "campaign_id": "ten", "value": {"amount": 1000, "currency": "EUR"}}),
    (Reward("code", 2, campaign_id="pct"), {"type": "code", "campaign_id": "pct"}),
    (Reward("points", 3, program_id="points", points=500), {"type": "points", "program_id": "points", "points": 500}),
    (Reward("cash", 4, value=2500, currency="EUR"), {"type": "cash", "value": {"amount": 2500, "currency": "EUR"}}),
])
def test_rewards_round_trip_and_show_their_value_as_money(reward, view):
    assert items.reward_from_map(items.reward_map(reward)) == reward
    r = Referral("rfl_1", "friends", "ann", "bob", "REF-1", AT, status="converted", reward=reward,
                 reward_code="THX-1" if reward.type == "code" else None, payout_status="paid", paid_at=AT)
    shown = reward_view(r)
    assert {k: v for k, v in shown.items() if k in view} == view and "tier_from" not in shown
    assert shown["referral_id"] == "rfl_1" and shown["payout_status"] == "paid"


def test_an_enrolled_referrer_starts_its_counts_and_version_at_zero():
    r = Referrer("friends", "ann", "REF-1", AT, email_hash="e", ip_hash=None, device_hash="d")
    item = items.referrer_item(r)
    assert (item["pk"], item["sk"]) == keys.referrer("friends", "ann")
    assert {k: item[k] for k in ("referrals", "pending", "converted", "held", "version")} == dict.fromkeys(
        ("referrals", "pending", "converted", "held", "version"), 0)
    assert "rewards_paid" not in item and "period_conversions" not in item and "ip_hash" not in item
    assert items.referrer_from_item(item) == r


def test_a_referrer_read_back_keeps_what_the_rules_do_not_read():
    """Erasure moves the record whole: counts of other statuses and the leaderboard entry survive the mapping."""
    stored = {"pk": "REFERRER#friends#ann", "sk": "REFERRER", "program_id": "friends", "customer_id": "ann",
              "referral_code": "REF-1", "created_at": AT, "referrals": 5, "pending": 1, "converted": 3, "held": 0,
              "rewards_paid": 2, "version": 7, "period_start": AT, "period_conversions": 0, "reversed": 1,
              "disqualified": 1, "gsi1pk": "LEADERBOARD#friends", "gsi1sk": "0000000003#1234567890123#ann"}
    r = items.referrer_from_item(stored)
    assert (r.converted, r.version, r.period_conversions, r.rewards_paid) == (3, 7, 0, 2)
    assert r.extra == {"reversed": 1, "disqualified": 1, "gsi1pk": "LEADERBOARD#friends",
                       "gsi1sk": "0000000003#1234567890123#ann"}
    assert items.referrer_item(r) == stored


def test_referral_code_held_due_and_payout_items():
    code = ReferralCode("friends", "REF-1", "ann", "active", AT, "e", "i", None)
    assert items.code_from_item(items.code_item(code)) == code
    assert (items.code_item(code)["pk"], items.code_item(code)["sk"]) == keys.referral_code("friends", "REF-1")

    held = HeldConversion("friends", "rfl_1", "ann", AT, ("ip_limit",), ConvertingOrder("o-1", 5000, "EUR", AT))
    item = items.held_item(held)
    assert (item["pk"], item["sk"]) == keys.referral_held("friends", "rfl_1") and "refunded_amount" not in item
    assert items.held_from_item("friends", item) == held
    assert held.view() == {"referral_id": "rfl_1", "referrer_id": "ann", "held_at": AT, "reasons": ["ip_limit"],
                           "order_id": "o-1", "order_amount": 5000, "currency": "EUR"}

    due = DueReward("friends", "rfl_1", "2026-12-16T10:00:00Z", "2026-12-16T10:00:00Z")
    assert items.due_item(due) == {"pk": "REFDUE#friends", "sk": "2026-12-16T10:00:00Z#rfl_1", "referral_id": "rfl_1",
                                   "program_id": "friends", "release_at": "2026-12-16T10:00:00Z"}
    moved = DueReward("friends", "rfl_1", "2026-12-16T10:00:00Z", "2026-12-16T10:20:00Z", 2, "condition_failed",
                      "2026-12-16T10:00:00Z", "2026-12-16T10:20:00Z", False)
    assert items.due_item(moved)["sk"] == "2026-12-16T10:20:00Z#rfl_1"  # the job finds it at its retry time
    assert items.due_from_item(items.due_item(moved)) == moved

    owed = Payout("rfl_1", "rfl_1", "friends", "ann", 2500, "EUR", "owed", AT)
    item = items.payout_item(owed)
    assert item["gsi1pk"] == keys.payouts_gsi("friends", "owed") and item["gsi1sk"] == f"{AT}#rfl_1"
    assert items.payout_from_item(item) == owed
    paid = items.payout_from_item({**item, "status": "paid", "paid_at": AT, "reference": ""})
    assert paid.view()["reference"] == ""  # the ledger shows what the operator gave (nothing: empty)
