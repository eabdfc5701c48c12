"""Request bodies of the HTTP contract, validated at the edge (strict types: "100" is not an amount)."""
from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StringConstraints, field_validator, \
    model_validator

from ..domain.money import CURRENCIES, MAX_AMOUNT
from ..domain.orders import Customer, LineItem, Order
from ..domain.profiles import EVENT_TYPES

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00-\x1f]+$")]
ShortText = Annotated[str, StringConstraints(max_length=500)]
Country = Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}$")]
Email = Annotated[str, StringConstraints(min_length=3, max_length=254)]
Amount = Annotated[StrictInt, Field(ge=0, le=MAX_AMOUNT)]


class _In(BaseModel):
    # Unknown fields are ignored so storefronts can send richer payloads; known ones are strict.
    # Built on first use: each function pays only for the request models it parses (cold start).
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)


class CustomerIn(_In):
    id: Id
    email: Email | None = None
    country: Country | None = None
    locale: Annotated[str, StringConstraints(max_length=35)] | None = None
    timezone: Annotated[str, StringConstraints(max_length=64)] | None = None

    def to_domain(self) -> Customer:
        return Customer(self.id, self.email, self.country, self.locale, self.timezone)


class ItemIn(_In):
    sku: Id
    category: Id | None = None
    quantity: Annotated[StrictInt, Field(ge=1, le=10_000)]
    unit_price: Amount


class OrderIn(_In):
    id: Id | None = None
    currency: str
    amount: Amount | None = None
    items: Annotated[list[ItemIn], Field(max_length=500)] = []
    shipping_amount: Amount | None = None  # extension: the shipping part of amount (free_shipping)

    @field_validator("currency")
    @classmethod
    def _currency(cls, v: str) -> str:
        if v not in CURRENCIES:
            raise ValueError("unknown currency (ISO 4217, upper case)")
        return v

    @model_validator(mode="after")
    def _amount(self) -> "OrderIn":
        if self.amount is None and not self.items:
            raise ValueError("give amount or items")
        if sum(i.quantity * i.unit_price for i in self.items) > MAX_AMOUNT:
            raise ValueError("the items add up to more than the largest accepted amount")
        if self.shipping_amount and self.shipping_amount > self.to_domain().amount:
            raise ValueError("shipping_amount is part of amount and cannot exceed it")
        return self

    def to_domain(self) -> Order:
        items = tuple(LineItem(i.sku, i.quantity, i.unit_price, i.category) for i in self.items)
        amount = self.amount if self.amount is not None else sum(i.total for i in items)
        return Order(self.currency, amount, items, self.id, self.shipping_amount or 0)


CodeText = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^\s*[A-Za-z0-9-]+\s*$")]


class CheckoutIn(_In):
    code: CodeText
    customer: CustomerIn
    order: OrderIn


class StackedCheckoutIn(_In):
    """Extension of POST /v1/redemptions: several codes on one order, all or nothing."""

    codes: Annotated[list[CodeText], Field(min_length=1, max_length=5)]
    customer: CustomerIn
    order: OrderIn


class QualificationIn(_In):
    customer: CustomerIn
    order: OrderIn


class RollbackIn(_In):
    reason: ShortText | None = None


class ClaimIn(_In):
    email: Email
    country: Country | None = None
    consent: StrictBool | None = None


class BoundCustomerIn(_In):
    id: Id | None = None
    email: Email | None = None

    @model_validator(mode="after")
    def _one(self) -> "BoundCustomerIn":
        if not self.id and not self.email:
            raise ValueError("give the customer's id or email")
        return self


class IssueCodesIn(_In):
    count: Annotated[StrictInt, Field(ge=1, le=1_000_000)] = 1
    customer: BoundCustomerIn | None = None
    expires_at: Annotated[str, StringConstraints(max_length=40)] | None = None


class RunJobIn(_In):
    now: Annotated[str, StringConstraints(max_length=40)] | None = None


EventType = Annotated[str, StringConstraints(pattern="^(" + "|".join(re.escape(t) for t in EVENT_TYPES) + ")$")]


class ConsentsIn(_In):
    email: StrictBool | None = None
    sms: StrictBool | None = None
    push: StrictBool | None = None


class EventDataIn(_In):
    birthday: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")] | None = None
    consents: ConsentsIn | None = None
    consent_source: Annotated[str, StringConstraints(max_length=64)] | None = None
    tags: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(max_length=50)] | None = None


class EventIn(_In):
    id: Id
    type: EventType
    occurred_at: Annotated[str, StringConstraints(max_length=40)]
    customer: CustomerIn
    order: OrderIn | None = None
    data: EventDataIn = EventDataIn()

    @model_validator(mode="after")
    def _order(self) -> "EventIn":
        if self.type in ("order.paid", "order.refunded") and self.order is None:
            raise ValueError(f"{self.type} needs an order")
        return self
