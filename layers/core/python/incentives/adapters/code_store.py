"""The stored shape of a unique code, its issued counts, and the bulk writers' puts of whole chunks."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..domain.checkout import CODE_ACTIVE
from ..domain.variants import counter
from . import keys

if TYPE_CHECKING:
    from .dynamo import Table
    from .unit_of_work import UnitOfWork


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


def count_issued(uow: UnitOfWork, campaign_id: str, n: int, shard: int = 0,
                 by_variant: dict[str, int] | None = None) -> None:
    """Issued counts are sharded: shard 0 for codes issued one by one, 1.. for the bulk writers. The per-variant
    counts (``v_<id>_issued``) ride on the same item and the same ADD."""
    uow.add(keys.campaign_issued_shard(campaign_id, shard), issued=n,
            **{counter(v, "issued"): k for v, k in (by_variant or {}).items()})


def put_chunk(table: Table, items: list[dict], skip_existing: bool) -> None:
    """BatchWriteItem of a chunk's code items (it raises when items stay unprocessed). ``skip_existing``: read
    them first and put only the missing ones (a retried chunk never puts over a handed-out code)."""
    if skip_existing:
        have = table.batch_get_many([(i["pk"], i["sk"]) for i in items], consistent=True)
        items = [i for i in items if (i["pk"], i["sk"]) not in have]
    table.batch_write(items)
