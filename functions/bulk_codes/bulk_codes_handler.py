"""Async worker: writes a bulk run of codes, and re-invokes itself to continue before its time runs out."""
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
SAFETY_MARGIN_S = 60  # stop taking new chunks this long before the Lambda timeout


def handle(event: dict, context) -> dict:
    job_id, start = event["job_id"], int(event.get("start_chunk", 0))
    logger.append_keys(job_id=job_id)
    issuance = Issuance(Table(), default_source())
    time_left = context.get_remaining_time_in_millis() / 1000 - SAFETY_MARGIN_S
    try:
        next_chunk = issuance.run_bulk(job_id, start, utcnow(), max(time_left, 5))
    except Exception as e:
        logger.exception("bulk code job failed", extra={"start_chunk": start})
        metrics.add_metric("BulkJobFailed", MetricUnit.Count, 1)
        issuance.fail_job(job_id, type(e).__name__, utcnow())
        return {"job_id": job_id, "status": "failed"}
    if next_chunk is not None:
        logger.info("bulk code job continues", extra={"next_chunk": next_chunk})
        wiring.dispatcher().start("bulk-codes", {"job_id": job_id, "start_chunk": next_chunk})
        return {"job_id": job_id, "status": "running", "next_chunk": next_chunk}
    metrics.add_metric("BulkJobSucceeded", MetricUnit.Count, 1)
    return {"job_id": job_id, "status": "succeeded"}


lambda_handler = obs.entry(handle)
