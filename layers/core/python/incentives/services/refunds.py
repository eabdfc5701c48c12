"""The refunds consumer (order.refunded): a full refund of an order rolls back its redemptions in campaigns
with rollback_on_refund; a partial refund keeps them.

Each rollback is its own transaction with its marker (effect ``REDEMPTION#<id>``), so a repeated or concurrent
delivery of the event rolls nothing back twice, and neither does a rollback that already happened through
the API (its status condition cancels the transaction).
"""
from __future__ import annotations

from datetime import datetime

from ..adapters.checkout_store import CheckoutStore
from ..adapters.config_source import ConfigSource
from ..adapters.event_store import redemption_effect
from ..adapters.unit_of_work import UnitOfWork, contended
from ..domain import errors
from ..domain.clock import iso
from ..subscriptions import CustomerEvent
from .consumers import Consumer


class Refunds:
    def __init__(self, store: CheckoutStore, config: ConfigSource, consumer: Consumer):
        self.store = store
        self.config = config
        self.consumer = consumer

    def handle(self, event: CustomerEvent, now: datetime) -> list[str]:
        """The ids of the redemptions this delivery rolled back."""
        if event.type != "order.refunded" or not event.order_id or event.order_amount is None:
            return []
        bundle = self.config.bundle()
        done = []
        for r in self.store.redemptions_of(event.customer_id):
            campaign = bundle.campaigns.get(r["campaign_id"])
            if r.get("order_id") != event.order_id or r.get("status") != "succeeded" or campaign is None or \
                    not campaign.rollback_on_refund or event.order_amount < r.get("order_amount", 0):
                continue  # another order, done already, not wanted, or a partial refund
            record = self.store.get_redemption(r["id"])  # consistent: the index lags behind
            if record is None or record["status"] != "succeeded":
                continue
            uow = UnitOfWork(self.store.table)
            self.store.rollback_writes(uow, record, f"order.refunded {event.id}", iso(now))
            try:
                if self.consumer.apply_once(event.id, uow, now, effect=redemption_effect(record["id"]),
                                            otherwise=contended):
                    done.append(record["id"])
            except errors.AlreadyRolledBack:
                pass  # rolled back in the meantime (the rollback route, or another refund of the order)
        return done
