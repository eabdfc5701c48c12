"""Retention metrics consumer: order.paid and order.refunded keep the order items and the day index that
GET /v1/metrics/retention reads (services/retention.py), each event once (EventBridge rule from
incentives/subscriptions.py)."""
from __future__ import annotations

from functools import cache

from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.retention import RetentionEvents
from incentives.settings import check

check("metrics_events")  # cold start: fails at init, naming any setting this function lacks

CONSUMER = "metrics_events"
obs = Observability("metrics-events")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def retention() -> RetentionEvents:
    table = Table()
    return RetentionEvents(table, Consumer(CONSUMER, table))


def handle(event: dict, context) -> dict:
    detail = event["detail"]
    out = retention().handle(detail, utcnow())
    logger.info("retention metrics updated", extra={"event_id": detail.get("id"), "event_type": detail.get("type"),
                                                    **out})
    return {"event_id": detail.get("id"), **out}


lambda_handler = obs.consumer("metrics_events", handle)
