"""Scheduled job: referral rewards whose return window has closed are paid out (codes, points events, cash owed)."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import parse_rfc3339, utcnow
from incentives.http.function import Observability
from incentives.services.consumers import Consumer
from incentives.services.referral_conversions import Conversions
from incentives.settings import check

check("referral_rewards")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("referral-rewards")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def conversions() -> Conversions:
    table = Table()
    return Conversions(table, default_source(), Consumer("referral_events", table))


def handle(event: dict, context) -> dict:
    now = parse_rfc3339(event["now"]) if isinstance(event, dict) and event.get("now") else utcnow()
    result = conversions().release_due(now)
    metrics.add_metric("ReferralRewardsPaidOut", MetricUnit.Count, result["released"])
    metrics.add_metric("ReferralRewardsFailed", MetricUnit.Count, len(result["skipped"]))
    metrics.add_metric("ReferralRewardsParked", MetricUnit.Count, len(result["parked"]))
    log = logger.warning if result["skipped"] else logger.info
    log("referral rewards released", extra={"released": result["released"], "skipped": result["skipped"],
                                            "parked": result["parked"], "failures": result["failures"]})
    return result


lambda_handler = obs.entry(handle)
