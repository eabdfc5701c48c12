"""What the OpenAPI document says about each route of ROUTES (http/routes.py), keyed by the route's name.

One entry per route: the request body the handler parses (http/schemas.py, loyalty_schemas.py,
referral_schemas.py), its query parameters, the answers per success status (http/responses.py) and the error
codes it can answer besides the ones every route of its kind can (see `common_errors`). Adding a route means
adding its Route to ROUTES and its Operation here; tests/unit/test_openapi.py fails, naming the route, until
both agree (and until docs/openapi.json is regenerated).

Imported only by http/openapi.py (the document's generator), never by a handler at import time.
"""
from __future__ import annotations

from dataclasses import KW_ONLY, dataclass, field
from typing import Annotated, Any, ClassVar, Literal

from ..domain.json_schema import Doc, Format
from ..domain.schema import Int, Text, keyword_alias
from . import responses as r
from .loyalty_schemas import AdjustmentIn, RewardRedemptionIn
from .referral_schemas import PayoutPaidIn, ReferralIn, ReferrerIn
from .routes import OPERATOR, PUBLIC
from .schemas import CheckoutIn, ClaimIn, EventIn, IssueCodesIn, QualificationIn, RollbackIn, RunJobIn, \
    StackedCheckoutIn

CSV = "text/csv"


@dataclass(frozen=True)
class Operation:
    summary: str
    responses: dict[int, Any]  # success status -> response declaration (None: no body)
    _: KW_ONLY
    body: tuple[type, ...] = ()  # the request bodies the handler parses (more than one: any of them)
    query: type | None = None  # a dataclass whose fields are the query parameters
    errors: tuple[str, ...] = ()  # route-specific error codes (common_errors adds the rest)
    idempotent: bool = False  # honours Idempotency-Key (docs/api.md, "Idempotency")
    csv: bool = False  # the 200 answer may also be text/csv (format=csv)
    html: bool = False  # the 200 answer is (or, with Accept: text/html, may be) an HTML page
    description: str = ""
    response_headers: dict[str, str] = field(default_factory=dict)  # header -> description, on success
    shopper_ip: bool = False  # reads X-Shopper-IP: guessing is counted per shopper (services/guessing.py)
    # reads or writes DynamoDB: may answer 503 contention with Retry-After (http/api.py, DynamoDB errors that
    # outlast botocore's retries). True unless the handler provably never calls the table (test_openapi_responses)
    dynamodb: bool = True


def common_errors(role: str, op: Operation) -> tuple[str, ...]:
    """Codes every route of this kind can answer: a key problem (401 missing or unknown key; 403 a storefront
    key on an operator path), a body or query value the contract refuses (422), API Gateway's throttling
    (429), an Idempotency-Key reused or still running (409), and the 500 of an unexpected failure."""
    out = []
    if role != PUBLIC:
        out.append("unauthorized")
    if role == OPERATOR:
        out.append("forbidden")
    if op.body or op.query or op.idempotent:
        out.append("invalid_request")
    if op.idempotent:
        out += ["idempotency_key_reused", "request_in_progress"]
    out += ["rate_limited", "internal_error"]
    if op.dynamodb:
        out.append("contention")
    return tuple(out)


# ---- query parameters ----------------------------------------------------------------------------------------

_Query = dataclass(frozen=True, slots=True, kw_only=True)


@_Query
class CodesExportQuery:
    limit: Annotated[int, Int(ge=1, le=1000), Doc("codes per page")] = 100
    cursor: Annotated[str | None, Doc("`next_cursor` of the previous page (or its X-Next-Cursor header); a cursor "
                                      "the engine did not hand out is 422 invalid_request")] = None
    format: Literal["json", "csv"] = "json"
    job_id: Annotated[str | None, Doc("only the codes of this bulk job (extension; docs/api.md)")] = None


@_Query
class RetentionQuery:
    __pydantic_config__: ClassVar[dict] = {"alias_generator": keyword_alias}  # `from_` is written `from`
    from_: Annotated[str, Format("date"), Doc("first UTC day of the window (YYYY-MM-DD), required")]
    to: Annotated[str, Format("date"), Doc("last UTC day of the window (YYYY-MM-DD, inclusive), required; "
                                           "from <= to, at most 3660 days")]
    granularity: Annotated[Literal["day", "week", "month"] | None,
                           Doc("adds `series`: days, ISO weeks (Monday first) or calendar months")] = None
    campaign_id: Annotated[str | None, Doc("only the customers who redeemed a code of this campaign")] = None


@_Query
class ErasureByEmailQuery:
    email: Annotated[str, Text(min_length=3, max_length=254), Doc("the person's e-mail address (any spelling of the "
                                                                  "mailbox: case, +tags and Gmail dots are "
                                                                  "normalised)")]


@_Query
class LeaderboardQuery:
    limit: Annotated[int, Int(ge=1, le=500), Doc("leaders wanted; at most 100 are answered")] = 10


@_Query
class HeldConversionsQuery:
    status: Literal["held"] = "held"
    limit: Annotated[int, Int(ge=1, le=500)] = 100


@_Query
class PayoutsQuery:
    status: Literal["owed", "paid"] = "owed"
    format: Literal["json", "csv"] = "json"


@_Query
class LedgerQuery:
    limit: Annotated[int, Int(ge=1, le=100)] = 20
    cursor: Annotated[str, Text(min_length=1), Doc("`next_cursor` of the previous page")] | None = None


# ---- the table -----------------------------------------------------------------------------------------------

_RULES = ("code_not_found", "code_expired", "code_not_active_yet", "code_disabled", "campaign_not_found",
          "campaign_inactive", "code_assigned_to_other_customer", "order_below_minimum", "no_eligible_items",
          "country_not_eligible", "not_first_order", "segment_not_eligible", "currency_mismatch")
_LIMITS = ("redemption_limit_reached", "customer_limit_reached", "budget_exhausted", "balance_exhausted")
_REFERRAL_PROGRAM = ("referral_program_not_found",)
_LOYALTY = ("loyalty_program_not_found",)

OPERATIONS: dict[str, Operation] = {
    # storefront
    "validate": Operation(
        "Check a code against an order without redeeming it", {200: r.Validation}, body=(CheckoutIn,),
        shopper_ip=True,
        description="Writes nothing (but the count of an unknown code against the shopper). A code the rules "
                    "refuse answers 200 with `valid: false` and the error code as `reason`; a shopper who tried "
                    "too many unknown codes gets 429 rate_limited with Retry-After."),
    "redeem": Operation(
        "Redeem a code (or a stack of codes) on an order", {201: r.Redemption}, body=(CheckoutIn, StackedCheckoutIn),
        errors=(*_RULES, *_LIMITS, "not_combinable"), idempotent=True, shopper_ip=True,
        description="One transaction: every limit is checked in the write. `codes` (1-5) instead of `code` redeems "
                    "a stack, all or nothing. A rejection writes nothing."),
    "rollback": Operation(
        "Roll a redemption back", {200: r.RolledBack}, body=(RollbackIn,),
        errors=("not_found", "already_rolled_back"), idempotent=True),
    "get_code": Operation(
        "Look a code up", {200: r.CodeView}, errors=("code_not_found", "invalid_request"), shopper_ip=True,
        description="Unknown codes count against the forwarded X-Shopper-IP (429 rate_limited past the limit)."),
    "qualify": Operation(
        "Auto-applied incentives the order qualifies for", {200: r.Qualifications}, body=(QualificationIn,),
        description="Best discount first; writes nothing."),
    "ingest_event": Operation(
        "Send a customer or order event", {202: r.EventReceipt}, body=(EventIn,),
        description="A repeated event id changes nothing (`status: duplicate`)."),
    # landing pages
    "claim": Operation(
        "Claim a code on a landing page", {201: r.ClaimedCode, 200: r.ClaimedCode}, body=(ClaimIn,),
        errors=("campaign_not_found", "claims_not_offered", "forbidden", "code_not_active_yet", "campaign_inactive",
         "country_not_eligible", "claims_exhausted", "code_space_exhausted", "delivery_failed"), idempotent=True,
        description="201 with a new code, 200 with the same code for an e-mail that claimed before. A browser "
                    "`Origin` the campaign does not allow is 403 (the engine's own pages, ENGINE_ORIGINS, may "
                    "always claim). "
                    "`qr_svg` is the code as a QR code. Throttled per client and per campaign (429). A code to be "
                    "mailed that could not be sent is 503 delivery_failed: the claim keeps it and a retry mails "
                    "the same code."),
    "claim_preflight": Operation(
        "CORS preflight of the claim", {204: None}, dynamodb=False,
        description="`Access-Control-Allow-Origin` only for an origin in the campaign's `claims.allowed_origins`.",
        response_headers={"Access-Control-Allow-Origin": "the request's Origin, when the campaign allows it"}),
    # operators
    "health": Operation("Readiness: config and table answer", {200: r.Health}),
    "list_campaigns": Operation("List campaigns with their effective status", {200: r.CampaignList}),
    "get_campaign": Operation(
        "A campaign's config, status and numbers", {200: r.CampaignView}, errors=("campaign_not_found",)),
    "issue_codes": Operation(
        "Issue unique codes", {201: r.IssuedCodes, 202: r.JobQueued}, body=(IssueCodesIn,),
        errors=("campaign_not_found", "codes_not_issuable", "code_space_exhausted"),
        description="Up to 50 codes answer 201 with the codes; more (up to 1,000,000) start a job (202)."),
    "get_job": Operation("A bulk job's progress", {200: r.Job}, errors=("not_found",)),
    "run_job": Operation(
        "Run a scheduled job now", {200: r.JobRun}, body=(RunJobIn,), errors=("not_found", "job_now_not_allowed"),
        description="`now` runs the job as of that moment, where the stack allows it (JOBS_ALLOW_NOW, off by "
                    "default when deployed): elsewhere a `now` is 422 `job_now_not_allowed`."),
    "erase_customer": Operation(
        "Erase a customer (GDPR)", {200: r.Erasure, 202: r.Erasure}, errors=("invalid_request",),
        description="200: complete (also for a customer with nothing stored). 202: the time budget ran out; "
                    "repeat the DELETE until it answers 200. Idempotent by itself, no Idempotency-Key."),
    "erase_by_email": Operation(
        "Erase a person known only by e-mail (GDPR)", {200: r.EmailErasure, 202: r.EmailErasure},
        query=ErasureByEmailQuery,
        description="`?email=`: the claims made with the address (and their stored Idempotency-Key answers) are "
                    "deleted, codes bound to it are rebound to an anonymised holder (issued and redemption counts "
                    "stay), referral mailbox locks go. 202: repeat until 200. A customer with an id: DELETE "
                    "/v1/customers/{customer_id}, which also follows the e-mail addresses it can link."),
    "export_codes": Operation(
        "A page of the campaign's issued codes (JSON or CSV)", {200: r.CodesPage}, query=CodesExportQuery,
        errors=("campaign_not_found",), csv=True, response_headers={"X-Next-Cursor": "format=csv: the next page's "
                                                                    "cursor; absent on the last page"},
        description="Unique codes only (a public code is in the campaign's config). `format=csv` answers the same "
                    "page as text/csv with a header row `code,status,customer_id,customer_email_hash,expires_at,"
                    "redemptions`."),
    "create_export": Operation(
        "Export all of a campaign's codes as one CSV file", {202: r.ExportQueued},
        errors=("campaign_not_found", "codes_not_issuable"),
        description="Starts a job that writes every unique code of the campaign (the CSV of the paged export: "
                    "`code,status,customer_id,customer_email_hash,expires_at,redemptions`). Poll "
                    "`GET /v1/campaigns/{campaign_id}/exports/{export_id}` for its progress and the file."),
    "get_export": Operation(
        "A whole-campaign export's progress and file", {200: r.Export}, errors=("not_found",),
        description="When `succeeded`: `url`, a pre-signed link to the CSV valid until `url_expires_at` "
                    "(deployed; the object itself expires after the bucket's lifecycle days), or `path`, the "
                    "file written by the local run."),
    "retention_metrics": Operation(
        "Retention numbers of a window of UTC days, per currency", {200: r.RetentionMetrics}, query=RetentionQuery,
        errors=("campaign_not_found",),
        description="Orders are the order.paid events whose occurred_at falls in the window, less orders refunded "
                    "in full (whenever the refund arrived); revenue is their amounts less what was refunded of "
                    "them. Rates are between 0 and 1; average_order_value and customer_value are minor units, "
                    "rounded down."),
    "get_consents": Operation(
        "A customer's consent per channel and the ledger of statements (proof)", {200: r.Consents},
        errors=("invalid_request",)),
    "list_customer_messages": Operation(
        "The journey messages of a customer (sent, skipped with a reason, deferred), newest first",
        {200: r.Messages}, errors=("invalid_request",)),
    "unsubscribe_page": Operation(
        "The one-click unsubscribe page (GET never unsubscribes)", {200: None}, html=True, errors=("not_found",),
        description="A small page whose button POSTs `List-Unsubscribe=One-Click` to the same URL."),
    "unsubscribe": Operation(
        "One-click unsubscribe (RFC 8058): withdraws the link's channel", {200: r.Unsubscribed}, html=True,
        errors=("not_found",),
        description="Body `List-Unsubscribe=One-Click` (form-encoded; any body is accepted). A repeat changes "
                    "nothing. With `Accept: text/html` the answer is a page."),
    "openapi": Operation(
        "This document (OpenAPI 3.1)", {200: r.OpenApiDocument}, dynamodb=False,
        description="Generated from the route table and the request and response declarations."),
    # referral programs
    "enroll_referrer": Operation(
        "Enrol a referrer (their referral code and link)", {201: r.Enrolment, 200: r.Enrolment}, body=(ReferrerIn,),
        errors=(*_REFERRAL_PROGRAM, "referral_program_inactive"),
        description="201 for a new referrer, 200 with the same code for a customer enrolled before."),
    "get_referrer": Operation(
        "A referrer's numbers and rewards", {200: r.Referrer}, errors=(*_REFERRAL_PROGRAM, "not_found")),
    "attribute_referral": Operation(
        "Attribute a referee to a referral code", {201: r.ReferralCreated}, body=(ReferralIn,),
        errors=(*_REFERRAL_PROGRAM, "referral_program_inactive", "referral_code_not_found", "self_referral",
         "already_referred", "existing_customer", "campaign_not_found", "campaign_inactive"),
        idempotent=True),
    "referral_leaderboard": Operation(
        "Referrers with the most conversions", {200: r.Leaderboard}, query=LeaderboardQuery,
        errors=_REFERRAL_PROGRAM),
    "list_held_conversions": Operation(
        "Conversions held for review", {200: r.HeldConversions}, query=HeldConversionsQuery,
        errors=_REFERRAL_PROGRAM),
    "approve_conversion": Operation(
        "Approve a held conversion", {200: r.ConversionApproved},
        errors=(*_REFERRAL_PROGRAM, "not_found", "conversion_not_held")),
    "reject_conversion": Operation(
        "Reject a held conversion", {200: r.ConversionRejected},
        errors=(*_REFERRAL_PROGRAM, "not_found", "conversion_not_held")),
    "list_payouts": Operation(
        "Cash payouts owed or paid", {200: r.Payouts}, query=PayoutsQuery, errors=_REFERRAL_PROGRAM, csv=True,
        description="`format=csv` answers the same rows as text/csv (Content-Disposition: attachment)."),
    "mark_payout_paid": Operation(
        "Mark a payout paid", {200: r.PayoutPaid}, body=(PayoutPaidIn,), errors=(*_REFERRAL_PROGRAM, "not_found"),
        description="Again: the same answer."),
    "referral_metrics": Operation(
        "A referral program's numbers (k-factor, ROI, ...)", {200: r.ReferralMetrics}, errors=_REFERRAL_PROGRAM),
    # loyalty programs
    "get_loyalty_program": Operation(
        "A loyalty program's tiers and reward catalog", {200: r.LoyaltyProgramView}, errors=_LOYALTY),
    "get_loyalty_member": Operation(
        "A member's points, tier and expiring points", {200: r.LoyaltyMember},
        errors=(*_LOYALTY, "not_found", "invalid_request")),
    "list_loyalty_transactions": Operation(
        "A member's ledger, newest first", {200: r.LedgerPage}, query=LedgerQuery,
        errors=(*_LOYALTY, "not_found")),
    "redeem_loyalty_reward": Operation(
        "Spend points on a reward", {201: r.RewardRedeemed}, body=(RewardRedemptionIn,),
        errors=(*_LOYALTY, "not_found", "reward_not_found", "insufficient_points", "too_many_lots",
         "loyalty_program_inactive", "campaign_inactive", "campaign_not_found", "codes_not_issuable"),
        idempotent=True),
    "adjust_loyalty_points": Operation(
        "Add or remove points by hand", {201: r.Adjusted}, body=(AdjustmentIn,),
        errors=(*_LOYALTY, "insufficient_points", "too_many_lots"), idempotent=True),
}
