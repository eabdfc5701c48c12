"""Profiles and segments, pure."""
from __future__ import annotations

from datetime import datetime, UTC

from incentives.domain.profiles import Event, apply_event, favourite_categories, segments_of

T = datetime(2026, 12, 1, tzinfo=UTC)


def order(eid, at, cat="books", qty=1):
    return Event(eid, "order.paid", at, {"id": "c"}, {"currency": "EUR", "amount": 100,
                                                       "items": [{"sku": "s", "category": cat, "quantity": qty,
                                                                  "unit_price": 100}]})


def test_segments_follow_order_history():
    p = apply_event(None, Event("e0", "customer.created", T, {"id": "c"}))
    assert segments_of(p, T) == {"new_customers"}
    p = apply_event(p, order("e1", T))
    assert segments_of(p, T) == set()  # one order: neither new nor returning
    p = apply_event(p, order("e2", T, cat="games", qty=3))
    assert segments_of(p, T) == {"returning_customers"}
    assert segments_of(p, datetime(2027, 6, 1, tzinfo=UTC)) == {"returning_customers", "lapsed_customers"}
    assert favourite_categories(p) == ["games", "books"]


def test_the_newest_consent_wins_whatever_the_arrival_order():
    later = Event("e2", "customer.updated", datetime(2026, 12, 2, tzinfo=UTC), {"id": "c"},
                  data={"consents": {"email": False}})
    earlier = Event("e1", "customer.updated", T, {"id": "c"}, data={"consents": {"email": True}})
    p = apply_event(apply_event(None, later), earlier)
    assert p["consents"]["email"]["given"] is False
