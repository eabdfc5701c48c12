"""Sharded counters of hot codes (``limits.counter_shards: K``): the pure rules, no I/O.

One DynamoDB item takes about 1,000 write units a second, so one counter item caps a public code near 500
transactional redemptions a second. With K > 1 the public code's count, the campaign's redeemed count, its
discount (budget) and its stats counters live on K shard items instead (adapters/keys.py), and each cap C is
split into fixed shares: shard j may hold ``share(C, K, j)`` (C // K, plus one for the first C % K shards). The
shares add up to C, so per-item conditions ``count_j < share_j`` can never let the total pass C, under any
concurrency. Exact the other way too: a redemption is refused only when a consistent read of all K shards shows
no shard with room, i.e. the total is at its cap; a discount larger than what is left in one shard takes the rest
from other shards in the same transaction.

A redemption reads a random sample of SAMPLE shards (one BatchGetItem) and writes to the one with the most room
("power of two choices": the shards fill evenly, so the sample is almost never short); when the sample is short or
its read was stale (the write's condition fails), it reads all K consistently and chooses again, again two at
random among those with room, so that redemptions that read the same counts do not all pick the same shard.
"""
from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from .config import Campaign

SAMPLE = 2  # shards a redemption reads before it writes (all of them when K <= SAMPLE)
_NO_LIMIT = 1 << 62


def share(cap: int, k: int, j: int) -> int:
    """What shard ``j`` of ``k`` may hold of ``cap``; the k shares add up to cap exactly."""
    return cap // k + (1 if j < cap % k else 0)


def shard_count(campaign: Campaign) -> int:
    return campaign.limits.counter_shards


def sharded(campaign: Campaign) -> bool:
    return campaign.limits.counter_shards > 1


def code_sharded(campaign: Campaign) -> bool:
    """Whether the public code's own count is sharded too (a unique code is redeemed by few: never hot)."""
    return sharded(campaign) and campaign.codes.type == "public"


@dataclass(frozen=True)
class ShardCounts:
    """One shard as read: the public code's count on it, and the campaign counters that carry limits."""

    index: int
    code: int = 0
    redeemed: int = 0
    discount_total: int = 0


@dataclass(frozen=True)
class ShardPlan:
    """Where one redemption counts: ``shard`` takes the code count, ``redeemed`` and the revenue; ``discounts``
    spreads the discount (budget, discount and spend counters) over one or more shards."""

    shard: int
    discounts: dict[int, int] = field(default_factory=dict)


class NoRoom(Exception):
    """The shards read have no room; ``scope`` is code, campaign or budget."""

    def __init__(self, scope: str):
        super().__init__(scope)
        self.scope = scope


def _count_room(campaign: Campaign, s: ShardCounts) -> int:
    lim, k = campaign.limits, campaign.limits.counter_shards
    room = _NO_LIMIT
    if code_sharded(campaign) and lim.per_code is not None:
        room = min(room, share(lim.per_code, k, s.index) - s.code)
    if lim.total_redemptions is not None:
        room = min(room, share(lim.total_redemptions, k, s.index) - s.redeemed)
    return room


def _budget_room(campaign: Campaign, s: ShardCounts) -> int:
    lim = campaign.limits
    if lim.budget is None:
        return _NO_LIMIT
    return max(0, share(lim.budget.amount, lim.counter_shards, s.index) - s.discount_total)


def _count_scope(campaign: Campaign, shards: list[ShardCounts]) -> str:
    lim, k = campaign.limits, campaign.limits.counter_shards
    if code_sharded(campaign) and lim.per_code is not None and \
            all(s.code >= share(lim.per_code, k, s.index) for s in shards):
        return "code"
    return "campaign"


def plan(campaign: Campaign, discount: int, shards: list[ShardCounts],
         rand: Callable[[], float] = random.random) -> ShardPlan:
    """The shard for one more redemption: of two shards with room taken at random, the one with more room
    ("power of two choices": the shards fill evenly, and concurrent redemptions that read the same counts still
    spread instead of all choosing the emptiest). The discount's parts: as much as that shard's budget share has
    left, the rest from other shards with budget left, in random order. Raises NoRoom when the shards given
    cannot take it (of all K read consistently: the cap is reached)."""
    with_count = [s for s in shards if _count_room(campaign, s) >= 1]
    if not with_count:
        raise NoRoom(_count_scope(campaign, shards))
    pool = [s for s in with_count if _budget_room(campaign, s) > 0] or with_count
    two = sorted(pool, key=lambda s: rand())[:SAMPLE]
    primary = max(two, key=lambda s: (min(_count_room(campaign, s), _NO_LIMIT), _budget_room(campaign, s)))
    if campaign.limits.budget is None:
        return ShardPlan(primary.index, {primary.index: discount})
    parts: dict[int, int] = {}
    left = discount
    others = sorted((s for s in shards if s.index != primary.index), key=lambda s: rand())
    for s in [primary, *others]:
        take = min(left, _budget_room(campaign, s))
        if take > 0:
            parts[s.index] = take
            left -= take
        if left == 0:
            return ShardPlan(primary.index, parts)
    raise NoRoom("budget")


def sample(k: int, size: int = SAMPLE, rng: random.Random | None = None) -> list[int]:
    """A random sample of shard indexes (all of them when k <= size)."""
    if k <= size:
        return list(range(k))
    return sorted((rng or random).sample(range(k), size))


def sum_counters(items: Iterable[dict | None]) -> dict[str, int]:
    """Every numeric attribute of the items, summed by name: a campaign's counters over its shards. Generic on
    purpose: a counter added to the counter item later sums over the shards without a change here."""
    out: dict[str, int] = {}
    for item in items:
        for k, v in (item or {}).items():
            if isinstance(v, int) and not isinstance(v, bool):
                out[k] = out.get(k, 0) + v
    return out
