"""SQS worker of bulk runs: each message is a slice of a job's chunks (services/issuance.py run_slice). A slice
that fails is reported as a batch item failure and delivered again (chunks are idempotent and never put over a
code that exists); at its last delivery the job is marked failed, and the message goes to the dead-letter queue
(alarmed; docs/runbook.md "Bulk runs")."""
from __future__ import annotations

import json

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.issuance import WORKER_MAX_RECEIVES, ChunksBusy, Issuance
from incentives.settings import check

check("bulk_codes_worker")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("bulk-codes-worker")
logger, metrics = obs.logger, obs.metrics


def handle(event: dict, context) -> dict:
    issuance = Issuance(Table(), default_source())
    failures = []
    for record in event.get("Records", []):
        slice_ = json.loads(record["body"])
        job_id, first, end = slice_["job_id"], int(slice_["first_chunk"]), int(slice_["end_chunk"])
        receives = int(record.get("attributes", {}).get("ApproximateReceiveCount", "1"))
        try:
            if issuance.run_slice(job_id, first, end, utcnow()):
                logger.info("bulk code job succeeded", extra={"job_id": job_id})
                metrics.add_metric("BulkJobSucceeded", MetricUnit.Count, 1)
        except ChunksBusy:
            logger.info("bulk slice waits for chunks held by another attempt",
                        extra={"job_id": job_id, "first_chunk": first})
            failures.append({"itemIdentifier": record["messageId"]})
        except Exception as e:
            logger.exception("bulk slice failed", extra={"job_id": job_id, "first_chunk": first, "receives": receives})
            metrics.add_metric("BulkSliceFailed", MetricUnit.Count, 1)
            if receives >= WORKER_MAX_RECEIVES:  # the last delivery: the message goes to the dead-letter queue
                issuance.fail_job(job_id, f"slice {first}-{end - 1}: {type(e).__name__}", utcnow())
                metrics.add_metric("BulkJobFailed", MetricUnit.Count, 1)
            failures.append({"itemIdentifier": record["messageId"]})
    return {"batchItemFailures": failures}


lambda_handler = obs.entry(handle)
