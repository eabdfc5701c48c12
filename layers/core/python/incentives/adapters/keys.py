"""Every item key of the single table, in one place (docs/data-model.md mirrors this file)."""
from __future__ import annotations


def code(code: str) -> tuple[str, str]:
    return f"CODE#{code}", "CODE"


def campaign_counters(campaign_id: str) -> tuple[str, str]:
    """Limit-enforcing counters of a campaign: redeemed, discount_total, claims (one item: one condition)."""
    return f"CAMPAIGN#{campaign_id}", "COUNTERS"


def campaign_issued_shard(campaign_id: str, shard: int) -> tuple[str, str]:
    """Issued-code counts, sharded so parallel bulk writers never contend on one item."""
    return f"CAMPAIGN#{campaign_id}", f"ISSUED#{shard:02d}"


def campaign_prefix(campaign_id: str) -> str:
    return f"CAMPAIGN#{campaign_id}"


def customer_usage(campaign_id: str, customer_id: str) -> tuple[str, str]:
    return f"CAMPAIGN#{campaign_id}#CUSTOMER#{customer_id}", "USAGE"


def redemption(redemption_id: str) -> tuple[str, str]:
    return f"REDEMPTION#{redemption_id}", "REDEMPTION"


def claim(campaign_id: str, email_hash: str) -> tuple[str, str]:
    return f"CLAIM#{campaign_id}#{email_hash}", "CLAIM"


def idempotency(scope: str, key: str) -> tuple[str, str]:
    return f"IDEMPOTENCY#{scope}#{key}", "IDEMPOTENCY"


def rate_window(scope: str, window: int) -> tuple[str, str]:
    return f"RATE#{scope}#{window}", "RATE"


def job(job_id: str) -> tuple[str, str]:
    return f"JOB#{job_id}", "JOB"


def job_chunk(job_id: str, chunk: int) -> tuple[str, str]:
    return f"JOB#{job_id}", f"CHUNK#{chunk:08d}"


def job_progress(job_id: str, shard: int) -> tuple[str, str]:
    return f"JOB#{job_id}", f"PROGRESS#{shard:02d}"


CAMPAIGN_STATUS_PK = "CAMPAIGNS"


def campaign_status(campaign_id: str) -> tuple[str, str]:
    """The last status the activation job recorded; all in one partition so the job reads them in one Query."""
    return CAMPAIGN_STATUS_PK, f"STATUS#{campaign_id}"


def customer_gsi(customer_id: str) -> str:
    return f"CUSTOMER#{customer_id}"


def customer_profile(customer_id: str) -> tuple[str, str]:
    return f"CUSTOMER#{customer_id}", "PROFILE"


def event(event_id: str) -> tuple[str, str]:
    """One item per ingested event id: its conditional put makes a repeated id change nothing."""
    return f"EVENT#{event_id}", "EVENT"


def holder_gsi(holder: str) -> str:
    """gsi1 partition of the codes bound to one holder (``id:<customer id>`` or ``email:<sha256>``)."""
    return f"HOLDER#{holder}"


def erasure(anonymised_id: str) -> tuple[str, str]:
    """The record of one finished (or running) erasure: counts and times, keyed by the random anonymised id.
    It holds neither the original customer id nor an e-mail."""
    return f"ERASURE#{anonymised_id}", "ERASURE"


def erasure_marker(customer_id: str) -> tuple[str, str]:
    """Exists only while an erasure of this customer is unfinished: the anonymised id (and e-mail hash) a
    retried DELETE must reuse. Deleted as the erasure's last write."""
    return f"CUSTOMER#{customer_id}", "ERASING"
