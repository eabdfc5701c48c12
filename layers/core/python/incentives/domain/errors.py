"""Typed domain errors. Each carries a contract error code; http/errors.py maps codes to HTTP statuses."""
from __future__ import annotations


class IncentiveError(Exception):
    code = "internal_error"
    default_message = "internal error"

    def __init__(self, message: str | None = None, details: dict | None = None):
        super().__init__(message or self.default_message)
        self.message = message or self.default_message
        self.details = details or {}


def _error(code: str, message: str) -> type[IncentiveError]:
    name = "".join(p.title() for p in code.split("_")) + "Error"
    return type(name, (IncentiveError,), {"code": code, "default_message": message})


# Rejections of a code, a campaign or an order (validation answers valid=false with these as reason).
CodeNotFound = _error("code_not_found", "no such code")
CodeExpired = _error("code_expired", "the code has expired")
CodeNotActiveYet = _error("code_not_active_yet", "the code is not active yet")
CodeDisabled = _error("code_disabled", "the code is disabled")
CampaignNotFound = _error("campaign_not_found", "no such campaign")
CampaignInactive = _error("campaign_inactive", "the campaign is not active")
RedemptionLimitReached = _error("redemption_limit_reached", "the redemption limit is reached")
CustomerLimitReached = _error("customer_limit_reached", "this customer has used this campaign up")
BudgetExhausted = _error("budget_exhausted", "the campaign budget is used up")
CodeAssignedToOtherCustomer = _error("code_assigned_to_other_customer", "the code belongs to another customer")
OrderBelowMinimum = _error("order_below_minimum", "the order is below the campaign's minimum amount")
NoEligibleItems = _error("no_eligible_items", "no item of the order is eligible")
CountryNotEligible = _error("country_not_eligible", "the campaign is not available in this country")
LocaleNotEligible = _error("locale_not_eligible", "the campaign is not available in the customer's language")
NotFirstOrder = _error("not_first_order", "this campaign is for a customer's first order")
SegmentNotEligible = _error("segment_not_eligible", "this customer is not in the campaign's segments")
BalanceExhausted = _error("balance_exhausted", "the gift card or store credit has no balance left")
NotCombinable = _error("not_combinable", "these codes cannot be combined in one order")
CurrencyMismatch = _error("currency_mismatch", "the order currency does not match the campaign")
ClaimsExhausted = _error("claims_exhausted", "all codes of this campaign have been claimed")
ClaimsNotOffered = _error("claims_not_offered", "this campaign hands out no codes on landing pages")
CodesNotIssuable = _error("codes_not_issuable", "this campaign has one public code; it issues no unique codes")
# Referral programs.
ReferralProgramNotFound = _error("referral_program_not_found", "no such referral program")
ReferralProgramInactive = _error("referral_program_inactive", "the referral program is switched off")
ReferralCodeNotFound = _error("referral_code_not_found", "no such referral code in this program")
SelfReferral = _error("self_referral", "a customer cannot refer themselves")
AlreadyReferred = _error("already_referred", "this customer has been referred already")
ExistingCustomer = _error("existing_customer", "a customer with a paid order cannot be referred")
ConversionNotHeld = _error("conversion_not_held", "the referral is not a conversion held for review")
# Loyalty programs.
LoyaltyProgramNotFound = _error("loyalty_program_not_found", "no such loyalty program")
LoyaltyProgramInactive = _error("loyalty_program_inactive", "the loyalty program is switched off")
InsufficientPoints = _error("insufficient_points", "the member does not have enough spendable points")
RewardNotFound = _error("reward_not_found", "no such reward in this loyalty program's catalog")
TooManyLots = _error("too_many_lots", "the points are spread over more lots than one spend can take")
# Requests and protocol.
InvalidRequest = _error("invalid_request", "the request is invalid")
Unauthorized = _error("unauthorized", "a valid API key is required")
Forbidden = _error("forbidden", "this API key may not call this path")
NotFound = _error("not_found", "not found")
RateLimited = _error("rate_limited", "too many requests, retry later")
IdempotencyKeyReused = _error("idempotency_key_reused", "this Idempotency-Key was used with another request body")
RequestInProgress = _error("request_in_progress", "a request with this Idempotency-Key is still running; retry later")
AlreadyRolledBack = _error("already_rolled_back", "the redemption was rolled back already")
DeliveryFailed = _error("delivery_failed", "the e-mail with the code could not be sent; retry to have it sent again")
Contention = _error("contention", "too many concurrent writes to the same campaign or code; retry")
JobRunning = _error("job_running", "another run of this job is under way; try again when it has finished")
JobNowNotAllowed = _error("job_now_not_allowed", "this stack runs jobs as of the current time only: `now` is not "
                           "allowed (set JOBS_ALLOW_NOW=true on the operators function to allow it)")

# What a validation or a redemption can be refused for: each is a metric of its own (RedemptionRejected_<code>,
# ValidationInvalid_<code>) and a line on the CloudWatch dashboard; any other refusal is counted as `other`.
CHECKOUT_REJECTIONS: tuple[str, ...] = tuple(e.code for e in (
    CodeNotFound, CodeExpired, CodeNotActiveYet, CodeDisabled, CampaignNotFound, CampaignInactive,
    RedemptionLimitReached, CustomerLimitReached, BudgetExhausted, CodeAssignedToOtherCustomer, OrderBelowMinimum,
    NoEligibleItems, CountryNotEligible, LocaleNotEligible, NotFirstOrder, SegmentNotEligible, BalanceExhausted,
    NotCombinable, CurrencyMismatch, RateLimited, Contention, InvalidRequest,
))


def rejection_reason(code: str | None) -> str:
    """The bounded metric suffix for a refusal's error code."""
    return code if code in CHECKOUT_REJECTIONS else "other"


class ConfigError(IncentiveError):
    """A config file that does not validate; the message names the file and the field."""

    code = "config_invalid"
    default_message = "invalid configuration"
