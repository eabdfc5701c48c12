"""Event ingestion: record the event once and fold it into the customer's profile, in one transaction.

The event item's conditional put (attribute_not_exists) makes a repeated event id change nothing, also when two
copies arrive at once; the profile is replaced with a version condition (optimistic concurrency), so two
different events for one customer never lose an update. The event item keeps no PII (type, ids, time, order
amount), so it can serve as the fan-out source for later consumers (loyalty, referrals) via a table stream.
"""
from __future__ import annotations

import random
import time
from datetime import datetime
from typing import TYPE_CHECKING

from ..adapters import keys
from ..adapters.dynamo import Table, TransactionCancelled, values
from ..domain import errors
from ..domain.clock import iso, iso_ms
from ..domain.profiles import Event, apply_event

if TYPE_CHECKING:
    from .checkout import Checkout

DEADLINE_S = 8.0  # optimistic retries for one customer's concurrent events, with jittered backoff


class Events:
    def __init__(self, table: Table, checkout: "Checkout | None" = None):
        self.table = table
        self.checkout = checkout

    def ingest(self, event: Event, now: datetime) -> dict:
        if event.type == "order.refunded" and self.checkout is not None:
            # Before the event is recorded: a retry after a crash in between redoes it (rollbacks are idempotent).
            self.roll_back_refunded(event, now)
        return self._record(event, now)

    def roll_back_refunded(self, event: Event, now: datetime) -> list[str]:
        """Roll back the redemptions of a fully refunded order whose campaign says rollback_on_refund."""
        order = event.order or {}
        if not order.get("id"):
            return []
        bundle = self.checkout.config.bundle()
        done = []
        for r in self.table.query(keys.customer_gsi(event.customer["id"]), "REDEMPTION#", index="gsi1"):
            campaign = bundle.campaigns.get(r["campaign_id"])
            if r.get("order_id") != order["id"] or r.get("status") != "succeeded" or campaign is None or \
                    not campaign.rollback_on_refund or order["amount"] < r.get("order_amount", 0):
                continue  # another order, done already, not wanted, or a partial refund
            try:
                self.checkout.rollback(r["id"], f"order.refunded {event.id}", now)
                done.append(r["id"])
            except errors.AlreadyRolledBack:
                pass
        return done

    def _record(self, event: Event, now: datetime) -> dict:
        epk, esk = keys.event(event.id)
        ppk, psk = keys.customer_profile(event.customer["id"])
        record = {"pk": epk, "sk": esk, "id": event.id, "type": event.type, "customer_id": event.customer["id"],
                  "occurred_at": iso(event.occurred_at), "received_at": iso_ms(now),
                  "order_id": (event.order or {}).get("id"),
                  "order_amount": (event.order or {}).get("amount"),
                  "currency": (event.order or {}).get("currency"),
                  # a customer's events, newest last, for erasure and (later) consumers that replay history
                  "gsi1pk": keys.customer_gsi(event.customer["id"]),
                  "gsi1sk": f"EVENT#{iso(event.occurred_at)}#{event.id}"}
        start, attempt = time.monotonic(), 0
        while time.monotonic() - start < DEADLINE_S:
            old = self.table.get(ppk, psk, consistent=True)
            profile = apply_event({k: v for k, v in (old or {}).items() if k not in ("pk", "sk")} or None, event)
            version = (old or {}).get("version", 0)
            profile.update(pk=ppk, sk=psk, version=version + 1, updated_at=iso(now))
            if old is None:
                put = self.table.put_op(profile)
            else:
                put = self.table.put_op(profile, "version = :v", vals=values(v=version))
            try:
                self.table.transact([self.table.put_op(record), put])
                return {"id": event.id, "status": "accepted"}
            except TransactionCancelled as e:
                if e.failed(0):
                    return {"id": event.id, "status": "duplicate"}
                if not e.failed(1):
                    raise errors.Contention(details={"reasons": e.reasons}) from None
                # another event for this customer landed first: fold ours into the new profile
                attempt += 1
                time.sleep(random.uniform(0, min(0.25, 0.004 * 2**min(attempt, 8))))
        raise errors.Contention("the customer's profile kept changing; retry")

    def profile(self, customer_id: str) -> dict | None:
        return self.table.get(*keys.customer_profile(customer_id), consistent=True)
