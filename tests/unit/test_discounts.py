"""Discount math: property tests over random orders and campaigns."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from incentives.domain.config import Campaign
from incentives.domain.discounts import discount_for, eligible_amount
from incentives.domain.orders import LineItem, Order
from incentives.domain.schema import parse
from tests.support import campaign

amounts = st.integers(min_value=1, max_value=10**12)
percents = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100), places=3)


@settings(max_examples=300, deadline=None)
@given(amount=amounts, percent=percents, cap=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
def test_percent_off_rounds_down_and_never_exceeds_cap_or_order(amount, percent, cap):
    reward = {"type": "percent_off", "percent": str(percent)}
    if cap is not None:
        reward["max_amount"] = {"amount": cap, "currency": "EUR"}
    c = parse(Campaign, campaign("p", reward=reward))
    d = discount_for(c, Order("EUR", amount))
    assert isinstance(d, int) and 0 <= d <= amount
    exact = Decimal(amount) * percent / 100
    assert d <= exact  # rounding never favours the shopper
    if cap is None or exact < cap:
        assert exact - d < 1  # ...and never takes more than one unit from them
    else:
        assert d == cap


@settings(max_examples=200, deadline=None)
@given(amount=amounts, off=st.integers(min_value=0, max_value=10**13))
def test_amount_off_never_exceeds_the_order(amount, off):
    off = min(off, 10**12)
    c = parse(Campaign, campaign("a", reward={"type": "amount_off", "amount": {"amount": off, "currency": "EUR"}}))
    assert discount_for(c, Order("EUR", amount)) == min(off, amount)


def test_excluded_categories_stay_out_of_the_discount():
    c = parse(Campaign, campaign("x", eligibility={"exclude": {"categories": ["low-margin"]}},
                                         reward={"type": "percent_off", "percent": 50}))
    order = Order("EUR", 3_000, (LineItem("tv", 1, 2_000, "low-margin"), LineItem("book", 2, 500, "books")))
    assert eligible_amount(c, order) == 1_000
    assert discount_for(c, order) == 500


def bxgy(buy, get, **kw):
    return parse(Campaign, campaign("b", reward={"type": "buy_x_get_y", "buy": buy, "get": get}, **kw))


def test_three_for_two_makes_the_cheapest_of_each_group_free():
    c = bxgy({"category": "socks", "quantity": 2}, {"category": "socks", "quantity": 1})
    items = (LineItem("red", 2, 900, "socks"), LineItem("blue", 3, 500, "socks"), LineItem("hat", 1, 2_000, "hats"))
    # socks by price: 900 900 500 | 500 500 -> one full group of three: the 500 in it is free
    assert discount_for(c, Order("EUR", 5_300, items)) == 500
    six = (LineItem("red", 3, 900, "socks"), LineItem("blue", 3, 500, "socks"))
    assert discount_for(c, Order("EUR", 4_200, six)) == 1_000  # two groups: the two cheapest pairs' 500s


def test_buy_a_get_b_gives_the_cheapest_b_free():
    c = bxgy({"sku": "console", "quantity": 1}, {"category": "games", "quantity": 1})
    items = (LineItem("console", 1, 30_000), LineItem("g1", 1, 6_000, "games"), LineItem("g2", 1, 4_000, "games"))
    assert discount_for(c, Order("EUR", 40_000, items)) == 4_000
    two = (LineItem("console", 2, 30_000), *items[1:])
    assert discount_for(c, Order("EUR", 70_000, two)) == 10_000


def test_buy_x_get_y_without_qualifying_items_is_rejected_and_exclusions_apply():
    import pytest

    from incentives.domain.errors import NoEligibleItems

    c = bxgy({"sku": "console", "quantity": 1}, {"category": "games", "quantity": 1},
             eligibility={"exclude": {"skus": ["g1"]}})
    with pytest.raises(NoEligibleItems):
        discount_for(c, Order("EUR", 6_000, (LineItem("g1", 1, 6_000, "games"),)))
    items = (LineItem("console", 1, 30_000), LineItem("g1", 1, 1_000, "games"), LineItem("g2", 1, 4_000, "games"))
    assert discount_for(c, Order("EUR", 35_000, items)) == 4_000  # g1 is excluded even though cheaper


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.integers(1, 5), st.integers(0, 10_000)),
                min_size=1, max_size=8), st.integers(1, 4), st.integers(1, 3))
def test_buy_x_get_y_never_exceeds_the_order(lines, x, y):
    c = bxgy({"category": "a", "quantity": x}, {"category": "a", "quantity": y})
    items = tuple(LineItem(f"s{i}", q, p, cat) for i, (cat, q, p) in enumerate(lines))
    amount = sum(i.total for i in items)
    from incentives.domain.errors import NoEligibleItems

    try:
        d = discount_for(c, Order("EUR", amount, items))
    except NoEligibleItems:  # nothing qualifies (or nothing costs anything)
        return
    a_units = sorted(p for cat, q, p in lines if cat == "a" for _ in range(q))
    assert 0 <= d <= amount and d <= sum(a_units[: (len(a_units) // (x + y)) * y])


def test_free_shipping_takes_off_the_shipping_part_only():
    import pytest

    from incentives.domain.errors import NoEligibleItems
    from incentives.http.schemas import OrderIn

    c = parse(Campaign, campaign("f", reward={"type": "free_shipping"}))
    order = parse(OrderIn, {"currency": "EUR", "amount": 5_490, "shipping_amount": 490}).to_domain()
    assert discount_for(c, order) == 490
    with pytest.raises(NoEligibleItems):
        discount_for(c, Order("EUR", 5_000))
    with pytest.raises(ValueError, match="part of amount"):
        parse(OrderIn, {"currency": "EUR", "amount": 100, "shipping_amount": 490})
