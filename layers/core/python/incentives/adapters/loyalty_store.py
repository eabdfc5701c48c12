"""The loyalty repository: members, their balance, lots and ledger entries, the orders that earned, and the two
sparse gsi1 partitions the points-expiry job reads (lots due for a warning or for expiry, members due for a tier
review). Keys come from keys.py; shapes are in docs/data-model.md "Loyalty".

The services (services/loyalty.py, loyalty_events.py, points_expiry.py) speak in the domain's objects (Member,
PointLot, LedgerEntry, LoyaltyOrder: domain/loyalty.py); the keys, the items and every expression and condition
live here, so the conditions that keep a balance from going negative are in one place: a lot is changed only
from the remaining points that were read (``remaining = :read``), the balance only while it covers the spend
(``lots_total >= :n``), the member only over the version that was read. A failed condition reaches the service as
the domain's typed error (MemberChanged, BalanceShort, LotChanged, OrderChanged: read again and decide again).
"""
from __future__ import annotations

import base64
import json
import zlib
from dataclasses import fields, replace
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.clock import iso
from ..domain.ids import new_id
from ..domain.loyalty import (EXPIRE, WARN, BalanceShort, LedgerEntry, LotChanged, LoyaltyOrder, Member,
                              MemberChanged, MemberState, OrderChanged, PointLot)
from . import keys, schema
from .dynamo import Table, from_item, to_av, values
from .unit_of_work import UnitOfWork, always, move_over_read

SHARDS = 8  # per program and gsi1 phase: a partition key takes ~1,000 writes/s, the job queries all 8
LOT_PREFIX = "LOT#"
ENTRY_PREFIX = "TX#"
HIGH = "~"  # sorts after every character used in keys
Page = dict  # an index page's LastEvaluatedKey, handed back as it is to read the next page

LOT_ATTRS = tuple(f.name for f in fields(PointLot) if f.name != "waiting")
ENTRY_ATTRS = ("pk", "sk", "id", "member_id", "program_id", "type", "points", "created_at")
ORDER_ATTRS = tuple(f.name for f in fields(LoyaltyOrder) if f.name != "lot_id")


def shard_of(member_id: str) -> int:
    return zlib.crc32(member_id.encode()) % SHARDS


# --- items <-> objects ----------------------------------------------------------------------------------------

def member_to_item(member: Member, now_iso: str) -> dict:
    """The member item as stored: the rule state, the random member id, and, above the lowest tier, its place in
    the tier-review index (review_at)."""
    pk, sk = keys.loyalty_member(member.program_id, member.customer_id)
    s = member.state
    item = {"pk": pk, "sk": sk, "member_id": member.member_id, "program_id": member.program_id,
            "customer_id": member.customer_id, "joined_at": member.joined_at or now_iso,
            "tier": s.tier, "lifetime_points": s.lifetime_points, "window": dict(s.window), "caps": dict(s.caps),
            "milestones": list(s.milestones), "debt": s.debt, "shortfall": s.shortfall,
            "version": member.version if member.version is not None else 0, "updated_at": now_iso}
    if member.review_at is not None:
        item["gsi1pk"] = keys.loyalty_tier_review(member.program_id, shard_of(member.member_id))
        item["gsi1sk"] = f"{member.review_at}#{member.member_id}"
        item["review_at"] = member.review_at
    return item


def member_from_item(item: dict) -> Member:
    state = MemberState(tier=item.get("tier"), lifetime_points=item.get("lifetime_points", 0),
                        window=dict(item.get("window") or {}), caps=dict(item.get("caps") or {}),
                        milestones=list(item.get("milestones") or []), debt=item.get("debt", 0),
                        shortfall=item.get("shortfall", 0))
    return Member(item["program_id"], item["customer_id"], item["member_id"], state, item.get("version", 0),
                  item.get("joined_at"), item.get("review_at"))


def _index(lot: PointLot) -> dict:
    """The lot's place in the expiry index: its warning moment while it waits for the warning, then its expiry."""
    if lot.waiting is None:
        return {}
    at = lot.warn_at if lot.waiting == WARN else lot.expires_at
    return {"gsi1pk": keys.loyalty_lots_due(lot.waiting, lot.program_id, shard_of(lot.member_id)),
            "gsi1sk": f"{at}#{lot.member_id}#{lot.lot_id}"}


def first_phase(lot: PointLot, now_iso: str) -> str:
    """A new lot waits for its warning while that is still ahead, else for its expiry. A lot whose warning
    moment has passed at creation (short expiry) is warned on the next run."""
    return WARN if lot.warn_at is not None and lot.expires_at >= now_iso else EXPIRE


def lot_to_item(lot: PointLot) -> dict:
    pk, sk = keys.loyalty_lot(lot.member_id, lot.expires_at, lot.lot_id)
    return {"pk": pk, "sk": sk, **{a: getattr(lot, a) for a in LOT_ATTRS if getattr(lot, a) is not None},
            **_index(lot)}


def lot_from_item(item: dict) -> PointLot:
    shard = shard_of(item["member_id"])
    waiting = next((phase for phase in (WARN, EXPIRE)
                    if item.get("gsi1pk") == keys.loyalty_lots_due(phase, item["program_id"], shard)), None)
    return PointLot(**{"earned_at": "", "available_at": "", "source": "",  # (every lot has them; reads stay total)
                       **{a: item[a] for a in LOT_ATTRS if a in item}}, waiting=waiting)


def entry_to_item(entry: LedgerEntry) -> dict:
    pk, sk = keys.loyalty_entry(entry.member_id, entry.created_at, entry.id)
    return {"pk": pk, "sk": sk, "id": entry.id, "member_id": entry.member_id, "program_id": entry.program_id,
            "type": entry.type, "points": entry.points, "created_at": entry.created_at, **entry.details}


def entry_from_item(item: dict) -> LedgerEntry:
    return LedgerEntry(item["id"], item["member_id"], item["program_id"], item["type"], item["points"],
                       item["created_at"], {k: v for k, v in item.items() if k not in ENTRY_ATTRS})


def order_to_item(order: LoyaltyOrder, lot: PointLot | None) -> dict:
    """``lot``: the lot the order earned (its sort key is stored as lot_sk)."""
    pk, sk = keys.loyalty_order(order.program_id, order.order_id)
    return {"pk": pk, "sk": sk, **{a: getattr(order, a) for a in ORDER_ATTRS if getattr(order, a) is not None},
            "lot_sk": keys.loyalty_lot(lot.member_id, lot.expires_at, lot.lot_id)[1] if lot else None}


def order_from_item(item: dict) -> LoyaltyOrder:
    lot_sk = item.get("lot_sk")
    return LoyaltyOrder(**{a: item[a] for a in ORDER_ATTRS if a in item},
                        lot_id=lot_sk.rsplit("#", 1)[1] if lot_sk else None)


def encode_cursor(key: dict | None) -> str | None:
    if not key:
        return None
    raw = json.dumps({"sk": key["sk"]["S"]}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        sk = json.loads(raw)["sk"]
    except (ValueError, KeyError, TypeError):
        raise errors.InvalidRequest("cursor is not one this API returned", {"field": "cursor"}) from None
    if not isinstance(sk, str) or not sk.startswith(ENTRY_PREFIX):
        raise errors.InvalidRequest("cursor is not one this API returned", {"field": "cursor"})
    return sk


def _lot_now(old: dict | None) -> Exception:
    return LotChanged(lot_from_item(old) if old else None)


class LoyaltyStore:
    def __init__(self, table: Table):
        self.table = table

    # --- reads ---------------------------------------------------------------------------------------------

    def member(self, program_id: str, customer_id: str) -> Member | None:
        item = self.table.get(*keys.loyalty_member(program_id, customer_id), consistent=True)
        return member_from_item(item) if item else None

    def member_and_order(self, program_id: str, customer_id: str, order_id: str | None,
                         consumed: tuple[str, str, str] | None = None,
                         ) -> tuple[Member | None, LoyaltyOrder | None, bool]:
        """One consistent BatchGetItem: the member, for order events the order's record, and whether the
        consumer's marker of (consumer, event id, effect) exists (a repeat is answered without a transaction; the
        marker's condition in the transaction stays what guarantees "once")."""
        mkey = keys.loyalty_member(program_id, customer_id)
        okey = keys.loyalty_order(program_id, order_id) if order_id is not None else None
        marker = keys.consumed(*consumed) if consumed is not None else None
        found = self.table.batch_get([k for k in (mkey, okey, marker) if k is not None], consistent=True)
        member, order = found.get(mkey), found.get(okey) if okey else None
        return (member_from_item(member) if member else None, order_from_item(order) if order else None,
                marker is not None and marker in found)

    def lots(self, member_id: str, now: datetime) -> list[PointLot]:
        """The member's unexpired lots with points left (consistent): the key range starts at LOT#<now>, so
        expired lots, however many, are never read."""
        items = self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            FilterExpression="remaining > :zero",
            ExpressionAttributeValues=values(pk=keys.loyalty_ledger(member_id), lo=f"{LOT_PREFIX}{iso(now)}",
                                             hi=f"{LOT_PREFIX}{HIGH}", zero=0),
            ConsistentRead=True)[0]
        return [lot_from_item(i) for i in items]

    def entries(self, member_id: str, limit: int, cursor: str | None) -> tuple[list[LedgerEntry], str | None]:
        """Ledger entries, newest first, one page."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :tx)",
            "ExpressionAttributeValues": values(pk=keys.loyalty_ledger(member_id), tx=ENTRY_PREFIX),
            "ScanIndexForward": False, "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = {"pk": to_av(keys.loyalty_ledger(member_id)),
                                           "sk": to_av(decode_cursor(cursor))}
        items, last = self._query(pages=1, **kwargs)
        return [entry_from_item(i) for i in items], encode_cursor(last)

    def _due(self, partition: str, before: str, start: Page | None, limit: int = 100) -> tuple[list[dict], Page | None]:
        """One page of a due partition of gsi1: items whose gsi1sk (a UTC time first) sorts before ``before``."""
        kwargs: dict[str, Any] = {
            "IndexName": schema.GSI1, "KeyConditionExpression": "gsi1pk = :p AND gsi1sk < :b",
            "ExpressionAttributeValues": values(p=partition, b=before), "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        return self._query(pages=1, **kwargs)

    def _query(self, pages: int | None = None, **kwargs: Any) -> tuple[list[dict], dict | None]:
        kwargs["TableName"] = self.table.name
        out: list[dict] = []
        n = 0
        while True:
            r = self.table.client.query(**kwargs)
            out.extend(from_item(i) for i in r["Items"])
            n += 1
            last = r.get("LastEvaluatedKey")
            if not last or (pages is not None and n >= pages):
                return out, last
            kwargs["ExclusiveStartKey"] = last

    # --- the expiry job's index (sparse gsi1 partitions per program, phase and shard) ----------------------

    def due_lots(self, phase: str, program_id: str, shard: int, before: str,
                 start: Page | None = None) -> tuple[list[PointLot], Page | None]:
        """One page of the lots whose warning (WARN) or expiry (EXPIRE) moment sorts before ``before``."""
        items, last = self._due(keys.loyalty_lots_due(phase, program_id, shard), before, start)
        return [lot_from_item(i) for i in items], last

    def due_reviews(self, program_id: str, shard: int, before: str,
                    start: Page | None = None) -> tuple[list[Member], Page | None]:
        """One page of the members whose tier review moment sorts before ``before`` (as the index has them: read
        the member again before deciding)."""
        items, last = self._due(keys.loyalty_tier_review(program_id, shard), before, start)
        return [member_from_item(i) for i in items], last

    def customers_of(self, member_ids: list[str]) -> dict[str, str]:
        """member id -> customer id, from the balance items (which name the customer)."""
        found = self.table.batch_get_many([keys.loyalty_balance(m) for m in member_ids]) if member_ids else {}
        return {m: found[keys.loyalty_balance(m)]["customer_id"] for m in member_ids
                if found.get(keys.loyalty_balance(m), {}).get("customer_id")}

    # --- writes, into the use case's unit of work (each with the domain error its failed condition means) --

    @staticmethod
    def save_member(uow: UnitOfWork, read: Member, state: MemberState, review_at: datetime | None,
                    now_iso: str) -> Member:
        """The whole member item with its new state, replaced only over the version that was read (a new member:
        only if there is none): otherwise MemberChanged. Returns the member as written."""
        written = replace(read, state=state, version=(read.version or 0) + 1, joined_at=read.joined_at or now_iso,
                          review_at=iso(review_at) if review_at else None)
        if read.stored:
            uow.put(member_to_item(written, now_iso), "version = :v", vals=values(v=read.version),
                    explain=always(MemberChanged))
        else:
            uow.put(member_to_item(written, now_iso), explain=always(MemberChanged))
        return written

    @staticmethod
    def require_debt_free(uow: UnitOfWork, member: Member) -> None:
        """A spend goes through only while the member exists and owes no points (a refund of spent points):
        otherwise MemberChanged."""
        uow.cond(keys.loyalty_member(member.program_id, member.customer_id),
                 "attribute_exists(pk) AND (attribute_not_exists(debt) OR debt <= :c_zero)",
                 explain=always(MemberChanged), c_zero=0)

    @staticmethod
    def open_balance(uow: UnitOfWork, member: Member, points: int) -> None:
        """A new member's balance (the sum of its lots); it names the customer for the expiry job's warnings."""
        pk, sk = keys.loyalty_balance(member.member_id)
        uow.put({"pk": pk, "sk": sk, "member_id": member.member_id, "program_id": member.program_id,
                 "customer_id": member.customer_id, "lots_total": points}, explain=always(MemberChanged))

    @staticmethod
    def add_to_balance(uow: UnitOfWork, member_id: str, delta: int, covers: int | None = None) -> None:
        """ADD to the sum of the member's lots; with ``covers``, only while the sum is at least that much:
        otherwise BalanceShort."""
        k = keys.loyalty_balance(member_id)
        uow.add(k, lots_total=delta)
        if covers is not None:
            uow.cond(k, "lots_total >= :c_covers", explain=always(BalanceShort), c_covers=covers)

    @classmethod
    def credit(cls, uow: UnitOfWork, member: Member, points: int, lot: PointLot | None,
               now_iso: str) -> PointLot | None:
        """Points credited to the member: its balance opened (a new member) or grown by ``points``, and their
        lot (None when nothing is left for a lot, e.g. all paid a debt). Returns the lot as written."""
        if not member.stored:
            cls.open_balance(uow, member, points)
        elif points:
            cls.add_to_balance(uow, member.member_id, points)
        return cls.add_lot(uow, lot, now_iso) if lot else None

    @staticmethod
    def add_lot(uow: UnitOfWork, lot: PointLot, now_iso: str) -> PointLot:
        """A new lot, in the expiry index (first_phase). Returns it as written."""
        lot = replace(lot, waiting=first_phase(lot, now_iso))
        uow.put(lot_to_item(lot))
        return lot

    @staticmethod
    def take_from_lot(uow: UnitOfWork, lot: PointLot, take: int) -> None:
        """Take points from a lot, from exactly the remaining points that were read (otherwise LotChanged); an
        emptied lot leaves the expiry index (the job never reads it again)."""
        k = keys.loyalty_lot(lot.member_id, lot.expires_at, lot.lot_id)
        left = lot.remaining - take
        uow.set(k, remaining=left)
        if left == 0:
            uow.remove(k, "gsi1pk", "gsi1sk")
        uow.cond(k, "remaining = :c_read", explain=_lot_now, c_read=lot.remaining)

    def spend(self, uow: UnitOfWork, member: Member, points: int, plan: list[tuple[PointLot, int]],
              entry: LedgerEntry) -> None:
        """A spend: the member owes nothing (MemberChanged), the balance covers the points (BalanceShort), each
        lot drawn gives from exactly what was read (LotChanged), and the ledger entry."""
        self.require_debt_free(uow, member)
        self.add_to_balance(uow, member.member_id, -points, covers=points)
        for lot, take in plan:
            self.take_from_lot(uow, lot, take)
        self.add_entry(uow, entry)

    @staticmethod
    def add_entry(uow: UnitOfWork, entry: LedgerEntry) -> None:
        uow.put(entry_to_item(entry))

    # --- orders -------------------------------------------------------------------------------------------------

    @staticmethod
    def earn_order(uow: UnitOfWork, order: LoyaltyOrder, read: LoyaltyOrder | None, lot: PointLot | None) -> None:
        """The order's points as earned, so a refund takes back what it earned; over the record read (a refund
        recorded before its payment arrived): otherwise OrderChanged."""
        item = order_to_item(order, lot)
        if read is None:
            uow.put(item, explain=always(OrderChanged))
        else:
            uow.put(item, "attribute_not_exists(points) AND refunded_amount = :r", vals=values(r=read.refunded_amount),
                    explain=always(OrderChanged))

    @staticmethod
    def refund_unearned(uow: UnitOfWork, program_id: str, order_id: str, amount: int, read: LoyaltyOrder | None,
                        now_iso: str) -> None:
        """A refund of an order that earned nothing (yet): the refunded amount is kept, so a payment arriving
        later earns only on the rest; on condition that it still earned nothing (otherwise OrderChanged)."""
        k = keys.loyalty_order(program_id, order_id)
        if read is None:
            uow.put({"pk": k[0], "sk": k[1], "program_id": program_id, "order_id": order_id,
                     "refunded_amount": amount, "created_at": now_iso}, explain=always(OrderChanged))
        else:
            uow.add(k, refunded_amount=amount)
            uow.cond(k, "attribute_not_exists(points)", explain=always(OrderChanged))

    @staticmethod
    def reverse_order(uow: UnitOfWork, read: LoyaltyOrder, refunded_amount: int, take_back: int) -> None:
        """The refunded amount and the points taken back so far, over the values read (OrderChanged)."""
        k = keys.loyalty_order(read.program_id, read.order_id)
        uow.set(k, refunded_amount=refunded_amount, reversed_points=read.reversed_points + take_back)
        uow.cond(k, "refunded_amount = :c_ra0 AND reversed_points = :c_rp0", explain=always(OrderChanged),
                 c_ra0=read.refunded_amount, c_rp0=read.reversed_points)

    # --- the expiry job's writes ------------------------------------------------------------------------------

    @staticmethod
    def move_to_expiry(uow: UnitOfWork, lot: PointLot, now_iso: str) -> None:
        """A warned lot moves from the warning partition to the expiry partition, on condition that it is still
        waiting for its warning (exactly one run moves it on): otherwise LotChanged."""
        moved = replace(lot, waiting=EXPIRE)
        index = _index(moved)
        uow.update(keys.loyalty_lot(lot.member_id, lot.expires_at, lot.lot_id),
                   "SET gsi1pk = :e, gsi1sk = :s, warned_at = :now", "gsi1pk = :w",
                   vals=values(e=index["gsi1pk"], s=index["gsi1sk"], now=now_iso,
                               w=keys.loyalty_lots_due(WARN, lot.program_id, shard_of(lot.member_id))),
                   explain=_lot_now)

    @staticmethod
    def expire_lot(uow: UnitOfWork, lot: PointLot, now_iso: str) -> None:
        """The lot's unspent points go and it leaves the index, on condition that its remaining points are as
        read and it still waits in the partition it was read from: otherwise LotChanged with the lot as it is."""
        if lot.waiting is None:
            raise ValueError("a lot out of the expiry index is not expired by the job")
        uow.update(keys.loyalty_lot(lot.member_id, lot.expires_at, lot.lot_id),
                   "SET remaining = :zero, expired_points = :left, expired_at = :now REMOVE gsi1pk, gsi1sk",
                   "remaining = :left AND gsi1pk = :p",
                   vals=values(zero=0, left=lot.remaining, now=now_iso,
                               p=keys.loyalty_lots_due(lot.waiting, lot.program_id, shard_of(lot.member_id))),
                   explain=_lot_now)

    # --- the consumer's marker, cancellations, erasure ----------------------------------------------------------

    @staticmethod
    def effect(program_id: str) -> str:
        """The loyalty consumer's effect of an event in one program (its marker: services/consumers.py)."""
        return f"LOYALTY#{program_id}"

    def member_items(self, program_ids: list[str], customer_id: str) -> list[dict]:
        """The customer's member items in these programs as stored (BatchGetItem by key, consistent), for
        erasure."""
        found = self.table.batch_get_many([keys.loyalty_member(p, customer_id) for p in program_ids], True)
        return list(found.values())

    def move_member(self, item: dict, anon: str, now: datetime) -> int:
        """Erasure: the member item moves to the anonymised id (delete over the version read + put), and the
        balance item's customer id becomes it. Lots and ledger entries sit under the random member id and hold no
        customer id, so the ledger stays exactly as it was. Returns 1 if this call moved it (an earning or refund
        that changed it meanwhile: moved from what it is now; 0: a concurrent erasure moved it)."""
        def write(uow: UnitOfWork, read: dict) -> None:
            moved = {**read, "customer_id": anon, "updated_at": iso(now), "version": read.get("version", 0) + 1}
            moved["pk"], moved["sk"] = keys.loyalty_member(read["program_id"], anon)
            uow.put(moved)
            uow.set(keys.loyalty_balance(read["member_id"]), customer_id=anon)
        return move_over_read(self.table, (item["pk"], item["sk"]), item, lambda m: {"version": m.get("version")},
                              write, "the loyalty member")

    # --- items for bulk writers (the benchmark) -----------------------------------------------------------------

    @staticmethod
    def lot_item(program_id: str, member_id: str, points: int, earned_at: str, expires_at: str, available_at: str,
                 source: str, warn_at: str | None, now_iso: str, **details: Any) -> dict:
        """A new lot's item exactly as an earning writes it (keys and index attributes)."""
        lot = PointLot(new_id("lot"), member_id, program_id, points, points, earned_at, expires_at, available_at,
                       source, warn_at, details.get("event_id"), details.get("order_id"))
        return lot_to_item(replace(lot, waiting=first_phase(lot, now_iso)))
