"""The campaign-activation job: every minute, compare each campaign's effective status (switch + schedule)
with the status recorded last time; record each change and its event (campaign.registered / .activated /
.deactivated, an outbox item: services/outbox.py) in one transaction, conditional on the status read, so the
event exists exactly when the change committed and a second run at the same moment records and announces
nothing. Reads one partition (all status items) and the config: never the whole table."""
from __future__ import annotations

from datetime import datetime

from ..adapters.campaign_store import LOYALTY, REFERRAL, CampaignStore, StatusRecorded
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.unit_of_work import UnitOfWork, always, contended
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
        self.campaigns = CampaignStore(table)

    def run(self, now: datetime) -> dict:
        bundle = self.config.bundle()
        recorded = self.campaigns.recorded_statuses()
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
            # another run recorded this change first, with its event; or a run for the same moment (POST
            # /v1/jobs/campaign-activation/run with a past `now`) announced it: the next tick records it with its
            # own moment
            uow = UnitOfWork(self.table)
            CampaignStore.record_status(uow, campaign.id, status, before, iso(now))
            uow.op(event_put(self.table, event_id(campaign.id, status, now), kind, None, now, now, detail),
                   explain=always(StatusRecorded))
            try:
                uow.commit(otherwise=contended)
            except StatusRecorded:
                continue
            if status == ACTIVE and campaign.codes.type == "public" and campaign.codes.code:  # always set if public
                self.campaigns.ensure_public_code(campaign.codes.code, campaign.id, iso(now))
            changes.append(detail | {"event": kind})
        self._record_programs(bundle, now)
        return {"checked": len(bundle.campaigns), "changes": changes, "now": iso(now)}

    def _record_programs(self, bundle, now: datetime) -> None:
        """Every referral and loyalty program ever configured, once (one Query; a put only for a new one):
        erasure looks in programs removed from config too. Campaigns have their status items for that."""
        recorded = self.campaigns.recorded_programs()
        for kind, ids in ((REFERRAL, bundle.referral_programs), (LOYALTY, bundle.loyalty_programs)):
            for program_id in sorted(ids):
                if program_id not in recorded.get(kind, set()):
                    self.campaigns.register_program(kind, program_id, iso(now))
