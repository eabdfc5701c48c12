"""Scheduled job: loyalty point lots get their expiry warning (points.expiring) and expire at the end of their day
in the program's time zone; tiers are reviewed (downgrades). Reads only what is due (services/points_expiry.py)."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import parse_rfc3339, utcnow
from incentives.http.function import Observability
from incentives.services.points_expiry import PointsExpiry
from incentives.settings import check

check("points_expiry")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("points-expiry")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def job() -> PointsExpiry:
    return PointsExpiry(Table(), default_source())


def handle(event: dict, context) -> dict:
    now = parse_rfc3339(event["now"]) if isinstance(event, dict) and event.get("now") else utcnow()
    result = job().run(now, lambda: context.get_remaining_time_in_millis() / 1000)
    totals = {k: sum(p[k] for p in result["programs"].values())
              for k in ("warned", "expired_lots", "expired_points", "downgraded")}
    metrics.add_metric("LoyaltyExpiryWarnings", MetricUnit.Count, totals["warned"])
    metrics.add_metric("LoyaltyLotsExpired", MetricUnit.Count, totals["expired_lots"])
    metrics.add_metric("LoyaltyPointsExpired", MetricUnit.Count, totals["expired_points"])
    metrics.add_metric("LoyaltyTierDowngrades", MetricUnit.Count, totals["downgraded"])
    metrics.add_metric("LoyaltyExpiryBacklog", MetricUnit.Count, 1 if result["more"] else 0)
    logger.info("points expiry ran", extra={**totals, "more": result["more"]})
    return result


lambda_handler = obs.entry(handle)
