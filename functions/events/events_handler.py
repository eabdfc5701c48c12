"""Events function: order and customer events from the shop. Records each event id once and keeps the
customer's profile (the input of segments and first-order rules); the table's stream fans each new event out to
its consumers (functions/event_fanout), so the request does nothing else."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.dynamo import Table
from incentives.domain.profiles import Event
from incentives.domain.schema import dump
from incentives.http.api import Api, Request, Response, parse_time
from incentives.http.function import Observability
from incentives.http.schemas import EventIn
from incentives.services.events import Events
from incentives.settings import check

check("events")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("events")
logger, metrics = obs.logger, obs.metrics
api = Api("events", logger)


@cache  # built on first use, kept for the warm container
def events() -> Events:
    return Events(Table())


@api.route("ingest_event")
def ingest(req: Request) -> Response:
    body = req.parse(EventIn)
    event = Event(id=body.id, type=body.type, occurred_at=parse_time(body.occurred_at, "occurred_at"),
                  customer=dump(body.customer),
                  order=dump(body.order) | {"amount": body.order.to_domain().amount}
                  if body.order else None,
                  data=dump(body.data))
    result = events().ingest(event, req.now())
    metrics.add_metric("EventAccepted" if result["status"] == "accepted" else "EventDuplicate", MetricUnit.Count, 1)
    return Response(202, result)


lambda_handler = obs.entry(api)
