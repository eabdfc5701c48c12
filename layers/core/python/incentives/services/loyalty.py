"""Loyalty members over HTTP: the member view, the ledger, rewards paid with points, operator adjustments.

A reward is one TransactWriteItems: the member has no debt (ConditionCheck), the balance covers the price
(``lots_total >= price``), each lot drawn gives exactly from the points that were read (``remaining = :read``),
the ledger entry, the bound code of the reward's campaign (``attribute_not_exists``) with its issued count, and
the Idempotency-Key's answer. Concurrent spends of one member therefore cancel each other's stale reads; the
loser reads again and decides again, so the balance never goes negative and no code is issued without its
points (docs/decision-log.md "Loyalty").
"""
from __future__ import annotations

from datetime import date, datetime

from ..adapters import keys
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table, TransactionCancelled
from ..adapters.loyalty_store import LoyaltyStore, member_item
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, move_over_read
from ..domain import errors
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso
from ..domain.config import ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.ids import new_id
from ..domain.loyalty import (MAX_LOTS_PER_TRANSACTION, credit, is_available, live, local_date, lot_expiry,
                              plan_spend, summary, tier_by_id, warn_at, window_points)
from ..domain.programs import LoyaltyProgram
from .code_issuer import CodeIssuer, IssuedCode

MAX_PAGE = 100


class _Stale(Exception):
    """What the spend read (the member's debt, balance or lots) changed before the write: decide again."""


def _stale(_old) -> Exception:
    return _Stale()


def reward_view(code: IssuedCode, reward_id: str) -> dict:
    return {"id": reward_id, **code.view()}


def entry_view(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("pk", "sk", "member_id", "program_id")}


def spendable(lots: list[dict], now_iso: str) -> int:
    return sum(lot["remaining"] for lot in live(lots, now_iso) if is_available(lot, now_iso))


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

    def _member(self, program: LoyaltyProgram, customer_id: str) -> dict:
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
        lots = self.store.lots(member["member_id"], now)
        tier = tier_by_id(program, member.get("tier"))
        today = local_date(now, program.timezone)
        return {"program_id": program.id, "customer_id": customer_id,
                "points": summary(program, lots, member.get("debt", 0), now),
                "tier": tier.id if tier else None,
                "tier_points": window_points(member.get("window") or {}, program, today),
                "lifetime_points": member.get("lifetime_points", 0), "joined_at": member.get("joined_at")}

    def transactions(self, program_id: str, customer_id: str, limit: int, cursor: str | None) -> dict:
        program = self.program(program_id)
        member = self._member(program, customer_id)
        items, next_cursor = self.store.entries(member["member_id"], limit, cursor)
        return {"transactions": [entry_view(e) for e in items], "next_cursor": next_cursor}

    # --- rewards -----------------------------------------------------------------------------------------

    def redeem_reward(self, program_id: str, customer_id: str, reward_id: str, now: datetime,
                      uow: UnitOfWork | None = None) -> dict:
        """A reward paid with points: the spend and the reward's code in one unit of work (created: 201)."""
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
            member_id = member["member_id"]
            lots = self.store.lots(member_id, now)
            balance = spendable(lots, now_iso) - member.get("debt", 0)
            plan = plan_spend(lots, price, now_iso)
            if plan is None or member.get("debt", 0) > 0:
                raise errors.InsufficientPoints(details={"points_needed": price, "balance": balance})
            if len(plan) > MAX_LOTS_PER_TRANSACTION:
                raise errors.TooManyLots(details={"lots": len(plan), "max": MAX_LOTS_PER_TRANSACTION})
            if code is None:  # drawn once: a decided-again spend issues the same code
                code = self.issuer.draw(campaign, now, holder=holder_for_id(customer_id))[0]
            entry = self.store.entry_item(member_id, program.id, "reward", -price, now, reward_id=reward.id,
                                          campaign_id=campaign.id, code=code.code,
                                          lots=[{"lot_id": lot["lot_id"], "points": take} for lot, take in plan])
            uow.clear()
            self._spend(uow, program, customer_id, member_id, price, plan, entry)
            self.issuer.write(uow, [code], now)
            uow.result = {"reward": reward_view(code, reward.id), "points_spent": price,
                          "balance": balance - price, "transaction_id": entry["id"]}
            try:
                uow.commit(otherwise=_contention)
                return uow.result
            except _Stale:
                continue
        raise errors.Contention("the member's points kept changing; retry")

    def _spend(self, uow: UnitOfWork, program: LoyaltyProgram, customer_id: str, member_id: str, points: int,
               plan: list, entry: dict) -> None:
        """No debt, a balance that covers the points, each lot drawn from exactly what was read, the entry."""
        self.store.require_debt_free(uow, program.id, customer_id, _stale)
        self.store.add_to_balance(uow, member_id, -points, covers=points, explain=_stale)
        for lot, take in plan:
            self.store.take_from_lot(uow, lot, take, _stale)
        uow.put(entry)

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
                uow.commit()
                return uow.result
            except (TransactionCancelled, _Stale):
                continue  # the member changed between the read and the write
        raise errors.Contention("the member's points kept changing; retry")

    def _add(self, uow: UnitOfWork, program: LoyaltyProgram, customer_id: str, points: int, reason: str,
             expires_on: date | None, now: datetime) -> None:
        now_iso = iso(now)
        if expires_on is not None and expires_on < local_date(now, program.timezone):
            raise errors.InvalidRequest("expires_on is in the past (program time zone)", {"field": "expires_on"})
        member = self.store.member(program.id, customer_id)
        member_id = member["member_id"] if member else new_id("mbr")
        c = credit(program, member, points, now, now, earned=False)
        if member is None or c.debt_paid:
            item = member_item(program.id, customer_id, member_id, c.member, (member or {}).get("version", 0) + 1,
                               (member or {}).get("joined_at", now_iso),
                               iso(c.review_at) if c.review_at else None, now_iso)
            self.store.put_member(uow, item, member["version"] if member else None)
        lot = None
        if c.lot_points:
            expires = iso(lot_expiry(program, now, now, on_day=expires_on))
            warn = warn_at(program, lot_expiry(program, now, now, on_day=expires_on))
            lot = self.store.lot_item(program.id, member_id, c.lot_points, now_iso, expires, now_iso, "adjustment",
                                      iso(warn) if warn else None, now_iso)
        if member is None:
            self.store.new_balance(uow, member_id, program.id, customer_id, c.lot_points)
        elif c.lot_points:
            self.store.add_to_balance(uow, member_id, c.lot_points)
        if lot:
            uow.put(lot)
        entry = self.store.entry_item(member_id, program.id, "adjustment", points, now, reason=reason,
                                      lot_id=lot["lot_id"] if lot else None,
                                      expires_at=lot["expires_at"] if lot else None, debt_paid=c.debt_paid or None)
        uow.put(entry)
        lots = self.store.lots(member_id, now) if member else []
        balance = spendable(lots, now_iso) - (member or {}).get("debt", 0) + points
        uow.result = {"transaction": entry_view(entry), "balance": balance}

    def _remove(self, uow: UnitOfWork, program: LoyaltyProgram, customer_id: str, points: int, reason: str,
                now: datetime) -> None:
        now_iso = iso(now)
        member = self._member(program, customer_id)
        member_id = member["member_id"]
        lots = self.store.lots(member_id, now)
        plan = plan_spend(lots, points, now_iso, include_pending=True)
        balance = spendable(lots, now_iso) - member.get("debt", 0)
        if plan is None or member.get("debt", 0) > 0:
            raise errors.InsufficientPoints(details={"points_needed": points, "balance": balance})
        if len(plan) > MAX_LOTS_PER_TRANSACTION:
            raise errors.TooManyLots(details={"lots": len(plan), "max": MAX_LOTS_PER_TRANSACTION})
        entry = self.store.entry_item(member_id, program.id, "adjustment", -points, now, reason=reason,
                                      lots=[{"lot_id": lot["lot_id"], "points": take} for lot, take in plan])
        from_spendable = sum(take for lot, take in plan if is_available(lot, now_iso))
        self._spend(uow, program, customer_id, member_id, points, plan, entry)
        uow.result = {"transaction": entry_view(entry), "balance": balance - from_spendable}


def _contention(e: TransactionCancelled) -> Exception:
    return errors.Contention(details={"reasons": e.reasons})


# --- erasure (services/erasure.py) -----------------------------------------------------------------------------

def loyalty_members(table: Table, bundle: ConfigBundle, customer_id: str) -> list[dict]:
    """The customer's member items in the configured programs (BatchGetItem by key, consistent)."""
    store = LoyaltyStore(table)
    found = store.get_many([keys.loyalty_member(p, customer_id) for p in bundle.loyalty_programs], consistent=True)
    return list(found.values())


def move_member(table: Table, member: dict, anon: str, now: datetime) -> int:
    """Erasure: the member item moves to the anonymised id (delete over the version read + put), and the balance
    item's customer id becomes it. Lots and ledger entries sit under the random member id and hold no customer
    id, so the ledger stays exactly as it was. Returns 1 if this call moved it (an earning or refund that changed
    it meanwhile: moved from what it is now; None: a concurrent erasure moved it)."""
    def write(uow: UnitOfWork, read: dict) -> None:
        moved = {**read, "customer_id": anon, "updated_at": iso(now), "version": read.get("version", 0) + 1}
        moved["pk"], moved["sk"] = keys.loyalty_member(read["program_id"], anon)
        uow.put(moved)
        uow.set(keys.loyalty_balance(read["member_id"]), customer_id=anon)
    return move_over_read(table, (member["pk"], member["sk"]), member, lambda m: {"version": m.get("version")},
                          write, "the loyalty member")
