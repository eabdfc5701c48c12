"""Event ingestion: record the event once and fold it into the customer's profile, in one transaction.

The event item's conditional put (attribute_not_exists) makes a repeated event id change nothing, also when two
copies arrive at once; the profile is replaced with a version condition (optimistic concurrency), so two
different events for one customer never lose an update. Nothing else happens in the request: the table's
stream carries each new event item to the fan-out (services/fanout.py), which publishes it for the consumers
(incentives/subscriptions.py: refund rollbacks, later loyalty and referrals). The event item is therefore
exactly the published CustomerEvent plus keys: no PII.

Every consent statement of the event (``data.consents`` with ``consent_source`` and ``consent_text``) becomes a
consent ledger item (services/consents.py) in the same transaction: a duplicate event writes none, and the
ledger never holds a statement the profile did not see. Still one GetItem and one TransactWriteItems per event.
"""
from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from ..adapters import keys
from ..adapters.dynamo import Table, values
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, always
from ..domain import errors
from ..domain.clock import iso, iso_ms
from ..domain.consent import statements_from_event
from ..domain.profiles import Event, apply_event
from ..subscriptions import CUSTOMERS, CustomerEvent
from .consents import ledger_item


class Events:
    def __init__(self, table: Table):
        self.table = table

    def ingest(self, event: Event, now: datetime) -> dict:
        epk, esk = keys.event(event.id)
        ppk, psk = keys.customer_profile(event.customer["id"])
        order = event.order or {}
        published = CustomerEvent(id=event.id, type=event.type, customer_id=event.customer["id"],
                                  occurred_at=iso(event.occurred_at), received_at=iso_ms(now),
                                  order_id=order.get("id"), order_amount=order.get("amount"),
                                  currency=order.get("currency"))
        record = {"pk": epk, "sk": esk, **asdict(published), "source": CUSTOMERS,  # published with this source
                  # a customer's events, newest last, for erasure and consumers that replay history
                  "gsi1pk": keys.customer_gsi(event.customer["id"]),
                  "gsi1sk": f"EVENT#{iso(event.occurred_at)}#{event.id}"}
        statements = statements_from_event(event.data, event.occurred_at, event.type)
        for _ in CONFLICTS.attempts():
            old = self.table.get(ppk, psk, consistent=True)
            profile = apply_event({k: v for k, v in (old or {}).items() if k not in ("pk", "sk")} or None, event)
            version = (old or {}).get("version", 0)
            profile.update(pk=ppk, sk=psk, version=version + 1, updated_at=iso(now))
            uow = UnitOfWork(self.table).put(record, explain=always(_Duplicate))
            if old is None:
                uow.put(profile, explain=always(_ProfileChanged))
            else:
                uow.put(profile, "version = :v", vals=values(v=version), explain=always(_ProfileChanged))
            for statement in statements:
                uow.put(ledger_item(event.customer["id"], statement, event.id), condition=None)
            try:
                uow.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
                return {"id": event.id, "status": "accepted"}
            except _Duplicate:
                return {"id": event.id, "status": "duplicate"}
            except _ProfileChanged:
                continue  # another event for this customer landed first: fold ours into the new profile
        raise errors.Contention("the customer's profile kept changing; retry")

    def profile(self, customer_id: str) -> dict | None:
        return self.table.get(*keys.customer_profile(customer_id), consistent=True)


class _Duplicate(Exception):
    """The event's id was ingested before."""


class _ProfileChanged(Exception):
    """Another event of the customer changed the profile after it was read."""
