"""The retention metrics' repository: the order as the metrics consumer knows it (``RORDER#<order id>``, replaced
under its version) and the day index (``RDAY#<UTC day>`` / ``<customer id>#<order id>``) the query reads, plus
the customer's redemptions for a campaign cohort. services/retention.py speaks in RetainedOrder and day rows.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from . import keys
from .dynamo import Table, values
from .schema import GSI1
from .unit_of_work import UnitOfWork, always


class OrderMoved(Exception):
    """The order item changed between the read and the write: decide again."""


@dataclass(frozen=True)
class RetainedOrder:
    """``amount``/``day``/``customer_id`` are None until the order.paid arrived (a refund may come first);
    ``refunded`` is the sum of the refunds so far; ``version`` None: no item yet."""
    order_id: str
    customer_id: str | None = None
    currency: str | None = None
    amount: int | None = None
    day: str | None = None
    refunded: int = 0
    version: int | None = None

    @property
    def paid(self) -> bool:
        return self.amount is not None

    def with_(self, **changes) -> RetainedOrder:
        return replace(self, **changes)


class RetentionStore:
    def __init__(self, table: Table):
        self.table = table

    def order(self, order_id: str) -> RetainedOrder:
        item = self.table.get(*keys.retention_order(order_id), consistent=True)
        if item is None:
            return RetainedOrder(order_id)
        return RetainedOrder(order_id, item.get("customer_id"), item.get("currency"), item.get("amount"),
                             item.get("day"), int(item.get("refunded", 0)), int(item["version"]))

    def day_rows(self, day: str) -> list[dict]:
        """The orders paid on one UTC day: customer_id, order_id, currency, amount, refunded (capped)."""
        return self.table.query(keys.retention_day(day))

    def redemptions_of(self, customer_id: str) -> list[dict]:
        return self.table.query(keys.customer_gsi(customer_id), "REDEMPTION#", index=GSI1)

    @staticmethod
    def save(uow: UnitOfWork, new: RetainedOrder, read: RetainedOrder) -> None:
        """The order item over the version read (a new one: only if none): a changed item is OrderMoved. The day
        row follows: written with the order.paid, its ``refunded`` updated by each refund after it."""
        pk, sk = keys.retention_order(new.order_id)
        item = {"pk": pk, "sk": sk, "order_id": new.order_id, "customer_id": new.customer_id,
                "currency": new.currency, "amount": new.amount, "day": new.day, "refunded": new.refunded,
                "version": (read.version or 0) + 1}
        item = {k: v for k, v in item.items() if v is not None}
        if read.version is None:
            uow.put(item, explain=always(OrderMoved))
        else:
            uow.put(item, "version = :v", vals=values(v=read.version), explain=always(OrderMoved))
        if not new.paid or new.day is None or new.customer_id is None or new.amount is None:
            return
        day_key = keys.retention_day_order(new.day, new.customer_id, new.order_id)
        refunded = min(new.refunded, new.amount)
        if not read.paid:
            uow.put({"pk": day_key[0], "sk": day_key[1], "customer_id": new.customer_id, "order_id": new.order_id,
                     "currency": new.currency, "amount": new.amount, "refunded": refunded}, condition=None)
        else:
            uow.update(day_key, "SET refunded = :r", condition="attribute_exists(pk)", vals=values(r=refunded))
