"""The checkout rules, pure: given a code's stored state, its campaign, the counters and the request, either
the discount or the first rule that fails. Validation uses all of it; redemption uses the request-only part
up front and lets DynamoDB conditions decide the stored-state part in the same write."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from . import errors
from .campaigns import ensure_active
from .clock import iso
from .config import Campaign
from .customers import holders
from .discounts import Basket
from .orders import Customer, Order
from .profiles import segments_of
from .schema import dump

CODE_ACTIVE = "active"
CODE_DISABLED = "disabled"


@dataclass(frozen=True)
class CodeState:
    code: str
    campaign_id: str
    status: str = CODE_ACTIVE
    redemptions: int = 0
    holder: str | None = None
    expires_at: str | None = None  # UTC, clock.iso form
    balance: int | None = None  # gift cards and store credit

    @classmethod
    def from_item(cls, item: dict) -> CodeState:
        return cls(code=item["code"], campaign_id=item["campaign_id"], status=item.get("status", CODE_ACTIVE),
                   redemptions=item.get("redemptions", 0), holder=item.get("holder"),
                   expires_at=item.get("expires_at"), balance=item.get("balance"))


@dataclass(frozen=True)
class Usage:
    """What the campaign and this customer have used so far."""

    redeemed: int = 0
    discount_total: int = 0
    customer_redeemed: int = 0
    customer_period_redeemed: int = 0  # in the current period of per_customer_per_period
    profile: dict | None = None  # the customer's profile, read only when the campaign's rules need it


def check_request(campaign: Campaign, customer: Customer, order: Order, now: datetime,
                  balance: int | None = None, basket: Basket | None = None) -> int:
    """Rules that depend only on config, the request (and a card's balance). Returns the discount, taken off
    ``basket`` when given (a stack: what the codes before it left of the order), else off the whole order."""
    ensure_active(campaign, now)
    if campaign.currency is not None and campaign.currency != order.currency:
        raise errors.CurrencyMismatch(details={"campaign_currency": campaign.currency})
    e = campaign.eligibility
    if e.countries is not None and customer.country not in e.countries:
        raise errors.CountryNotEligible(details={"countries": e.countries})
    if not e.locale_allowed(customer.locale):
        raise errors.LocaleNotEligible(details={"locales": e.locales})
    if e.min_order_amount is not None and order.amount < e.min_order_amount.amount:
        raise errors.OrderBelowMinimum(details={"min_order_amount": dump(e.min_order_amount)})
    discount = (basket if basket is not None else Basket(order)).take(campaign, balance)
    budget = campaign.limits.budget
    if budget is not None and discount > budget.amount:
        raise errors.BudgetExhausted()
    return discount


def check_code(state: CodeState, campaign: Campaign, customer: Customer, now: datetime) -> None:
    if state.status == CODE_DISABLED:
        raise errors.CodeDisabled()
    if state.expires_at is not None and state.expires_at <= iso(now):
        raise errors.CodeExpired(details={"expires_at": state.expires_at})
    if state.holder is not None and state.holder not in holders(customer):
        raise errors.CodeAssignedToOtherCustomer()
    per_code = campaign.limits.per_code
    if per_code is not None and state.redemptions >= per_code:
        raise errors.RedemptionLimitReached(details={"limit": per_code, "scope": "code"})


def needs_profile(campaign: Campaign) -> bool:
    e = campaign.eligibility
    return e.first_order_only or bool(e.segments)


def check_profile(campaign: Campaign, profile: dict | None, now: datetime, segments: dict | None = None) -> None:
    """first_order_only and segments, from the profile the customer's events built (no profile: no order yet)."""
    e = campaign.eligibility
    if e.first_order_only and (profile or {}).get("order_count", 0) > 0:
        raise errors.NotFirstOrder()
    if e.segments and not segments_of(profile, now, segments) & set(e.segments):
        raise errors.SegmentNotEligible(details={"segments": e.segments})


def check_usage(campaign: Campaign, usage: Usage, discount: int) -> None:
    lim = campaign.limits
    if lim.total_redemptions is not None and usage.redeemed >= lim.total_redemptions:
        raise errors.RedemptionLimitReached(details={"limit": lim.total_redemptions, "scope": "campaign"})
    if lim.budget is not None and usage.discount_total + discount > lim.budget.amount:
        raise errors.BudgetExhausted()
    if lim.per_customer is not None and usage.customer_redeemed >= lim.per_customer:
        raise errors.CustomerLimitReached(details={"limit": lim.per_customer})
    per = lim.per_customer_per_period
    if per is not None and usage.customer_period_redeemed >= per.count:
        raise errors.CustomerLimitReached(details={"limit": per.count, "period": per.period})


def usage_period_attr(campaign: Campaign, now: datetime) -> str | None:
    """The usage item's attribute counting this period's redemptions, e.g. period_week_2026-W50. Calendar
    periods in the campaign's time zone, so "one per day" resets at the shop's midnight."""
    per = campaign.limits.per_customer_per_period
    if per is None:
        return None
    local = now.astimezone(ZoneInfo(campaign.timezone))
    if per.period == "day":
        label = local.date().isoformat()  # zero-padded, unlike strftime("%Y")
    elif per.period == "week":
        year, week, _ = local.isocalendar()
        label = f"{year}-W{week:02d}"
    else:
        label = local.date().isoformat()[:7]
    return f"period_{per.period}_{label}"


def evaluate(state: CodeState, campaign: Campaign, customer: Customer, order: Order, usage: Usage,
             now: datetime, segments: dict | None = None) -> int:
    """The whole rule set in the order a shopper would want the reason: the code first, then the order."""
    check_code(state, campaign, customer, now)
    discount = check_request(campaign, customer, order, now, state.balance)
    if needs_profile(campaign):
        check_profile(campaign, usage.profile, now, segments)
    check_usage(campaign, usage, discount)
    return discount
