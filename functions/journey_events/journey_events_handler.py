"""Journeys' due-date index: customer events keep each customer's next occurrence of every date-driven journey in
the bucket of its send hour (services/journey_index.py), and loyalty's points.expiring warnings for the
points_expiring journeys (sent by the points-expiring job), each event once (EventBridge rules from
incentives/subscriptions.py)."""
from __future__ import annotations

from functools import cache

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.journey_index import JourneyIndex
from incentives.settings import check

check("journey_events")  # cold start: fails at init, naming any setting this function lacks

CONSUMER = "journey_events"
obs = Observability("journey-events")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def index() -> JourneyIndex:
    table = Table()
    return JourneyIndex(table, default_source(), Consumer(CONSUMER, table))


def handle(event: dict, context) -> dict:
    detail = event["detail"]
    out = index().handle(detail, utcnow())
    logger.info("journey index updated", extra={"event_id": detail.get("id"), "event_type": detail.get("type"), **out})
    return {"event_id": detail.get("id"), **out}


lambda_handler = obs.consumer("journey_events", handle)
