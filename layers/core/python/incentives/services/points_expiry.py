"""The points-expiry job (scheduled, and POST /v1/jobs/points-expiry/run): per loyalty program
1. warnings: lots whose warning moment has passed get one ``points.expiring`` event each (an outbox item, in the
   transaction that moves the lot on: services/outbox.py);
2. expiry: lots whose expiry moment has passed lose exactly their unspent points (one ledger entry per lot);
3. tier reviews: members whose tier window may have dropped below their tier are looked at again (downgrades).

It reads only what is due: each phase queries sparse gsi1 partitions (LoyaltyStore.due_lots, due_reviews; SHARDS
per program) with ``gsi1sk < now``, and whatever it handles leaves that partition in the same write (a warned lot
moves to the expiry partition, an expired or emptied lot leaves the index, a reviewed member gets its next review
moment). Lots that are not due, however many, are never read.
Every step is conditional on the state it read, so two runs at once, or a run during a spend, change each lot
once.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from typing import TypeVar

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.loyalty_store import EXPIRE, SHARDS, WARN, LoyaltyStore, Page
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, always, contended
from ..domain import errors
from ..domain.clock import iso
from ..domain.loyalty import LedgerEntry, LotChanged, Member, MemberChanged, PointLot, rank, review
from ..domain.programs import LoyaltyProgram
from .loyalty_events import tier_changed
from .outbox import event_put

POINTS_EXPIRING = "points.expiring"
T = TypeVar("T")
RESERVE_S = 5.0  # stop starting new pages when less than this is left of the invocation


class _OutOfTime(Exception):
    pass


def warning_id(lot: PointLot | dict) -> str:
    """The points.expiring event's id, derived from the lot it warns about: one warning per lot, ever. (A dict:
    the warning's own data, which names the member and the lot.)"""
    member_id, lot_id = (lot.member_id, lot.lot_id) if isinstance(lot, PointLot) else (lot["member_id"], lot["lot_id"])
    return f"loyalty.{member_id}.lot.{lot_id}.expiring"


class PointsExpiry:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.store = LoyaltyStore(table)

    def run(self, now: datetime, time_left: Callable[[], float] | None = None) -> dict:
        """``time_left()``: seconds left of the invocation. A run that runs out answers ``more: true``; the next
        one continues (nothing it did is done again)."""
        time_left = time_left or (lambda: 1e9)
        bundle = self.config.bundle()
        out: dict = {"now": iso(now), "programs": {}, "more": False}
        try:
            for program in bundle.loyalty_programs.values():
                counts = out["programs"][program.id] = {"warned": 0, "expired_lots": 0, "expired_points": 0,
                                                        "tiers_reviewed": 0, "downgraded": 0}
                self._warnings(program, now, counts, time_left)
                self._expiries(program, now, counts, time_left)
                self._reviews(program, now, counts, time_left)
        except _OutOfTime:
            out["more"] = True
        return out

    def _pages(self, read: Callable[[Page | None], tuple[list[T], Page | None]],
               time_left: Callable[[], float]) -> Iterator[list[T]]:
        start = None
        while True:
            if time_left() < RESERVE_S:
                raise _OutOfTime()
            items, start = read(start)
            yield items
            if not start:
                return

    # --- 1. warnings -------------------------------------------------------------------------------------------

    def _warnings(self, program: LoyaltyProgram, now: datetime, counts: dict,
                  time_left: Callable[[], float]) -> None:
        now_iso = iso(now)
        for shard in range(SHARDS):
            pages = self._pages(partial(self.store.due_lots, WARN, program.id, shard, now_iso), time_left)
            for lots in pages:
                customers = self.store.customers_of([lot.member_id for lot in lots])
                for lot in lots:
                    if lot.expires_at < now_iso:  # the warning was missed (job down): expire it now
                        self._expire(program, lot, WARN, now, counts)
                        continue
                    customer_id = customers.get(lot.member_id)
                    warn = program.enabled and bool(customer_id)  # a switched-off program sends no warnings
                    # claims the warning: exactly one run moves the lot on, and only that run puts the warning, in
                    # the same transaction (an outbox event: the fan-out publishes it, however often PutEvents fails)
                    uow = UnitOfWork(self.table)
                    self.store.move_to_expiry(uow, lot, now_iso)
                    if warn:
                        uow.op(event_put(self.table, warning_id(lot), POINTS_EXPIRING, customer_id, now, now, {
                            "program_id": program.id, "member_id": lot.member_id, "lot_id": lot.lot_id,
                            "warning_id": lot.lot_id, "points": lot.remaining,
                            "expires_at": lot.expires_at}), explain=always(LotChanged))
                    try:
                        uow.commit(otherwise=contended)
                    except LotChanged:
                        continue  # warned by another run (which put the warning), or spent to zero meanwhile
                    if not warn:
                        continue
                    counts["warned"] += 1

    # --- 2. expiry -------------------------------------------------------------------------------------------

    def _expiries(self, program: LoyaltyProgram, now: datetime, counts: dict, time_left: Callable[[], float]) -> None:
        for shard in range(SHARDS):
            pages = self._pages(partial(self.store.due_lots, EXPIRE, program.id, shard, iso(now)), time_left)
            for lots in pages:
                for lot in lots:
                    self._expire(program, lot, EXPIRE, now, counts)

    def _expire(self, program: LoyaltyProgram, lot: PointLot | None, phase: str, now: datetime,
                counts: dict) -> None:
        """The lot's unspent points go, in one transaction with the balance and the ledger entry; conditional on
        the remaining points read and on the lot still waiting in the partition it was read from (the index image
        may be a moment old: a failed condition hands back the current lot, which is tried again)."""
        for _ in CONFLICTS.attempts():
            if lot is None or lot.waiting != phase or lot.remaining <= 0:
                return  # expired by another run, or spent to zero
            left = lot.remaining
            uow = UnitOfWork(self.table)
            self.store.expire_lot(uow, lot, iso(now))
            self.store.add_to_balance(uow, lot.member_id, -left)
            self.store.add_entry(uow, LedgerEntry.new(lot.member_id, program.id, "expiry", -left, now,
                                                      lot_id=lot.lot_id, expires_at=lot.expires_at,
                                                      lot_points=lot.points))
            try:
                uow.commit(otherwise=contended)
            except LotChanged as e:
                lot = e.lot  # the lot as it is now: decide again
                continue
            counts["expired_lots"] += 1
            counts["expired_points"] += left
            return
        raise errors.Contention("a lot kept changing while it expired; the next run takes it")

    # --- 3. tier reviews ---------------------------------------------------------------------------------------

    def _reviews(self, program: LoyaltyProgram, now: datetime, counts: dict, time_left: Callable[[], float]) -> None:
        for shard in range(SHARDS):
            pages = self._pages(partial(self.store.due_reviews, program.id, shard, iso(now)), time_left)
            for members in pages:
                for indexed in members:
                    self._review(program, indexed, now, counts)

    def _review(self, program: LoyaltyProgram, indexed: Member, now: datetime, counts: dict) -> None:
        """The tier the window's points hold now (down as well as up), and the next review moment."""
        now_iso = iso(now)
        for _ in CONFLICTS.attempts():
            member = self.store.member(indexed.program_id, indexed.customer_id)
            if member is None or (member.review_at or "~") >= now_iso:
                return  # moved (erased) or not due any more (an earning moved the review)
            r = review(program, member.state, now)
            uow = UnitOfWork(self.table)
            written = self.store.save_member(uow, member, r.state, r.review_at, now_iso)
            if r.changed:
                uow.op(tier_changed(self.table, program, member.member_id, written.version or 0,
                                    member.customer_id, r.before, r.after, now))
            try:
                uow.commit(otherwise=contended)
            except MemberChanged:
                continue  # an earning changed the member meanwhile: look again
            counts["tiers_reviewed"] += 1
            if r.changed and rank(program, r.after) < rank(program, r.before):
                counts["downgraded"] += 1
            return
