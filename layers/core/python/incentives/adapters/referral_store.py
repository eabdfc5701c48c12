"""Referral items in the single table (keys.py "referral programs"; docs/data-model.md "Referrals").

Writes go through the use case's unit of work (adapters/unit_of_work.py), which merges the counters of a
conversion and the fields of its payout on one item into one operation.
"""
from __future__ import annotations

from . import keys
from .dynamo import Table, from_item, values

STATUS = {"#st": "status"}  # a reserved word in expressions


class ReferralStore:
    def __init__(self, table: Table):
        self.table = table

    def get(self, k: tuple[str, str]) -> dict | None:
        return self.table.get(*k, consistent=True)

    def until(self, pk: str, sk_max: str, limit: int = 100) -> list[dict]:
        """Items of one partition with sk <= sk_max, oldest first (the due rewards of a job run)."""
        r = self.table.client.query(TableName=self.table.name, KeyConditionExpression="pk = :p AND sk <= :s",
                                    ExpressionAttributeValues=values(p=pk, s=sk_max), Limit=limit,
                                    ConsistentRead=True)
        return [from_item(i) for i in r["Items"]]

    def referrals_of(self, program_id: str, referrer_id: str, limit: int | None = None) -> list[dict]:
        return self.table.query(keys.referrals_gsi(program_id, referrer_id), index="gsi1", forward=False,
                                limit=limit)

    def leaderboard(self, program_id: str, limit: int) -> list[dict]:
        return self.table.query(keys.leaderboard_gsi(program_id), index="gsi1", forward=False, limit=limit)

    def payouts(self, program_id: str, status: str) -> list[dict]:
        return self.table.query(keys.payouts_gsi(program_id, status), index="gsi1")

    def held(self, program_id: str, limit: int) -> list[dict]:
        return self.table.query(keys.referral_held(program_id, "")[0], limit=limit)
