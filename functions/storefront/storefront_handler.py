"""Storefront function: the checkout path (validate, redeem, rollback, code lookup). Parse, call, return."""
from __future__ import annotations

from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.checkout_store import CheckoutStore
from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.domain.pseudonyms import client_network
from incentives.domain.errors import IncentiveError, rejection_reason
from incentives.http.api import Api, Request, Response, idempotent
from incentives.http.function import Observability
from incentives.http.schemas import CheckoutIn, QualificationIn, RollbackIn, StackedCheckoutIn
from incentives.services.checkout import Checkout, CheckoutRequest
from incentives.settings import check

check("storefront")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("storefront")
logger, metrics = obs.logger, obs.metrics
api = Api("storefront", logger)


@cache  # built on first use, kept for the warm container
def checkout() -> Checkout:
    return Checkout(CheckoutStore(Table()), default_source())


def _shopper_ip(req: Request) -> str | None:
    """X-Shopper-IP: the shopper's address as the storefront saw it, so guessing is counted per shopper
    (services/guessing.py). Absent: only the customer id counts; never the storefront's key."""
    ip = req.header("x-shopper-ip")
    if ip is None:
        return None
    if client_network(ip) is None:
        raise errors.InvalidRequest("X-Shopper-IP must be an IPv4 or IPv6 address", {"field": "X-Shopper-IP"})
    return ip


def _request(body: CheckoutIn, req: Request) -> CheckoutRequest:
    return CheckoutRequest(body.code, body.customer.to_domain(), body.order.to_domain(), _shopper_ip(req))


@api.route("validate")
def validate(req: Request) -> Response:
    result = checkout().validate(_request(req.parse(CheckoutIn), req), req.now())
    metrics.add_metric("ValidationValid" if result["valid"] else "ValidationInvalid", MetricUnit.Count, 1)
    if not result["valid"]:  # by reason too: the dashboard's rejections by reason (infra/dashboard.py)
        metrics.add_metric(f"ValidationInvalid_{rejection_reason(result.get('reason'))}", MetricUnit.Count, 1)
    return Response(200, result)


@api.route("redeem")
def redeem(req: Request) -> Response:
    data = req.json()
    if isinstance(data, dict) and "codes" in data and "code" not in data:  # a stack of codes (extension)
        stack = req.parse(StackedCheckoutIn)
        customer, order = stack.customer.to_domain(), stack.order.to_domain()

        def call(uow):
            return checkout().redeem_stack(stack.codes, customer, order, req.now(), uow, _shopper_ip(req))
    else:
        body = _request(req.parse(CheckoutIn), req)

        def call(uow):
            return checkout().redeem(body, req.now(), uow)

    def run(uow) -> Response:
        try:
            result = call(uow)
        except Exception as e:
            metrics.add_metric("RedemptionRejected", MetricUnit.Count, 1)
            code = e.code if isinstance(e, IncentiveError) else None
            metrics.add_metric(f"RedemptionRejected_{rejection_reason(code)}", MetricUnit.Count, 1)
            raise
        metrics.add_metric("RedemptionSucceeded", MetricUnit.Count, 1)
        return Response(201, result)

    return idempotent(req, checkout().store.table, run, status=201)


@api.route("rollback")
def rollback(req: Request) -> Response:
    body = req.parse(RollbackIn)
    rid = req.path_params["redemption_id"]
    return idempotent(req, checkout().store.table,
                      lambda uow: Response(200, checkout().rollback(rid, body.reason, req.now(), uow)), status=200)


@api.route("qualify")
def qualify(req: Request) -> Response:
    body = req.parse(QualificationIn)
    result = checkout().qualify(body.customer.to_domain(), body.order.to_domain(), req.now())
    metrics.add_metric("QualificationsOffered", MetricUnit.Count, len(result["qualifications"]))
    return Response(200, result)


@api.route("get_code")
def get_code(req: Request) -> Response:
    return Response(200, checkout().get_code(req.path_params["code"][:64], req.now(), _shopper_ip(req)))


lambda_handler = obs.entry(api)
