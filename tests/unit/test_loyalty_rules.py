"""The pure loyalty rules (domain/loyalty.py): end of day in the program's zone, earning with caps and tier
multipliers, which lots a spend or a refund draws from, partial refunds, tier review moments, debts."""
from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, UTC
from decimal import Decimal

import pytest

from incentives.domain import loyalty as L
from incentives.domain.programs import LoyaltyProgram
from incentives.domain.schema import parse

UTC = UTC


def program(**overrides) -> LoyaltyProgram:
    base = {"id": "rewards", "timezone": "Europe/Berlin",
            "earning": [{"event": "order.paid", "points_per_unit": 1,
                         "unit_amount": {"amount": 100, "currency": "EUR"}},
                        {"event": "review.submitted", "points": 50, "max_per_day": 1, "max_per_month": 2}],
            "pending_days": 14, "expiry": {"after_days": 365}, "expiry_warning_days": 7, "tier_window_days": 30,
            "tiers": [{"id": "silver", "min_points": 0}, {"id": "gold", "min_points": 1000, "multiplier": 1.5}],
            "rewards": [{"id": "five-off", "points": 500, "campaign": "loyalty-5off"}],
            "milestones": [{"points": 1000, "reward": "five-off"}, {"points": 5000}]}
    base.update(overrides)
    return parse(LoyaltyProgram, base)


@pytest.mark.parametrize("day,expected", [
    (date(2026, 1, 15), "2026-01-15T22:59:59Z"),  # CET, UTC+1
    (date(2026, 7, 15), "2026-07-15T21:59:59Z"),  # CEST, UTC+2
    (date(2026, 3, 29), "2026-03-29T21:59:59Z"),  # the day clocks go forward: it ends in summer time
    (date(2026, 10, 25), "2026-10-25T22:59:59Z"),  # the day clocks go back
])
def test_a_day_ends_at_midnight_in_the_programs_zone_not_utc(day, expected):
    from incentives.domain.clock import iso

    assert iso(L.end_of_day(day, "Europe/Berlin")) == expected
    assert iso(L.end_of_day(day, "UTC")) == f"{day.isoformat()}T23:59:59Z"


def test_a_lot_expires_at_the_end_of_the_local_day_after_days_later_never_before_today():
    from incentives.domain.clock import iso

    p = program()
    earned = datetime(2026, 1, 10, 23, 30, tzinfo=UTC)  # already 11 January in Berlin
    assert iso(L.lot_expiry(p, earned, earned)) == "2027-01-11T22:59:59Z"
    late = datetime(2024, 1, 1, tzinfo=UTC)  # an event that arrives years late still lasts until tonight
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    assert iso(L.lot_expiry(p, late, now)) == "2026-06-01T21:59:59Z"


def test_order_points_floor_per_unit_and_tier_multiplier_floors_the_result():
    p = program()
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    e = L.earn(p, "order.paid", 12_345, "EUR", now, {}, Decimal("1.5"), now.date())
    assert (e.base, e.points) == (123, 184)  # floor(12345 / 100) = 123; floor(123 * 1.5) = 184
    assert L.earn(p, "order.paid", 12_345, "USD", now, {}, Decimal(1), now.date()).points == 0


def test_caps_count_per_rule_and_local_day_and_month():
    p = program()
    caps: dict = {}
    earned = []
    for day, hour in [(1, 10), (1, 11), (2, 22), (3, 9)]:
        at = datetime(2026, 6, day, hour, tzinfo=UTC)
        e = L.earn(p, "review.submitted", None, None, at, caps, Decimal(1), at.date())
        caps = e.caps
        earned.append(e.points)
    # day 1: one per day; 2 June 22:00 UTC is 3 June in Berlin: the second of the month; 3 June: month cap
    assert earned == [50, 0, 50, 0]
    assert caps == {"1:D:2026-06-01": 1, "1:M:2026-06": 2, "1:D:2026-06-03": 1}


def lot(lot_id: str, remaining: int, expires_at: str, available_at: str) -> L.PointLot:
    return L.PointLot(lot_id, "m1", "rewards", remaining, remaining, "2026-01-01T00:00:00Z", expires_at, available_at,
                      "order.paid")


def test_spends_take_the_earliest_expiring_spendable_lots_first():
    now = "2026-06-01T10:00:00Z"
    lots = [lot("c", 300, "2026-09-01T21:59:59Z", now),
            lot("a", 100, "2026-07-01T21:59:59Z", now),
            lot("p", 500, "2026-06-20T21:59:59Z", "2026-06-10T00:00:00Z"),  # pending: not spendable yet
            lot("x", 900, "2026-05-31T21:59:59Z", now)]
    plan = L.plan_spend(lots, 250, now)
    assert [(lot.lot_id, take) for lot, take in plan] == [("a", 100), ("c", 150)]
    assert L.plan_spend(lots, 401, now) is None
    plan = L.plan_spend(lots, 600, now, include_pending=True)
    assert [(lot.lot_id, take) for lot, take in plan] == [("a", 100), ("c", 300), ("p", 200)]


def test_a_refund_takes_the_orders_own_lot_first_then_others_then_debt_or_shortfall():
    now = "2026-06-01T10:00:00Z"
    lots = [lot("own", 200, "2027-06-01T21:59:59Z", now), lot("old", 100, "2026-12-01T21:59:59Z", now)]
    c = L.plan_clawback(lots, "own", 500, now, allow_negative=False)
    assert [(lot.lot_id, t) for lot, t in c.takes] == [("own", 200), ("old", 100)]
    assert (c.taken, c.debt, c.shortfall) == (300, 0, 200)
    assert L.plan_clawback(lots, "own", 500, now, allow_negative=True).debt == 200


def test_partial_refunds_add_up_to_exactly_the_orders_points():
    points, amount = 101, 10_000
    reversed_, refunded, steps = 0, 0, []
    for refund in (3_333, 3_333, 3_334):
        take, refunded = L.reversal(points, amount, refunded, refund, reversed_)
        reversed_ += take
        steps.append(take)
    assert sum(steps) == 101 and refunded == amount
    assert L.reversal(points, amount, amount, 100, 101) == (0, amount)  # more refunds than the order: nothing more


def test_the_tier_review_is_when_the_day_carrying_the_minimum_leaves_the_window():
    from incentives.domain.clock import iso

    p = program()  # window 30 days, gold from 1000
    now = datetime(2026, 6, 20, 12, tzinfo=UTC)
    window = {"2026-06-01": 600, "2026-06-10": 500, "2026-06-15": 100}
    gold = L.tier_by_id(p, "gold")
    # newest first: 100 + 500 < 1000, + 600 reaches it on 1 June: 1 June leaves the window on 1 July (Berlin)
    assert iso(L.review_at(p, gold, window, now)) == "2026-06-30T22:00:00Z"
    assert L.review_at(p, L.tier_by_id(p, "silver"), window, now) is None  # nothing to lose
    assert L.review_at(p, gold, {"2026-06-10": 10}, now) == now  # below already: review now


def test_credit_pays_a_debt_first_upgrades_at_once_and_grants_milestones_once():
    p = program()
    now = datetime(2026, 6, 1, 12, tzinfo=UTC)
    c = L.credit(p, L.MemberState(debt=300, lifetime_points=900, milestones=[], tier="silver"), 1200, now, now,
                 earned=True)
    assert (c.lot_points, c.debt_paid, c.state.debt) == (900, 300, 0)
    assert c.tier_after.id == "gold" and c.upgraded
    assert [m.points for m in c.milestones] == [1000] and c.state.milestones == [1000]
    again = L.credit(p, replace(c.state, lifetime_points=900), 200, now, now, earned=True)  # crossed again
    assert again.milestones == []
    adjusted = L.credit(p, L.MemberState(lifetime_points=0, tier="silver"), 5000, now, now, earned=False)
    assert adjusted.state.lifetime_points == 0 and adjusted.tier_after.id == "silver" and not adjusted.milestones


def test_the_member_view_splits_spendable_pending_and_expiring_soon():
    p = program()
    now = datetime(2026, 6, 1, 10, tzinfo=UTC)
    lots = [lot("a", 100, "2026-06-10T21:59:59Z", "2026-05-01T00:00:00Z"),
            lot("b", 40, "2026-06-10T21:59:59Z", "2026-06-05T00:00:00Z"),
            lot("c", 7, "2027-06-10T21:59:59Z", "2026-05-01T00:00:00Z")]
    assert L.summary(p, lots, 0, now) == {"balance": 107, "pending": 40,
                                         "expiring": [{"points": 140, "expires_at": "2026-06-10T21:59:59Z"}]}
    assert L.summary(p, lots, 200, now)["balance"] == -93


def test_a_reward_needs_a_campaign_of_unique_codes(tmp_path):
    import shutil

    import yaml

    from incentives.domain.config_files import load_config_dir
    from incentives.domain.errors import ConfigError
    from tests.support import ROOT

    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "config" / "loyalty-programs" / "rewards.yaml"
    data = yaml.safe_load(path.read_text())
    data["rewards"] = [{"id": "bf", "points": 500, "campaign": "blackfriday"}]  # a public code
    data["milestones"] = []
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="reward bf: campaign 'blackfriday' has one public code"):
        load_config_dir(tmp_path / "config")
