"""A campaign's effective status at a moment: the operator's switch and the schedule window."""
from __future__ import annotations

from datetime import datetime

from . import errors
from .clock import iso
from .config import Campaign

ACTIVE = "active"
SCHEDULED = "scheduled"  # enabled, window not open yet
ENDED = "ended"  # enabled, window closed
DISABLED = "disabled"  # the operator's switch is off


def effective_status(campaign: Campaign, now: datetime) -> str:
    if not campaign.enabled:
        return DISABLED
    s = campaign.schedule
    if s is not None:
        if s.starts_at_utc is not None and now < s.starts_at_utc:
            return SCHEDULED
        if s.ends_at_utc is not None and now >= s.ends_at_utc:
            return ENDED
    return ACTIVE


def ensure_active(campaign: Campaign, now: datetime) -> None:
    """code_not_active_yet (with its start) before the window opens; campaign_inactive (with the status) when
    it is switched off or its window has closed."""
    status = effective_status(campaign, now)
    if status == SCHEDULED:
        starts = campaign.schedule.starts_at_utc if campaign.schedule is not None else None  # set when SCHEDULED
        raise errors.CodeNotActiveYet(details={"starts_at": starts and iso(starts)})
    if status != ACTIVE:
        raise errors.CampaignInactive(details={"status": status})
