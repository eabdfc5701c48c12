"""A/B variants of a referral program against DynamoDB Local through the real handlers: a referral follows its
referrer's variant and gets that variant's rewards, and the program's metrics give each variant's referrals,
conversions, conversion rate and rewards cost (a reversed conversion subtracted) with the z-test."""
from __future__ import annotations

import pytest

from incentives.domain import variants as ab
from tests.integration.referral_support import Shop, amount, program, write_config
from tests.integration.test_openapi_responses import check as declared

ARMS = [{"id": "control", "weight": 1},
        {"id": "cash", "weight": 1, "referee_reward": {"campaign": "thanks-ten"},
         "referrer_rewards": [{"from": 1, "cash": amount(2500)}]}]


class Arm:
    def __init__(self, d: dict):
        self.id, self.weight = d["id"], d["weight"]


def arm_of(referrer_id: str) -> str:
    return ab.assign("friends", ab.subject_for_id(referrer_id), [Arm(a) for a in ARMS])


@pytest.fixture
def shop(handlers, table, config_dir):
    write_config(config_dir, program(variants=ARMS, referrer_rewards=[{"from": 1, "cash": amount(1000)}]))
    return Shop(handlers, table)


def referrers(n_each: int) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {"control": [], "cash": []}
    i = 0
    while min(len(v) for v in out.values()) < n_each:
        rid = f"r{i}"
        i += 1
        if len(out[arm_of(rid)]) < n_each:
            out[arm_of(rid)].append(rid)
    return out


def test_a_referral_follows_its_referrers_variant_and_gets_its_rewards(shop):
    by_arm = referrers(1)
    for arm, (rid,) in by_arm.items():
        ref = shop.referred(rid, f"friend-of-{rid}")
        declared("POST", "/v1/referral-programs/{program_id}/referrals", 201, ref, {})
        assert ref["variant"] == arm
        assert ref["referee_reward"]["campaign_id"] == ("thanks-ten" if arm == "cash" else "friend-welcome")
        assert shop.referral(ref["id"])["variant"] == arm
        (outcome,) = shop.paid(f"pay-{rid}", f"friend-of-{rid}", 5000)
        assert outcome["outcome"] == "converted"
        reward = shop.referral(ref["id"])["reward"]
        assert (reward["type"], reward["value"]) == ("cash", 2500 if arm == "cash" else 1000)
        assert shop.referrer(rid)["tier"]["reward"]["value"] == (2500 if arm == "cash" else 1000)


def test_referral_metrics_per_variant_with_a_reversed_conversion(shop):
    by_arm = referrers(2)
    refs = {}
    for arm, rids in by_arm.items():  # two referrers per arm, two referees each: 4 referrals per arm
        for rid in rids:
            for k in range(2):
                refs[(arm, rid, k)] = shop.referred(rid, f"{rid}-f{k}")
    # control: 3 of its 4 referees convert, then one refunds in full within the window -> 2; cash: 1 of 4
    converting = [key for key in refs if key[0] == "control"][:3] + [key for key in refs if key[0] == "cash"][:1]
    for _, rid, k in converting:
        (outcome,) = shop.paid(f"pay-{rid}-{k}", f"{rid}-f{k}", 5000, order_id=f"o-{rid}-{k}")
        assert outcome["outcome"] == "converted", outcome
    _, rid, k = converting[0]
    (outcome,) = shop.refunded(f"refund-{rid}-{k}", f"{rid}-f{k}", f"o-{rid}-{k}", 5000)
    assert outcome["outcome"] == "reversed"
    status, m = shop.call("GET", "/v1/metrics/referrals/{program_id}", operator=True)
    assert status == 200
    declared("GET", "/v1/metrics/referrals/{program_id}", status, m, {})
    # rewards cost: each referral's referee code at face value (friend-welcome 15 EUR, thanks-ten 10 EUR) plus
    # each standing conversion's referrer reward (control 10 EUR, cash 25 EUR)
    assert m["variants"] == [
        {"id": "control", "weight": 1, "referrals": 4, "converted": 2, "conversion_rate": 0.5,
         "rewards_cost": [amount(4 * 1500 + 2 * 1000)]},
        {"id": "cash", "weight": 1, "referrals": 4, "converted": 1, "conversion_rate": 0.25,
         "rewards_cost": [amount(4 * 1000 + 1 * 2500)]}]
    # 2/4 against 1/4: pooled 3/8, se = sqrt(0.375 * 0.625 * (1/4 + 1/4)) = 0.3423266, z = 0.25 / 0.3423266
    # = 0.7302967, p = 2 * (1 - Phi(0.7302967)) = 0.4652088
    assert m["comparison"]["metric"] == "conversion_rate"
    assert m["comparison"]["p_value"] == pytest.approx(0.4652088, abs=1e-6)
    assert m["comparison"]["significant"] is False
    assert (m["referrals"], m["conversions"]) == (8, 3)
