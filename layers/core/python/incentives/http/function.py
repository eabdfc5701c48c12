"""Powertools Logger, Tracer and Metrics for one Lambda function, set up the same way everywhere, and the
decorated entry point every function exports as lambda_handler."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer

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
