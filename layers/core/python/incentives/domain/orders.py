"""The customer and order shapes of the HTTP contract, as plain frozen dataclasses (parsed in http/schemas.py)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Customer:
    id: str
    email: str | None = None
    country: str | None = None
    locale: str | None = None
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class LineItem:
    sku: str
    quantity: int
    unit_price: int
    category: str | None = None

    @property
    def total(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class Order:
    currency: str
    amount: int
    items: tuple[LineItem, ...] = ()
    id: str | None = None
    shipping_amount: int = 0  # part of amount; what free_shipping takes off

    @classmethod
    def of(cls, currency: str, items: tuple[LineItem, ...], amount: int | None = None, order_id: str | None = None,
           shipping_amount: int = 0) -> Order:
        """The order as the contract reads it: `amount` is the items' sum plus the shipping unless given, so the
        shipping is part of the amount either way and counts the same for every rule."""
        if amount is None:
            amount = sum(it.total for it in items) + shipping_amount
        return cls(currency, amount, items, order_id, shipping_amount)
