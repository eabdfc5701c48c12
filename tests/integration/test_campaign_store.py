"""CampaignStore against DynamoDB Local: a status recorded over the one read (another run's change first is
StatusRecorded, and its event is not written either), the public code written once, the program registry."""
from __future__ import annotations

import pytest

from incentives.adapters import keys
from incentives.adapters.campaign_store import LOYALTY, REFERRAL, CampaignStore, StatusRecorded
from incentives.adapters.unit_of_work import UnitOfWork, always

NOW = "2026-12-04T10:00:00Z"


def change(table, campaign_id: str, status: str, before: str | None) -> None:
    uow = UnitOfWork(table)
    CampaignStore.record_status(uow, campaign_id, status, before, NOW)
    uow.put({"pk": f"EVENT#campaign.{campaign_id}.{status}", "sk": "EVENT"}, explain=always(StatusRecorded))
    uow.commit()


def test_a_status_change_over_a_stale_read_is_status_recorded_and_writes_no_event(table):
    store = CampaignStore(table)
    change(table, "spring", "scheduled", None)
    with pytest.raises(StatusRecorded):
        change(table, "spring", "active", None)  # read before the first run recorded "scheduled"
    assert table.get("EVENT#campaign.spring.active", "EVENT", consistent=True) is None
    change(table, "spring", "active", "scheduled")
    with pytest.raises(StatusRecorded):
        change(table, "spring", "ended", "scheduled")
    assert store.recorded_statuses() == {"spring": "active"} and store.recorded_campaigns() == {"spring"}


def test_the_public_code_is_written_once(table):
    store = CampaignStore(table)
    assert store.ensure_public_code("PUBCODE", "pub", NOW) is True
    table.update(*keys.code("PUBCODE"), "SET redemptions = :n", vals={":n": {"N": "4"}})
    assert store.ensure_public_code("PUBCODE", "pub", NOW) is False
    assert table.get(*keys.code("PUBCODE"), consistent=True)["redemptions"] == 4  # not reset


def test_programs_are_registered_by_kind(table):
    store = CampaignStore(table)
    store.register_program(REFERRAL, "friends", NOW)
    store.register_program(LOYALTY, "club", NOW)
    store.register_program(LOYALTY, "club", NOW)
    assert store.recorded_programs() == {REFERRAL: {"friends"}, LOYALTY: {"club"}}
