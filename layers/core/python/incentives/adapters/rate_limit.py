"""Fixed-window rate limits kept in DynamoDB: one conditional ADD per request and scope."""
from __future__ import annotations

from datetime import datetime

from ..domain import errors
from . import keys
from .dynamo import ConditionFailed, Table, values


def add_hit(table: Table, k: tuple[str, str], limit: int, ttl: int) -> bool:
    """One more hit on the fixed-window counter item ``k`` while it is below ``limit`` (one conditional ADD, the
    item expiring at ``ttl``). False: the window is at its limit, nothing was counted."""
    try:
        table.update(*k, "ADD hits :one SET #ttl = :ttl", "attribute_not_exists(hits) OR hits < :limit",
                     {"#ttl": "ttl"}, values(one=1, limit=limit, ttl=ttl))
    except ConditionFailed:
        return False
    return True


class RateLimiter:
    def __init__(self, table: Table):
        self.table = table

    def hit(self, scope: str, limit: int, window_seconds: int, now: datetime) -> None:
        window = int(now.timestamp()) // window_seconds
        if not add_hit(self.table, keys.rate_window(scope, window), limit, (window + 2) * window_seconds):
            retry_after = (window + 1) * window_seconds - int(now.timestamp())
            raise errors.RateLimited(details={"retry_after_seconds": max(1, retry_after)})
