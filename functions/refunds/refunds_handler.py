"""Refunds consumer: order.refunded customer events (EventBridge, incentives/subscriptions.py) roll back the
redemptions of fully refunded orders in campaigns with rollback_on_refund, each at most once."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.checkout_store import CheckoutStore
from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.refunds import Refunds
from incentives.settings import check
from incentives.subscriptions import CustomerEvent

check("refunds")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("refunds")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def refunds() -> Refunds:
    table = Table()
    return Refunds(CheckoutStore(table), default_source(), Consumer("refunds", table))


def handle(event: dict, context) -> dict:
    customer_event = CustomerEvent.from_item(event["detail"])
    rolled_back = refunds().handle(customer_event, utcnow())
    metrics.add_metric("RedemptionsRolledBackOnRefund", MetricUnit.Count, len(rolled_back))
    logger.info("refund handled", extra={"event_id": customer_event.id, "rolled_back": rolled_back})
    return {"event_id": customer_event.id, "rolled_back": rolled_back}


lambda_handler = obs.consumer("refunds", handle)
