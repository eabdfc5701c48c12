"""The stored shape of a unique code."""
from __future__ import annotations

from ..domain.checkout import CODE_ACTIVE
from . import keys


def code_item(code: str, campaign_id: str, created_at: str, expires_at: str | None = None,
              holder: str | None = None, job_id: str | None = None, balance: int | None = None,
              currency: str | None = None, variant: str | None = None) -> dict:
    pk, sk = keys.code(code)
    item = {"pk": pk, "sk": sk, "code": code, "campaign_id": campaign_id, "status": CODE_ACTIVE, "redemptions": 0,
            "kind": "unique", "created_at": created_at, "expires_at": expires_at, "holder": holder,
            "job_id": job_id, "balance": balance, "currency": currency}
    if variant is not None:  # the campaign's A/B variant for this code (domain/variants.py)
        item["variant"] = variant
    # every unique code is filed under its campaign for the export (sharded; keys.py "code export")
    item["gsi2pk"] = keys.campaign_codes_gsi(campaign_id, keys.code_shard(code))
    item["gsi2sk"] = keys.campaign_codes_sort(code, job_id)
    if holder is not None:  # a customer's codes, for support and erasure
        item["gsi1pk"], item["gsi1sk"] = keys.holder_gsi(holder), f"CODE#{code}"
    return item
