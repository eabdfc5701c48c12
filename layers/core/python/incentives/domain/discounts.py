"""Discount math in integer minor units. A discount is never negative, never above the eligible amount, and
rounds down, so rounding never favours the shopper.

A Basket keeps what is left to discount of one order, part by part: each line item, the shipping, and the rest
of `amount` that the items do not name (fees). A code takes its discount only from the parts its campaign may
touch, and the next code of a stack sees what is left of those parts: two codes limited to shoes never reach the
TV in the same cart, and free shipping plus a percentage never takes the shipping twice. The order's amount as
a whole caps every code too (an `amount` given below the items' sum is the storefront's word).
"""
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


def _filtered(campaign: Campaign) -> bool:
    e = campaign.eligibility
    return e.include is not None or e.exclude is not None


def _selects(sel: ItemSelector, item: LineItem) -> bool:
    return (sel.sku is not None and item.sku == sel.sku) or \
        (sel.category is not None and item.category == sel.category)


def _cheapest(groups: list[tuple[int, int, int]], units: int) -> dict[int, int]:
    """The value of the `units` cheapest units of (unit price, count, item index) groups, per item index."""
    out: dict[int, int] = {}
    for price, count, index in sorted(groups):
        if units <= 0:
            break
        n = min(count, units)
        out[index] = out.get(index, 0) + n * price
        units -= n
    return out


def free_units(reward: BuyXGetY, campaign: Campaign, items: tuple[LineItem, ...]) -> dict[int, int]:
    """For every `buy.quantity` units bought, `get.quantity` units free, the cheapest qualifying units first;
    the value made free, per item index. Works on (price, count) groups: never one entry per unit.

    Same selector for buy and get ("3 for 2"): of all qualifying units, as many as `get` per full group of
    buy+get units are free, the cheapest ones. Different selectors: the units to get free are the cheapest
    matching `get`, as many as the units matching only `buy` pay for.
    """
    eligible = [(i, it) for i, it in enumerate(items) if _eligible(campaign, it)]
    x, y = reward.buy.quantity, reward.get.quantity
    if replace(reward.buy, quantity=0) == replace(reward.get, quantity=0):
        groups = [(it.unit_price, it.quantity, i) for i, it in eligible if _selects(reward.buy, it)]
        return _cheapest(groups, (sum(g[1] for g in groups) // (x + y)) * y)
    bought = sum(it.quantity for _, it in eligible if _selects(reward.buy, it) and not _selects(reward.get, it))
    candidates = [(it.unit_price, it.quantity, i) for i, it in eligible if _selects(reward.get, it)]
    return _cheapest(candidates, (bought // x) * y)


def buy_x_get_y(reward: BuyXGetY, campaign: Campaign, items: tuple[LineItem, ...]) -> int:
    return sum(free_units(reward, campaign, items).values())


def percent_of(amount: int, percent: Decimal) -> int:
    return int((Decimal(amount) * percent / 100).to_integral_value(rounding=ROUND_FLOOR))


class Basket:
    """What is left to discount of one order: per part (each item, then the shipping, then the rest) and in all."""

    def __init__(self, order: Order):
        self.order = order
        items_total = sum(it.total for it in order.items)
        self.shipping = len(order.items)  # the index of the shipping part; the rest follows it
        self.left = [it.total for it in order.items] + \
            [order.shipping_amount, max(0, order.amount - items_total - order.shipping_amount)]
        self.total = order.amount

    def _parts(self, campaign: Campaign) -> list[int]:
        """The parts the campaign's discount may come from: the eligible items when include/exclude are set
        (fail closed: an order that lists no items has none), else the whole order."""
        if not _filtered(campaign):
            return list(range(len(self.left)))
        if not self.order.items:
            raise NoEligibleItems("the order lists no items, so the campaign's include/exclude rules cannot "
                                  "be met", {"field": "order.items"})
        return [i for i, it in enumerate(self.order.items) if _eligible(campaign, it)]

    def eligible(self, campaign: Campaign) -> int:
        """What is left of the parts the campaign may discount (0 when none)."""
        try:
            parts = self._parts(campaign)
        except NoEligibleItems:
            return 0
        return min(sum(self.left[p] for p in parts), self.total)

    def _take(self, weights: dict[int, int], amount: int) -> int:
        """Takes `amount` (<= the sum of `weights`, each weight <= what is left of its part) off the parts,
        in proportion to the weights, rounding down and handing the few units left to the parts in order."""
        pool = sum(weights.values())
        shares = {p: amount * w // pool for p, w in weights.items()} if pool else {}
        short = amount - sum(shares.values())
        for p, w in weights.items():
            if short <= 0:
                break
            extra = min(short, w - shares[p])
            shares[p] += extra
            short -= extra
        for p, s in shares.items():
            self.left[p] -= s
        self.total -= amount
        return amount

    def take(self, campaign: Campaign, balance: int | None = None) -> int:
        """The campaign's discount on what is left, taken off the basket. Raises when nothing of it can be
        discounted. Gift cards and store credit pay from the code's ``balance`` (partial spend: at most what
        the order needs)."""
        reward = campaign.reward
        order = self.order
        if isinstance(reward, FreeShipping):
            d = min(self.left[self.shipping], self.total)
            if d <= 0:
                raise NoEligibleItems("the order has no shipping cost to take off", {"field": "order.shipping_amount"})
            return self._take({self.shipping: d}, d)
        parts = self._parts(campaign)
        weights = {p: self.left[p] for p in parts if self.left[p] > 0}
        base = min(sum(weights.values()), self.total)
        if base <= 0:
            raise NoEligibleItems()
        if isinstance(reward, BuyXGetY):
            free = {i: min(v, self.left[i]) for i, v in free_units(reward, campaign, order.items).items()}
            free = {i: v for i, v in free.items() if v > 0}
            d = min(sum(free.values()), self.total)
            if d <= 0:
                raise NoEligibleItems(details={"buy": dump(reward.buy), "get": dump(reward.get)})
            return self._take(free, d)
        if isinstance(reward, (GiftCard, StoreCredit)):
            if reward.balance.currency != order.currency:
                raise CurrencyMismatch(details={"campaign_currency": reward.balance.currency})
            if balance is None:
                balance = reward.balance.amount  # a card not issued yet: what it would hold
            if balance <= 0:
                raise BalanceExhausted()
            d = min(balance, base)
        elif isinstance(reward, PercentOff):
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
        return self._take(weights, max(0, min(d, base)))


def eligible_amount(campaign: Campaign, order: Order) -> int:
    """The part of the order the discount may apply to: eligible items only when include/exclude are set."""
    return Basket(order).eligible(campaign)


def discount_for(campaign: Campaign, order: Order, balance: int | None = None) -> int:
    """The discount of one code on the whole order, in the order's minor units. Raises when nothing of the
    order can be discounted."""
    return Basket(order).take(campaign, balance)
