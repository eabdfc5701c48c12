"""Stacks of codes on one order: each code discounts only what the codes before it left of its own eligible parts
(items, shipping), never more than the order; buy_x_get_y on (price, count) groups; shipping counts the same
whether `amount` is given or summed from the items."""
from __future__ import annotations

import time
import tracemalloc
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives.domain.checkout import check_request
from incentives.domain.config import Campaign
from incentives.domain.discounts import Basket, buy_x_get_y, discount_for
from incentives.domain.errors import IncentiveError, NoEligibleItems
from incentives.domain.orders import Customer, LineItem, Order
from incentives.domain.schema import parse
from incentives.http.schemas import OrderIn
from tests.support import campaign

NOW = datetime(2026, 12, 3, tzinfo=UTC)
SHOPPER = Customer("c1")


def eur(a: int) -> dict:
    return {"amount": a, "currency": "EUR"}


def make(cid: str, reward: dict, **kw) -> Campaign:
    return parse(Campaign, campaign(cid, reward=reward, combinable=True, **kw))


def stack(order: Order, *campaigns: Campaign) -> list[int]:
    """The discounts of a stack, as the redemption computes them: one basket, the codes in turn."""
    basket = Basket(order)
    return [check_request(c, SHOPPER, order, NOW, None, basket) for c in campaigns]


SHOES_ONLY = {"include": {"categories": ["shoes"]}}
CART = (LineItem("sneaker", 1, 6_000, "shoes"), LineItem("tv", 1, 50_000, "tv"))


def test_two_codes_limited_to_shoes_never_discount_the_tv_in_the_same_cart():
    order = Order("EUR", 56_000, CART)
    a = make("shoes-a", {"type": "amount_off", "amount": eur(5_000)}, eligibility=SHOES_ONLY)
    b = make("shoes-b", {"type": "amount_off", "amount": eur(5_000)}, eligibility=SHOES_ONLY)
    assert stack(order, a, b) == [5_000, 1_000]  # the second gets what is left of the shoes, not of the order
    pct = make("shoes-pct", {"type": "percent_off", "percent": 50}, eligibility=SHOES_ONLY)
    assert stack(order, a, pct) == [5_000, 500]  # 50 % of the 1,000 left of the shoes
    full = make("shoes-full", {"type": "amount_off", "amount": eur(6_000)}, eligibility=SHOES_ONLY)
    with pytest.raises(NoEligibleItems):  # nothing of the shoes is left: the whole stack is refused
        stack(order, full, b)


def test_free_shipping_and_a_percentage_never_take_the_shipping_twice():
    order = Order("EUR", 10_500, (LineItem("book", 2, 5_000, "books"),), shipping_amount=500)
    ship = make("ship", {"type": "free_shipping"})
    pct = make("pct", {"type": "percent_off", "percent": 10})
    assert stack(order, ship, pct) == [500, 1_000]  # 10 % of what is left: the items
    assert stack(order, pct, ship) == [1_050, 450]  # the percentage took 50 of the shipping; 450 are left
    other_ship = make("ship2", {"type": "free_shipping"})
    with pytest.raises(NoEligibleItems, match="shipping"):
        stack(order, ship, other_ship)


def test_an_order_without_items_fails_include_and_exclude_rules_closed():
    no_items = Order("EUR", 10_000)
    for eligibility in (SHOES_ONLY, {"exclude": {"categories": ["low-margin"]}}):
        c = make("f", {"type": "percent_off", "percent": 10}, eligibility=eligibility)
        with pytest.raises(NoEligibleItems) as e:
            discount_for(c, no_items)
        assert e.value.code == "no_eligible_items" and e.value.details == {"field": "order.items"}
    assert discount_for(make("plain", {"type": "percent_off", "percent": 10}), no_items) == 1_000


def test_a_card_after_discounts_pays_exactly_what_is_left():
    order = Order("EUR", 56_000, CART)
    a = make("shoes-a", {"type": "amount_off", "amount": eur(5_000)}, eligibility=SHOES_ONLY)
    card = make("card", {"type": "gift_card", "balance": eur(100_000)})
    assert stack(order, a, card) == [5_000, 51_000]


def test_buy_x_get_y_on_a_35_kb_body_is_fast_and_small():
    """500 lines of 10,000 units each (the largest body the API accepts): the old one-entry-per-unit math took
    seconds and hundreds of MB."""
    items = tuple(LineItem(f"sock-{i:04d}", 10_000, 100 + i, "socks") for i in range(500))
    order = parse(OrderIn, {"currency": "EUR", "items": [
        {"sku": it.sku, "category": it.category, "quantity": it.quantity, "unit_price": it.unit_price}
        for it in items]}).to_domain()
    three_for_two = make("b", {"type": "buy_x_get_y", "buy": {"category": "socks", "quantity": 2},
                               "get": {"category": "socks", "quantity": 1}})
    tracemalloc.start()
    started = time.perf_counter()
    d = discount_for(three_for_two, order)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    units = 500 * 10_000
    free = units // 3  # the cheapest third: all 10,000 of each of the cheapest lines, then part of the next
    full_lines, part = divmod(free, 10_000)
    assert d == sum(10_000 * (100 + i) for i in range(full_lines)) + part * (100 + full_lines)
    assert peak < 2_000_000, f"peak {peak} bytes"
    assert elapsed < 1.0, f"{elapsed:.3f} s"


def _units_reference(c: Campaign, items: tuple[LineItem, ...]) -> int:
    """The old one-entry-per-unit math (kept here as the reference for small carts)."""
    from incentives.domain.discounts import _eligible, _selects
    reward = c.reward
    units = [(it.unit_price, it) for it in items if _eligible(c, it) for _ in range(it.quantity)]
    x, y = reward.buy.quantity, reward.get.quantity
    if (reward.buy.sku, reward.buy.category) == (reward.get.sku, reward.get.category):
        prices = sorted(p for p, it in units if _selects(reward.buy, it))
        return sum(prices[:(len(prices) // (x + y)) * y])
    bought = sum(1 for _, it in units if _selects(reward.buy, it) and not _selects(reward.get, it))
    return sum(sorted(p for p, it in units if _selects(reward.get, it))[:(bought // x) * y])


small_items = st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.sampled_from(["s1", "s2", "s3"]),
                                 st.integers(1, 6), st.integers(0, 3_000)), min_size=0, max_size=8)


@settings(max_examples=300, deadline=None)
@given(small_items, st.sampled_from(["a", "b"]), st.sampled_from(["a", "c", "s1"]), st.integers(1, 4),
       st.integers(1, 3), st.booleans())
def test_buy_x_get_y_groups_give_what_one_entry_per_unit_gave(lines, buy_cat, get_sel, x, y, exclude_s2):
    get = {"sku": get_sel} if get_sel.startswith("s") else {"category": get_sel}
    c = make("b", {"type": "buy_x_get_y", "buy": {"category": buy_cat, "quantity": x}, "get": {**get, "quantity": y}},
             **({"eligibility": {"exclude": {"skus": ["s2"]}}} if exclude_s2 else {}))
    items = tuple(LineItem(sku, q, p, cat) for cat, sku, q, p in lines)
    assert buy_x_get_y(c.reward, c, items) == _units_reference(c, items)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 50), st.integers(0, 10_000)), min_size=1, max_size=6),
       st.integers(0, 2_000), st.sampled_from(["percent", "ship", "amount"]))
def test_shipping_counts_the_same_whether_amount_is_given_or_summed(lines, shipping, kind):
    items = [{"sku": f"s{i}", "quantity": q, "unit_price": p} for i, (q, p) in enumerate(lines)]
    summed = parse(OrderIn, {"currency": "EUR", "items": items, "shipping_amount": shipping}).to_domain()
    total = sum(q * p for q, p in lines) + shipping
    given_ = parse(OrderIn, {"currency": "EUR", "items": items, "shipping_amount": shipping,
                             "amount": total}).to_domain()
    assert summed == given_ and summed.amount == total
    reward = {"percent": {"type": "percent_off", "percent": 15}, "ship": {"type": "free_shipping"},
              "amount": {"type": "amount_off", "amount": eur(total)}}[kind]
    c = make("k", reward)
    outcomes = []
    for order in (summed, given_):
        try:
            outcomes.append(discount_for(c, order))
        except NoEligibleItems:
            outcomes.append(None)
    assert outcomes[0] == outcomes[1]
    if kind == "amount" and total:
        assert outcomes[0] == total  # the shipping is part of what an amount off may take


# --- property: random carts and stacks never take more than the eligible parts nor the order ---------------

CATEGORIES = ["shoes", "tv", "books", "low-margin"]
item_st = st.builds(LineItem, sku=st.sampled_from(["p1", "p2", "p3", "p4"]), quantity=st.integers(1, 20),
                    unit_price=st.integers(0, 20_000), category=st.one_of(st.none(), st.sampled_from(CATEGORIES)))
filter_st = st.one_of(
    st.none(),
    st.fixed_dictionaries({"include": st.fixed_dictionaries({"categories": st.lists(st.sampled_from(CATEGORIES),
                                                                                     min_size=1, max_size=2)})}),
    st.fixed_dictionaries({"exclude": st.fixed_dictionaries({"skus": st.lists(st.sampled_from(["p1", "p2"]),
                                                                              min_size=1, max_size=2)})}))
reward_st = st.one_of(
    st.builds(lambda p, cap: {"type": "percent_off", "percent": p, **({"max_amount": eur(cap)} if cap else {})},
              st.integers(1, 100), st.one_of(st.none(), st.integers(1, 50_000))),
    st.builds(lambda a: {"type": "amount_off", "amount": eur(a)}, st.integers(0, 200_000)),
    st.just({"type": "free_shipping"}),
    st.builds(lambda b: {"type": "gift_card", "balance": eur(b)}, st.integers(1, 300_000)),
    st.builds(lambda cat, x, y: {"type": "buy_x_get_y", "buy": {"category": cat, "quantity": x},
                                 "get": {"category": cat, "quantity": y}},
              st.sampled_from(CATEGORIES), st.integers(1, 3), st.integers(1, 2)))


def _parts_of(c: Campaign, order: Order) -> set:
    """The parts of the order (item index, "shipping", "rest") a campaign may discount, worked out here on its own."""
    if c.reward.type == "free_shipping":
        return {"shipping"}
    e = c.eligibility
    if e.include is None and e.exclude is None:
        return {*range(len(order.items)), "shipping", "rest"}
    out = set()
    for i, it in enumerate(order.items):
        inc = e.include is None or it.sku in e.include.skus or it.category in e.include.categories
        exc = e.exclude is not None and (it.sku in e.exclude.skus or it.category in e.exclude.categories)
        if inc and not exc:
            out.add(i)
    return out


@settings(max_examples=400, deadline=None)
@given(items=st.lists(item_st, max_size=6), shipping=st.integers(0, 3_000),
       amount_delta=st.one_of(st.none(), st.integers(-50_000, 50_000)),
       stack_spec=st.lists(st.tuples(reward_st, filter_st), min_size=1, max_size=4))
def test_a_stack_never_exceeds_the_eligible_amounts_nor_the_order(items, shipping, amount_delta, stack_spec):
    items_total = sum(it.total for it in items)
    amount = None if amount_delta is None else max(shipping, items_total + shipping + amount_delta)
    order = Order.of("EUR", tuple(items), amount, "o1", shipping)
    if order.amount == 0:
        return
    campaigns = [make(f"c{i}", reward, **({"eligibility": f} if f else {}))
                 for i, (reward, f) in enumerate(stack_spec)]
    campaigns.sort(key=lambda c: c.has_balance)  # discounts first, cards last, as the redemption orders them
    try:
        discounts = stack(order, *campaigns)
    except IncentiveError:
        return  # the stack is refused as a whole: nothing is given
    value = {i: it.total for i, it in enumerate(items)} | \
        {"shipping": shipping, "rest": max(0, order.amount - items_total - shipping)}
    assert all(isinstance(d, int) and d >= 0 for d in discounts)
    assert sum(discounts) <= order.amount
    for c, d in zip(campaigns, discounts, strict=True):
        assert d <= sum(value[p] for p in _parts_of(c, order))
    touched = set().union(*(_parts_of(c, order) for c in campaigns))
    assert sum(discounts) <= sum(value[p] for p in touched)
    for c in campaigns:  # the codes whose parts lie within this code's share what those parts are worth
        within = [d for c2, d in zip(campaigns, discounts, strict=True) if _parts_of(c2, order) <= _parts_of(c, order)]
        assert sum(within) <= sum(value[p] for p in _parts_of(c, order))
