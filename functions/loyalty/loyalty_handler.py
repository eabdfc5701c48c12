"""Loyalty function: a program's catalog, the member view and ledger, rewards paid with points (storefront), and
operator adjustments (operator key)."""
from __future__ import annotations

from datetime import date
from functools import cache

from aws_lambda_powertools.metrics import MetricUnit

from incentives.adapters.config_source import default_source
from incentives.adapters.dynamo import Table
from incentives.domain import errors
from incentives.http.api import Api, Request, Response, idempotent
from incentives.http.function import Observability
from incentives.http.loyalty_schemas import AdjustmentIn, RewardRedemptionIn
from incentives.services.loyalty import MAX_PAGE, LoyaltyMembers
from incentives.settings import check

check("loyalty")  # cold start: fails at init, naming any setting this function lacks

obs = Observability("loyalty")
logger, metrics = obs.logger, obs.metrics
api = Api("loyalty", logger)
DEFAULT_PAGE = 20


@cache  # built on first use, kept for the warm container
def members() -> LoyaltyMembers:
    return LoyaltyMembers(Table(), default_source())


def _ids(req: Request) -> tuple[str, str]:
    customer_id = req.path_params["customer_id"]
    if not 1 <= len(customer_id) <= 128:
        raise errors.InvalidRequest("customer_id must be 1-128 characters", {"field": "customer_id"})
    return req.path_params["program_id"], customer_id


@api.route("get_loyalty_program")
def get_program(req: Request) -> Response:
    return Response(200, members().program_view(req.path_params["program_id"]))


@api.route("get_loyalty_member")
def get_member(req: Request) -> Response:
    return Response(200, members().view(*_ids(req), req.now()))


@api.route("list_loyalty_transactions")
def list_transactions(req: Request) -> Response:
    limit = req.query_int("limit", DEFAULT_PAGE, 1, MAX_PAGE)
    return Response(200, members().transactions(*_ids(req), limit, req.query.get("cursor") or None))


@api.route("redeem_loyalty_reward")
def redeem_reward(req: Request) -> Response:
    program_id, customer_id = _ids(req)
    body = req.parse(RewardRedemptionIn)

    def run(uow) -> Response:
        out = members().redeem_reward(program_id, customer_id, body.reward_id, req.now(), uow)
        metrics.add_metric("LoyaltyRewardsRedeemed", MetricUnit.Count, 1)
        metrics.add_metric("LoyaltyPointsSpent", MetricUnit.Count, out["points_spent"])
        return Response(201, out)

    return idempotent(req, members().table, run, status=201)


@api.route("adjust_loyalty_points")
def adjust_points(req: Request) -> Response:
    program_id, customer_id = _ids(req)
    body = req.parse(AdjustmentIn)
    try:
        expires_on = date.fromisoformat(body.expires_on) if body.expires_on else None
    except ValueError:
        raise errors.InvalidRequest("expires_on is not a date", {"field": "expires_on"}) from None

    def run(uow) -> Response:
        out = members().adjust(program_id, customer_id, body.points, body.reason, expires_on, req.now(), uow)
        metrics.add_metric("LoyaltyAdjustments", MetricUnit.Count, 1)
        logger.info("loyalty adjustment", extra={"program_id": program_id, "points": body.points,
                                                 "transaction_id": out["transaction"]["id"]})
        return Response(201, out)

    return idempotent(req, members().table, run, status=201)


lambda_handler = obs.entry(api)
