"""What every consumer of customer events (incentives/subscriptions.py) shares: apply each event at most once.

EventBridge delivers at least once, a fan-out retry may publish an event again, and two copies can arrive at
the same moment. A consumer therefore commits a marker item (keys.consumed, attribute_not_exists) in the same
TransactWriteItems as its effect: the first copy commits both, every other copy is cancelled by the marker and
changes nothing. No read-then-write, so it holds under any concurrency.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table
from ..adapters.unit_of_work import UnitOfWork, always
from ..domain.clock import iso_ms


class Consumer:
    def __init__(self, name: str, table: Table):
        self.name = name  # the consumer's function folder (subscriptions.Subscription.function)
        self.table = table

    def apply_once(self, event_id: str, work: UnitOfWork | list[dict], now: datetime,
                   effect: str = keys.WHOLE_EVENT) -> bool:
        """Commit ``work`` with the marker of (event, effect). True: applied now; False: a copy of this event
        applied it before (the marker's failure is looked at first). A cancellation by another condition raises
        that write's own error, or TransactionCancelled (``failed_keys()`` names the items)."""
        if isinstance(work, list):
            ops, work = work, UnitOfWork(self.table)
            for op in ops:
                work.op(op)
        pk, sk = keys.consumed(self.name, event_id, effect)
        work.put({"pk": pk, "sk": sk, "consumer": self.name, "event_id": event_id, "consumed_at": iso_ms(now)},
                 explain=always(_Applied), first=True)
        try:
            work.commit()
        except _Applied:
            return False
        return True


class _Applied(Exception):
    """The consumer's marker exists: a copy of this event applied its effect before."""
