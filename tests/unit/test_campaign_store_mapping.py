"""CampaignCounters: what the stats read from a campaign's counter items (issued summed over its shards; every
item handed to the per-variant sums once)."""
from __future__ import annotations

from incentives.adapters.campaign_store import CampaignCounters


def test_issued_is_summed_over_the_issued_shards_and_every_item_is_counted_once():
    stored = CampaignCounters({"sk": "COUNTERS", "redeemed": 3, "v_a_redeemed": 3},
                              [{"sk": "COUNTERS", "redeemed": 2}],
                              [{"sk": "ISSUED#00", "issued": 5, "v_a_issued": 5}, {"sk": "ISSUED#01", "issued": 7}])
    assert stored.issued_total == 12
    assert [i.get("redeemed", i.get("issued")) for i in stored.items()] == [3, 5, 7, 2]


def test_a_campaign_without_items_has_nothing_to_sum():
    assert CampaignCounters().issued_total == 0 and CampaignCounters().items() == []


def test_the_public_code_is_written_with_the_checkouts_active_status():
    from incentives.adapters import campaign_store
    from incentives.domain.checkout import CODE_ACTIVE

    assert campaign_store._CODE_ACTIVE == CODE_ACTIVE
