"""Response bodies of the HTTP API, declared like the request bodies (frozen dataclasses, `typing.Annotated`).

Declarations only: the handlers build plain dicts, and nothing here is instantiated or imported by a Lambda
function. They exist for the OpenAPI document (http/openapi.py walks them with domain/json_schema.py), and
tests/integration/test_openapi_responses.py holds them to what the handlers really answer (real responses
against DynamoDB Local, checked with a JSON Schema 2020-12 validator).

Conventions:
- a field without a default is always present; `X | None` without a default is present and may be null;
- `= absent()` marks a field that is left out when it does not apply (never null);
- no class forbids extra fields: answers may gain fields (docs/api.md: fields may be added);
- `Annotated[X, Doc("...")]` is the field's description in the document.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from ..domain.json_schema import Doc, Format
from ..domain.schema import Tag, keyword_alias

_Out = dataclass(frozen=True, kw_only=True)  # declarations only: never instantiated
_FROM = {"alias_generator": keyword_alias}  # `from_` is written `from`
Time = Annotated[str, Format("date-time")]  # RFC 3339, UTC


def absent() -> Any:
    """An optional field: left out of the answer when it does not apply."""
    return field(default=None)


# ---- shared shapes -------------------------------------------------------------------------------------------

@_Out
class Money:
    amount: Annotated[int, Doc("minor units")]
    currency: str


@_Out
class MoneyAnyCurrency:
    """A total whose currency is unknown while nothing fixes one (a percent-only campaign before its first use)."""

    amount: int
    currency: str | None


@_Out
class ErrorBody:
    code: str
    message: str
    details: dict[str, Any]


@_Out
class ErrorOut:
    """Every non-2xx answer: `{"error": {"code", "message", "details"}}`."""

    error: ErrorBody


# ---- storefront ----------------------------------------------------------------------------------------------

@_Out
class ValidationValid:
    valid: Literal[True]
    code: str
    campaign_id: str
    discount: Money
    order_amount_after: int
    variant: Annotated[str, Doc("the A/B variant it ran in, when the campaign has variants")] = absent()


@_Out
class ValidationInvalid:
    valid: Literal[False]
    reason: Annotated[str, Doc("an error code (code_expired, rate_limited, ...)")]
    message: str


Validation = Annotated[ValidationValid | ValidationInvalid, Tag("valid")]


@_Out
class RedemptionLine:
    id: str
    code: str
    campaign_id: str
    discount: Money
    balance_after: Annotated[Money, Doc("gift cards and store credit")] = absent()
    variant: Annotated[str, Doc("the A/B variant it ran in, when the campaign has variants")] = absent()


@_Out
class Redemption:
    id: str
    code: str
    campaign_id: str
    customer_id: str
    order_id: str | None
    discount: Money
    status: Literal["succeeded"]
    created_at: Time
    balance_after: Annotated[Money, Doc("gift cards and store credit")] = absent()
    redemptions: Annotated[list[RedemptionLine], Doc("a stack of codes: one line per code")] = absent()
    variant: Annotated[str, Doc("the A/B variant it ran in, when the campaign has variants")] = absent()


@_Out
class RolledBack:
    id: str
    status: Literal["rolled_back"]


@_Out
class CodeRedemptions:
    count: int
    limit: int | None


@_Out
class CodeView:
    code: str
    campaign_id: str
    status: Literal["active", "redeemed", "expired", "disabled"]
    redemptions: CodeRedemptions
    expires_at: Time | None
    balance: Annotated[Money, Doc("gift cards and store credit")] = absent()
    variant: Annotated[str, Doc("the A/B variant the code was issued in")] = absent()


@_Out
class Qualification:
    code: str
    campaign_id: str
    name: str
    discount: Money
    order_amount_after: int
    expires_at: Time | None


@_Out
class Qualifications:
    qualifications: list[Qualification]
    order_amount: int


@_Out
class EventReceipt:
    id: str
    status: Literal["accepted", "duplicate"]


@_Out
class ClaimedCode:
    code: str
    campaign_id: str
    expires_at: Time | None
    qr_svg: Annotated[str, Doc("the code as a QR code, an SVG document (the landing page shows it as an image)")]


# ---- operators -----------------------------------------------------------------------------------------------

@_Out
class Health:
    status: Literal["ok"]
    campaigns: int


CampaignStatus = Literal["active", "scheduled", "ended", "disabled"]


@_Out
class CampaignSummary:
    id: str
    name: str
    status: CampaignStatus
    config: Annotated[dict[str, Any], Doc("the campaign's config as deployed (config/campaigns/<id>.yaml)")]


@_Out
class CampaignList:
    campaigns: list[CampaignSummary]


@_Out
class DaySpend:
    date: Annotated[str, Doc("YYYY-MM-DD (UTC)")]
    amount: Annotated[int, Doc("minor units")]
    currency: str


@_Out
class VariantStats:
    id: str
    weight: int
    issued: Annotated[int, Doc("codes issued in this variant")]
    redeemed: Annotated[int, Doc("redemptions in this variant, less rolled-back ones")]
    redemption_rate: Annotated[float | None, Doc("redeemed / issued; null while none is issued (public codes)")]
    discount_total: MoneyAnyCurrency
    discount_by_currency: list[Money]
    revenue: Annotated[list[Money], Doc("per currency: the order amounts sent with its redemptions")]


@_Out
class Comparison:
    """The two-sided two-proportion z-test (pooled proportion) of the first variant (the control) against the
    other, or with more variants the one whose rate differs most, at 95 % (Bonferroni-corrected beyond two)."""

    metric: Literal["redemption_rate", "conversion_rate"]
    variants: Annotated[list[str], Doc("the two variants compared: the control first")]
    p_value: Annotated[float | None, Doc("null when not computable (no trials in a variant, no variance)")]
    significant: bool


@_Out
class CampaignStats:
    issued: int
    redeemed: int
    claims: int
    discount_total: MoneyAnyCurrency
    discount_by_currency: list[Money]
    revenue: Annotated[list[Money], Doc("per currency: the order amounts sent with the redemptions, before the "
                                        "discount, less rolled-back ones")]
    remaining: Annotated[int | None, Doc("total_redemptions - redeemed; null without that limit")]
    spend_by_day: Annotated[list[DaySpend], Doc("discount per UTC day of redemption and currency, oldest first; "
                                                "a rollback counts back on its redemption's day")]
    variants: Annotated[list[VariantStats], Doc("the A/B variants' numbers; empty without variants")]
    budget_remaining: Money = absent()
    claims_remaining: int = absent()
    comparison: Annotated[Comparison, Doc("with variants: their redemption rates compared")] = absent()


@_Out
class CampaignView:
    id: str
    name: str
    status: CampaignStatus
    config: dict[str, Any]
    stats: CampaignStats


@_Out
class BoundTo:
    id: str = absent()
    email: str = absent()


@_Out
class IssuedCode:
    code: str
    campaign_id: str
    expires_at: Time | None
    customer: BoundTo = absent()
    variant: Annotated[str, Doc("the A/B variant it ran in, when the campaign has variants")] = absent()


@_Out
class IssuedCodes:
    codes: list[IssuedCode]


@_Out
class JobQueued:
    job_id: str
    status: Literal["queued"]
    total: int


@_Out
class ExportQueued:
    export_id: str
    campaign_id: str
    status: Literal["queued"]


@_Out
class Export:
    export_id: str
    campaign_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    done: Annotated[int, Doc("codes written so far (all of them once succeeded)")]
    created_at: Time
    finished_at: Time | None
    error: str | None
    url: Annotated[str, Doc("succeeded, deployed: a pre-signed GET link to the CSV")] = absent()
    url_expires_at: Time = absent()
    path: Annotated[str, Doc("succeeded, local run: the CSV file")] = absent()


@_Out
class Job:
    job_id: str
    type: str
    campaign_id: str | None
    status: Literal["queued", "running", "succeeded", "failed"]
    done: int
    total: int
    created_at: Time
    finished_at: Time | None
    error: str | None


@_Out
class JobRun:
    job: str
    result: Annotated[dict[str, Any], Doc("the job's own summary (docs/api.md names each job's)")]


@_Out
class Erasure:
    customer_id: str
    status: Literal["erased", "in_progress"]
    erased: Annotated[dict[str, int], Doc("kind of item -> items this call changed")]


@_Out
class EmailErasure:
    status: Literal["erased", "in_progress"]
    erased: Annotated[dict[str, int], Doc("kind of item (codes, claims, idempotency, referrals) -> items this "
                                          "call changed")]


@_Out
class CodeHolder:
    id: str | None = None
    email_hash: Annotated[str | None, Doc("SHA-256 of the normalised e-mail a code is bound to")] = None


@_Out
class ExportedCode:
    code: str
    status: Literal["active", "disabled", "expired", "redeemed"]
    customer: CodeHolder | None = None
    expires_at: Time | None = None
    redemptions: int


@_Out
class CodesPage:
    codes: list[ExportedCode]
    next_cursor: str | None


@_Out
class ConsentState:
    granted: bool
    at: Time
    source: str


@_Out
class ConsentStatement:
    channel: Literal["email", "sms", "push"]
    granted: bool
    at: Time
    source: str
    text: str | None = None


@_Out
class Consents:
    customer_id: str
    consents: Annotated[dict[str, ConsentState], Doc("channel -> its current state; channels never stated are absent")]
    history: Annotated[list[ConsentStatement], Doc("every statement, oldest first")]


@_Out
class Message:
    id: str
    journey_id: str
    channel: Literal["email", "sms", "event"]
    status: Annotated[Literal["sent", "skipped", "deferred", "pending", "failed"],
                      Doc("pending: committed, delivery to be retried by the next run; failed: refused for good")]
    reason: Annotated[str | None, Doc("skipped: no_consent, frequency_capped, no_address, offer_unavailable; "
                                      "failed: the provider's error code")] = None
    code: str | None = None
    campaign_id: str | None = None
    created_at: Time
    timezone: str


@_Out
class Messages:
    messages: list[Message]


@_Out
class Unsubscribed:
    status: Literal["unsubscribed"]
    channel: Literal["email", "sms", "push"]


@_Out
class OpenApiDocument:
    """This document."""

    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]


# ---- referral programs ---------------------------------------------------------------------------------------

@_Out
class Enrolment:
    program_id: str
    customer_id: str
    referral_code: str
    referral_link: str


@_Out
class RewardCode:
    code: str
    campaign_id: str
    expires_at: Time | None
    variant: Annotated[str, Doc("the A/B variant it ran in, when the campaign has variants")] = absent()


@_Out
class ReferralCreated:
    id: str
    status: Literal["pending"]
    program_id: str
    referee_reward: RewardCode = absent()
    variant: Annotated[str, Doc("the referrer's A/B variant, when the program has variants")] = absent()


RewardType = Literal["code", "gift_card", "store_credit", "points", "cash"]


@_Out
class TierReward:
    type: RewardType
    campaign_id: str = absent()
    value: int = absent()
    currency: str = absent()
    program_id: str = absent()
    points: int = absent()


@_Out
class Tier:
    __pydantic_config__ = _FROM
    from_: int
    reward: TierReward


@_Out
class NextTier:
    __pydantic_config__ = _FROM
    from_: int
    conversions_needed: int


@_Out
class ReferrerReward:
    referral_id: str
    status: str
    type: RewardType
    campaign_id: str = absent()
    program_id: str = absent()
    points: int = absent()
    value: Money = absent()
    code: str | None
    payout_status: str | None
    release_at: Time | None
    paid_at: Time | None


@_Out
class Referrer:
    program_id: str
    customer_id: str
    referral_code: str
    referral_link: str
    referrals: int
    pending: int
    converted: int
    held: int
    tier: Tier | None
    next_tier: NextTier | None
    rewards_paid: int
    rewards: Annotated[list[ReferrerReward], Doc("newest 50")]


@_Out
class Leader:
    rank: int
    customer_id: str
    converted: int


@_Out
class Leaderboard:
    program_id: str
    leaders: list[Leader]


@_Out
class HeldConversion:
    referral_id: str
    referrer_id: str
    held_at: Time | None
    reasons: list[str] | None
    order_id: str | None
    order_amount: int | None
    currency: str | None


@_Out
class HeldConversions:
    program_id: str
    held: list[HeldConversion]


@_Out
class ConversionApproved:
    id: str
    status: Literal["converted"]
    conversion_number: int
    payout: Annotated[str, Doc("\"now\", or the moment the return window closes")]


@_Out
class ConversionRejected:
    id: str
    status: Literal["rejected"]


@_Out
class Payout:
    id: str
    referral_id: str
    customer_id: str
    amount: int
    currency: str
    status: Literal["owed", "paid"]
    created_at: Time
    paid_at: Time | None
    reference: str | None


@_Out
class Payouts:
    program_id: str
    status: Literal["owed", "paid"]
    payouts: list[Payout]
    totals: list[Money]


@_Out
class PayoutPaid:
    id: str
    status: Literal["paid"]
    amount: int
    currency: str
    paid_at: Time
    reference: str | None


@_Out
class ReferrerRewardNumbers:
    committed: int
    paid_out: int
    cost: list[Money]
    points: int
    unpriced: int


@_Out
class RefereeRewardNumbers:
    issued: int
    cost: list[Money]
    unpriced: int


@_Out
class RewardNumbers:
    referrer: ReferrerRewardNumbers
    referee: RefereeRewardNumbers


@_Out
class Ltv:
    amount: int
    currency: str | None
    source: Literal["orders", "config"]


@_Out
class ReferralVariantStats:
    id: str
    weight: int
    referrals: int
    converted: Annotated[int, Doc("conversions standing (reversed ones subtracted)")]
    conversion_rate: Annotated[float | None, Doc("converted / referrals; null without referrals")]
    rewards_cost: Annotated[list[Money], Doc("referrer and referee rewards at face value, per currency")]


@_Out
class ReferralMetrics:
    program_id: str
    enabled: bool
    currency: str | None
    referrers: int
    referrals: int
    pending: int
    conversions: int
    held: int
    rejected: int
    reversed: int
    disqualified: int
    expired: int
    conversion_rate: float | None
    invites_per_user: float | None
    k: float | None
    rewards: RewardNumbers
    revenue: list[Money]
    reward_per_conversion: MoneyAnyCurrency | None
    ltv: Ltv | None
    roi: float | None
    variants: Annotated[list[ReferralVariantStats], Doc("the A/B variants' numbers; empty without variants")]
    comparison: Annotated[Comparison, Doc("with variants: their conversion rates compared")] = absent()


# ---- retention metrics ---------------------------------------------------------------------------------------

Rate = Annotated[float, Doc("between 0 and 1")]


@_Out
class RetentionFigures:
    customers: Annotated[int, Doc("distinct customers with an order in the window")]
    repeat_customers: Annotated[int, Doc("customers with two or more orders")]
    orders: Annotated[int, Doc("order.paid events in the window, less orders refunded in full")]
    revenue: Annotated[int, Doc("minor units: the orders' amounts less what was refunded of them")]
    repeat_purchase_rate: Rate
    purchase_frequency: Annotated[float, Doc("orders / customers")]
    average_order_value: Annotated[int, Doc("revenue / orders, minor units, rounded down")]
    customer_value: Annotated[int, Doc("revenue / customers, minor units, rounded down")]


@_Out
class RetentionPeriod:
    period: Annotated[str, Format("date"), Doc("the first date of the part inside the window")]
    currencies: dict[str, RetentionFigures]


@_Out
class RetentionMetrics:
    __pydantic_config__ = _FROM
    from_: Annotated[str, Format("date")]
    to: Annotated[str, Format("date")]
    currencies: Annotated[dict[str, RetentionFigures], Doc("currency -> figures; a currency without orders "
                                                           "in the window is absent")]
    campaign_id: str = absent()
    series: Annotated[list[RetentionPeriod], Doc("with granularity: one entry per part of the window")] = absent()


# ---- loyalty programs ----------------------------------------------------------------------------------------

@_Out
class LoyaltyExpiry:
    after_days: int


@_Out
class LoyaltyTier:
    id: str
    min_points: int
    multiplier: Annotated[str, Doc("a decimal, written as a string (\"1.5\")")]


@_Out
class LoyaltyReward:
    id: str
    points: int
    campaign_id: str


@_Out
class LoyaltyProgramView:
    id: str
    name: str
    enabled: bool
    timezone: str
    pending_days: int
    expiry: LoyaltyExpiry
    tiers: list[LoyaltyTier]
    tier_window_days: int
    rewards: list[LoyaltyReward]


@_Out
class ExpiringPoints:
    points: int
    expires_at: Time


@_Out
class MemberPoints:
    balance: Annotated[int, Doc("spendable now; negative while the member owes points")]
    pending: int
    expiring: list[ExpiringPoints]


@_Out
class LoyaltyMember:
    program_id: str
    customer_id: str
    points: MemberPoints
    tier: str | None
    tier_points: int
    lifetime_points: int
    joined_at: Time | None


@_Out
class LedgerEntry:
    """One ledger entry; each type carries more fields (docs/api.md, "Loyalty")."""

    id: str
    type: Literal["earn", "reward", "adjustment", "refund", "expiry", "milestone"]
    points: Annotated[int, Doc("signed")]
    created_at: Time


@_Out
class LedgerPage:
    transactions: Annotated[list[LedgerEntry], Doc("newest first")]
    next_cursor: Annotated[str | None, Doc("pass back as `cursor`; null on the last page")]


@_Out
class RewardIssued:
    id: str
    code: str
    campaign_id: str
    expires_at: Time | None
    balance: Annotated[Money, Doc("a gift card or store credit reward")] = absent()


@_Out
class RewardRedeemed:
    reward: RewardIssued
    points_spent: int
    balance: int
    transaction_id: str


@_Out
class Adjusted:
    transaction: LedgerEntry
    balance: int
