"""Profiles and segments, pure."""
from __future__ import annotations

from datetime import datetime, timedelta, UTC

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


# --- what the journeys read (domain/journeys.py) ---------------------------------------------------------------

def at(day, hour=10):
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def test_customer_fields_keep_the_newest_statement_whatever_the_arrival_order():
    newer = Event("e2", "customer.updated", at(2), {"id": "c", "timezone": "Asia/Tokyo", "locale": "ja",
                                                     "phone": "+819012345678"}, data={"birthday": "1990-02-28"})
    older = Event("e1", "customer.updated", at(1), {"id": "c", "timezone": "Europe/Berlin", "locale": "de",
                                                     "phone": "+4915112345678", "email": "A@B.de"},
                  data={"birthday": "1990-01-01"})
    for first, second in ((newer, older), (older, newer)):
        p = apply_event(apply_event(None, first), second)
        assert (p["timezone"], p["locale"], p["phone"], p["birthday"]) == \
            ("Asia/Tokyo", "ja", "+819012345678", "1990-02-28")
        assert p["email"] == "a@b.de"  # stated once, by the older event: still kept


def test_signed_up_at_prefers_data_then_customer_created_then_the_first_event():
    p = apply_event(None, order("e3", at(5)))
    assert p["signed_up_at"] == "2026-12-05T10:00:00Z"  # only an order so far: the first event
    p = apply_event(p, order("e2", at(3)))
    assert p["signed_up_at"] == "2026-12-03T10:00:00Z"  # an earlier event arrived late
    p = apply_event(p, Event("e4", "customer.created", at(4), {"id": "c"}))
    assert p["signed_up_at"] == "2026-12-04T10:00:00Z"  # customer.created beats the first event seen
    p = apply_event(p, order("e1", at(1)))
    assert p["signed_up_at"] == "2026-12-04T10:00:00Z"
    p = apply_event(p, Event("e5", "customer.updated", at(6), {"id": "c"},
                             data={"signed_up_at": "2019-05-01T08:00:00+02:00"}))
    assert p["signed_up_at"] == "2019-05-01T06:00:00Z"  # the shop's own date wins, stored in UTC
    p = apply_event(p, Event("e6", "customer.created", at(1, 9), {"id": "c"}))
    assert p["signed_up_at"] == "2019-05-01T06:00:00Z"


def test_first_and_last_order_and_the_latest_purchase_per_sku_and_category():
    def paid(eid, when, sku, cat):
        return Event(eid, "order.paid", when, {"id": "c"}, {"currency": "EUR", "amount": 100, "items": [
            {"sku": sku, "category": cat, "quantity": 1, "unit_price": 100}]})

    p = apply_event(None, paid("e2", at(20), "COFFEE-1KG", "coffee"))
    p = apply_event(p, paid("e1", at(10), "COFFEE-1KG", "coffee"))  # older, arrives late
    p = apply_event(p, paid("e3", at(15), "TEA", "tea"))
    assert (p["first_order_at"], p["last_order_at"]) == ("2026-12-10T10:00:00Z", "2026-12-20T10:00:00Z")
    assert p["purchases"] == {"sku:COFFEE-1KG": "2026-12-20T10:00:00Z", "category:coffee": "2026-12-20T10:00:00Z",
                              "sku:TEA": "2026-12-15T10:00:00Z", "category:tea": "2026-12-15T10:00:00Z"}
    refund = Event("e4", "order.refunded", at(21), {"id": "c"}, {"currency": "EUR", "amount": 100, "items": [
        {"sku": "TEA", "category": "tea", "quantity": 1, "unit_price": 100}]})
    assert apply_event(p, refund)["purchases"] == p["purchases"]  # the last paid purchase stays what it was


def test_purchases_keep_the_newest_200_entries():
    p = None
    for i in range(150):  # 300 entries: a sku and a category each
        when = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=i)
        p = apply_event(p, Event(f"e{i}", "order.paid", when, {"id": "c"}, {"currency": "EUR", "amount": 1, "items": [
            {"sku": f"S{i:03d}", "category": f"k{i:03d}", "quantity": 1, "unit_price": 1}]}))
    assert len(p["purchases"]) == 200
    assert "sku:S149" in p["purchases"] and "sku:S049" not in p["purchases"] and "sku:S050" in p["purchases"]


def test_at_the_same_instant_a_withdrawal_wins_in_either_order():
    grant = Event("e1", "customer.updated", T, {"id": "c"}, data={"consents": {"sms": True}})
    withdraw = Event("e2", "customer.updated", T, {"id": "c"}, data={"consents": {"sms": False},
                                                                      "consent_source": "preferences"})
    for first, second in ((grant, withdraw), (withdraw, grant)):
        p = apply_event(apply_event(None, first), second)
        assert p["consents"]["sms"] == {"given": False, "at": "2026-12-01T00:00:00Z", "source": "preferences"}
