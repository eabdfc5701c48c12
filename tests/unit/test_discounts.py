"""Discount math: property tests over random orders and campaigns."""
from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from incentives.domain.config import Campaign
from incentives.domain.discounts import discount_for, eligible_amount
from incentives.domain.orders import LineItem, Order
from tests.support import campaign

amounts = st.integers(min_value=1, max_value=10**12)
percents = st.decimals(min_value=Decimal("0.001"), max_value=Decimal(100), places=3)


@settings(max_examples=300, deadline=None)
@given(amount=amounts, percent=percents, cap=st.one_of(st.none(), st.integers(min_value=0, max_value=10**9)))
def test_percent_off_rounds_down_and_never_exceeds_cap_or_order(amount, percent, cap):
    reward = {"type": "percent_off", "percent": str(percent)}
    if cap is not None:
        reward["max_amount"] = {"amount": cap, "currency": "EUR"}
    c = Campaign.model_validate(campaign("p", reward=reward))
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
    c = Campaign.model_validate(campaign("a", reward={"type": "amount_off", "amount": {"amount": off, "currency": "EUR"}}))
    assert discount_for(c, Order("EUR", amount)) == min(off, amount)


def test_excluded_categories_stay_out_of_the_discount():
    c = Campaign.model_validate(campaign("x", eligibility={"exclude": {"categories": ["low-margin"]}},
                                         reward={"type": "percent_off", "percent": 50}))
    order = Order("EUR", 3_000, (LineItem("tv", 1, 2_000, "low-margin"), LineItem("book", 2, 500, "books")))
    assert eligible_amount(c, order) == 1_000
    assert discount_for(c, order) == 500
