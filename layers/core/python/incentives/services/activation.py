"""The campaign-activation job: every minute, compare each campaign's effective status (switch + schedule)
with the status recorded last time; record each change and its event (campaign.registered / .activated /
.deactivated, an outbox item: services/outbox.py) in one transaction, conditional on the status read, so the
event exists exactly when the change committed and a second run at the same moment records and announces
nothing. Reads one partition (all status items) and the config: never the whole table."""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table, values
from ..adapters.unit_of_work import UnitOfWork, always
from ..domain import errors
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso
from .outbox import event_put


def event_id(campaign_id: str, status: str, changed_at: datetime) -> str:
    """Derived from the change it announces: a retried transaction cannot put a second copy."""
    return f"campaign.{campaign_id}.{status}.{iso(changed_at)}"


class Activation:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config

    def run(self, now: datetime) -> dict:
        bundle = self.config.bundle()
        recorded = {i["campaign_id"]: i["status"] for i in self.table.query(keys.CAMPAIGN_STATUS_PK, "STATUS#")}
        changes = []
        for campaign in bundle.campaigns.values():
            status = effective_status(campaign, now)
            before = recorded.get(campaign.id)
            if status == before:
                continue
            detail = {"campaign_id": campaign.id, "status": status, "previous_status": before, "at": iso(now)}
            kind = "campaign.activated" if status == ACTIVE else "campaign.deactivated"
            if before is None and status != ACTIVE:
                kind = "campaign.registered"
            if before is None:
                cond, vals = "attribute_not_exists(pk)", values(s=status, now=iso(now), cid=campaign.id)
            else:
                cond, vals = "#st = :before", values(s=status, now=iso(now), cid=campaign.id, before=before)
            # another run recorded this change first, with its event; or a run for the same moment (POST
            # /v1/jobs/campaign-activation/run with a past `now`) announced it: the next tick records it with its
            # own moment
            uow = UnitOfWork(self.table)
            uow.update(keys.campaign_status(campaign.id), "SET #st = :s, changed_at = :now, campaign_id = :cid",
                       cond, {"#st": "status"}, vals, explain=always(_Recorded))
            uow.op(event_put(self.table, event_id(campaign.id, status, now), kind, None, now, now, detail),
                   explain=always(_Recorded))
            try:
                uow.commit(otherwise=lambda e: errors.Contention(details={"reasons": e.reasons}))
            except _Recorded:
                continue
            if status == ACTIVE and campaign.codes.type == "public" and campaign.codes.code:  # always set if public
                self._ensure_public_code(campaign.codes.code, campaign.id, now)
            changes.append(detail | {"event": kind})
        self._record_programs(bundle, now)
        return {"checked": len(bundle.campaigns), "changes": changes, "now": iso(now)}

    def _record_programs(self, bundle, now: datetime) -> None:
        """Every referral and loyalty program ever configured, once (one Query; a put only for a new one):
        erasure looks in programs removed from config too. Campaigns have their status items for that."""
        recorded = {i["sk"] for i in self.table.query(keys.PROGRAMS_PK)}
        for kind, ids in (("REFERRAL", bundle.referral_programs), ("LOYALTY", bundle.loyalty_programs)):
            for program_id in sorted(ids):
                pk, sk = keys.program_registry(kind, program_id)
                if sk not in recorded:
                    self.table.put({"pk": pk, "sk": sk, "program_id": program_id, "recorded_at": iso(now)},
                                   condition=None)

    def _ensure_public_code(self, code: str, campaign_id: str, now: datetime) -> None:
        pk, sk = keys.code(code)
        uow = UnitOfWork(self.table).put({"pk": pk, "sk": sk, "code": code, "campaign_id": campaign_id,
                                          "status": "active", "redemptions": 0, "kind": "public",
                                          "created_at": iso(now)}, explain=always(_Recorded))
        try:
            uow.commit()
        except _Recorded:
            pass  # the first redemption or an earlier run wrote it


class _Recorded(Exception):
    """The change (or the public code) was written by another run or moment first."""
