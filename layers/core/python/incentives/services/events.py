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

from ..adapters.dynamo import Table
from ..adapters.profile_store import EventSeen, ProfileChanged, ProfileStore
from ..adapters.retry import CONFLICTS
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.clock import iso, iso_ms
from ..domain.consent import statements_from_event
from ..domain.profiles import Event, apply_event
from ..subscriptions import CUSTOMERS, CustomerEvent
from .consents import add_statement


class Events:
    def __init__(self, table: Table):
        self.table = table
        self.profiles = ProfileStore(table)

    def ingest(self, event: Event, now: datetime) -> dict:
        customer_id = event.customer["id"]
        order = event.order or {}
        published = CustomerEvent(id=event.id, type=event.type, customer_id=customer_id,
                                  occurred_at=iso(event.occurred_at), received_at=iso_ms(now),
                                  order_id=order.get("id"), order_amount=order.get("amount"),
                                  currency=order.get("currency"))
        record = {**asdict(published), "source": CUSTOMERS}  # published with this source
        statements = statements_from_event(event.data, event.occurred_at, event.type)
        for _ in CONFLICTS.attempts():
            read = self.profiles.read(customer_id)
            uow = UnitOfWork(self.table)
            # a customer's events, newest last, for erasure and consumers that replay history
            self.profiles.store_event(uow, record, customer_id, f"EVENT#{iso(event.occurred_at)}#{event.id}")
            self.profiles.replace(uow, read, apply_event(read.profile, event), iso(now))
            for statement in statements:
                add_statement(uow, customer_id, statement, event.id)
            try:
                uow.commit(otherwise=contended)
                return {"id": event.id, "status": "accepted"}
            except EventSeen:
                return {"id": event.id, "status": "duplicate"}
            except ProfileChanged:
                continue  # another event for this customer landed first: fold ours into the new profile
        raise errors.Contention("the customer's profile kept changing; retry")

    def profile(self, customer_id: str) -> dict | None:
        return self.profiles.get(customer_id)
