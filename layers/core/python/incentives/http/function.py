"""Powertools Logger, Tracer and Metrics for one Lambda function, set up the same way everywhere, and the
decorated entry point every function exports as lambda_handler."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

NAMESPACE = "Incentives"


class Observability:
    def __init__(self, service: str):
        self.logger = Logger(service=service)
        self.tracer = Tracer(service=service, patch_modules=["botocore"])  # only what we call: no patch_all
        self.metrics = Metrics(namespace=NAMESPACE, service=service)

    def entry(self, fn: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
        """``fn(event, context)`` with the Lambda context in every log line, a trace segment, metrics flushed."""

        @self.logger.inject_lambda_context(clear_state=True)
        @self.tracer.capture_lambda_handler(capture_response=False)
        @self.metrics.log_metrics
        def lambda_handler(event: dict, context: Any) -> Any:
            return fn(event, context)

        return lambda_handler

    def consumer(self, name: str, fn: Callable[[dict, Any], Any]) -> Callable[[dict, Any], Any]:
        """``entry`` for an EventBridge consumer ``name``: an event it cannot read (services/quarantine.py) is
        quarantined with its id (an item, the EventsQuarantined metric, a log line without PII) and answered,
        instead of failing on every retry; any other failure raises, for Lambda's retries and then the DLQ."""

        def handle(event: dict, context: Any) -> Any:
            try:
                return fn(event, context)
            except Exception as e:
                from ..adapters.dynamo import Table
                from ..domain.clock import utcnow
                from ..services.quarantine import Quarantine, is_unreadable

                if not is_unreadable(e):
                    raise
                detail = event.get("detail") if isinstance(event, dict) else None
                event_id = detail.get("id") if isinstance(detail, dict) else None
                Quarantine(Table()).hold(name, event_id, e, utcnow())
                self.metrics.add_metric("EventsQuarantined", MetricUnit.Count, 1)
                self.logger.warning("event quarantined", extra={"event_id": event_id, "error_type": type(e).__name__})
                return {"event_id": event_id, "status": "quarantined"}

        return self.entry(handle)
