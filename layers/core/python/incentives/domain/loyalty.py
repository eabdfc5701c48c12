"""Loyalty rules, pure: what an event earns, when a lot expires, which lots a spend or a refund draws from, tiers
and milestones. No I/O; the stored member and lot items are plain dicts (adapters/loyalty_store.py).

Times: lots expire at the end of a day in the program's time zone (the last second of that local day, stored as
a UTC string, so "not expired" is ``now <= expires_at`` by string comparison). Day and month labels (caps, the
tier window) are local dates in the program's zone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from zoneinfo import ZoneInfo

from .clock import UTC, iso, parse_rfc3339
from .programs import LoyaltyProgram, Milestone, Tier

ORDER_PAID = "order.paid"
ORDER_REFUNDED = "order.refunded"
REFERRAL_REWARD_POINTS = "referral.reward_points"  # the referrals engine credits exactly these points
CAP_KEEP_DAYS = 62  # cap counters of older periods are dropped from the member item
EXPIRING_SOON_DAYS = 30  # the member view lists expiries within max(this, expiry_warning_days)
MAX_LOTS_PER_TRANSACTION = 90  # a transaction holds 100 items; the spend's other items need the rest


@lru_cache(maxsize=64)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def local_date(at: datetime, tz: str) -> date:
    return at.astimezone(_zone(tz)).date()


def start_of_day(d: date, tz: str) -> datetime:
    return datetime.combine(d, time(0), tzinfo=_zone(tz)).astimezone(UTC)


def end_of_day(d: date, tz: str) -> datetime:
    """The last second of local day ``d`` (UTC): a lot expiring on ``d`` is spendable through it."""
    return start_of_day(d + timedelta(days=1), tz) - timedelta(seconds=1)


def lot_expiry(program: LoyaltyProgram, earned_at: datetime, now: datetime,
               on_day: date | None = None) -> datetime:
    """End of the local day ``expiry.after_days`` after the earning (or of ``on_day``), never before the end of
    today: an event that arrives very late still gives points the member can see before they go."""
    day = on_day if on_day is not None else local_date(earned_at, program.timezone) + timedelta(
        days=program.expiry.after_days)
    return max(end_of_day(day, program.timezone), end_of_day(local_date(now, program.timezone), program.timezone))


def warn_at(program: LoyaltyProgram, expires_at: datetime) -> datetime | None:
    """When the points.expiring warning of a lot is due (None: the program sends none)."""
    if program.expiry_warning_days == 0:
        return None
    return expires_at - timedelta(days=program.expiry_warning_days)


# ---- earning ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Earning:
    base: int  # before the tier multiplier
    points: int  # floor(base * multiplier)
    rules: tuple[tuple[int, int], ...]  # (rule index, base points) of the rules that earned
    capped: tuple[int, ...]  # rule indexes that would have earned but hit their cap
    caps: dict  # the member's cap counters after this earning


def cap_keys(index: int, rule, day: date) -> list[tuple[str, int]]:
    """The counters a rule's caps use for an event on local ``day``: (key, limit)."""
    out = []
    if rule.max_per_day is not None:
        out.append((f"{index}:D:{day.isoformat()}", rule.max_per_day))
    if rule.max_per_month is not None:
        out.append((f"{index}:M:{day.isoformat()[:7]}", rule.max_per_month))
    return out


def prune_caps(caps: dict, today: date) -> dict:
    """Counters of periods that ended long ago go (the item stays small)."""
    keep_from = (today - timedelta(days=CAP_KEEP_DAYS)).isoformat()
    out = {}
    for k, v in caps.items():
        label = k.split(":", 2)[2]
        if (label if len(label) == 10 else label + "-31") >= keep_from:
            out[k] = v
    return out


def base_points(rule, amount: int | None, currency: str | None) -> int:
    if rule.points is not None:
        return rule.points
    if amount is None or currency != rule.unit_amount.currency or rule.unit_amount.amount <= 0:
        return 0  # an order in another currency earns nothing on this rule
    return (amount // rule.unit_amount.amount) * rule.points_per_unit


def earn(program: LoyaltyProgram, event_type: str, amount: int | None, currency: str | None,
         occurred_at: datetime, caps: dict, multiplier: Decimal, today: date) -> Earning:
    """Points an event earns under the program's rules for its type, each rule within its caps; the caps are
    counted per member, rule and calendar period (the event's local day or month)."""
    day = local_date(occurred_at, program.timezone)
    caps = prune_caps(dict(caps), min(today, day))  # counters near the event's own period stay
    earned: list[tuple[int, int]] = []
    capped: list[int] = []
    for i, rule in enumerate(program.earning):
        if rule.event != event_type:
            continue
        base = base_points(rule, amount, currency)
        if base <= 0:
            continue
        counters = cap_keys(i, rule, day)
        if any(caps.get(k, 0) >= limit for k, limit in counters):
            capped.append(i)
            continue
        for k, _ in counters:
            caps[k] = caps.get(k, 0) + 1
        earned.append((i, base))
    total = sum(b for _, b in earned)
    return Earning(total, multiply(total, multiplier), tuple(earned), tuple(capped), caps)


def multiply(points: int, multiplier: Decimal) -> int:
    return math.floor(Decimal(points) * multiplier)


# ---- tiers --------------------------------------------------------------------------------------------------

def prune_window(window: dict, program: LoyaltyProgram, today: date) -> dict:
    first = (today - timedelta(days=program.tier_window_days - 1)).isoformat()
    return {d: p for d, p in window.items() if d >= first and p > 0}


def window_points(window: dict, program: LoyaltyProgram, today: date) -> int:
    """Points earned in the trailing tier window: the local days (today - window_days, today]."""
    return sum(prune_window(window, program, today).values())


def tier_for(program: LoyaltyProgram, points: int) -> Tier | None:
    found = None
    for t in program.tiers:
        if points >= t.min_points:
            found = t
    return found


def tier_by_id(program: LoyaltyProgram, tier_id: str | None) -> Tier | None:
    if tier_id is None:
        return program.tiers[0] if program.tiers else None
    return next((t for t in program.tiers if t.id == tier_id), program.tiers[0] if program.tiers else None)


def rank(program: LoyaltyProgram, tier: Tier | None) -> int:
    return -1 if tier is None else [t.id for t in program.tiers].index(tier.id)


def review_at(program: LoyaltyProgram, tier: Tier | None, window: dict, now: datetime) -> datetime | None:
    """When the member's tier must be looked at again if nothing more is earned: the moment the window's points
    fall below the tier's minimum (the start of the local day the day that carries them leaves the window).
    None for the lowest tier (nothing to lose); ``now`` when the points are below the minimum already."""
    if tier is None or rank(program, tier) <= 0:
        return None
    today = local_date(now, program.timezone)
    total = 0
    for d in sorted(prune_window(window, program, today), reverse=True):
        total += window[d]
        if total >= tier.min_points:
            leaves = date.fromisoformat(d) + timedelta(days=program.tier_window_days)
            return start_of_day(leaves, program.timezone)
    return now


def milestones_crossed(program: LoyaltyProgram, before: int, after: int, granted: list) -> list[Milestone]:
    """Milestones whose threshold lifetime points cross now, each only once per member (``granted`` lists the
    thresholds reached before, also when a refund took lifetime points back below one)."""
    return [m for m in sorted(program.milestones, key=lambda m: m.points)
            if before < m.points <= after and m.points not in granted]


# ---- lots: spending, refunds, the member view ---------------------------------------------------------------

def is_available(lot: dict, now_iso: str) -> bool:
    return lot.get("available_at", "") <= now_iso


def live(lots: list[dict], now_iso: str) -> list[dict]:
    """Lots with points left that have not expired, earliest-expiring first (then the oldest)."""
    return sorted((lot for lot in lots if lot.get("remaining", 0) > 0 and lot["expires_at"] >= now_iso),
                  key=lambda lot: (lot["expires_at"], lot.get("earned_at", ""), lot["lot_id"]))


def plan_spend(lots: list[dict], points: int, now_iso: str,
               include_pending: bool = False) -> list[tuple[dict, int]] | None:
    """(lot, points taken) for a spend of ``points``, earliest-expiring spendable lots first (pending lots after
    them, and only if ``include_pending``); None when they do not hold enough."""
    candidates = live(lots, now_iso)
    ordered = [lot for lot in candidates if is_available(lot, now_iso)]
    if include_pending:
        ordered += [lot for lot in candidates if not is_available(lot, now_iso)]
    plan, need = [], points
    for lot in ordered:
        if need <= 0:
            break
        take = min(lot["remaining"], need)
        plan.append((lot, take))
        need -= take
    return plan if need <= 0 else None


@dataclass
class Clawback:
    """How a refund takes back points: from the order's own lot (usually still pending), then from the member's
    other lots (earliest-expiring first); what is left becomes debt (allow_negative_balance) or a recorded
    shortfall."""

    takes: list[tuple[dict, int]] = field(default_factory=list)
    debt: int = 0
    shortfall: int = 0

    @property
    def taken(self) -> int:
        return sum(t for _, t in self.takes)


def plan_clawback(lots: list[dict], order_lot_sk: str | None, points: int, now_iso: str,
                  allow_negative: bool) -> Clawback:
    candidates = live(lots, now_iso)
    own = [lot for lot in candidates if lot["sk"] == order_lot_sk]
    ordered = own + [lot for lot in candidates if lot["sk"] != order_lot_sk]
    out, need = Clawback(), points
    for lot in ordered:
        if need <= 0:
            break
        take = min(lot["remaining"], need)
        out.takes.append((lot, take))
        need -= take
    if need > 0:
        if allow_negative:
            out.debt = need
        else:
            out.shortfall = need
    return out


def reversal(order_points: int, order_amount: int, refunded_before: int, refund: int,
             reversed_before: int) -> tuple[int, int]:
    """(points to take back now, refunded amount after): the member keeps the points of the part of the order
    not refunded (floor), so partial refunds add up to exactly the order's points when the whole is refunded."""
    refunded = min(order_amount, refunded_before + refund)
    if order_amount <= 0:
        return max(0, order_points - reversed_before), refunded
    keep = order_points * (order_amount - refunded) // order_amount
    return max(0, order_points - keep - reversed_before), refunded


def summary(program: LoyaltyProgram, lots: list[dict], debt: int, now: datetime) -> dict:
    """The member view's points: balance (spendable now, minus any debt), pending (not spendable yet),
    expiring (upcoming expiries within the "soon" window, grouped by moment)."""
    now_iso = iso(now)
    horizon = iso(now + timedelta(days=max(EXPIRING_SOON_DAYS, program.expiry_warning_days)))
    balance = pending = 0
    expiring: dict[str, int] = {}
    for lot in live(lots, now_iso):
        if is_available(lot, now_iso):
            balance += lot["remaining"]
        else:
            pending += lot["remaining"]
        if lot["expires_at"] <= horizon:
            expiring[lot["expires_at"]] = expiring.get(lot["expires_at"], 0) + lot["remaining"]
    return {"balance": balance - debt, "pending": pending,
            "expiring": [{"points": p, "expires_at": at} for at, p in sorted(expiring.items())]}


def parse_time(value: str) -> datetime:
    return parse_rfc3339(value)


# ---- crediting a member: one function for earnings, referral points and adjustments ------------------------

@dataclass
class Credit:
    member: dict  # the member's rule state after the credit (tier, lifetime_points, window, caps, milestones, debt)
    lot_points: int  # points of the new lot: what is left after paying a debt
    debt_paid: int
    tier_before: Tier | None
    tier_after: Tier | None
    milestones: list[Milestone]
    review_at: datetime | None

    @property
    def upgraded(self) -> bool:
        return self.tier_after is not None and (self.tier_before is None or self.tier_after.id != self.tier_before.id)


MEMBER_STATE = ("tier", "lifetime_points", "window", "caps", "milestones", "debt", "shortfall")


def member_state(member: dict | None) -> dict:
    m = member or {}
    return {"tier": m.get("tier"), "lifetime_points": m.get("lifetime_points", 0),
            "window": dict(m.get("window") or {}),
            "caps": dict(m.get("caps") or {}), "milestones": list(m.get("milestones") or []),
            "debt": m.get("debt", 0), "shortfall": m.get("shortfall", 0)}


def credit(program: LoyaltyProgram, member: dict | None, points: int, earned_at: datetime, now: datetime,
           earned: bool, caps: dict | None = None) -> Credit:
    """The member after receiving ``points``. A debt (points a refund took back after they were spent) is paid
    first. ``earned`` points (rules, referral points) count for lifetime points, milestones and the tier window
    and may raise the tier at once; an operator's adjustment changes only the balance."""
    state = member_state(member)
    today = local_date(now, program.timezone)
    if caps is not None:
        state["caps"] = caps
    paid = min(state["debt"], points)
    state["debt"] -= paid
    before = tier_by_id(program, state["tier"])
    after = before
    crossed: list[Milestone] = []
    window = prune_window(state["window"], program, today)
    if earned and points > 0:
        day = local_date(earned_at, program.timezone).isoformat()
        window[day] = window.get(day, 0) + points
        window = prune_window(window, program, today)
        lifetime = state["lifetime_points"]
        crossed = milestones_crossed(program, lifetime, lifetime + points, state["milestones"])
        state["lifetime_points"] = lifetime + points
        state["milestones"] = sorted(set(state["milestones"]) | {m.points for m in crossed})
        reached = tier_for(program, window_points(window, program, today))
        if rank(program, reached) > rank(program, before):
            after = reached  # upgrades at once; downgrades wait for the scheduled review
    state["window"] = window
    state["tier"] = after.id if after else None
    return Credit(state, points - paid, paid, before, after, crossed, review_at(program, after, window, now))
