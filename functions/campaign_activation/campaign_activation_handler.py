"""Scheduled job: campaigns turn active and inactive on time; one event per change (an outbox item)."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import parse_rfc3339, utcnow
from incentives.http.function import Observability
from incentives.services.activation import Activation
from incentives.settings import check

check("campaign_activation")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("campaign-activation")
logger, metrics = obs.logger, obs.metrics
_job: Activation | None = None


def handle(event: dict, context) -> dict:
    global _job
    if _job is None:
        _job = Activation(Table(), default_source())
    now = parse_rfc3339(event["now"]) if isinstance(event, dict) and event.get("now") else utcnow()
    result = _job.run(now)
    metrics.add_metric("CampaignStatusChanges", MetricUnit.Count, len(result["changes"]))
    logger.info("campaign activation ran", extra={"checked": result["checked"], "changes": len(result["changes"])})
    return result


lambda_handler = obs.entry(handle)
