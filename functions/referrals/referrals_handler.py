"""Referrals function: referrers and referees (storefront), held conversions, payouts and numbers (operators)."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.domain.customers import valid_email
from incentives.http.api import Api, Request, Response, idempotent
from incentives.http.function import Observability
from incentives.http.referral_schemas import PayoutPaidIn, ReferralIn, ReferrerIn
from incentives.services.consumers import Consumer
from incentives.services.referral_conversions import Conversions
from incentives.services.referrals import Referrals
from incentives.settings import check

check("referrals")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("referrals")
logger, metrics = obs.logger, obs.metrics
api = Api("referrals", logger)


@cache  # built on first use, kept for the warm container
def referrals() -> Referrals:
    return Referrals(Table(), default_source())


@cache
def conversions() -> Conversions:
    table = Table()
    return Conversions(table, default_source(), Consumer("referral_events", table))


def _customer(body_customer, field: str):
    customer = body_customer.to_domain()
    if customer.email and not valid_email(customer.email):
        raise errors.InvalidRequest(f"{field}.email is not a valid e-mail address", {"field": f"{field}.email"})
    return customer


def _limit(req: Request, default: int) -> int:
    return req.query_int("limit", default, 1, 500)


@api.route("enroll_referrer")
def enroll_referrer(req: Request) -> Response:
    body = req.parse(ReferrerIn)
    out = referrals().enroll(req.path_params["program_id"], _customer(body.customer, "customer"), body.ip,
                             body.device_id, req.now())
    if out.created:
        metrics.add_metric("ReferrersEnrolled", MetricUnit.Count, 1)
    return Response(201 if out.created else 200, out.body)


@api.route("attribute_referral")
def attribute_referral(req: Request) -> Response:
    body = req.parse(ReferralIn)
    referee = _customer(body.referee, "referee")

    def run(uow) -> Response:
        out = referrals().attribute(req.path_params["program_id"], body.referral_code, referee, body.ip,
                                    body.device_id, req.now(), uow)
        metrics.add_metric("ReferralsAttributed", MetricUnit.Count, 1)
        return Response(201, out)

    return idempotent(req, referrals().table, run, status=201)


@api.route("get_referrer")
def get_referrer(req: Request) -> Response:
    return Response(200, referrals().referrer(req.path_params["program_id"], req.path_params["customer_id"]))


@api.route("referral_leaderboard")
def referral_leaderboard(req: Request) -> Response:
    return Response(200, referrals().leaderboard(req.path_params["program_id"], _limit(req, 10)))


@api.route("list_held_conversions")
def list_held_conversions(req: Request) -> Response:
    if req.query.get("status", "held") != "held":
        raise errors.InvalidRequest("only held conversions are listed", {"field": "status"})
    return Response(200, referrals().held(req.path_params["program_id"], _limit(req, 100)))


@api.route("approve_conversion")
def approve_conversion(req: Request) -> Response:
    out = conversions().approve(req.path_params["program_id"], req.path_params["referral_id"], req.now())
    logger.info("held conversion approved", extra={"referral_id": out["id"]})
    return Response(200, out)


@api.route("reject_conversion")
def reject_conversion(req: Request) -> Response:
    out = conversions().reject(req.path_params["program_id"], req.path_params["referral_id"], req.now())
    logger.info("held conversion rejected", extra={"referral_id": out["id"]})
    return Response(200, out)


class CsvResponse(Response):
    body: dict  # {"csv": the text}, never None

    def to_proxy(self) -> dict:
        return {"statusCode": self.status, "headers": {"Content-Type": "text/csv; charset=utf-8", **self.headers},
                "body": self.body["csv"]}


@api.route("list_payouts")
def list_payouts(req: Request) -> Response:
    ledger = referrals().payouts(req.path_params["program_id"], req.query.get("status", "owed"))
    fmt = req.query.get("format", "json")
    if fmt == "csv":
        name = f"payouts-{ledger['program_id']}-{ledger['status']}.csv"
        return CsvResponse(200, {"csv": Referrals.payouts_csv(ledger)},
                           {"Content-Disposition": f'attachment; filename="{name}"'})
    if fmt != "json":
        raise errors.InvalidRequest("format is json or csv", {"field": "format"})
    return Response(200, ledger)


@api.route("mark_payout_paid")
def mark_payout_paid(req: Request) -> Response:
    body = req.parse(PayoutPaidIn)
    return Response(200, referrals().mark_paid(req.path_params["program_id"], req.path_params["payout_id"],
                                               body.reference, req.now()))


@api.route("referral_metrics")
def referral_metrics(req: Request) -> Response:
    return Response(200, referrals().metrics(req.path_params["program_id"]))


lambda_handler = obs.entry(api)
