"""Discount math in integer minor units. A discount is never negative, never above the eligible amount, and
rounds down, so rounding never favours the shopper."""
from __future__ import annotations

from dataclasses import replace
from decimal import ROUND_FLOOR, Decimal

from .config import AmountOff, BuyXGetY, Campaign, FreeShipping, GiftCard, ItemFilter, ItemSelector, PercentOff, \
    StoreCredit
from .errors import BalanceExhausted, CurrencyMismatch, InvalidRequest, NoEligibleItems
from .orders import LineItem, Order
from .schema import dump


def _matches(item: LineItem, f: ItemFilter) -> bool:
    return item.sku in f.skus or (item.category is not None and item.category in f.categories)


def _eligible(campaign: Campaign, item: LineItem) -> bool:
    e = campaign.eligibility
    if e.include is not None and (e.include.skus or e.include.categories) and not _matches(item, e.include):
        return False
    return not (e.exclude is not None and _matches(item, e.exclude))


def _selects(sel: ItemSelector, item: LineItem) -> bool:
    return (sel.sku is not None and item.sku == sel.sku) or \
        (sel.category is not None and item.category == sel.category)


def buy_x_get_y(reward: BuyXGetY, campaign: Campaign, items: tuple[LineItem, ...]) -> int:
    """For every `buy.quantity` units bought, `get.quantity` units free, the cheapest qualifying units first.

    Same selector for buy and get ("3 for 2"): all qualifying units are grouped by buy+get, most expensive
    first, and the cheapest `get` of each full group are free. Different selectors: the units to get free are
    the cheapest matching `get`, as many as the units matching only `buy` pay for.
    """
    units = [(it.unit_price, it) for it in items if _eligible(campaign, it) for _ in range(it.quantity)]
    x, y = reward.buy.quantity, reward.get.quantity
    if replace(reward.buy, quantity=0) == replace(reward.get, quantity=0):
        prices = sorted((p for p, it in units if _selects(reward.buy, it)), reverse=True)
        groups = len(prices) // (x + y)
        free = sorted(prices)[:groups * y] if groups else []
        return sum(free)
    bought = sum(1 for _, it in units if _selects(reward.buy, it) and not _selects(reward.get, it))
    candidates = sorted(p for p, it in units if _selects(reward.get, it))
    return sum(candidates[:(bought // x) * y])


def eligible_amount(campaign: Campaign, order: Order) -> int:
    """The part of the order the discount may apply to: eligible items only when include/exclude are set."""
    e = campaign.eligibility
    if not order.items or (e.include is None and e.exclude is None):
        return order.amount
    total = 0
    for item in order.items:
        if e.include is not None and (e.include.skus or e.include.categories) and not _matches(item, e.include):
            continue
        if e.exclude is not None and _matches(item, e.exclude):
            continue
        total += item.total
    return min(total, order.amount)


def percent_of(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / 100).to_integral_value(rounding=ROUND_FLOOR))


def discount_for(campaign: Campaign, order: Order, balance: int | None = None) -> int:
    """The discount in the order's minor units. Raises when nothing of the order can be discounted.
    Gift cards and store credit pay from the code's ``balance`` (partial spend: at most what the order needs)."""
    reward = campaign.reward
    if isinstance(reward, FreeShipping):
        if order.shipping_amount <= 0:
            raise NoEligibleItems("the order has no shipping cost to take off", {"field": "order.shipping_amount"})
        return min(order.shipping_amount, order.amount)
    base = eligible_amount(campaign, order)
    if base <= 0:
        raise NoEligibleItems()
    if isinstance(reward, BuyXGetY):
        d = buy_x_get_y(reward, campaign, order.items)
        if d <= 0:
            raise NoEligibleItems(details={"buy": dump(reward.buy),
                                           "get": dump(reward.get)})
        return min(d, base)
    if isinstance(reward, (GiftCard, StoreCredit)):
        if reward.balance.currency != order.currency:
            raise CurrencyMismatch(details={"campaign_currency": reward.balance.currency})
        if balance is None:
            balance = reward.balance.amount  # a card not issued yet: what it would hold
        if balance <= 0:
            raise BalanceExhausted()
        return min(balance, base)
    if isinstance(reward, PercentOff):
        d = percent_of(base, reward.percent)
        if reward.max_amount is not None:
            if reward.max_amount.currency != order.currency:
                raise CurrencyMismatch(details={"campaign_currency": reward.max_amount.currency})
            d = min(d, reward.max_amount.amount)
    elif isinstance(reward, AmountOff):
        if reward.amount.currency != order.currency:
            raise CurrencyMismatch(details={"campaign_currency": reward.amount.currency})
        d = reward.amount.amount
    else:
        raise InvalidRequest(f"reward type {reward.type} is not redeemable yet", {"reward": reward.type})
    return max(0, min(d, base))
