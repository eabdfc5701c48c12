"""Scheduled jobs win-back, birthdays, anniversaries, replenishment and post-purchase (hourly; and POST
/v1/jobs/{name}/run {now?}): one function for the five, by job name (the schedule's input, or the payload of an
operator's run). A run reads only the due-date index buckets of its window (services/journeys.py)."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.domain.clock import parse_rfc3339, utcnow
from incentives.http.function import Observability
from incentives.services.journeys import JOB_TRIGGERS, JourneyRuns
from incentives.settings import check

check("journeys")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("journeys")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container
def runs() -> JourneyRuns:
    return JourneyRuns(Table(), default_source())


def _job_of_rule(event: dict) -> str | None:
    """A scheduled event without an input (the local scheduler): the job its rule's name ends with."""
    for arn in event.get("resources") or []:
        for job in JOB_TRIGGERS:
            if isinstance(arn, str) and arn.endswith(f"-{job}"):
                return job
    return None


def handle(event: dict, context) -> dict:
    event = event if isinstance(event, dict) else {}
    job = event.get("job") or _job_of_rule(event)
    if job not in JOB_TRIGGERS:
        raise ValueError(f"unknown journey job {job!r}; known: {sorted(JOB_TRIGGERS)}")
    now = parse_rfc3339(event["now"]) if event.get("now") else utcnow()
    try:
        result = runs().run(job, now)
    except errors.JobRunning:
        logger.info("journey job already running", extra={"job": job})
        return {"job": job, "status": "busy", "error": {"code": "job_running"}}
    # the service dimension only (Powertools adds it): the alarm on JourneySendsFailed needs no job dimension
    metrics.add_metric("JourneySendsFailed", MetricUnit.Count, sum(result["failed"].values()))
    for channel, n in result["sent"].items():
        metrics.add_metric(f"MessagesSent_{channel}", MetricUnit.Count, n)
    for reason, n in result["skipped"].items():
        metrics.add_metric(f"MessagesSkipped_{reason}", MetricUnit.Count, n)
    for channel, n in result["failed"].items():
        metrics.add_metric(f"MessagesFailed_{channel}", MetricUnit.Count, n)
    metrics.add_metric("MessagesDeferred", MetricUnit.Count, result["deferred"])
    metrics.add_metric("MessagesPendingDelivery", MetricUnit.Count, result["pending"])
    logger.info("journey job ran", extra={k: v for k, v in result.items() if k != "journeys"})
    return {"status": "ran", **result}


lambda_handler = obs.entry(handle)
