"""Every reward type redeemed through the storefront function against DynamoDB Local."""
from __future__ import annotations

import pytest

from tests.support import OPERATOR_KEY_ID, campaign

REDEEM = ("storefront", "POST", "/v1/redemptions")
EUR = "EUR"


def eur(a):
    return {"amount": a, "currency": EUR}


CART = {"currency": EUR, "amount": 10_490, "shipping_amount": 490, "items": [
    {"sku": "console", "category": "consoles", "quantity": 1, "unit_price": 6_000},
    {"sku": "game-a", "category": "games", "quantity": 1, "unit_price": 2_500},
    {"sku": "game-b", "category": "games", "quantity": 1, "unit_price": 1_500},
]}

CASES = [
    ("percent", {"type": "percent_off", "percent": 10, "max_amount": eur(800)}, {}, 800),
    ("amount", {"type": "amount_off", "amount": eur(1_200)}, {}, 1_200),
    ("amount-excl", {"type": "amount_off", "amount": eur(5_000)},
     {"eligibility": {"exclude": {"categories": ["consoles"]}}}, 4_000),
    ("ship", {"type": "free_shipping"}, {}, 490),
    ("bxgy", {"type": "buy_x_get_y", "buy": {"sku": "console", "quantity": 1},
              "get": {"category": "games", "quantity": 1}}, {}, 1_500),
    ("credit", {"type": "store_credit", "balance": eur(3_000)}, {}, 3_000),
]


@pytest.mark.parametrize("cid,reward,extra,expected", CASES, ids=[c[0] for c in CASES])
def test_each_reward_type_discounts_what_it_should(handlers, config_dir, cid, reward, extra, expected):
    pattern = f"{cid[:4].upper().replace('-', 'X')}-####-####"
    config_dir(campaign(cid, reward=reward, codes={"type": "unique", "pattern": pattern}, **extra))
    status, out, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": cid}, body={"count": 1}, key_id=OPERATOR_KEY_ID)
    code = out["codes"][0]["code"]
    body = {"code": code, "customer": {"id": "c1"}, "order": CART}
    status, valid, _ = handlers.call("storefront", "POST", "/v1/validations", body=body)
    assert valid["valid"] is True and valid["discount"]["amount"] == expected
    assert valid["order_amount_after"] == CART["amount"] - expected
    status, out, _ = handlers.call(*REDEEM, body=body)
    assert status == 201 and out["discount"] == {"amount": expected, "currency": EUR}
    if reward["type"] == "store_credit":
        assert out["balance_after"] == eur(0)
