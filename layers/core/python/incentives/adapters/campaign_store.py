"""The campaigns' repository (outside the checkout path): the status the activation job recorded per campaign
(one partition: one Query reads them all), the registry of referral and loyalty programs ever configured, the
public code item the activation job makes sure of, and the campaign's counter items the operators' stats read.

services/activation.py and services/campaign_stats.py speak in statuses, ids and CampaignCounters; the keys and
conditions live here. A status change that another run recorded first is StatusRecorded.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import keys
from .dynamo import Table, values
from .unit_of_work import UnitOfWork, always

REFERRAL, LOYALTY = "REFERRAL", "LOYALTY"
# domain.checkout.CODE_ACTIVE, spelt here: importing domain.checkout would add 7 modules to the activation job's
# cold start (discounts, orders, profiles, ...) for one word
_CODE_ACTIVE = "active"


class StatusRecorded(Exception):
    """Another run recorded this campaign's change (or the public code) first."""


@dataclass(frozen=True)
class CampaignCounters:
    """A campaign's counter items as stored: the counter item, its K shards (limits.counter_shards > 1) and the
    issued-count shards. Every item keeps its ``v_<variant>_<name>`` counts too."""
    counters: dict = field(default_factory=dict)
    shards: list[dict] = field(default_factory=list)
    issued: list[dict] = field(default_factory=list)

    @property
    def issued_total(self) -> int:
        return sum(i.get("issued", 0) for i in self.issued)

    def items(self) -> list[dict]:
        """Every counter item (for the per-variant sums)."""
        return [*([self.counters] if self.counters else []), *self.issued, *self.shards]


class CampaignStore:
    def __init__(self, table: Table):
        self.table = table

    # --- the activation job's records -------------------------------------------------------------------------

    def recorded_statuses(self) -> dict[str, str]:
        """campaign id -> the status recorded last (one Query of the status partition)."""
        return {i["campaign_id"]: i["status"] for i in self.table.query(keys.CAMPAIGN_STATUS_PK, "STATUS#")}

    def recorded_campaigns(self) -> set[str]:
        """Every campaign ever recorded (erasure looks in campaigns removed from config too)."""
        return set(self.recorded_statuses())

    @staticmethod
    def record_status(uow: UnitOfWork, campaign_id: str, status: str, before: str | None, now_iso: str) -> None:
        """The campaign's new status, over the one read (``before``; None: none recorded yet). Another run that
        recorded a change first cancels the commit with StatusRecorded."""
        if before is None:
            cond, vals = "attribute_not_exists(pk)", values(s=status, now=now_iso, cid=campaign_id)
        else:
            cond, vals = "#st = :before", values(s=status, now=now_iso, cid=campaign_id, before=before)
        uow.update(keys.campaign_status(campaign_id), "SET #st = :s, changed_at = :now, campaign_id = :cid", cond,
                   {"#st": "status"}, vals, explain=always(StatusRecorded))

    def ensure_public_code(self, code: str, campaign_id: str, now_iso: str) -> bool:
        """The public code's item, unless it exists (the first redemption or an earlier run wrote it): one
        conditional put. True when this call wrote it."""
        pk, sk = keys.code(code)
        uow = UnitOfWork(self.table).put({"pk": pk, "sk": sk, "code": code, "campaign_id": campaign_id,
                                          "status": _CODE_ACTIVE, "redemptions": 0, "kind": "public",
                                          "created_at": now_iso}, explain=always(StatusRecorded))
        try:
            uow.commit()
        except StatusRecorded:
            return False
        return True

    def recorded_programs(self) -> dict[str, set[str]]:
        """{"REFERRAL": ids, "LOYALTY": ids} of every program ever recorded (one Query of the registry)."""
        out: dict[str, set[str]] = {REFERRAL: set(), LOYALTY: set()}
        for i in self.table.query(keys.PROGRAMS_PK):
            kind = i["sk"].split("#", 1)[0]
            out.setdefault(kind, set()).add(i["program_id"])
        return out

    def register_program(self, kind: str, program_id: str, now_iso: str) -> None:
        pk, sk = keys.program_registry(kind, program_id)
        self.table.put({"pk": pk, "sk": sk, "program_id": program_id, "recorded_at": now_iso}, condition=None)

    # --- the stats' reads ---------------------------------------------------------------------------------------

    def counters(self, campaign_id: str, shards: int = 1) -> CampaignCounters:
        """One Query of the campaign's partition (counter item, issued shards); with ``shards`` > 1 one
        BatchGetItem of the counter shards."""
        items = self.table.query(keys.campaign_prefix(campaign_id))
        counters = next((i for i in items if i["sk"] == "COUNTERS"), {})
        issued = [i for i in items if i["sk"].startswith("ISSUED#")]
        shard_items: list[dict] = []
        if shards > 1:
            shard_items = list(self.table.batch_get([keys.campaign_counter_shard(campaign_id, j)
                                                     for j in range(shards)]).values())
        return CampaignCounters(counters, shard_items, issued)
