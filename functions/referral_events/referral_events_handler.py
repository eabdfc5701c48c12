"""Referral conversions consumer: order.paid and order.refunded customer events (EventBridge,
incentives/subscriptions.py) convert, hold, close or reverse the referee's referral, each event at most once."""
from __future__ import annotations

from collections import Counter
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.referral_conversions import Conversions
from incentives.settings import check
from incentives.subscriptions import CustomerEvent

check("referral_events")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("referral-events")
logger, metrics = obs.logger, obs.metrics
METRIC = {"converted": "ReferralsConverted", "held": "ReferralConversionsHeld", "reversed": "ReferralsReversed",
          "rejected": "ReferralConversionsRejected"}


@cache  # built on first use, kept for the warm container
def conversions() -> Conversions:
    table = Table()
    return Conversions(table, default_source(), Consumer("referral_events", table))


def handle(event: dict, context) -> dict:
    customer_event = CustomerEvent.from_item(event["detail"])
    outcomes = conversions().handle(customer_event, utcnow())
    for outcome, n in Counter(o["outcome"] for o in outcomes).items():
        if outcome in METRIC:
            metrics.add_metric(METRIC[outcome], MetricUnit.Count, n)
    logger.info("referral event handled", extra={"event_id": customer_event.id, "outcomes": outcomes})
    return {"event_id": customer_event.id, "outcomes": outcomes}


lambda_handler = obs.consumer("referral_events", handle)
