"""Loyalty items in the single table (keys in keys.py, shapes in docs/data-model.md "Loyalty"): members, their
balance, lots and ledger entries, orders that earned, and the two sparse gsi1 partitions the points-expiry job
reads (lots due for a warning or for expiry, members due for a tier review).

Every write the services make goes through an operation built here, so the conditions that keep a balance from
going negative live in one place: a lot is changed only from the remaining points that were read
(``remaining = :read``), the balance only while it covers the spend (``lots_total >= :n``).
"""
from __future__ import annotations

import base64
import json
import zlib
from datetime import datetime
from typing import Any

from ..domain import errors
from ..domain.clock import iso, iso_ms
from ..domain.ids import new_id
from . import keys, schema
from .dynamo import Table, from_item, to_av, values
from .unit_of_work import Explain, UnitOfWork

SHARDS = 8  # per program and gsi1 phase: a partition key takes ~1,000 writes/s, the job queries all 8
WARN, EXPIRE = "WARN", "EXPIRE"
LOT_PREFIX = "LOT#"
ENTRY_PREFIX = "TX#"
HIGH = "~"  # sorts after every character used in keys


def shard_of(member_id: str) -> int:
    return zlib.crc32(member_id.encode()) % SHARDS


def lot_index(program_id: str, member_id: str, lot_id: str, expires_at: str, warn_at: str | None,
              now_iso: str) -> dict:
    """The lot's place in the expiry index: waiting for its warning while that is still ahead, else for its
    expiry. A lot whose warning moment has passed at creation (short expiry) is warned on the next run."""
    shard = shard_of(member_id)
    if warn_at is not None and expires_at >= now_iso:
        return {"gsi1pk": keys.loyalty_lots_due(WARN, program_id, shard), "gsi1sk": f"{warn_at}#{member_id}#{lot_id}"}
    return {"gsi1pk": keys.loyalty_lots_due(EXPIRE, program_id, shard), "gsi1sk": f"{expires_at}#{member_id}#{lot_id}"}


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


class LoyaltyStore:
    def __init__(self, table: Table):
        self.table = table

    # --- reads ---------------------------------------------------------------------------------------------

    def member(self, program_id: str, customer_id: str) -> dict | None:
        return self.table.get(*keys.loyalty_member(program_id, customer_id), consistent=True)

    def member_and_order(self, program_id: str, customer_id: str, order_id: str | None,
                         marker: tuple[str, str] | None = None) -> tuple[dict | None, dict | None, bool]:
        """One consistent BatchGetItem: the member item, for order events the order's item, and whether the
        consumer's marker of this event exists (a repeat is answered without a transaction; the marker's
        condition in the transaction stays what guarantees "once")."""
        mkey = keys.loyalty_member(program_id, customer_id)
        okey = keys.loyalty_order(program_id, order_id) if order_id is not None else None
        found = self.table.batch_get([k for k in (mkey, okey, marker) if k is not None], consistent=True)
        return found.get(mkey), found.get(okey) if okey else None, marker is not None and marker in found

    def balance(self, member_id: str) -> dict | None:
        return self.table.get(*keys.loyalty_balance(member_id), consistent=True)

    def lots(self, member_id: str, now: datetime) -> list[dict]:
        """The member's unexpired lots with points left (consistent): the key range starts at LOT#<now>, so
        expired lots, however many, are never read."""
        return self._query(
            KeyConditionExpression="pk = :pk AND sk BETWEEN :lo AND :hi",
            FilterExpression="remaining > :zero",
            ExpressionAttributeValues=values(pk=keys.loyalty_ledger(member_id), lo=f"{LOT_PREFIX}{iso(now)}",
                                             hi=f"{LOT_PREFIX}{HIGH}", zero=0),
            ConsistentRead=True)[0]

    def entries(self, member_id: str, limit: int, cursor: str | None) -> tuple[list[dict], str | None]:
        """Ledger entries, newest first, one page."""
        kwargs: dict[str, Any] = {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :tx)",
            "ExpressionAttributeValues": values(pk=keys.loyalty_ledger(member_id), tx=ENTRY_PREFIX),
            "ScanIndexForward": False, "Limit": limit}
        if cursor:
            kwargs["ExclusiveStartKey"] = {"pk": to_av(keys.loyalty_ledger(member_id)),
                                           "sk": to_av(decode_cursor(cursor))}
        items, last = self._query(pages=1, **kwargs)
        return items, encode_cursor(last)

    def due(self, partition: str, before: str, start: dict | None = None,
            limit: int = 100) -> tuple[list[dict], dict | None]:
        """One page of a due partition of gsi1: items whose gsi1sk (a UTC time first) sorts before ``before``."""
        kwargs: dict[str, Any] = {
            "IndexName": schema.GSI1, "KeyConditionExpression": "gsi1pk = :p AND gsi1sk < :b",
            "ExpressionAttributeValues": values(p=partition, b=before), "Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        return self._query(pages=1, **kwargs)

    def get_many(self, wanted: list[tuple[str, str]], consistent: bool = False) -> dict[tuple[str, str], dict]:
        return self.table.batch_get_many(wanted, consistent)

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

    # --- writes, into the use case's unit of work (each with how its failed condition is explained) ---------

    @staticmethod
    def put_member(uow: UnitOfWork, member: dict, read_version: int | None, explain: Explain | None = None) -> None:
        """The whole member item, replaced only over the version that was read (a new member: only if none)."""
        if read_version is None:
            uow.put(member, explain=explain)
        else:
            uow.put(member, "version = :v", vals=values(v=read_version), explain=explain)

    @staticmethod
    def require_debt_free(uow: UnitOfWork, program_id: str, customer_id: str, explain: Explain | None = None) -> None:
        """A spend goes through only while the member owes no points (a refund of spent points)."""
        uow.cond(keys.loyalty_member(program_id, customer_id),
                 "attribute_exists(pk) AND (attribute_not_exists(debt) OR debt <= :c_zero)", explain=explain,
                 c_zero=0)

    @staticmethod
    def new_balance(uow: UnitOfWork, member_id: str, program_id: str, customer_id: str, points: int) -> None:
        pk, sk = keys.loyalty_balance(member_id)
        uow.put({"pk": pk, "sk": sk, "member_id": member_id, "program_id": program_id, "customer_id": customer_id,
                 "lots_total": points})

    @staticmethod
    def add_to_balance(uow: UnitOfWork, member_id: str, delta: int, covers: int | None = None,
                       explain: Explain | None = None) -> None:
        """ADD to the sum of the member's lots; with ``covers``, only while the sum is at least that much."""
        k = keys.loyalty_balance(member_id)
        uow.add(k, lots_total=delta)
        if covers is not None:
            uow.cond(k, "lots_total >= :c_covers", explain=explain, c_covers=covers)

    @staticmethod
    def take_from_lot(uow: UnitOfWork, lot: dict, take: int, explain: Explain | None = None) -> None:
        """Take points from a lot, from exactly the remaining points that were read; an emptied lot leaves the
        expiry index (the job never reads it again)."""
        k = (lot["pk"], lot["sk"])
        left = lot["remaining"] - take
        uow.set(k, remaining=left)
        if left == 0:
            uow.remove(k, "gsi1pk", "gsi1sk")
        uow.cond(k, "remaining = :c_read", explain=explain, c_read=lot["remaining"])

    # --- the expiry job's index (sparse gsi1 partitions per program, phase and shard) ----------------------

    def due_lots(self, phase: str, program_id: str, shard: int, before: str,
                 start: dict | None = None) -> tuple[list[dict], dict | None]:
        """One page of the lots whose warning (WARN) or expiry (EXPIRE) moment sorts before ``before``."""
        return self.due(keys.loyalty_lots_due(phase, program_id, shard), before, start)

    def due_reviews(self, program_id: str, shard: int, before: str,
                    start: dict | None = None) -> tuple[list[dict], dict | None]:
        """One page of the members whose tier review moment sorts before ``before``."""
        return self.due(keys.loyalty_tier_review(program_id, shard), before, start)

    def customers_of(self, member_ids: list[str]) -> dict[str, str]:
        """member id -> customer id, from the balance items (which name the customer)."""
        found = self.get_many([keys.loyalty_balance(m) for m in member_ids]) if member_ids else {}
        return {m: found[keys.loyalty_balance(m)]["customer_id"] for m in member_ids
                if found.get(keys.loyalty_balance(m), {}).get("customer_id")}

    def member_item_again(self, indexed: dict) -> dict | None:
        """The member item an index page named, read consistently."""
        return self.table.get(indexed["pk"], indexed["sk"], consistent=True)

    @staticmethod
    def waiting_in(lot: dict, phase: str, program_id: str, shard: int) -> bool:
        return lot.get("gsi1pk") == keys.loyalty_lots_due(phase, program_id, shard)

    @staticmethod
    def move_to_expiry(uow: UnitOfWork, lot: dict, program_id: str, shard: int, now_iso: str,
                       explain: Explain | None = None) -> None:
        """A warned lot moves from the warning partition to the expiry partition, on condition that it is still
        waiting for its warning (exactly one run moves it on)."""
        uow.update((lot["pk"], lot["sk"]), "SET gsi1pk = :e, gsi1sk = :s, warned_at = :now", "gsi1pk = :w",
                   vals=values(e=keys.loyalty_lots_due(EXPIRE, program_id, shard),
                               s=f"{lot['expires_at']}#{lot['member_id']}#{lot['lot_id']}", now=now_iso,
                               w=keys.loyalty_lots_due(WARN, program_id, shard)), explain=explain)

    @staticmethod
    def expire_lot(uow: UnitOfWork, lot: dict, phase: str, program_id: str, shard: int, now_iso: str,
                   explain: Explain | None = None) -> None:
        """The lot's unspent points go and it leaves the index, on condition that its remaining points are as
        read and it still waits in the partition it was read from."""
        uow.update((lot["pk"], lot["sk"]), "SET remaining = :zero, expired_points = :left, expired_at = :now "
                   "REMOVE gsi1pk, gsi1sk", "remaining = :left AND gsi1pk = :p",
                   vals=values(zero=0, left=lot["remaining"], now=now_iso,
                               p=keys.loyalty_lots_due(phase, program_id, shard)), explain=explain)

    # --- the same as single transaction items, for callers not yet on a unit of work (points_expiry.py) ----

    @staticmethod
    def lot_item(program_id: str, member_id: str, points: int, earned_at: str, expires_at: str, available_at: str,
                 source: str, warn_at: str | None, now_iso: str, **details: Any) -> dict:
        lot_id = new_id("lot")
        pk, sk = keys.loyalty_lot(member_id, expires_at, lot_id)
        return {"pk": pk, "sk": sk, "lot_id": lot_id, "member_id": member_id, "program_id": program_id,
                "points": points, "remaining": points, "earned_at": earned_at, "expires_at": expires_at,
                "available_at": available_at, "source": source, "warn_at": warn_at,
                **lot_index(program_id, member_id, lot_id, expires_at, warn_at, now_iso),
                **{k: v for k, v in details.items() if v is not None}}

    @staticmethod
    def entry_item(member_id: str, program_id: str, kind: str, points: int, now: datetime, **details: Any) -> dict:
        """One ledger entry: every change of a member's points is one (kind: earn, reward, adjustment, refund,
        expiry, milestone)."""
        entry_id = new_id("ltx")
        created = iso_ms(now)
        pk, sk = keys.loyalty_entry(member_id, created, entry_id)
        return {"pk": pk, "sk": sk, "id": entry_id, "member_id": member_id, "program_id": program_id, "type": kind,
                "points": points, "created_at": created, **{k: v for k, v in details.items() if v is not None}}



def member_item(program_id: str, customer_id: str, member_id: str, state: dict, version: int, joined_at: str,
                review_at: str | None, now_iso: str) -> dict:
    """The member item as stored: rule state (domain.loyalty.member_state), the random member id, and, above the
    lowest tier, its place in the tier-review index."""
    pk, sk = keys.loyalty_member(program_id, customer_id)
    item = {"pk": pk, "sk": sk, "member_id": member_id, "program_id": program_id, "customer_id": customer_id,
            "joined_at": joined_at, **state, "version": version, "updated_at": now_iso}
    if review_at is not None:
        item["gsi1pk"] = keys.loyalty_tier_review(program_id, shard_of(member_id))
        item["gsi1sk"] = f"{review_at}#{member_id}"
        item["review_at"] = review_at
    return item
