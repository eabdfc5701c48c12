"""What every consumer of customer events (incentives/subscriptions.py) shares: apply each event at most once.

EventBridge delivers at least once, a fan-out retry may publish an event again, and two copies can arrive at
the same moment. A consumer therefore commits a marker item (keys.consumed, attribute_not_exists) in the same
TransactWriteItems as its effect: the first copy commits both, every other copy is cancelled by the marker and
changes nothing. No read-then-write, so it holds under any concurrency.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table, TransactionCancelled
from ..domain.clock import iso_ms


class Consumer:
    def __init__(self, name: str, table: Table):
        self.name = name  # the consumer's function folder (subscriptions.Subscription.function)
        self.table = table

    def apply_once(self, event_id: str, ops: list[dict], now: datetime,
                   effect: str = keys.WHOLE_EVENT) -> bool:
        """Commit ``ops`` with the marker of (event, effect). True: applied now; False: a copy of this event
        applied it before. A cancellation by a condition of ``ops`` raises TransactionCancelled (indexes as in
        ``ops``)."""
        pk, sk = keys.consumed(self.name, event_id, effect)
        marker = self.table.put_op({"pk": pk, "sk": sk, "consumer": self.name, "event_id": event_id,
                                    "consumed_at": iso_ms(now)})
        try:
            self.table.transact([*ops, marker])
        except TransactionCancelled as e:
            if e.failed(len(ops)):
                return False
            raise
        return True
