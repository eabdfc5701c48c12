"""Loyalty members over HTTP: the member view, the ledger, rewards paid with points, operator adjustments.

A reward is one TransactWriteItems: the member has no debt (ConditionCheck), the balance covers the price
(``lots_total >= price``), each lot drawn gives exactly from the points that were read (``remaining = :read``),
the ledger entry, the bound code of the reward's campaign (``attribute_not_exists``) with its issued count, and
the Idempotency-Key's answer. Concurrent spends of one member therefore cancel each other's stale reads; the
loser reads again and decides again, so the balance never goes negative and no code is issued without its
points (docs/decision-log.md "Loyalty").
"""
from __future__ import annotations

import random
import time
from datetime import date, datetime

from ..adapters import keys
from ..adapters.code_store import code_item
from ..adapters.codespace_store import CodeSpaceStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table, TransactionCancelled, values
from ..adapters.idempotency import IdempotencyGuard
from ..adapters.loyalty_store import LoyaltyStore, member_item
from ..domain import errors
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso
from ..domain.config import Campaign, ConfigBundle
from ..domain.customers import holder_for_id
from ..domain.ids import new_id
from ..domain.loyalty import (MAX_LOTS_PER_TRANSACTION, credit, is_available, live, local_date, lot_expiry,
                              plan_spend, summary, tier_by_id, warn_at, window_points)
from ..domain.programs import LoyaltyProgram
from .issuance import card_fields, space_for

DEADLINE_S = 8.0  # stale reads under concurrent spends are decided again, with jittered backoff, this long
MAX_PAGE = 100


def _backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, min(0.25, 0.004 * 2**min(attempt, 8))))


class RewardCodes:
    """Codes of a reward's campaign (or gift cards / store credit), bound to the member and written inside the
    transaction that pays for them. The counter is reserved first (one UpdateItem); a transaction that does not
    commit only leaves that counter unused (codes are unique by construction, see issuance.py)."""

    def __init__(self, table: Table):
        self.table = table
        self.spaces = CodeSpaceStore(table)

    def draw(self, campaign: Campaign, now: datetime) -> dict:
        if campaign.codes.type != "unique":
            raise errors.CodesNotIssuable(details={"campaign_id": campaign.id})
        space = space_for(campaign)
        r = self.spaces.reserve(space, 1)
        at = campaign.codes.expiry_for(now)
        return {"code": space.code(r.key, r.start), "campaign_id": campaign.id, "expires_at": iso(at) if at else None,
                **card_fields(campaign)}

    def ops(self, drawn: list[dict], customer_id: str, now: datetime) -> list[dict]:
        """The code puts and one issued-count update per campaign (a transaction may touch an item once)."""
        holder = holder_for_id(customer_id)
        ops, per_campaign = [], {}
        for d in drawn:
            ops.append(self.table.put_op(code_item(d["code"], d["campaign_id"], iso(now), d["expires_at"], holder,
                                                   balance=d.get("balance"), currency=d.get("currency"))))
            per_campaign[d["campaign_id"]] = per_campaign.get(d["campaign_id"], 0) + 1
        for cid, n in per_campaign.items():
            ops.append(self.table.update_op(*keys.campaign_issued_shard(cid, 0), "ADD issued :n", vals=values(n=n)))
        return ops


def reward_view(drawn: dict, reward_id: str) -> dict:
    out = {"id": reward_id, "code": drawn["code"], "campaign_id": drawn["campaign_id"],
           "expires_at": drawn["expires_at"]}
    if drawn.get("balance") is not None:
        out["balance"] = {"amount": drawn["balance"], "currency": drawn["currency"]}
    return out


def entry_view(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k not in ("pk", "sk", "member_id", "program_id")}


def spendable(lots: list[dict], now_iso: str) -> int:
    return sum(lot["remaining"] for lot in live(lots, now_iso) if is_available(lot, now_iso))


class LoyaltyMembers:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = LoyaltyStore(table)
        self.codes = RewardCodes(table)

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
                      guard: IdempotencyGuard | None = None) -> tuple[int, dict]:
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
        drawn: dict | None = None
        start, attempt = time.monotonic(), 0
        while True:
            member = self._member(program, customer_id)
            member_id = member["member_id"]
            lots = self.store.lots(member_id, now)
            balance = spendable(lots, now_iso) - member.get("debt", 0)
            plan = plan_spend(lots, price, now_iso)
            if plan is None or member.get("debt", 0) > 0:
                raise errors.InsufficientPoints(details={"points_needed": price, "balance": balance})
            if len(plan) > MAX_LOTS_PER_TRANSACTION:
                raise errors.TooManyLots(details={"lots": len(plan), "max": MAX_LOTS_PER_TRANSACTION})
            if drawn is None:
                drawn = self.codes.draw(campaign, now)
            entry = self.store.entry_item(member_id, program.id, "reward", -price, now, reward_id=reward.id,
                                          campaign_id=campaign.id, code=drawn["code"],
                                          lots=[{"lot_id": lot["lot_id"], "points": take} for lot, take in plan])
            body = {"reward": reward_view(drawn, reward.id), "points_spent": price, "balance": balance - price,
                    "transaction_id": entry["id"]}
            ops = [self.store.debt_free_op(program.id, customer_id),
                   self.store.balance_add_op(member_id, -price, covers=price),
                   *(self.store.lot_take_op(lot, take) for lot, take in plan),
                   self.table.put_op(entry),
                   *self.codes.ops([drawn], customer_id, now)]
            if guard:
                ops.append(guard.completion_op(201, body))
            try:
                self.table.transact(ops)
                return 201, body
            except TransactionCancelled as e:
                stale = e.failed(0) or e.failed(1) or any(e.failed(2 + i) for i in range(len(plan)))
                if guard and e.failed(len(ops) - 1):
                    raise errors.RequestInProgress() from None
                if not stale:
                    raise errors.Contention(details={"reasons": e.reasons}) from None
            attempt += 1
            if time.monotonic() - start > DEADLINE_S:
                raise errors.Contention("the member's points kept changing; retry")
            _backoff(attempt)  # another spend, earning or expiry changed what we read: decide again

    # --- operator adjustments ----------------------------------------------------------------------------

    def adjust(self, program_id: str, customer_id: str, points: int, reason: str, expires_on: date | None,
               now: datetime, guard: IdempotencyGuard | None = None) -> tuple[int, dict]:
        """A correction with a reason, recorded in the ledger. Positive: a new lot (expiring on ``expires_on`` or
        after the program's expiry), paying a debt first; a customer who is not a member joins. Negative: taken
        from spendable lots earliest-expiring first, then pending ones; never below zero (insufficient_points).
        Adjustments move the balance only: not lifetime points, tiers or milestones."""
        program = self.program(program_id)
        start, attempt = time.monotonic(), 0
        while True:
            try:
                if points > 0:
                    return self._add(program, customer_id, points, reason, expires_on, now, guard)
                return self._remove(program, customer_id, -points, reason, now, guard)
            except TransactionCancelled as e:
                if guard and e.failed(len(e.reasons) - 1):
                    raise errors.RequestInProgress() from None
            attempt += 1
            if time.monotonic() - start > DEADLINE_S:
                raise errors.Contention("the member's points kept changing; retry")
            _backoff(attempt)

    def _add(self, program: LoyaltyProgram, customer_id: str, points: int, reason: str, expires_on: date | None,
             now: datetime, guard: IdempotencyGuard | None) -> tuple[int, dict]:
        now_iso = iso(now)
        if expires_on is not None and expires_on < local_date(now, program.timezone):
            raise errors.InvalidRequest("expires_on is in the past (program time zone)", {"field": "expires_on"})
        member = self.store.member(program.id, customer_id)
        member_id = member["member_id"] if member else new_id("mbr")
        c = credit(program, member, points, now, now, earned=False)
        ops = []
        if member is None or c.debt_paid:
            item = member_item(program.id, customer_id, member_id, c.member, (member or {}).get("version", 0) + 1,
                               (member or {}).get("joined_at", now_iso),
                               iso(c.review_at) if c.review_at else None, now_iso)
            ops.append(self.store.member_op(item, member["version"] if member else None))
        lot = None
        if c.lot_points:
            expires = iso(lot_expiry(program, now, now, on_day=expires_on))
            warn = warn_at(program, lot_expiry(program, now, now, on_day=expires_on))
            lot = self.store.lot_item(program.id, member_id, c.lot_points, now_iso, expires, now_iso, "adjustment",
                                      iso(warn) if warn else None, now_iso)
        if member is None:
            ops.append(self.store.new_balance_op(member_id, program.id, customer_id, c.lot_points))
        elif c.lot_points:
            ops.append(self.store.balance_add_op(member_id, c.lot_points))
        if lot:
            ops.append(self.table.put_op(lot))
        entry = self.store.entry_item(member_id, program.id, "adjustment", points, now, reason=reason,
                                      lot_id=lot["lot_id"] if lot else None,
                                      expires_at=lot["expires_at"] if lot else None, debt_paid=c.debt_paid or None)
        ops.append(self.table.put_op(entry))
        lots = self.store.lots(member_id, now) if member else []
        balance = spendable(lots, now_iso) - (member or {}).get("debt", 0) + points
        body = {"transaction": entry_view(entry), "balance": balance}
        if guard:
            ops.append(guard.completion_op(201, body))
        self.table.transact(ops)
        return 201, body

    def _remove(self, program: LoyaltyProgram, customer_id: str, points: int, reason: str, now: datetime,
                guard: IdempotencyGuard | None) -> tuple[int, dict]:
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
        body = {"transaction": entry_view(entry), "balance": balance - from_spendable}
        ops = [self.store.debt_free_op(program.id, customer_id),
               self.store.balance_add_op(member_id, -points, covers=points),
               *(self.store.lot_take_op(lot, take) for lot, take in plan),
               self.table.put_op(entry)]
        if guard:
            ops.append(guard.completion_op(201, body))
        self.table.transact(ops)
        return 201, body


# --- erasure (services/erasure.py) -----------------------------------------------------------------------------

def loyalty_members(table: Table, bundle: ConfigBundle, customer_id: str) -> list[dict]:
    """The customer's member items in the configured programs (BatchGetItem by key, consistent)."""
    store = LoyaltyStore(table)
    found = store.get_many([keys.loyalty_member(p, customer_id) for p in bundle.loyalty_programs], consistent=True)
    return list(found.values())


def move_member(table: Table, member: dict, anon: str, now: datetime) -> int:
    """Erasure: the member item moves to the anonymised id (delete over the version read + put), and the balance
    item's customer id becomes it. Lots and ledger entries sit under the random member id and hold no customer
    id, so the ledger stays exactly as it was. Returns 1 if this call moved it."""
    for _ in range(5):
        if member is None:
            return 0
        moved = {**member, "customer_id": anon, "updated_at": iso(now)}
        moved["pk"], moved["sk"] = keys.loyalty_member(member["program_id"], anon)
        moved["version"] = member.get("version", 0) + 1
        ops = [{"Delete": {"TableName": table.name, "Key": {"pk": {"S": member["pk"]}, "sk": {"S": member["sk"]}},
                           "ConditionExpression": "version = :v", "ExpressionAttributeValues": values(v=member["version"]),
                           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}},
               table.put_op(moved),
               table.update_op(*keys.loyalty_balance(member["member_id"]), "SET customer_id = :anon",
                               vals=values(anon=anon))]
        try:
            table.transact(ops)
            return 1
        except TransactionCancelled as e:
            if not e.failed(0):
                raise errors.Contention(details={"reasons": e.reasons}) from None
            member = e.items[0]  # an earning or refund changed it meanwhile (None: a concurrent erasure moved it)
    raise errors.Contention("the loyalty member kept changing; retry")
