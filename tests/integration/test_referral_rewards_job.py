"""The referral-rewards job against DynamoDB Local when payouts fail: a failing reward never holds up the ones after
it, it is retried with backoff and parked, an exhausted code space is recorded and the run goes on, and a refund
still finds a due reward that a failure moved."""
from __future__ import annotations

from datetime import timedelta

import pytest

from incentives.adapters.codespace_store import space_key
from incentives.services import referral_conversions
from incentives.services.code_issuer import space_for
from tests.integration.referral_support import Shop, at, program, write_config
from tests.support import scan_all


@pytest.fixture
def shop(handlers, table):
    return Shop(handlers, table)


def due_items(shop) -> list[dict]:
    return [i for i in scan_all(shop.table) if i["pk"].startswith("REFDUE#")]


def exhaust(shop, source, campaign_id: str, used: bool = True) -> None:
    """Every code of the campaign's code space handed out (used=False: none, as after widening the space)."""
    space = space_for(source.bundle().campaign(campaign_id))
    pk, sk = space_key(space)
    shop.table.put({"pk": pk, "sk": sk, "key": "00" * 16, "pattern": space.pattern,
                    "next_counter": space.size if used else 0})


def test_an_exhausted_code_space_is_recorded_retried_with_backoff_parked_and_the_others_are_paid(shop, config_dir):
    source = write_config(config_dir, program())
    refs = [shop.referred("ann", f"f{i}") for i in range(4)]  # tiers: a code, a gift card, points, cash
    for i in range(4):
        shop.paid(f"p{i}", f"f{i}", 5000)
    exhaust(shop, source, "thanks-ten")
    t = at(days=15)
    out = shop.release(t)
    assert out["released"] == 3 and out["skipped"] == [refs[0]["id"]] and out["parked"] == []
    assert out["failures"] == {"code_space_exhausted": 1}
    failed = shop.referral(refs[0]["id"])
    assert (failed["status"], failed["payout_status"]) == ("converted", "scheduled")
    assert (failed["payout_error"], failed["payout_attempts"]) == ("code_space_exhausted", 1)
    assert "reward_code" not in failed
    (due,) = due_items(shop)
    assert (due["attempts"], due["last_error"], due["parked"]) == (1, "code_space_exhausted", False)
    # backoff: 10 minutes, then 20, 40, 80, 160; the sixth failure parks it (retried once a day)
    assert shop.release(t + timedelta(minutes=9))["skipped"] == []  # not due again yet
    for attempt, wait in enumerate((10, 20, 40, 80, 160), start=2):
        t += timedelta(minutes=wait)
        out = shop.release(t)
        assert out["skipped"] == [refs[0]["id"]], attempt
        assert out["parked"] == ([refs[0]["id"]] if attempt == 6 else [])
    assert shop.release(t + timedelta(hours=23))["skipped"] == []
    t += timedelta(days=1)
    assert shop.release(t)["parked"] == [refs[0]["id"]]  # still failing: parked again, retried tomorrow
    assert shop.referral(refs[0]["id"])["payout_attempts"] == 7
    exhaust(shop, source, "thanks-ten", used=False)  # the operator widened the code space
    t += timedelta(days=1)
    out = shop.release(t)
    assert out["released"] == 1 and out["skipped"] == []
    paid = shop.referral(refs[0]["id"])
    assert paid["payout_status"] == "paid" and paid["reward_code"].startswith("THX-")
    assert due_items(shop) == [] and shop.counters()["rewards_paid"] == 4


def test_failing_payouts_never_hold_up_the_due_rewards_after_them(shop, config_dir, monkeypatch):
    monkeypatch.setattr(referral_conversions, "RELEASE_BATCH", 2)  # the failures fill more than a whole page
    write_config(config_dir, program(referrer_rewards=[{"from": 1, "campaign": "thanks-ten"}]))
    early = [shop.referred(f"early{i}", f"fe{i}") for i in range(3)]
    for i in range(3):
        shop.paid(f"pe{i}", f"fe{i}", 5000, when=at(minutes=1))
    # the operator moves the tier to another campaign and removes the old one: the earlier rewards name it
    write_config(config_dir, program(referrer_rewards=[{"from": 1, "campaign": "thanks-card"}]))
    (config_dir.path / "campaigns" / "thanks-ten.yaml").unlink()
    late = [shop.referred(f"late{i}", f"fl{i}") for i in range(2)]
    for i in range(2):
        shop.paid(f"pl{i}", f"fl{i}", 5000, when=at(minutes=5))
    out = shop.release(at(days=15))
    assert out["released"] == 2  # the later rewards are paid although three failing ones are due before them
    assert sorted(out["skipped"]) == sorted(r["id"] for r in early)
    assert out["failures"] == {"campaign_not_found": 3}
    assert {shop.referral(r["id"])["payout_status"] for r in late} == {"paid"}
    assert {shop.referral(r["id"])["payout_error"] for r in early} == {"campaign_not_found"}


def test_a_refund_in_the_window_still_reverses_a_reward_whose_payout_failed(shop, config_dir):
    source = write_config(config_dir, program(referrer_rewards=[{"from": 1, "campaign": "thanks-ten"}]))
    ref = shop.referred("ann", "bob")
    shop.paid("pb", "bob", 5000, order_id="ob")
    exhaust(shop, source, "thanks-ten")
    assert shop.release(at(days=15))["skipped"] == [ref["id"]]  # its due item moved behind the others
    # the refund happened inside the return window; its event arrives only now
    assert shop.refunded("rb", "bob", "ob", 5000, when=at(days=13))[0]["outcome"] == "reversed"
    assert shop.referral(ref["id"])["payout_status"] == "cancelled" and due_items(shop) == []
    assert shop.release(at(days=16))["released"] == 0
