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

from ..adapters.dynamo import Table
from ..adapters.event_store import EventStore, event_item
from ..domain.clock import iso, iso_ms
from ..subscriptions import ENGINE, ENGINE_EVENT_ID_PREFIXES


def event_put(table: Table, event_id: str, event_type: str, customer_id: str | None, occurred_at: datetime,
              now: datetime, data: dict, source: str = ENGINE) -> dict:
    """The TransactWriteItems Put of one engine event (condition: the id is new)."""
    if not event_id.startswith(ENGINE_EVENT_ID_PREFIXES):  # the shop may never send it (http/schemas.py)
        raise ValueError(f"an engine event id must start with one of {ENGINE_EVENT_ID_PREFIXES}")
    return EventStore(table).event_put(event_item(event_id, event_type, customer_id, iso(occurred_at), iso_ms(now),
                                                  data, source))
