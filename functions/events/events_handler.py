"""Events function: order and customer events from the shop. Records each event id once and keeps the
customer's profile (the input of segments and first-order rules) and consent ledger; the table's stream fans each
new event out to its consumers (functions/event_fanout), so the request does nothing else. Also the public
one-click unsubscribe (RFC 8058) of messages' links: a consent withdrawal, written like an event's."""
from __future__ import annotations

import html
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.dynamo import Table
from incentives.domain.profiles import Event
from incentives.domain.schema import dump
from incentives.http.api import Api, Request, Response, parse_time
from incentives.http.function import Observability
from incentives.http.schemas import EventIn
from incentives.services.events import Events
from incentives.services.unsubscribe import Unsubscribe
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


@cache
def unsubscribes() -> Unsubscribe:
    return Unsubscribe(Table())


HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
                "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex",
                "Content-Security-Policy": "default-src 'none'; form-action 'self'; style-src 'unsafe-inline'"}


@api.route("unsubscribe_page")
def unsubscribe_page(req: Request) -> Response:
    """GET: a page with a button that POSTs the one-click form; never unsubscribes by itself."""
    page = unsubscribes().page(req.path_params["token"])
    return Response(200, None, dict(HTML_HEADERS), text=page)


@api.route("unsubscribe")
def unsubscribe(req: Request) -> Response:
    """POST List-Unsubscribe=One-Click: withdraws the link's channel; a repeat changes nothing."""
    out = unsubscribes().unsubscribe(req.path_params["token"], req.now())
    metrics.add_metric("Unsubscribed", MetricUnit.Count, 1)
    if "text/html" in (req.header("accept") or ""):  # the page's button: a person, show a page
        return Response(200, None, dict(HTML_HEADERS), text="<!DOCTYPE html><html lang=\"en\"><head>"
                        "<meta charset=\"utf-8\"><title>Unsubscribed</title></head><body><h1>Unsubscribed</h1>"
                        f"<p>You will no longer receive these messages by {html.escape(out['channel'])}.</p>"
                        "</body></html>")
    return Response(200, out)


lambda_handler = obs.entry(api)
