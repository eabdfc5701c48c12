"""Loyalty rules, pure: what an event earns, when a lot expires, which lots a spend or a refund draws from, tiers
and milestones. No I/O: the rules speak in Member, MemberState, PointLot, LedgerEntry and LoyaltyOrder; the
repository (adapters/loyalty_store.py) maps them to and from the stored items and raises the errors below when a
write's condition finds that what it was decided on has changed.

Times: lots expire at the end of a day in the program's time zone (the last second of that local day, stored as
a UTC string, so "not expired" is ``now <= expires_at`` by string comparison). Day and month labels (caps, the
tier window) are local dates in the program's zone.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from .clock import UTC, iso, iso_ms, parse_rfc3339
from .ids import new_id
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


# ---- the member, its lots, ledger entries and orders ----------------------------------------------------------

WARN, EXPIRE = "WARN", "EXPIRE"  # the expiry index's phases: a lot waits for its warning, then for its expiry


class StaleRead(Exception):
    """What a write was decided on changed before it committed (its condition failed): read again, decide again."""


class MemberChanged(StaleRead):
    """The member is not at the version that was read (another event, spend, review or erasure wrote it), or it
    owes points now (a spend needs a member without debt)."""


class BalanceShort(StaleRead):
    """The member's balance no longer covers the spend: a concurrent spend, refund or expiry took points."""


class LotChanged(StaleRead):
    """A lot's remaining points or its place in the expiry index changed after it was read; ``lot`` is the lot as
    it is now (None: not known or gone)."""

    def __init__(self, lot: PointLot | None = None):
        super().__init__("the lot changed after it was read")
        self.lot = lot


class OrderChanged(StaleRead):
    """The order's record changed after it was read (a refund, or its payment under another event id)."""


@dataclass(frozen=True)
class MemberState:
    """What the rules keep per member: the tier, lifetime points, the tier window (local day -> points earned that
    day), the cap counters (domain.loyalty.cap_keys), the milestone thresholds granted, the debt (points a refund
    took back after they were spent, when the program allows a negative balance) and the shortfall (what a refund
    could not take back otherwise)."""

    tier: str | None = None
    lifetime_points: int = 0
    window: dict[str, int] = field(default_factory=dict)
    caps: dict[str, int] = field(default_factory=dict)
    milestones: list[int] = field(default_factory=list)
    debt: int = 0
    shortfall: int = 0


@dataclass(frozen=True)
class Member:
    """A customer's membership of one program: its rule state and the version it was read at. The member id is
    random: the lots and the ledger live under it, so erasure moves this one record and leaves the ledger as it
    is."""

    program_id: str
    customer_id: str
    member_id: str
    state: MemberState = field(default_factory=MemberState)
    version: int | None = None  # the version read; None: not stored yet (the member joins with the write)
    joined_at: str | None = None
    review_at: str | None = None  # when the tier is looked at again (above the lowest tier)

    @classmethod
    def join(cls, program_id: str, customer_id: str, now_iso: str) -> Member:
        return cls(program_id, customer_id, new_id("mbr"), joined_at=now_iso)

    @property
    def stored(self) -> bool:
        return self.version is not None

    @property
    def debt(self) -> int:
        return self.state.debt


@dataclass(frozen=True)
class PointLot:
    """The points of one earning or adjustment: spent earliest-expiring first, gone at ``expires_at`` (UTC, the
    last second of a local day), spendable from ``available_at`` (an order's points are pending during its return
    window). Times are UTC strings, compared as strings."""

    lot_id: str
    member_id: str
    program_id: str
    points: int
    remaining: int
    earned_at: str
    expires_at: str
    available_at: str
    source: str  # the event type that earned it, or "adjustment"
    warn_at: str | None = None  # when its points.expiring warning is due (None: the program sends none)
    event_id: str | None = None
    order_id: str | None = None
    waiting: str | None = None  # the expiry index phase it waits in (WARN, EXPIRE); None: out of the index
    warned_at: str | None = None
    expired_at: str | None = None
    expired_points: int | None = None

    def available(self, now_iso: str) -> bool:
        return self.available_at <= now_iso

    def live(self, now_iso: str) -> bool:
        return self.remaining > 0 and self.expires_at >= now_iso


def new_lot(program: LoyaltyProgram, member_id: str, points: int, earned_at: datetime, now: datetime, source: str,
            available_at: datetime, on_day: date | None = None, event_id: str | None = None,
            order_id: str | None = None) -> PointLot:
    """A new lot: it expires after the program's expiry (or at the end of ``on_day``) and is warned about
    expiry_warning_days before."""
    expires = lot_expiry(program, earned_at, now, on_day=on_day)
    warn = warn_at(program, expires)
    return PointLot(new_id("lot"), member_id, program.id, points, points, iso(earned_at), iso(expires),
                    iso(available_at), source, iso(warn) if warn else None, event_id, order_id)


@dataclass(frozen=True)
class LedgerEntry:
    """One change of a member's points (type: earn, reward, adjustment, refund, expiry, milestone) and what it
    concerned (``details``: lots drawn, the order, the reason, ...)."""

    id: str
    member_id: str
    program_id: str
    type: str
    points: int
    created_at: str
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, member_id: str, program_id: str, kind: str, points: int, now: datetime, **details: Any) -> LedgerEntry:
        return cls(new_id("ltx"), member_id, program_id, kind, points, iso_ms(now),
                   {k: v for k, v in details.items() if v is not None})

    def view(self) -> dict:
        """The entry as the API shows it."""
        return {"id": self.id, "type": self.type, "points": self.points, "created_at": self.created_at,
                **self.details}


@dataclass(frozen=True)
class LoyaltyOrder:
    """What an order earned in a program and how much of it was refunded. A refund that arrives before the
    order's payment is kept (``points`` None), so the payment earns only on what was not refunded."""

    program_id: str
    order_id: str
    points: int | None = None  # None: nothing earned on it (yet)
    member_id: str | None = None
    lot_id: str | None = None  # the lot it earned, which a refund takes back from first
    order_amount: int = 0
    currency: str | None = None
    earned_day: str | None = None  # the local day its points count in the tier window
    earned_at: str | None = None
    event_id: str | None = None
    refunded_amount: int = 0
    reversed_points: int = 0
    created_at: str | None = None

    @property
    def earned(self) -> bool:
        return self.points is not None


def earned_order(program: LoyaltyProgram, order_id: str, member_id: str, points: int, lot: PointLot | None,
                 amount: int | None, currency: str | None, occurred_at: datetime, event_id: str,
                 read: LoyaltyOrder | None) -> LoyaltyOrder:
    """The order's record once its payment earned ``points`` (keeping a refund recorded before)."""
    return LoyaltyOrder(program.id, order_id, points, member_id, lot.lot_id if lot else None, amount or 0, currency,
                        local_date(occurred_at, program.timezone).isoformat(), iso(occurred_at), event_id,
                        read.refunded_amount if read else 0, 0)


# ---- lots: spending, refunds, the member view ---------------------------------------------------------------

def is_available(lot: PointLot, now_iso: str) -> bool:
    return lot.available(now_iso)


def live(lots: list[PointLot], now_iso: str) -> list[PointLot]:
    """Lots with points left that have not expired, earliest-expiring first (then the oldest)."""
    return sorted((lot for lot in lots if lot.live(now_iso)),
                  key=lambda lot: (lot.expires_at, lot.earned_at, lot.lot_id))


def spendable(lots: list[PointLot], now_iso: str) -> int:
    return sum(lot.remaining for lot in live(lots, now_iso) if lot.available(now_iso))


Plan = list[tuple[PointLot, int]]  # (lot, points taken from it)


def plan_spend(lots: list[PointLot], points: int, now_iso: str, include_pending: bool = False) -> Plan | None:
    """(lot, points taken) for a spend of ``points``, earliest-expiring spendable lots first (pending lots after
    them, and only if ``include_pending``); None when they do not hold enough."""
    candidates = live(lots, now_iso)
    ordered = [lot for lot in candidates if lot.available(now_iso)]
    if include_pending:
        ordered += [lot for lot in candidates if not lot.available(now_iso)]
    plan: Plan = []
    need = points
    for lot in ordered:
        if need <= 0:
            break
        take = min(lot.remaining, need)
        plan.append((lot, take))
        need -= take
    return plan if need <= 0 else None


def drawn(plan: Plan) -> list[dict]:
    """The lots a spend or refund drew from, as its ledger entry records them."""
    return [{"lot_id": lot.lot_id, "points": take} for lot, take in plan]


@dataclass
class Clawback:
    """How a refund takes back points: from the order's own lot (usually still pending), then from the member's
    other lots (earliest-expiring first); what is left becomes debt (allow_negative_balance) or a recorded
    shortfall."""

    takes: Plan = field(default_factory=list)
    debt: int = 0
    shortfall: int = 0

    @property
    def taken(self) -> int:
        return sum(t for _, t in self.takes)


def plan_clawback(lots: list[PointLot], own_lot_id: str | None, points: int, now_iso: str, allow_negative: bool,
                  max_lots: int | None = None) -> Clawback:
    """``max_lots``: at most that many lots are drawn (one transaction's room); what they cannot take is owed
    (debt) or short like the rest."""
    candidates = live(lots, now_iso)
    own = [lot for lot in candidates if lot.lot_id == own_lot_id]
    ordered = own + [lot for lot in candidates if lot.lot_id != own_lot_id]
    if max_lots is not None:
        ordered = ordered[:max_lots]
    out, need = Clawback(), points
    for lot in ordered:
        if need <= 0:
            break
        take = min(lot.remaining, need)
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


def after_refund(program: LoyaltyProgram, state: MemberState, take_back: int, earned_day: str | None,
                 plan: Clawback, now: datetime) -> tuple[MemberState, datetime | None]:
    """The member after a refund took ``take_back`` points of an order earned on ``earned_day``: lifetime and
    window points go down (the tier waits for its review, which is due at once when the window no longer holds
    it), and what the lots could not give is owed or short. Returns the state and the next review moment."""
    today = local_date(now, program.timezone)
    window = prune_window(state.window, program, today)
    if earned_day in window:
        window[earned_day] = max(0, window[earned_day] - take_back)
    out = replace(state, lifetime_points=max(0, state.lifetime_points - take_back),
                  window=prune_window(window, program, today), debt=state.debt + plan.debt,
                  shortfall=state.shortfall + plan.shortfall)
    return out, review_at(program, tier_by_id(program, out.tier), out.window, now)


def summary(program: LoyaltyProgram, lots: list[PointLot], debt: int, now: datetime) -> dict:
    """The member view's points: balance (spendable now, minus any debt), pending (not spendable yet),
    expiring (upcoming expiries within the "soon" window, grouped by moment)."""
    now_iso = iso(now)
    horizon = iso(now + timedelta(days=max(EXPIRING_SOON_DAYS, program.expiry_warning_days)))
    balance = pending = 0
    expiring: dict[str, int] = {}
    for lot in live(lots, now_iso):
        if lot.available(now_iso):
            balance += lot.remaining
        else:
            pending += lot.remaining
        if lot.expires_at <= horizon:
            expiring[lot.expires_at] = expiring.get(lot.expires_at, 0) + lot.remaining
    return {"balance": balance - debt, "pending": pending,
            "expiring": [{"points": p, "expires_at": at} for at, p in sorted(expiring.items())]}


def parse_time(value: str) -> datetime:
    return parse_rfc3339(value)


# ---- crediting a member: one function for earnings, referral points and adjustments ------------------------

@dataclass
class Credit:
    state: MemberState  # the member's rule state after the credit
    lot_points: int  # points of the new lot: what is left after paying a debt
    debt_paid: int
    tier_before: Tier | None
    tier_after: Tier | None
    milestones: list[Milestone]
    review_at: datetime | None

    @property
    def upgraded(self) -> bool:
        return self.tier_after is not None and (self.tier_before is None or self.tier_after.id != self.tier_before.id)


def credit(program: LoyaltyProgram, state: MemberState | None, points: int, earned_at: datetime, now: datetime,
           earned: bool, caps: dict | None = None) -> Credit:
    """The member after receiving ``points``. A debt (points a refund took back after they were spent) is paid
    first. ``earned`` points (rules, referral points) count for lifetime points, milestones and the tier window
    and may raise the tier at once; an operator's adjustment changes only the balance."""
    state = state or MemberState()
    today = local_date(now, program.timezone)
    paid = min(state.debt, points)
    before = tier_by_id(program, state.tier)
    after = before
    crossed: list[Milestone] = []
    lifetime, milestones = state.lifetime_points, list(state.milestones)
    window = prune_window(state.window, program, today)
    if earned and points > 0:
        day = local_date(earned_at, program.timezone).isoformat()
        window[day] = window.get(day, 0) + points
        window = prune_window(window, program, today)
        crossed = milestones_crossed(program, lifetime, lifetime + points, milestones)
        lifetime += points
        milestones = sorted(set(milestones) | {m.points for m in crossed})
        reached = tier_for(program, window_points(window, program, today))
        if rank(program, reached) > rank(program, before):
            after = reached  # upgrades at once; downgrades wait for the scheduled review
    out = replace(state, tier=after.id if after else None, lifetime_points=lifetime, window=window,
                  caps=dict(caps) if caps is not None else dict(state.caps), milestones=milestones,
                  debt=state.debt - paid)
    return Credit(out, points - paid, paid, before, after, crossed, review_at(program, after, window, now))


@dataclass(frozen=True)
class Review:
    """A scheduled tier review: the tier the window's points hold now (down as well as up) and the next review."""

    state: MemberState
    before: Tier | None
    after: Tier | None
    review_at: datetime | None

    @property
    def changed(self) -> bool:
        return (self.before.id if self.before else None) != (self.after.id if self.after else None)


def review(program: LoyaltyProgram, state: MemberState, now: datetime) -> Review:
    today = local_date(now, program.timezone)
    window = prune_window(state.window, program, today)
    before = tier_by_id(program, state.tier)
    after = tier_for(program, window_points(window, program, today))
    return Review(replace(state, window=window, tier=after.id if after else None), before, after,
                  review_at(program, after, window, now))
