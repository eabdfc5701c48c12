"""Writing new codes. A code is its own key, so "never two equal codes" is a conditional put
(attribute_not_exists) in a transaction; a collision cancels the transaction, only the colliding codes are
drawn again, and the transaction is retried. No read per code."""
from __future__ import annotations

from typing import Callable

from ..domain.checkout import CODE_ACTIVE
from . import keys
from .dynamo import Table, TransactionCancelled

MAX_COLLISION_ROUNDS = 20


def code_item(code: str, campaign_id: str, created_at: str, expires_at: str | None = None,
              holder: str | None = None, job_id: str | None = None) -> dict:
    pk, sk = keys.code(code)
    return {"pk": pk, "sk": sk, "code": code, "campaign_id": campaign_id, "status": CODE_ACTIVE, "redemptions": 0,
            "kind": "unique", "created_at": created_at, "expires_at": expires_at, "holder": holder,
            "job_id": job_id}


def write_codes(table: Table, codes: list[str], make_item: Callable[[str], dict], draw: Callable[[int], list[str]],
                extra_ops: list[dict]) -> tuple[list[str], int | None]:
    """Put ``codes`` (plus ``extra_ops``, placed after them) in one transaction; redraw any that collide.

    Returns (the codes written, None), or (codes, index of the extra op whose condition failed) when an extra
    op's condition (e.g. a chunk marker or a claim) cancels the transaction — nothing was written then.
    """
    want = len(codes)
    codes = list(dict.fromkeys(codes))  # a batch may draw the same code twice; a transaction may not
    while len(codes) < want:
        codes = list(dict.fromkeys(codes + draw(want - len(codes))))
    for _ in range(MAX_COLLISION_ROUNDS):
        ops = [table.put_op(make_item(c)) for c in codes] + extra_ops
        try:
            table.transact(ops, deadline_s=20.0)
            return codes, None
        except TransactionCancelled as e:
            n = len(codes)
            for i in range(n, len(ops)):
                if e.failed(i):
                    return codes, i - n
            taken = {i for i in range(n) if e.failed(i)}
            if not taken:
                raise
            current = set(codes)
            fresh = [c for c in draw(len(taken) * 2) if c not in current]
            codes = [fresh.pop() if i in taken and fresh else c for i, c in enumerate(codes)]
    raise RuntimeError("code space exhausted: too many collisions; widen the pattern")
