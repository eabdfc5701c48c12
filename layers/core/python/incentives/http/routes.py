"""The route table: declared once, read by the CDK stack (infra/api.py) and the local server (local/server.py).

Each route names the Lambda function that serves it and the role a caller needs:
``public`` (no key), ``storefront`` (any valid API key) or ``operator`` (an operator key).
"""
from __future__ import annotations

from dataclasses import dataclass

PUBLIC = "public"
STOREFRONT = "storefront"
OPERATOR = "operator"


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # API Gateway resource syntax: /v1/codes/{code}
    function: str  # folder under functions/
    role: str
    name: str  # the handler-side operation name


ROUTES: tuple[Route, ...] = (
    # storefront: the checkout hot path
    Route("POST", "/v1/validations", "storefront", STOREFRONT, "validate"),
    Route("POST", "/v1/redemptions", "storefront", STOREFRONT, "redeem"),
    Route("POST", "/v1/redemptions/{redemption_id}/rollback", "storefront", STOREFRONT, "rollback"),
    Route("GET", "/v1/codes/{code}", "storefront", STOREFRONT, "get_code"),
    Route("POST", "/v1/qualifications", "storefront", STOREFRONT, "qualify"),
    # order and customer events from the shop (profiles; later loyalty and referrals)
    Route("POST", "/v1/events", "events", STOREFRONT, "ingest_event"),
    # one-click unsubscribe (RFC 8058) from a message's link: the events function keeps profiles and consent
    Route("GET", "/v1/public/unsubscribe/{token}", "events", PUBLIC, "unsubscribe_page"),
    Route("POST", "/v1/public/unsubscribe/{token}", "events", PUBLIC, "unsubscribe"),
    # landing pages
    Route("POST", "/v1/public/campaigns/{campaign_id}/claims", "claims", PUBLIC, "claim"),
    Route("OPTIONS", "/v1/public/campaigns/{campaign_id}/claims", "claims", PUBLIC, "claim_preflight"),
    # operators
    Route("GET", "/v1/health", "operators", PUBLIC, "health"),
    Route("GET", "/v1/campaigns", "operators", OPERATOR, "list_campaigns"),
    Route("GET", "/v1/campaigns/{campaign_id}", "operators", OPERATOR, "get_campaign"),
    Route("POST", "/v1/campaigns/{campaign_id}/codes", "operators", OPERATOR, "issue_codes"),
    Route("GET", "/v1/campaigns/{campaign_id}/codes", "operators", OPERATOR, "export_codes"),
    # the whole campaign as one CSV file, written by the code-export job (services/export_jobs.py)
    Route("POST", "/v1/campaigns/{campaign_id}/exports", "operators", OPERATOR, "create_export"),
    Route("GET", "/v1/campaigns/{campaign_id}/exports/{export_id}", "operators", OPERATOR, "get_export"),
    Route("GET", "/v1/jobs/{job}", "operators", OPERATOR, "get_job"),
    # retention numbers over a window of UTC days, per currency (services/retention.py)
    Route("GET", "/v1/metrics/retention", "operators", OPERATOR, "retention_metrics"),
    Route("POST", "/v1/jobs/{job}/run", "operators", OPERATOR, "run_job"),
    # this API's OpenAPI 3.1 document, generated from this table and the declarations (http/openapi.py)
    Route("GET", "/v1/openapi.json", "operators", PUBLIC, "openapi"),
    # privacy: GDPR erasure of one customer (idempotent by nature: a repeat finishes or changes nothing)
    Route("DELETE", "/v1/customers/{customer_id}", "operators", OPERATOR, "erase_customer"),
    # privacy: erasure of a person known only by an e-mail address (?email=): claims, e-mail-bound codes
    Route("DELETE", "/v1/customers", "operators", OPERATOR, "erase_by_email"),
    # consent: the current state per channel and the ledger of statements (services/consents.py)
    Route("GET", "/v1/customers/{customer_id}/consents", "operators", OPERATOR, "get_consents"),
    # journeys: the messages sent (or skipped, deferred) to a customer, newest first
    Route("GET", "/v1/customers/{customer_id}/messages", "operators", OPERATOR, "list_customer_messages"),
    # referral programs: referrers and referees (storefront), review, payouts and numbers (operators)
    *(Route(m, f"/v1/referral-programs/{{program_id}}{p}", "referrals", role, name) for m, p, role, name in (
        ("POST", "/referrers", STOREFRONT, "enroll_referrer"),
        ("GET", "/referrers/{customer_id}", STOREFRONT, "get_referrer"),
        ("POST", "/referrals", STOREFRONT, "attribute_referral"),
        ("GET", "/leaderboard", STOREFRONT, "referral_leaderboard"),
        ("GET", "/conversions", OPERATOR, "list_held_conversions"),
        ("POST", "/conversions/{referral_id}/approve", OPERATOR, "approve_conversion"),
        ("POST", "/conversions/{referral_id}/reject", OPERATOR, "reject_conversion"),
        ("GET", "/payouts", OPERATOR, "list_payouts"),
        ("POST", "/payouts/{payout_id}/paid", OPERATOR, "mark_payout_paid"),
    )),
    Route("GET", "/v1/metrics/referrals/{program_id}", "referrals", OPERATOR, "referral_metrics"),
    # loyalty programs: catalog, member view, ledger and rewards (storefront), adjustments (operators)
    Route("GET", "/v1/loyalty-programs/{program_id}", "loyalty", STOREFRONT, "get_loyalty_program"),
    *(Route(m, f"/v1/loyalty-programs/{{program_id}}/members/{{customer_id}}{p}", "loyalty", role, name)
      for m, p, role, name in (
        ("GET", "", STOREFRONT, "get_loyalty_member"),
        ("GET", "/transactions", STOREFRONT, "list_loyalty_transactions"),
        ("POST", "/rewards", STOREFRONT, "redeem_loyalty_reward"),
        ("POST", "/adjustments", OPERATOR, "adjust_loyalty_points"),
    )),
)

# Functions that no route serves: scheduled jobs and asynchronous workers.
# name -> (folder under functions/, EventBridge schedule expression or None for async-invoked workers)
JOBS: dict[str, tuple[str, str | None]] = {
    "campaign-activation": ("campaign_activation", "rate(1 minute)"),
    # a bulk run's planner: puts its slices on the worker queue (infra/bulk.py: SQS -> bulk_codes_worker)
    "bulk-codes": ("bulk_codes", None),
    # a whole campaign's codes as one CSV file (POST /v1/campaigns/{id}/exports)
    "code-export": ("code_exports", None),
    # referral rewards whose return window has closed are paid out (services/referral_conversions.py)
    "referral-rewards": ("referral_rewards", "rate(10 minutes)"),
    # loyalty: expiry warnings, lot expiry at the end of the day in each program's zone, tier downgrades
    "points-expiry": ("points_expiry", "cron(5 * * * ? *)"),
    # journeys: one function serves the five, by job name (the schedule's input); hourly, reading only the
    # due-date index buckets of their window (services/journeys.py)
    "win-back": ("journeys", "cron(1 * * * ? *)"),
    "birthdays": ("journeys", "cron(2 * * * ? *)"),
    "anniversaries": ("journeys", "cron(3 * * * ? *)"),
    "replenishment": ("journeys", "cron(4 * * * ? *)"),
    "post-purchase": ("journeys", "cron(6 * * * ? *)"),
    # points_expiring journeys: loyalty's warnings, indexed by journey_events (after points-expiry's run at :05)
    "points-expiring": ("journeys", "cron(8 * * * ? *)"),
}

# Jobs an operator may run on demand with POST /v1/jobs/{job_name}/run.
RUNNABLE_JOBS = ("campaign-activation", "referral-rewards", "points-expiry", "win-back", "birthdays", "anniversaries",
                 "replenishment", "post-purchase", "points-expiring")


def api_functions() -> list[str]:
    seen: list[str] = []
    for r in ROUTES:
        if r.function not in seen:
            seen.append(r.function)
    return seen
