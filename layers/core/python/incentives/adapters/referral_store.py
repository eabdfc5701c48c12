"""Referral items in the single table (keys.py "referral programs"; docs/data-model.md "Referrals").

``Writes`` collects what one transaction does to each item (SET / ADD / REMOVE and a condition per key, puts,
deletes) so a use case can add the counters of a conversion and the fields of its payout to the same item
without touching it twice (TransactWriteItems refuses two operations on one item).
"""
from __future__ import annotations

from typing import Any

from . import keys
from .dynamo import Table, from_item, key, to_av, values

STATUS = {"#st": "status"}  # a reserved word in expressions


class Writes:
    def __init__(self, table: Table):
        self.table = table
        self._updates: dict[tuple[str, str], dict] = {}
        self._other: list[tuple[tuple[str, str] | None, dict]] = []

    def _u(self, k: tuple[str, str]) -> dict:
        return self._updates.setdefault(k, {"set": {}, "add": {}, "remove": [], "cond": [], "names": {}, "vals": {}})

    def set(self, k: tuple[str, str], **fields: Any) -> "Writes":
        self._u(k)["set"].update({f: v for f, v in fields.items() if v is not None})
        return self

    def add(self, k: tuple[str, str], **fields: int) -> "Writes":
        adds = self._u(k)["add"]
        for f, v in fields.items():
            if v:
                adds[f] = adds.get(f, 0) + v
        return self

    def remove(self, k: tuple[str, str], *fields: str) -> "Writes":
        self._u(k)["remove"].extend(f for f in fields if f not in self._u(k)["remove"])
        return self

    def cond(self, k: tuple[str, str], expression: str, names: dict | None = None, **vals: Any) -> "Writes":
        """A condition on the item (placeholders of its own: ``:c_...``, ``#st`` for status)."""
        u = self._u(k)
        u["cond"].append(f"({expression})")
        u["names"].update(names or {})
        u["vals"].update(values(**vals))
        return self

    def put(self, op: dict, k: tuple[str, str] | None = None) -> "Writes":
        self._other.append((k, op))
        return self

    def delete(self, k: tuple[str, str], condition: str = "attribute_exists(pk)") -> "Writes":
        self._other.append((k, {"Delete": {"TableName": self.table.name, "Key": key(*k),
                                           "ConditionExpression": condition,
                                           "ReturnValuesOnConditionCheckFailure": "ALL_OLD"}}))
        return self

    def ops(self) -> tuple[list[dict], list[tuple[str, str] | None]]:
        """The transaction items and, for each, the key it writes (to read cancellation reasons by key)."""
        out: list[dict] = []
        order: list[tuple[str, str] | None] = []
        for k, u in self._updates.items():
            names = dict(u["names"])
            vals = dict(u["vals"])
            parts = []

            def ref(i: int, field: str, prefix: str) -> str:
                names[f"#{prefix}{i}"] = field
                return f"#{prefix}{i}"

            if u["set"]:
                sets = []
                for i, (f, v) in enumerate(u["set"].items()):
                    vals[f":s{i}"] = to_av(v)
                    sets.append(f"{ref(i, f, 's')} = :s{i}")
                parts.append("SET " + ", ".join(sets))
            if u["add"]:
                adds = []
                for i, (f, v) in enumerate(u["add"].items()):
                    vals[f":a{i}"] = to_av(v)
                    adds.append(f"{ref(i, f, 'a')} :a{i}")
                parts.append("ADD " + ", ".join(adds))
            if u["remove"]:
                parts.append("REMOVE " + ", ".join(ref(i, f, "r") for i, f in enumerate(u["remove"])))
            condition = " AND ".join(u["cond"]) or None
            if parts:
                out.append(self.table.update_op(*k, " ".join(parts), condition, names or None, vals or None))
            elif condition:
                out.append(self.table.condition_op(*k, condition, names or None, vals or None))
            else:
                continue
            order.append(k)
        for k, op in self._other:
            out.append(op)
            order.append(k)
        return out, order


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
