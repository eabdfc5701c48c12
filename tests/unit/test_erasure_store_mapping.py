"""Erasure's items -> objects: what the store hands the service (kinds, campaigns, order ids, markers), and the
anonymised profile's months."""
from __future__ import annotations

from incentives.adapters.erasure_store import HistoryRecord, Marker, _month, request_token


def test_history_items_map_to_their_kind_and_what_the_erasure_needs_of_them():
    redemption = HistoryRecord.from_item({"pk": "REDEMPTION#r1", "sk": "REDEMPTION", "campaign_id": "pub",
                                          "customer_id": "c1", "discount_amount": 500})
    assert redemption == HistoryRecord(("REDEMPTION#r1", "REDEMPTION"), "redemptions", "pub")
    paid = HistoryRecord.from_item({"pk": "EVENT#e1", "sk": "EVENT", "type": "order.paid", "order_id": "o-1"})
    assert (paid.kind, paid.event_type, paid.order_id, paid.campaign_id) == ("events", "order.paid", "o-1", None)


def test_a_marker_keeps_its_hashes_also_in_the_single_hash_form_of_older_markers():
    assert Marker.from_item({"anonymised_id": "anon_1", "email_hashes": ["a", "b"]}) == Marker("anon_1", ("a", "b"))
    assert Marker.from_item({"anonymised_id": "anon_1", "email_hash": "a"}) == Marker("anon_1", ("a",))
    assert Marker.from_item({"anonymised_id": "anon_1", "email_hashes": None}) == Marker("anon_1", ())


def test_the_anonymised_profile_keeps_months_and_tokens_fit_dynamodb():
    assert _month("2026-12-03T10:00:00Z") == "2026-12-01T00:00:00Z" and _month(None) is None
    tokens = {request_token() for _ in range(100)}
    assert len(tokens) == 100 and max(map(len, tokens)) <= 36  # ClientRequestToken: 1-36 characters
