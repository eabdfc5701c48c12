"""Loyalty members over HTTP: the member view, the ledger, rewards paid with points, operator adjustments.

A reward is one TransactWriteItems: the member has no debt (ConditionCheck), the balance covers the price
(``lots_total >= price``), each lot drawn gives exactly from the points that were read (``remaining = :read``),
the ledger entry, the bound code of the reward's campaign (``attribute_not_exists``) with its issued count, and
the Idempotency-Key's answer. Concurrent spends of one member therefore cancel each other's stale reads; the
loser reads again and decides again, so the balance never goes negative and no code is issued without its
points (docs/decision-log.md "Loyalty"). The keys, items and conditions are the repository's
(adapters/loyalty_store.py); this module speaks in Member, PointLot and LedgerEntry.
"""
from __future__ import annotations

from datetime import date, datetime

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.loyalty_store import LoyaltyStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso
from ..domain.config import ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.loyalty import (MAX_LOTS_PER_TRANSACTION, LedgerEntry, Member, MemberChanged, StaleRead, credit,
                              drawn, local_date, new_lot, plan_spend, spendable, summary, tier_by_id, window_points)
from ..domain.programs import LoyaltyProgram
from .code_issuer import CodeIssuer, IssuedCode

MAX_PAGE = 100


def reward_view(code: IssuedCode, reward_id: str) -> dict:
    return {"id": reward_id, **code.view()}


class LoyaltyMembers:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = LoyaltyStore(table)
        self.issuer = CodeIssuer(table)

    # --- lookups -----------------------------------------------------------------------------------------

    def program(self, program_id: str) -> LoyaltyProgram:
        program = self.config.bundle().loyalty_programs.get(program_id)
        if program is None:
            raise errors.LoyaltyProgramNotFound(details={"program_id": program_id})
        return program

    def _member(self, program: LoyaltyProgram, customer_id: str) -> Member:
        member = self.store.member(program.id, customer_id)
        if member is None:
            raise errors.NotFound("this customer is not a member of the program (members join on their first "
                                  "earning event)", {"program_id": program.id, "customer_id": customer_id})
        return member

    def program_view(self, program_id: str) -> dict:
        p = self.program(program_id)
        return {"id": p.id, "name": p.name, "enabled": p.enabled, "timezone": p.timezone,
                "pending_days": p.pending_days, "expiry": {"after_days": p.expiry.after_days},
                "tiers": [{"id": t.id, "min_points": t.min_points, "multiplier": str(t.multiplier)} for t in p.tiers],
                "tier_window_days": p.tier_window_days,
                "rewards": [{"id": r.id, "points": r.points, "campaign_id": r.campaign} for r in p.rewards]}

    # --- reads -------------------------------------------------------------------------------------------

    def view(self, program_id: str, customer_id: str, now: datetime) -> dict:
        program = self.program(program_id)
        member = self._member(program, customer_id)
        lots = self.store.lots(member.member_id, now)
        tier = tier_by_id(program, member.state.tier)
        today = local_date(now, program.timezone)
        return {"program_id": program.id, "customer_id": customer_id,
                "points": summary(program, lots, member.debt, now),
                "tier": tier.id if tier else None,
                "tier_points": window_points(member.state.window, program, today),
                "lifetime_points": member.state.lifetime_points, "joined_at": member.joined_at}

    def transactions(self, program_id: str, customer_id: str, limit: int, cursor: str | None) -> dict:
        program = self.program(program_id)
        member = self._member(program, customer_id)
        entries, next_cursor = self.store.entries(member.member_id, limit, cursor)
        return {"transactions": [e.view() for e in entries], "next_cursor": next_cursor}

    # --- rewards -----------------------------------------------------------------------------------------

    def redeem_reward(self, program_id: str, customer_id: str, reward_id: str, now: datetime,
                      uow: UnitOfWork | None = None) -> dict:
        """A reward paid with points: the spend and the reward's code in one unit of work."""
        program = self.program(program_id)
        if not program.enabled:
            raise errors.LoyaltyProgramInactive(details={"program_id": program.id})
        reward = program.reward(reward_id)
        if reward is None:
            raise errors.RewardNotFound(details={"reward_id": reward_id, "rewards": [r.id for r in program.rewards]})
        campaign = self.config.bundle().campaign(reward.campaign)
        status = effective_status(campaign, now)
        if status != ACTIVE:
            raise errors.CampaignInactive(details={"campaign_id": campaign.id, "status": status})
        price, now_iso = reward.points, iso(now)
        uow = uow if uow is not None else UnitOfWork(self.table)
        code: IssuedCode | None = None
        for _ in CONFLICTS.attempts():  # another spend, earning or expiry changed what we read: decide again
            member = self._member(program, customer_id)
            lots = self.store.lots(member.member_id, now)
            balance = spendable(lots, now_iso) - member.debt
            plan = plan_spend(lots, price, now_iso)
            if plan is None or member.debt > 0:
                raise errors.InsufficientPoints(details={"points_needed": price, "balance": balance})
            if len(plan) > MAX_LOTS_PER_TRANSACTION:
                raise errors.TooManyLots(details={"lots": len(plan), "max": MAX_LOTS_PER_TRANSACTION})
            if code is None:  # drawn once: a decided-again spend issues the same code
                code = self.issuer.draw(campaign, now, holder=holder_for_id(customer_id))[0]
            entry = LedgerEntry.new(member.member_id, program.id, "reward", -price, now, reward_id=reward.id,
                                    campaign_id=campaign.id, code=code.code, lots=drawn(plan))
            uow.clear()
            self.store.spend(uow, member, price, plan, entry)
            self.issuer.write(uow, [code], now)
            uow.result = {"reward": reward_view(code, reward.id), "points_spent": price,
                          "balance": balance - price, "transaction_id": entry.id}
            try:
                uow.commit(otherwise=contended)
                return uow.result
            except StaleRead:
                continue
        raise errors.Contention("the member's points kept changing; retry")

    # --- operator adjustments ----------------------------------------------------------------------------

    def adjust(self, program_id: str, customer_id: str, points: int, reason: str, expires_on: date | None,
               now: datetime, uow: UnitOfWork | None = None) -> dict:
        """A correction with a reason, recorded in the ledger. Positive: a new lot (expiring on ``expires_on`` or
        after the program's expiry), paying a debt first; a customer who is not a member joins. Negative: taken
        from spendable lots earliest-expiring first, then pending ones; never below zero (insufficient_points).
        Adjustments move the balance only: not lifetime points, tiers or milestones."""
        program = self.program(program_id)
        uow = uow if uow is not None else UnitOfWork(self.table)
        for _ in CONFLICTS.attempts():
            uow.clear()
            if points > 0:
                self._add(uow, program, customer_id, points, reason, expires_on, now)
            else:
                self._remove(uow, program, customer_id, -points, reason, now)
            try:
                uow.commit(otherwise=lambda _cancelled: MemberChanged())
                return uow.result
            except StaleRead:
                continue  # the member changed between the read and the write
        raise errors.Contention("the member's points kept changing; retry")

    def _add(self, uow: UnitOfWork, program: LoyaltyProgram, customer_id: str, points: int, reason: str,
             expires_on: date | None, now: datetime) -> None:
        now_iso = iso(now)
        if expires_on is not None and expires_on < local_date(now, program.timezone):
            raise errors.InvalidRequest("expires_on is in the past (program time zone)", {"field": "expires_on"})
        read = self.store.member(program.id, customer_id)
        member = read or Member.join(program.id, customer_id, now_iso)
        c = credit(program, member.state, points, now, now, earned=False)
        if not member.stored or c.debt_paid:
            self.store.save_member(uow, member, c.state, c.review_at, now_iso)
        lot = new_lot(program, member.member_id, c.lot_points, now, now, "adjustment", now,
                      on_day=expires_on) if c.lot_points else None
        lot = self.store.credit(uow, member, c.lot_points, lot, now_iso)
        entry = LedgerEntry.new(member.member_id, program.id, "adjustment", points, now, reason=reason,
                                lot_id=lot.lot_id if lot else None, expires_at=lot.expires_at if lot else None,
                                debt_paid=c.debt_paid or None)
        self.store.add_entry(uow, entry)
        lots = self.store.lots(member.member_id, now) if member.stored else []
        balance = spendable(lots, now_iso) - member.debt + points
        uow.result = {"transaction": entry.view(), "balance": balance}

    def _remove(self, uow: UnitOfWork, program: LoyaltyProgram, customer_id: str, points: int, reason: str,
                now: datetime) -> None:
        now_iso = iso(now)
        member = self._member(program, customer_id)
        lots = self.store.lots(member.member_id, now)
        plan = plan_spend(lots, points, now_iso, include_pending=True)
        balance = spendable(lots, now_iso) - member.debt
        if plan is None or member.debt > 0:
            raise errors.InsufficientPoints(details={"points_needed": points, "balance": balance})
        if len(plan) > MAX_LOTS_PER_TRANSACTION:
            raise errors.TooManyLots(details={"lots": len(plan), "max": MAX_LOTS_PER_TRANSACTION})
        entry = LedgerEntry.new(member.member_id, program.id, "adjustment", -points, now, reason=reason,
                                lots=drawn(plan))
        from_spendable = sum(take for lot, take in plan if lot.available(now_iso))
        self.store.spend(uow, member, points, plan, entry)
        uow.result = {"transaction": entry.view(), "balance": balance - from_spendable}


# --- erasure (services/erasure.py) -----------------------------------------------------------------------------

def loyalty_members(table: Table, bundle: ConfigBundle, customer_id: str) -> list[dict]:
    """The customer's member items in the configured programs as stored (BatchGetItem by key, consistent)."""
    return LoyaltyStore(table).member_items(list(bundle.loyalty_programs), customer_id)


def move_member(table: Table, member: dict, anon: str, now: datetime) -> int:
    """Erasure: the member item moves to the anonymised id; lots and ledger stay as they are (the store's
    LoyaltyStore.move_member). Returns 1 if this call moved it."""
    return LoyaltyStore(table).move_member(member, anon, now)
