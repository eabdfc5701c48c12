"""Error code -> HTTP status, in one place. Every error body is {"error": {"code", "message", "details"}}."""
from __future__ import annotations

STATUS = {
    "invalid_request": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "code_not_found": 404,
    "campaign_not_found": 404,
    "claims_not_offered": 404,
    "referral_program_not_found": 404,
    "referral_code_not_found": 404,
    "already_referred": 409,
    "conversion_not_held": 409,
    "loyalty_program_not_found": 404,
    "reward_not_found": 404,
    "insufficient_points": 409,
    "too_many_lots": 409,
    "rate_limited": 429,
    "idempotency_key_reused": 409,
    "request_in_progress": 409,
    "already_rolled_back": 409,
    "contention": 503,
    "delivery_failed": 503,
    "job_running": 409,
    "redemption_limit_reached": 409,
    "customer_limit_reached": 409,
    "budget_exhausted": 409,
    "claims_exhausted": 409,
    "code_space_exhausted": 409,
    "balance_exhausted": 409,
    "payload_too_large": 413,
    "internal_error": 500,
}
DEFAULT_REJECTION = 422  # a rule said no: code_expired, campaign_inactive, order_below_minimum, ...


def status_for(code: str) -> int:
    return STATUS.get(code, DEFAULT_REJECTION)


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}
