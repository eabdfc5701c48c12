"""One declaration, two validators: pydantic (config files) and schema.parse (requests and the deployed config
document) must give the same verdict, or a config that passed synth could fail in Lambda (or the reverse)."""
from __future__ import annotations

from datetime import datetime, UTC
from decimal import Decimal

import pytest

from incentives.domain.config import Campaign, ConfigBundle, Segment
from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.errors import ConfigError
from incentives.domain.schema import SchemaError, dump, parse
from incentives.http.schemas import CheckoutIn, EventIn
from tests.support import ROOT, campaign

VALID = [
    campaign("p"),
    campaign("pc", reward={"type": "percent_off", "percent": 12.5, "max_amount": {"amount": 500, "currency": "EUR"}}),
    campaign("pd", reward={"type": "percent_off", "percent": "7.125"}),
    campaign("am", reward={"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}},
             limits={"per_code": 1, "per_customer_per_period": {"count": 2, "period": "week"},
                     "budget": {"amount": 10_000, "currency": "EUR"}}),
    campaign("bx", reward={"type": "buy_x_get_y", "buy": {"sku": "A", "quantity": 2}, "get": {"category": "c"}}),
    campaign("gc", reward={"type": "gift_card", "balance": {"amount": 5_000, "currency": "USD"}}),
    campaign("sch", schedule={"starts_at": "2026-12-01T00:00:00", "ends_at": "2026-12-24T23:59:59+01:00",
                              "timezone": "Europe/Berlin"}),
    campaign("exp", codes={"type": "unique", "pattern": "EXP-####-####", "expires_at": "2027-01-01T00:00:00Z"}),
    campaign("pub", codes={"type": "public", "code": "SUMMER-26"}, eligibility={"countries": ["DE", "AT"],
             "segments": ["new_customers"], "exclude": {"categories": ["gift-cards"]}}),
    campaign("cl", claims={"allowed_origins": ["https://shop.example"], "max_claims": 100,
                           "rate_limit": {"per_client_per_minute": 5}}),
]

INVALID = [
    campaign("x1", reward={"type": "percent_off", "percent": 120}),
    campaign("x2", reward={"type": "percent_off", "percent": "1.23456"}),
    campaign("x3", reward={"type": "amount_off", "amount": {"amount": 5, "currency": "EURO"}}),
    campaign("x4", reward={"type": "amount_off", "amount": {"amount": -5, "currency": "EUR"}}),
    campaign("x5", reward={"type": "cashback"}),
    campaign("x6", limits={"per_code": 0}),
    campaign("x7", limits={"per_code": "1"}),
    campaign("x8", limits={"per_code": True}),
    campaign("x9", limits={"per_code": 1.0}),
    campaign("y1", enabled="yes"),
    campaign("y2", schedule={"timezone": "Mars/Olympus"}),
    campaign("y3", schedule={"starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}),
    campaign("y4", codes={"type": "unique", "pattern": "AB-##"}),
    campaign("y5", codes={"type": "public"}),
    campaign("y6", codes={"type": "random"}),
    campaign("y7", eligibility={"countries": ["Germany"]}),
    campaign("y8", claims={"allowed_origins": ["https://shop.example/path"]}),
    campaign("y9", colour="red"),
    campaign("z1", limits={"per_customer_per_period": {"count": 1, "period": "year"}}),
    campaign("z2", reward={"type": "amount_off", "amount": {"amount": 5, "currency": "EUR"}},
             limits={"budget": {"amount": 5, "currency": "USD"}}),
    campaign("Z3"),
    {"id": "z4", "reward": {"type": "percent_off", "percent": 10}},  # no codes
    campaign("z5", reward={"type": "buy_x_get_y", "buy": {"sku": "A", "category": "c"}, "get": {"sku": "B"}}),
    campaign("z6", codes={"type": "public", "code": "SUMMER"}, claims={}),
]


def _pydantic_ok(data: dict, model: type = Campaign) -> bool:
    try:
        validate(model, data)
        return True
    except ConfigError:
        return False


def _parse_ok(data: dict, model: type = Campaign) -> bool:
    try:
        parse(model, data)
        return True
    except SchemaError:
        return False


@pytest.mark.parametrize("data", VALID, ids=[c["id"] for c in VALID])
def test_both_validators_accept_and_build_the_same_campaign(data):
    by_pydantic = validate(Campaign, data)
    assert parse(Campaign, data) == by_pydantic
    # the deployed document (dump) reads back to the same campaign
    assert parse(Campaign, dump(by_pydantic)) == by_pydantic


@pytest.mark.parametrize("data", INVALID, ids=[c["id"] for c in INVALID])
def test_both_validators_reject_the_same_campaign(data):
    assert not _pydantic_ok(data)
    assert not _parse_ok(data)


def test_the_shipped_config_survives_the_trip_through_the_deployed_document():
    bundle = load_config_dir(ROOT / "config")
    again = ConfigBundle.from_document(bundle.to_document())
    assert again.campaigns == bundle.campaigns and again.segments == bundle.segments


def test_a_broken_deployed_document_is_a_config_error_naming_the_field():
    doc = load_config_dir(ROOT / "config").to_document()
    doc["campaigns"]["welcome10"]["limits"] = {"per_customer": "once"}
    with pytest.raises(ConfigError, match=r"welcome10\.limits\.per_customer: must be an integer"):
        ConfigBundle.from_document(doc)


def test_values_come_out_typed():
    c = parse(Campaign, campaign("sch", reward={"type": "percent_off", "percent": 12.5},
                                 schedule={"starts_at": "2026-12-01T00:00:00Z"}))
    assert c.reward.percent == Decimal("12.5")
    assert c.schedule.starts_at == datetime(2026, 12, 1, tzinfo=UTC)
    assert c.limits.per_code is None and c.eligibility.segments == []


def test_segments_validate_alike():
    ok = {"id": "vip", "countries": ["DE"], "min_total_spent": {"amount": 10_000, "currency": "EUR"}}
    assert parse(Segment, ok) == validate(Segment, ok)
    for bad in ({"id": "vip", "min_order_count": -1}, {"id": "vip", "tags_any": "a"}, {"id": "VIP"}):
        assert not _parse_ok(bad, Segment) and not _pydantic_ok(bad, Segment)


def test_request_errors_list_every_field_at_fault_with_its_path():
    body = {"code": "ABC", "customer": {"id": ""},
            "order": {"currency": "EURO", "items": [{"sku": "a", "quantity": "1", "unit_price": 100},
                                                    {"sku": "b", "quantity": 1, "unit_price": -1}]}}
    with pytest.raises(SchemaError) as e:
        parse(CheckoutIn, body)
    fields = {x["field"] for x in e.value.errors}
    assert fields == {"customer.id", "order.items.0.quantity", "order.items.1.unit_price"}
    body["customer"]["id"] = "c1"
    body["order"]["items"] = [{"sku": "a", "quantity": 1, "unit_price": 100}]
    with pytest.raises(SchemaError) as e:  # the items are right now, so the order's own checks run
        parse(CheckoutIn, body)
    assert [x["field"] for x in e.value.errors] == ["order.currency"]


def test_requests_ignore_unknown_fields_and_keep_defaults():
    ev = parse(EventIn, {"id": "e1", "type": "customer.created", "occurred_at": "2026-11-24T10:00:00Z",
                         "customer": {"id": "c1", "shoe_size": 44}, "extra": [1, 2]})
    assert ev.customer.id == "c1" and ev.data.tags is None and ev.order is None
