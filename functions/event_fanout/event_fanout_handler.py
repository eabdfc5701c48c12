"""Event fan-out: new event items from the table's stream (an event source mapping filtered to EVENT# inserts)
become customer events on the engine's bus, where one rule per consumer (incentives/subscriptions.py) picks
them up. Answers with a partial batch response: Lambda retries from the first failed record."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives import wiring
from incentives.http.function import Observability
from incentives.adapters.dynamo import Table
from incentives.domain.clock import utcnow
from incentives.services.fanout import Fanout
from incentives.services.quarantine import Quarantine
from incentives.settings import check

check("event_fanout")  # cold start: fails at init, naming any setting this function lacks

FUNCTION = "event_fanout"
obs = Observability("event-fanout")
logger, metrics = obs.logger, obs.metrics


@cache  # built on first use, kept for the warm container; tests replace it to publish elsewhere
def fanout() -> Fanout:
    return Fanout(wiring.bus())


@cache
def quarantine() -> Quarantine:
    return Quarantine(Table())


def hold(event_id: str | None, error: BaseException, sequence_number: str) -> None:
    """An unreadable record: set aside with its id (no PII), counted and logged; the records after it go on."""
    quarantine().hold(FUNCTION, event_id, error, utcnow(), sequence_number)
    metrics.add_metric("EventsQuarantined", MetricUnit.Count, 1)
    logger.warning("event record quarantined", extra={"event_id": event_id, "sequence_number": sequence_number,
                                                      "error_type": type(error).__name__})


def handle(event: dict, context) -> dict:
    publisher = fanout()
    if publisher.hold is None:
        publisher.hold = hold
    result = publisher.publish(event["Records"])
    metrics.add_metric("CustomerEventsPublished", MetricUnit.Count, result.published)
    if result.failed:
        metrics.add_metric("CustomerEventsFailed", MetricUnit.Count, len(result.failed))
        logger.warning("publishing failed; Lambda retries from the first failed record",
                       extra={"error": result.error, "event_ids": [eid for _, eid in result.failed]})
    return {"batchItemFailures": [{"itemIdentifier": seq} for seq, _ in result.failed]}


lambda_handler = obs.entry(handle)
