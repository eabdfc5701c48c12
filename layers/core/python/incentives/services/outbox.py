"""The engine's own events (referral.converted, referral.reward_points, ...) through the same outbox as customer
events: an EVENT# item put in the SAME transaction as the effect it announces, so an event exists exactly when
its effect committed. The table's stream and the fan-out (services/fanout.py) publish it on the engine's bus
like a customer event (source incentives.customer-events, detail-type = its type), and consumers subscribe to
it in incentives/subscriptions.py.

Event ids are derived from what the event announces (e.g. ``<referral id>.converted``): a retried transaction
puts the same id, and the put's attribute_not_exists makes a second copy impossible. The item holds ids and
amounts only, no PII; gsi1 files it under the customer, so erasure anonymises its customer_id like any event.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table
from ..domain.clock import iso, iso_ms
from ..subscriptions import CustomerEvent


def event_put(table: Table, event_id: str, event_type: str, customer_id: str, occurred_at: datetime,
              now: datetime, data: dict) -> dict:
    """The TransactWriteItems Put of one engine event (condition: the id is new)."""
    pk, sk = keys.event(event_id)
    event = CustomerEvent(id=event_id, type=event_type, customer_id=customer_id, occurred_at=iso(occurred_at),
                          received_at=iso_ms(now), data=data)
    item = {"pk": pk, "sk": sk, **asdict(event), "gsi1pk": keys.customer_gsi(customer_id),
            "gsi1sk": f"EVENT#{iso(occurred_at)}#{event_id}"}
    return table.put_op(item)
