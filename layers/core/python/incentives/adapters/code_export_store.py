"""Reads of the code export: a campaign's unique codes from gsi2, shard by shard, one page at a time, and the
random key that signs the export's cursors (docs/data-model.md "Code export")."""
from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from . import keys
from .dynamo import ConditionFailed, Table, from_item, to_av
from .schema import GSI2, GSI2_PK, GSI2_SK

_signing_keys: dict[str, bytes] = {}  # per table: read once per container


@dataclass(frozen=True)
class Position:
    """Where a page starts: a shard, and the gsi2sk of the last code handed out in it (None: its beginning)."""

    shard: int
    after: str | None = None


def code_of(sort_key: str) -> str:
    """The code in a gsi2sk (``CODE#<code>`` or ``JOB#<job id>#<code>``; job ids hold no ``#``)."""
    if sort_key.startswith("JOB#"):
        return sort_key[4:].split("#", 1)[1]
    return sort_key.removeprefix("CODE#")


class CodeExportStore:
    SHARDS = keys.CODE_SHARDS  # the export reads shards 0..SHARDS-1 of a campaign's codes

    @staticmethod
    def sort_key_of_listing(job_id: str | None, after: str) -> bool:
        """Whether ``after`` (a cursor's last gsi2sk) is a code sort key of this listing: a code's, or with a job
        id one of that job's codes."""
        prefix = keys.job_codes_prefix(job_id) if job_id else ""
        return after.startswith(prefix) and after.startswith(("CODE#", "JOB#"))

    def __init__(self, table: Table):
        self.table = table

    def signing_key(self) -> bytes:
        """32 random bytes kept in the table, made by the first export that needs them (no config secret)."""
        cached = _signing_keys.get(self.table.name)
        if cached is not None:
            return cached
        pk, sk = keys.cursor_key()
        item = self.table.get(pk, sk, consistent=True)
        if item is None:
            try:
                self.table.put({"pk": pk, "sk": sk, "key": secrets.token_hex(32)}, "attribute_not_exists(pk)")
            except ConditionFailed:
                pass  # another export made it first: use theirs
            item = self.table.get(pk, sk, consistent=True)
        if item is None:  # put above, or by the export that won the race: a consistent read finds it
            raise RuntimeError("the cursor key is missing right after its put")
        key = _signing_keys[self.table.name] = bytes.fromhex(item["key"])
        return key

    def page(self, campaign_id: str, job_id: str | None, start: Position, limit: int
             ) -> tuple[list[dict], Position | None]:
        """Up to ``limit`` codes from ``start`` on, and where the next page starts (None: no more codes).

        Each shard is one Query (Limit = what the page still needs + 1: the extra item tells whether the shard
        goes on, so a page that ends a shard's codes names the next shard). Eventually consistent: a code
        written a moment ago may be missing from a page read at the same time."""
        out: list[dict] = []
        shard = start.shard
        exclusive: dict | None = self._start_key(campaign_id, shard, start.after) if start.after else None
        while shard < keys.CODE_SHARDS:
            want = limit - len(out)
            kwargs: dict[str, Any] = {
                "TableName": self.table.name, "IndexName": GSI2, "Limit": want + 1,
                "KeyConditionExpression": "#p = :p", "ExpressionAttributeNames": {"#p": GSI2_PK},
                "ExpressionAttributeValues": {":p": to_av(keys.campaign_codes_gsi(campaign_id, shard))}}
            if job_id is not None:
                kwargs["KeyConditionExpression"] += " AND begins_with(#s, :s)"
                kwargs["ExpressionAttributeNames"]["#s"] = GSI2_SK
                kwargs["ExpressionAttributeValues"][":s"] = to_av(keys.job_codes_prefix(job_id))
            if exclusive is not None:
                kwargs["ExclusiveStartKey"] = exclusive
            r = self.table.client.query(**kwargs)
            items = [from_item(i) or {} for i in r["Items"]]
            if len(items) > want:
                out.extend(items[:want])
                return out, Position(shard, out[-1][GSI2_SK])
            out.extend(items)
            if "LastEvaluatedKey" in r:  # the 1 MB page limit: the same shard goes on
                exclusive = r["LastEvaluatedKey"]
                continue
            shard, exclusive = shard + 1, None
            if len(out) == limit:
                return out, Position(shard) if shard < keys.CODE_SHARDS else None
        return out, None

    def shard_pages(self, campaign_id: str, shard: int, page: int = 1000):
        """Every code item of one gsi2 shard of the campaign, a page (one Query) at a time: the whole-campaign
        export reads the 16 shards in parallel."""
        kwargs: dict[str, Any] = {
            "TableName": self.table.name, "IndexName": GSI2, "Limit": page,
            "KeyConditionExpression": "#p = :p", "ExpressionAttributeNames": {"#p": GSI2_PK},
            "ExpressionAttributeValues": {":p": to_av(keys.campaign_codes_gsi(campaign_id, shard))}}
        while True:
            r = self.table.client.query(**kwargs)
            yield [from_item(i) or {} for i in r["Items"]]
            if "LastEvaluatedKey" not in r:
                return
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    @staticmethod
    def _start_key(campaign_id: str, shard: int, after: str) -> dict:
        pk, sk = keys.code(code_of(after))
        return {"pk": to_av(pk), "sk": to_av(sk), GSI2_PK: to_av(keys.campaign_codes_gsi(campaign_id, shard)),
                GSI2_SK: to_av(after)}
