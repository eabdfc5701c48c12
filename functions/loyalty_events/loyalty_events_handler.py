"""Loyalty consumer: customer events (order.paid, review.submitted, ...) and the referrals engine's events earn
points, order.refunded takes them back (EventBridge rule from incentives/subscriptions.py), each event at most
once per program."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.loyalty_events import LoyaltyEvent, LoyaltyEvents
from incentives.settings import check

check("loyalty_events")  # cold start: fails at init, naming any setting this function lacks

CONSUMER = "loyalty_events"
obs = Observability("loyalty-events")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def loyalty() -> LoyaltyEvents:
    table = Table()
    return LoyaltyEvents(table, default_source(), Consumer(CONSUMER, table))


def handle(event: dict, context) -> dict:
    ev = LoyaltyEvent.from_detail(event["detail"])
    outcomes = loyalty().handle(ev, utcnow())
    earned = sum(o["points"] for o in outcomes if o["points"] > 0)
    taken = -sum(o["points"] for o in outcomes if o["points"] < 0)
    if earned:
        metrics.add_metric("LoyaltyPointsEarned", MetricUnit.Count, earned)
    if taken:
        metrics.add_metric("LoyaltyPointsRefunded", MetricUnit.Count, taken)
    logger.info("loyalty event handled", extra={"event_id": ev.id, "event_type": ev.type,
                                                "outcomes": [{k: v for k, v in o.items() if k != "member_id"}
                                                             for o in outcomes]})
    return {"event_id": ev.id, "programs": outcomes}


lambda_handler = obs.consumer("loyalty_events", handle)
