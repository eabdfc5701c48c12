"""Public claims function: landing pages ask for a unique code for an e-mail address. CORS per campaign."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.domain.pseudonyms import ip_pseudonym, keyed
from incentives.http.api import Api, Request, Response, idempotent
from incentives.http.function import Observability
from incentives.http.schemas import ClaimIn
from incentives.services.claims import Claims
from incentives.settings import check

check("claims")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("claims")
logger, metrics = obs.logger, obs.metrics
api = Api("claims", logger)


@cache  # built on first use, kept for the warm container
def claims() -> Claims:
    return Claims(Table(), default_source())


def _cors(req: Request) -> dict:
    """Allow-Origin only for an origin the campaign lists; the answer varies by Origin."""
    origin = req.header("origin")
    headers = {"Vary": "Origin"}
    try:
        campaign = claims().campaign(req.path_params["campaign_id"])
    except errors.IncentiveError:
        return headers
    if origin and claims().origin_allowed(campaign, origin):
        headers.update({"Access-Control-Allow-Origin": origin,
                        "Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": "Content-Type, Idempotency-Key",
                        "Access-Control-Max-Age": "600"})
    return headers


@api.route("claim_preflight")
def preflight(req: Request) -> Response:
    return Response(204, None, _cors(req))


@api.route("claim")
def claim(req: Request) -> Response:
    body = req.parse(ClaimIn)
    campaign_id = req.path_params["campaign_id"]
    # The client is throttled by the keyed pseudonym of its network (IPv4 address or IPv6 /64: one line's
    # rotating IPv6 addresses are one client); no raw IP is stored.
    client = ip_pseudonym(req.source_ip) or keyed("ip", req.source_ip)[:32]

    def run(uow) -> Response:
        result = claims().claim(campaign_id, body.email, body.country, body.consent, client,
                                req.header("origin"), req.now(), uow, locale=body.locale)
        metrics.add_metric("ClaimIssued" if result.created else "ClaimRepeated", MetricUnit.Count, 1)
        return Response(201 if result.created else 200, result.body)

    resp = idempotent(req, claims().table, run, status=201)
    resp.headers.update(_cors(req))
    return resp


def handle(event: dict, context) -> dict:
    result = api(event, context)
    if result["statusCode"] >= 400 and event.get("pathParameters"):
        # Error answers carry CORS headers too, so the landing page can read the error code.
        result["headers"].update(_cors_for_event(event))
    return result


def _cors_for_event(event: dict) -> dict:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items() if v is not None}
    req = Request(api.routes[("POST", "/v1/public/campaigns/{campaign_id}/claims")], event, headers,
                  event.get("pathParameters") or {}, {}, None)
    return _cors(req)


lambda_handler = obs.entry(handle)
