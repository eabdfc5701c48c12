"""Fixed-window rate limits kept in DynamoDB: one conditional ADD per request and scope."""
from __future__ import annotations

from datetime import datetime

from ..domain import errors
from . import keys
from .dynamo import ConditionFailed, Table, values


class RateLimiter:
    def __init__(self, table: Table):
        self.table = table

    def hit(self, scope: str, limit: int, window_seconds: int, now: datetime) -> None:
        window = int(now.timestamp()) // window_seconds
        pk, sk = keys.rate_window(scope, window)
        try:
            self.table.update(pk, sk, "ADD hits :one SET #ttl = :ttl",
                              "attribute_not_exists(hits) OR hits < :limit", {"#ttl": "ttl"},
                              values(one=1, limit=limit, ttl=(window + 2) * window_seconds))
        except ConditionFailed:
            retry_after = (window + 1) * window_seconds - int(now.timestamp())
            raise errors.RateLimited(details={"retry_after_seconds": max(1, retry_after)}) from None
