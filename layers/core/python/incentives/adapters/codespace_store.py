"""The state of each code space (pattern + charset): its permutation key and the next unused counter.

One UpdateItem both creates the key on first use (if_not_exists) and reserves a counter range (ADD), so
concurrent issuers get disjoint ranges and therefore distinct codes, with no read per code. The key is
random data generated here, never config; whoever can read it can read the codes in the same table anyway.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass

from ..domain.codespace import CodeSpace
from ..domain.errors import IncentiveError
from .dynamo import ConditionFailed, Table, values


class CodeSpaceExhausted(IncentiveError):
    """No counters left within the space's size or its guess bound (409 code_space_exhausted)."""

    code = "code_space_exhausted"
    default_message = "the campaign's code space has no unused codes left within its guess bound"


@dataclass(frozen=True)
class Reservation:
    key: bytes
    start: int
    count: int


def space_key(space: CodeSpace) -> tuple[str, str]:
    return f"CODESPACE#{space.space_id}", "STATE"


class CodeSpaceStore:
    def __init__(self, table: Table):
        self.table = table

    def reserve(self, space: CodeSpace, count: int, cap: int | None = None) -> Reservation:
        """``cap``: the most counters this space may ever hand out (the campaign's guess bound,
        Campaign.code_capacity); at most the space's size."""
        pk, sk = space_key(space)
        limit = space.size if cap is None else min(cap, space.size)
        try:
            item = self.table.update(
                pk, sk, "SET #k = if_not_exists(#k, :k), pattern = :p ADD next_counter :n",
                "attribute_not_exists(next_counter) OR next_counter <= :last_start", {"#k": "key"},
                values(k=secrets.token_hex(16), p=space.pattern, n=count, last_start=limit - count),
                return_new=True)
        except ConditionFailed:
            bound = "" if cap is None else f" within its guess bound of {limit:,} codes"
            raise CodeSpaceExhausted(f"code space {space.pattern} has fewer than {count} unused codes{bound}: "
                                     "a longer pattern gives room") from None
        return Reservation(bytes.fromhex(item["key"]), item["next_counter"] - count, count)

    def key(self, space: CodeSpace) -> bytes:
        item = self.table.get(*space_key(space), consistent=True)
        return bytes.fromhex(item["key"]) if item else self.reserve(space, 0).key
