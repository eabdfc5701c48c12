"""The loyalty consumer: customer and engine events earn points, and refunds take them back.

Per event and program, one TransactWriteItems commits everything the event does to the member, together with
the consumer's marker (services/consumers.py, effect ``LOYALTY#<program>``): the member item over the version
that was read (tier, lifetime points, tier window, caps, milestones, debt), the balance, the new lot, the ledger
entry, the order's item, milestone reward codes and engine events (an outbox: the table's stream publishes
them). A repeated or concurrent copy of the event is cancelled by the marker; a concurrent different event of the
same member by the version, and is then computed again from a fresh read.

The member joins on the first event that earns points (the member item is put with attribute_not_exists).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.loyalty_store import LoyaltyStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso, parse_rfc3339
from ..domain.config import ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.loyalty import (MAX_LOTS_PER_TRANSACTION, ORDER_PAID, ORDER_REFUNDED, REFERRAL_REWARD_POINTS, Credit,
                              LedgerEntry, Member, StaleRead, after_refund, credit, drawn, earn, earned_order,
                              local_date, new_lot, plan_clawback, rank, reversal, tier_by_id)
from ..domain.programs import LoyaltyProgram, Tier
from .consumers import Consumer
from .code_issuer import CodeIssuer, IssuedCode
from .outbox import event_put

MILESTONE_REACHED = "loyalty.milestone_reached"
TIER_CHANGED = "loyalty.tier_changed"
# What the consumer subscribes to (incentives/subscriptions.py lists the same types).
EVENT_TYPES = ("customer.created", "order.paid", "order.refunded", "review.submitted", "social.shared",
               "survey.completed", "store.checked_in", "referral.converted", REFERRAL_REWARD_POINTS)


@dataclass(frozen=True)
class LoyaltyEvent:
    """What the consumer needs of an EventBridge detail (a CustomerEvent, or an engine event of the referrals
    engine with ``data``). Read from the detail itself, so fields the published shape gains are not lost."""

    id: str
    type: str
    customer_id: str
    occurred_at: datetime
    order_id: str | None = None
    order_amount: int | None = None
    currency: str | None = None
    data: dict = field(default_factory=dict)

    @classmethod
    def from_detail(cls, detail: dict) -> LoyaltyEvent:
        data = detail.get("data")
        return cls(id=detail["id"], type=detail["type"], customer_id=detail["customer_id"],
                   occurred_at=parse_rfc3339(detail["occurred_at"]), order_id=detail.get("order_id"),
                   order_amount=detail.get("order_amount"), currency=detail.get("currency"),
                   data=data if isinstance(data, dict) else {})


class LoyaltyEvents:
    def __init__(self, table: Table, config: ConfigSource, consumer: Consumer):
        self.table = table
        self.config = config
        self.consumer = consumer
        self.store = LoyaltyStore(table)
        self.issuer = CodeIssuer(table)

    def handle(self, event: LoyaltyEvent, now: datetime) -> list[dict]:
        """One outcome per program the event concerns."""
        bundle = self.config.bundle()
        out = []
        for program in bundle.loyalty_programs.values():
            outcome = CONFLICTS.run(partial(self._program, bundle, program, event, now), retry_on=StaleRead,
                                    give_up=lambda _: errors.Contention("the loyalty member kept changing; retry"))
            if outcome is not None:
                out.append({"program_id": program.id, **outcome})
        return out

    def _program(self, bundle: ConfigBundle, program: LoyaltyProgram, ev: LoyaltyEvent, now: datetime) -> dict | None:
        if ev.type == ORDER_REFUNDED:
            # taken back also while the program is switched off: points earned before must not outlive the order
            if ev.order_id and ev.order_amount and any(r.event == ORDER_PAID for r in program.earning):
                return self._refund(program, ev, ev.order_id, ev.order_amount, now)
            return None
        if not program.enabled:
            return None  # a switched-off program earns nothing
        if ev.type == REFERRAL_REWARD_POINTS:
            points = ev.data.get("points")
            if ev.data.get("program_id") != program.id or type(points) is not int or points <= 0:
                return None
            return self._credit(bundle, program, ev, now, fixed=points)
        if any(r.event == ev.type for r in program.earning):
            return self._credit(bundle, program, ev, now)
        return None

    def _consumed(self, program: LoyaltyProgram, ev: LoyaltyEvent) -> tuple[str, str, str]:
        return self.consumer.name, ev.id, self.store.effect(program.id)

    def _commit(self, program: LoyaltyProgram, ev: LoyaltyEvent, uow: UnitOfWork, now: datetime) -> bool:
        """False: a copy of the event applied it before. A write whose read went stale raises StaleRead."""
        return self.consumer.apply_once(ev.id, uow, now, effect=self.store.effect(program.id), otherwise=contended)

    # --- earning ---------------------------------------------------------------------------------------------

    def _credit(self, bundle: ConfigBundle, program: LoyaltyProgram, ev: LoyaltyEvent, now: datetime,
                fixed: int | None = None) -> dict:
        is_order = ev.type == ORDER_PAID and ev.order_id is not None
        read, order, seen = self.store.member_and_order(program.id, ev.customer_id,
                                                        ev.order_id if is_order else None, self._consumed(program, ev))
        if seen:
            return {"status": "duplicate", "points": 0}
        if order is not None and order.earned:
            return {"status": "order_earned_before", "points": 0}  # the same order sent under another event id
        now_iso = iso(now)
        member = read or Member.join(program.id, ev.customer_id, now_iso)
        today = local_date(now, program.timezone)
        tier = tier_by_id(program, member.state.tier)
        multiplier = tier.multiplier if tier and fixed is None else Decimal(1)
        capped: tuple[int, ...] = ()
        if fixed is not None:
            points, base, rules, caps = fixed, fixed, [], None
        else:
            amount = ev.order_amount
            if order is not None and amount is not None:  # refunded before its order.paid arrived
                amount = max(0, amount - order.refunded_amount)
            e = earn(program, ev.type, amount, ev.currency, ev.occurred_at, member.state.caps, multiplier, today)
            points, base, caps, capped = e.points, e.base, e.caps, e.capped
            rules = [{"rule": i, "points": b} for i, b in e.rules]
        if points <= 0:
            return {"status": "capped" if capped else "nothing_earned", "points": 0}

        c = credit(program, member.state, points, ev.occurred_at, now, earned=True, caps=caps)
        uow = UnitOfWork(self.table)
        written = self.store.save_member(uow, member, c.state, c.review_at, now_iso)
        lot = None
        if c.lot_points > 0:
            available = min(ev.occurred_at, now)
            if is_order and program.pending_days:
                available = ev.occurred_at + timedelta(days=program.pending_days)  # the return window
            lot = new_lot(program, member.member_id, c.lot_points, ev.occurred_at, now, ev.type, available,
                          event_id=ev.id, order_id=ev.order_id if is_order else None)
        lot = self.store.credit(uow, member, c.lot_points, lot, now_iso)
        details = {"source": ev.type, "event_id": ev.id, "order_id": ev.order_id if is_order else None,
                   "base": base, "multiplier": str(multiplier), "tier": tier.id if tier else None,
                   "rules": rules or None,
                   "lot_id": lot.lot_id if lot else None, "expires_at": lot.expires_at if lot else None,
                   "available_at": lot.available_at if lot else None, "debt_paid": c.debt_paid or None}
        if ev.type == REFERRAL_REWARD_POINTS:
            details.update(reward_id=ev.data.get("reward_id"), referral_program_id=ev.data.get("referral_program_id"))
        self.store.add_entry(uow, LedgerEntry.new(member.member_id, program.id, "earn", points, now, **details))
        if is_order and ev.order_id is not None:  # (is_order says so)
            self.store.earn_order(uow, earned_order(program, ev.order_id, member.member_id, points, lot,
                                                    ev.order_amount, ev.currency, ev.occurred_at, ev.id, order),
                                  order, lot)
        self._milestones(uow, bundle, program, c, member.member_id, ev.customer_id, now)
        if c.upgraded:
            uow.op(tier_changed(self.table, program, member.member_id, written.version or 0, ev.customer_id,
                                c.tier_before, c.tier_after, now))
        if not self._commit(program, ev, uow, now):
            return {"status": "duplicate", "points": 0}
        return {"status": "joined" if not member.stored else "earned", "points": points,
                "member_id": member.member_id, "tier": c.state.tier, "milestones": [m.points for m in c.milestones]}

    def _milestones(self, uow: UnitOfWork, bundle: ConfigBundle, program: LoyaltyProgram, c: Credit,
                    member_id: str, customer_id: str, now: datetime) -> None:
        """Each milestone crossed: a ledger entry, a notification (engine event) and, for a reward milestone
        whose campaign is active, a code of it bound to the member, all in the earning's transaction."""
        drawn_codes: list[IssuedCode] = []
        for m in c.milestones:
            reward = program.reward(m.reward) if m.reward else None
            code, skipped = None, None
            if reward is not None:
                campaign = bundle.campaigns.get(reward.campaign)
                status = effective_status(campaign, now) if campaign else "missing"
                if campaign is not None and status == ACTIVE:
                    code = self.issuer.draw(campaign, now, holder=holder_for_id(customer_id))[0]
                    drawn_codes.append(code)
                else:
                    skipped = f"campaign {status}"
            self.store.add_entry(uow, LedgerEntry.new(
                member_id, program.id, "milestone", 0, now, threshold=m.points, reward_id=m.reward,
                code=code.code if code else None, campaign_id=code.campaign_id if code else None,
                reward_skipped=skipped))
            uow.op(event_put(self.table, f"loyalty.{member_id}.milestone.{m.points}", MILESTONE_REACHED,
                             customer_id, now, now, {
                                 "program_id": program.id, "threshold": m.points, "reward_id": m.reward,
                                 "code": code.code if code else None,
                                 "expires_at": code.expires_at if code else None}))
        self.issuer.write(uow, drawn_codes, now)

    # --- refunds ---------------------------------------------------------------------------------------------

    def _refund(self, program: LoyaltyProgram, ev: LoyaltyEvent, order_id: str, amount: int, now: datetime) -> dict:
        """Takes back the points of the refunded part of the order (see domain.loyalty.reversal and
        plan_clawback): from the order's own lot first (pending during the return window), then from the
        member's other lots; the rest is debt (allow_negative_balance) or a recorded shortfall."""
        member, order, seen = self.store.member_and_order(program.id, ev.customer_id, order_id,
                                                          self._consumed(program, ev))
        if seen:
            return {"status": "duplicate", "points": 0}
        now_iso = iso(now)
        if order is None or not order.earned:
            # Nothing earned on it (yet): keep the refunded amount, so an order.paid arriving later earns only on
            # what was not refunded.
            uow = UnitOfWork(self.table)
            self.store.refund_unearned(uow, program.id, order_id, amount, order, now_iso)
            if not self._commit(program, ev, uow, now):
                return {"status": "duplicate", "points": 0}
            return {"status": "refund_recorded", "points": 0}
        if member is None or member.member_id != order.member_id:
            return {"status": "member_gone", "points": 0}  # erased: its anonymised ledger is not touched again
        take_back, refunded = reversal(order.points or 0, order.order_amount, order.refunded_amount, amount,
                                       order.reversed_points)
        uow = UnitOfWork(self.table)
        self.store.reverse_order(uow, order, refunded, take_back)
        if take_back == 0:
            if not self._commit(program, ev, uow, now):
                return {"status": "duplicate", "points": 0}
            return {"status": "refunded", "points": 0}

        lots = self.store.lots(member.member_id, now)
        plan = plan_clawback(lots, order.lot_id, take_back, now_iso, program.allow_negative_balance,
                             max_lots=MAX_LOTS_PER_TRANSACTION)  # what one transaction cannot take stays owed/short
        state, review = after_refund(program, member.state, take_back, order.earned_day, plan, now)
        self.store.save_member(uow, member, state, review, now_iso)  # a drop below the tier: the next job run
        if plan.taken:
            self.store.add_to_balance(uow, member.member_id, -plan.taken)
        for lot, take in plan.takes:
            self.store.take_from_lot(uow, lot, take)
        self.store.add_entry(uow, LedgerEntry.new(
            member.member_id, program.id, "refund", -take_back, now, source=ev.type, event_id=ev.id,
            order_id=order_id, refunded_amount=amount, lots=drawn(plan.takes), debt_added=plan.debt or None,
            shortfall=plan.shortfall or None))
        if not self._commit(program, ev, uow, now):
            return {"status": "duplicate", "points": 0}
        return {"status": "refunded", "points": -take_back, "taken": plan.taken, "debt": plan.debt,
                "shortfall": plan.shortfall}


def tier_changed(table: Table, program: LoyaltyProgram, member_id: str, version: int, customer_id: str,
                 before: Tier | None, after: Tier | None, now: datetime) -> dict:
    """The loyalty.tier_changed engine event (outbox), put in the transaction that changes the tier; its id names
    the member version that carries the change."""
    direction = "up" if rank(program, after) > rank(program, before) else "down"
    return event_put(table, f"loyalty.{member_id}.tier.{version}", TIER_CHANGED, customer_id, now, now, {
        "program_id": program.id, "from": before.id if before else None, "to": after.id if after else None,
        "direction": direction})
