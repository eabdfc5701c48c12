"""What every consumer of customer events (incentives/subscriptions.py) shares: apply each event at most once.

EventBridge delivers at least once, a fan-out retry may publish an event again, and two copies can arrive at
the same moment. A consumer therefore commits a marker item (adapters/event_store.py, attribute_not_exists) in the same
TransactWriteItems as its effect: the first copy commits both, every other copy is cancelled by the marker and
changes nothing. No read-then-write, so it holds under any concurrency.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters.dynamo import Table
from ..adapters.event_store import WHOLE_EVENT, AlreadyApplied, EventStore, Otherwise
from ..adapters.unit_of_work import UnitOfWork
from ..domain.clock import iso_ms


class Consumer:
    def __init__(self, name: str, table: Table):
        self.name = name  # the consumer's function folder (subscriptions.Subscription.function)
        self.table = table

    def apply_once(self, event_id: str, work: UnitOfWork | list[dict], now: datetime,
                   effect: str = WHOLE_EVENT,
                   otherwise: Otherwise | None = None) -> bool:
        """Commit ``work`` with the marker of (event, effect). True: applied now; False: a copy of this event
        applied it before (the marker's failure is looked at first). A cancellation by another condition raises
        that write's own error, or ``otherwise(cancellation)``'s error, or TransactionCancelled
        (``failed_keys()`` names the items)."""
        if isinstance(work, list):
            ops, work = work, UnitOfWork(self.table)
            for op in ops:
                work.op(op)
        EventStore.mark_consumed(work, self.name, event_id, effect, iso_ms(now))
        try:
            work.commit(otherwise=otherwise)
        except AlreadyApplied:
            return False
        return True
