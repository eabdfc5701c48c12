"""Async planner of a bulk run: marks the job running and puts one message per slice of chunks on the worker
queue (SQS deployed; bulk_codes_worker writes them in parallel). Retried by Lambda when it fails: a slice sent
twice is harmless, its chunks are idempotent."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from incentives import wiring
from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.issuance import Issuance
from incentives.settings import check

check("bulk_codes")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("bulk-codes")
logger, metrics = obs.logger, obs.metrics


def handle(event: dict, context) -> dict:
    job_id = event["job_id"]
    logger.append_keys(job_id=job_id)
    messages = Issuance(Table(), default_source()).plan_bulk(job_id, utcnow())
    wiring.work_queue().send(messages)
    logger.info("bulk code job planned", extra={"slices": len(messages)})
    metrics.add_metric("BulkSlicesQueued", MetricUnit.Count, len(messages))
    return {"job_id": job_id, "status": "running", "slices": len(messages)}


lambda_handler = obs.entry(handle)
