"""The campaign-activation job: every minute, compare each campaign's effective status (switch + schedule)
with the status recorded last time; record each change with a conditional write and emit one event for it.
Reads one partition (all status items) and the config: never the whole table."""
from __future__ import annotations

from datetime import datetime

from ..adapters import keys
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import ConditionFailed, Table, values
from ..adapters.events import EventPublisher
from ..domain.campaigns import ACTIVE, effective_status
from ..domain.clock import iso


class Activation:
    def __init__(self, table: Table, config: ConfigSource, events: EventPublisher):
        self.table = table
        self.config = config
        self.events = events

    def run(self, now: datetime) -> dict:
        bundle = self.config.bundle()
        recorded = {i["campaign_id"]: i["status"] for i in self.table.query(keys.CAMPAIGN_STATUS_PK, "STATUS#")}
        changes = []
        for campaign in bundle.campaigns.values():
            status = effective_status(campaign, now)
            before = recorded.get(campaign.id)
            if status == before:
                continue
            pk, sk = keys.campaign_status(campaign.id)
            try:
                if before is None:
                    cond, vals = "attribute_not_exists(pk)", values(s=status, now=iso(now), cid=campaign.id)
                else:
                    cond, vals = "#st = :before", values(s=status, now=iso(now), cid=campaign.id, before=before)
                self.table.update(pk, sk, "SET #st = :s, changed_at = :now, campaign_id = :cid", cond,
                                  {"#st": "status"}, vals)
            except ConditionFailed:
                continue  # another run recorded this change first and emitted its event
            if status == ACTIVE and campaign.codes.type == "public":
                self._ensure_public_code(campaign.codes.code, campaign.id, now)
            detail = {"campaign_id": campaign.id, "status": status, "previous_status": before, "at": iso(now)}
            kind = "campaign.activated" if status == ACTIVE else "campaign.deactivated"
            if before is None and status != ACTIVE:
                kind = "campaign.registered"
            self.events.publish(kind, detail, now)
            changes.append(detail | {"event": kind})
        return {"checked": len(bundle.campaigns), "changes": changes, "now": iso(now)}

    def _ensure_public_code(self, code: str, campaign_id: str, now: datetime) -> None:
        pk, sk = keys.code(code)
        try:
            self.table.put({"pk": pk, "sk": sk, "code": code, "campaign_id": campaign_id, "status": "active",
                            "redemptions": 0, "kind": "public", "created_at": iso(now)}, "attribute_not_exists(pk)")
        except ConditionFailed:
            pass
