"""The outbox item of an engine event: ids and amounts, filed under the customer only when it is about one."""
from __future__ import annotations

from incentives.adapters.event_store import event_item, redemption_effect


def test_an_event_about_a_customer_is_filed_on_their_gsi1_partition():
    item = event_item("loyalty.m1.tier.2", "loyalty.tier_changed", "c1", "2026-12-04T10:00:00Z",
                      "2026-12-04T10:00:00.123Z", {"tier": "gold"}, "incentives.engine")
    assert (item["pk"], item["sk"], item["customer_id"]) == ("EVENT#loyalty.m1.tier.2", "EVENT", "c1")
    assert (item["gsi1pk"], item["gsi1sk"]) == ("CUSTOMER#c1", "EVENT#2026-12-04T10:00:00Z#loyalty.m1.tier.2")


def test_an_event_about_no_customer_has_no_customer_fields():
    item = event_item("campaign.spring.active.2026-12-04T10:00:00Z", "campaign.activated", None,
                      "2026-12-04T10:00:00Z", "2026-12-04T10:00:00.000Z", {}, "incentives.engine")
    assert not {"customer_id", "gsi1pk", "gsi1sk"} & set(item)


def test_a_redemptions_effect_is_its_own():
    assert redemption_effect("r1") != redemption_effect("r2") and redemption_effect("r1").endswith("r1")

