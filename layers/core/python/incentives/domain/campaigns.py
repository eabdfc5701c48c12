"""A campaign's effective status at a moment: the operator's switch and the schedule window."""
from __future__ import annotations

from datetime import datetime

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
