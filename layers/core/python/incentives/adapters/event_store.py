"""The event path's items: an engine event's outbox item (services/outbox.py), a consumer's marker of an event
(or of one effect of it) applied (services/consumers.py), and the quarantine item of an unreadable record
(services/quarantine.py). The keys and the conditions live here; a marker that exists already is
AlreadyApplied.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import keys
from .dynamo import Table, TransactionCancelled
from .unit_of_work import UnitOfWork, always

WHOLE_EVENT = keys.WHOLE_EVENT  # the effect of a consumer that applies an event as one
Otherwise = Callable[[TransactionCancelled], Exception]  # what an unexplained cancellation becomes


class AlreadyApplied(Exception):
    """The consumer's marker exists: a copy of this event applied its effect before."""


def redemption_effect(redemption_id: str) -> str:
    """The effect name of one redemption's rollback (a refund applies one effect per redemption)."""
    return keys.redemption(redemption_id)[0]


def event_item(event_id: str, event_type: str, customer_id: str | None, occurred_at: str, received_at: str,
               data: dict, source: str) -> dict:
    """An engine event's outbox item: ids and amounts only; one about a customer is filed on their gsi1
    partition (erasure anonymises it like any event)."""
    pk, sk = keys.event(event_id)
    item: dict[str, Any] = {"pk": pk, "sk": sk, "id": event_id, "type": event_type, "occurred_at": occurred_at,
                            "received_at": received_at, "data": data, "source": source}
    if customer_id is not None:
        item.update(customer_id=customer_id, gsi1pk=keys.customer_gsi(customer_id),
                    gsi1sk=f"EVENT#{occurred_at}#{event_id}")
    return item


class EventStore:
    def __init__(self, table: Table):
        self.table = table

    def event_put(self, item: dict) -> dict:
        """The TransactWriteItems Put of an outbox item (condition: the id is new)."""
        return self.table.put_op(item)

    @staticmethod
    def mark_consumed(uow: UnitOfWork, consumer: str, event_id: str, effect: str, consumed_at: str) -> None:
        """The consumer's marker of (event, effect), first in the unit of work: a copy of the event that applied
        it before cancels the commit with AlreadyApplied, whatever else failed."""
        pk, sk = keys.consumed(consumer, event_id, effect)
        uow.put({"pk": pk, "sk": sk, "consumer": consumer, "event_id": event_id, "consumed_at": consumed_at},
                explain=always(AlreadyApplied), first=True)

    def quarantine(self, where: str, record: str, fields: dict) -> dict:
        """Puts (or puts again: the key is the record's) the quarantine item of one record."""
        pk, sk = keys.quarantined(where, record)
        item = {"pk": pk, "sk": sk, **fields}
        self.table.put(item)
        return item
