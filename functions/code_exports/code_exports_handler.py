"""Async job: a whole campaign's codes as one CSV file (services/export_jobs.py), kept in the export bucket
(deployed) or as a file (local run). A failure marks the export failed; Lambda's retries run it again."""
from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from incentives import wiring
from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.http.function import Observability
from incentives.services.export_jobs import ExportJobs
from incentives.settings import check

check("code_exports")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("code-exports")
logger, metrics = obs.logger, obs.metrics


def handle(event: dict, context) -> dict:
    export_id = event["export_id"]
    logger.append_keys(export_id=export_id)
    exports = ExportJobs(Table(), default_source(), wiring.export_files())
    try:
        out = exports.run(export_id, utcnow())
    except Exception as e:
        logger.exception("code export failed")
        metrics.add_metric("CodeExportFailed", MetricUnit.Count, 1)
        exports.fail(export_id, type(e).__name__, utcnow())
        raise  # Lambda retries the invocation; a later success marks it succeeded
    metrics.add_metric("CodesExportedToFile", MetricUnit.Count, out["done"])
    return {"export_id": export_id, "status": out["status"], "done": out["done"]}


lambda_handler = obs.entry(handle)
