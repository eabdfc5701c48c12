"""Request bodies of the HTTP contract, validated at the edge by schema.parse (strict: "100" is not an amount).

Unknown fields are ignored so storefronts can send richer payloads; the known ones are checked strictly.
"""
from __future__ import annotations

import re
from dataclasses import field
from typing import Annotated

from ..domain.clock import parse_date, parse_rfc3339
from ..domain.money import CURRENCIES, MAX_AMOUNT
from ..domain.orders import Customer, LineItem, Order
from ..domain.profiles import EVENT_TYPES
from ..domain.schema import FieldInvalid, Int, Len, OneOf, StrictBool, Text, model
from ..subscriptions import ENGINE_EVENT_ID_PREFIXES

Id = Annotated[str, Text(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
ShortText = Annotated[str, Text(max_length=500)]
Country = Annotated[str, Text(pattern=r"^[A-Z]{2}$")]
Email = Annotated[str, Text(min_length=3, max_length=254)]
Amount = Annotated[int, Int(ge=0, le=MAX_AMOUNT)]
Time = Annotated[str, Text(max_length=40)]



@model
class CustomerIn:
    id: Id
    email: Email | None = None
    country: Country | None = None
    locale: Annotated[str, Text(max_length=35)] | None = None
    timezone: Annotated[str, Text(max_length=64)] | None = None
    phone: Annotated[str, Text(pattern=r"^\+[1-9][0-9]{6,14}$")] | None = None  # E.164

    def to_domain(self) -> Customer:
        return Customer(self.id, self.email, self.country, self.locale, self.timezone)


@model
class ItemIn:
    sku: Id
    category: Id | None = None
    quantity: Annotated[int, Int(ge=1, le=10_000)]
    unit_price: Amount


@model
class OrderIn:
    id: Id | None = None
    currency: Annotated[str, OneOf(tuple(sorted(CURRENCIES)))]  # checked in __post_init__, with its own message
    amount: Amount | None = None
    items: Annotated[list[ItemIn], Len(max_length=500)] = field(default_factory=list)
    shipping_amount: Amount | None = None  # extension: the shipping part of amount (free_shipping)

    def __post_init__(self) -> None:
        if self.currency not in CURRENCIES:
            raise FieldInvalid("currency", "unknown currency (ISO 4217, upper case)")
        if self.amount is None and not self.items:
            raise ValueError("give amount or items")
        shipping = (self.shipping_amount or 0) if self.amount is None else 0  # part of a summed amount
        if sum(i.quantity * i.unit_price for i in self.items) + shipping > MAX_AMOUNT:
            raise ValueError("the items add up to more than the largest accepted amount")
        if self.shipping_amount and self.shipping_amount > self.to_domain().amount:
            raise ValueError("shipping_amount is part of amount and cannot exceed it")

    def to_domain(self) -> Order:
        items = tuple(LineItem(i.sku, i.quantity, i.unit_price, i.category) for i in self.items)
        return Order.of(self.currency, items, self.amount, self.id, self.shipping_amount or 0)


CodeText = Annotated[str, Text(min_length=1, max_length=64, pattern=r"^\s*[A-Za-z0-9-]+\s*$")]


@model
class CheckoutIn:
    code: CodeText
    customer: CustomerIn
    order: OrderIn


@model
class StackedCheckoutIn:
    """Extension of POST /v1/redemptions: several codes on one order, all or nothing."""

    codes: Annotated[list[CodeText], Len(min_length=1, max_length=5)]
    customer: CustomerIn
    order: OrderIn


@model
class QualificationIn:
    customer: CustomerIn
    order: OrderIn


@model
class RollbackIn:
    reason: ShortText | None = None


@model
class ClaimIn:
    email: Email
    country: Country | None = None
    consent: StrictBool | None = None
    locale: Annotated[str, Text(max_length=35)] | None = None  # extension: eligibility.locales


@model
class BoundCustomerIn:
    id: Id | None = None
    email: Email | None = None

    def __post_init__(self) -> None:
        if not self.id and not self.email:
            raise ValueError("give the customer's id or email")


@model
class IssueCodesIn:
    count: Annotated[int, Int(ge=1, le=1_000_000)] = 1
    customer: BoundCustomerIn | None = None
    expires_at: Time | None = None


@model
class RunJobIn:
    now: Time | None = None


EventType = Annotated[str, Text(pattern="^(" + "|".join(re.escape(t) for t in EVENT_TYPES) + ")$")]


@model
class ConsentsIn:
    email: StrictBool | None = None
    sms: StrictBool | None = None
    push: StrictBool | None = None


@model
class EventDataIn:
    birthday: Annotated[str, Text(pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")] | None = None
    consents: ConsentsIn | None = None
    consent_source: Annotated[str, Text(max_length=64)] | None = None
    consent_text: Annotated[str, Text(max_length=2000)] | None = None  # the wording agreed to (ledger proof)
    signed_up_at: Time | None = None
    tags: Annotated[list[Annotated[str, Text(max_length=64)]], Len(max_length=50)] | None = None


@model
class EventIn:
    id: Id
    type: EventType
    occurred_at: Time
    customer: CustomerIn
    order: OrderIn | None = None
    data: EventDataIn = field(default_factory=EventDataIn)

    def __post_init__(self) -> None:
        if self.id.startswith(ENGINE_EVENT_ID_PREFIXES):
            raise FieldInvalid("id", "must not start with " + ", ".join(ENGINE_EVENT_ID_PREFIXES)
                               + " (the engine's own event ids)")
        if self.data.birthday is not None:
            try:
                parse_date(self.data.birthday)
            except ValueError:
                raise FieldInvalid("data.birthday", "must be a date YYYY-MM-DD") from None
        if self.data.signed_up_at is not None:
            try:
                parse_rfc3339(self.data.signed_up_at)
            except ValueError:
                raise FieldInvalid("data.signed_up_at", "must be an RFC 3339 time with an offset") from None
        if self.type in ("order.paid", "order.refunded") and self.order is None:
            raise ValueError(f"{self.type} needs an order")
