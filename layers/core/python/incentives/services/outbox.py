"""The engine's own events (campaign.activated, points.expiring, referral.converted, loyalty.tier_changed, ...)
through the same outbox as the shop's customer events: an EVENT# item put in the SAME transaction as the effect it
announces, so an event exists exactly when its effect committed. The table's stream and the fan-out
(services/fanout.py) publish it on the engine's bus with source ``incentives.engine`` (subscriptions.ENGINE, the
item's ``source``), detail-type = its type; consumers subscribe to it in incentives/subscriptions.py. Nothing in
the engine calls PutEvents after a commit.

Event ids are derived from what the event announces (e.g. ``<referral id>.converted``,
``campaign.<id>.<status>.<changed at>``): a retried transaction puts the same id, and the put's
attribute_not_exists makes a second copy impossible. The item holds ids and amounts only, no PII; an event about a
customer is filed under them on gsi1, so erasure anonymises its customer_id like any event. An event about no
customer (campaign.*) has no customer_id and no gsi1 entry: nothing in it to erase.
"""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table
from ..domain.clock import iso, iso_ms
from ..subscriptions import ENGINE, ENGINE_EVENT_ID_PREFIXES


def event_put(table: Table, event_id: str, event_type: str, customer_id: str | None, occurred_at: datetime,
              now: datetime, data: dict, source: str = ENGINE) -> dict:
    """The TransactWriteItems Put of one engine event (condition: the id is new)."""
    if not event_id.startswith(ENGINE_EVENT_ID_PREFIXES):  # the shop may never send it (http/schemas.py)
        raise ValueError(f"an engine event id must start with one of {ENGINE_EVENT_ID_PREFIXES}")
    pk, sk = keys.event(event_id)
    item = {"pk": pk, "sk": sk, "id": event_id, "type": event_type, "occurred_at": iso(occurred_at),
            "received_at": iso_ms(now), "data": data, "source": source}
    if customer_id is not None:
        item.update(customer_id=customer_id, gsi1pk=keys.customer_gsi(customer_id),
                    gsi1sk=f"EVENT#{iso(occurred_at)}#{event_id}")
    return table.put_op(item)
