"""Gift cards and store credit: partial spends from a balance that never goes below zero, also when one card is
spent at once from many checkouts; a rollback gives the amount back."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, UTC

import pytest

from incentives.adapters import keys
from incentives.adapters.checkout_store import CheckoutStore
from incentives.domain import errors
from incentives.domain.orders import Customer, LineItem, Order
from incentives.services.checkout import Checkout, CheckoutRequest
from incentives.services.issuance import Issuance
from tests.support import campaign, retry_transient

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)


def card_campaign(cid="gift", balance=5_000, **kw):
    return campaign(cid, codes={"type": "unique", "pattern": f"{cid[:4].upper()}-####-####"},
                    reward={"type": "gift_card", "balance": {"amount": balance, "currency": "EUR"}}, **kw)


@pytest.fixture
def cards(table, config_dir):
    def make(*campaigns):
        cfg = config_dir(*campaigns)
        issuance = Issuance(table, cfg)
        checkout = Checkout(CheckoutStore(table), cfg)

        def issue(cid):
            return issuance.issue(cid, 1, None, None, NOW).codes[0]["code"]
        return checkout, issue
    return make


def spend(checkout, code, amount, customer="c1", currency="EUR"):
    return checkout.redeem(CheckoutRequest(code, Customer(customer), Order(currency, amount)), NOW)


def test_partial_spends_until_the_balance_is_used_up(cards, table):
    checkout, issue = cards(card_campaign())
    code = issue("gift")
    first = spend(checkout, code, 2_000)
    assert first["discount"]["amount"] == 2_000 and first["balance_after"] == {"amount": 3_000, "currency": "EUR"}
    second = spend(checkout, code, 4_000)
    assert second["discount"]["amount"] == 3_000 and second["balance_after"]["amount"] == 0
    with pytest.raises(errors.BalanceExhausted):
        spend(checkout, code, 100)
    assert checkout.get_code(code, NOW)["balance"] == {"amount": 0, "currency": "EUR"}
    valid = checkout.validate(CheckoutRequest(code, Customer("c1"), Order("EUR", 100)), NOW)
    assert valid["valid"] is False and valid["reason"] == "balance_exhausted"

    checkout.rollback(second["id"], "refund", NOW)
    assert checkout.get_code(code, NOW)["balance"]["amount"] == 3_000
    with pytest.raises(errors.CurrencyMismatch):
        spend(checkout, code, 100, currency="USD")


@pytest.mark.concurrency(faults_in_suite=True)
def test_concurrent_spends_of_one_card_never_exceed_its_balance(cards, table):
    checkout, issue = cards(card_campaign(balance=10_000))
    code = issue("gift")

    def attempt(i):
        try:
            return retry_transient(lambda: spend(checkout, code, 1_500, customer=f"c{i}"))["discount"]["amount"]
        except errors.IncentiveError as e:
            return e.code

    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(attempt, range(16)))
    spent = [r for r in results if isinstance(r, int)]
    assert sum(spent) == 10_000  # 6 x 15.00 + 1 x 10.00: the card is used up exactly
    assert sorted(spent) == [1_000] + [1_500] * 6
    assert set(r for r in results if not isinstance(r, int)) <= {"balance_exhausted"}
    assert table.get(*keys.code(code), consistent=True)["balance"] == 0


def test_gift_card_pays_only_for_eligible_items(cards):
    checkout, issue = cards(card_campaign(eligibility={"exclude": {"categories": ["gift-cards"]}}))
    code = issue("gift")
    order = Order("EUR", 6_000, (LineItem("voucher", 1, 5_000, "gift-cards"), LineItem("book", 1, 1_000, "books")))
    out = checkout.redeem(CheckoutRequest(code, Customer("c1"), order), NOW)
    assert out["discount"]["amount"] == 1_000 and out["balance_after"]["amount"] == 4_000
