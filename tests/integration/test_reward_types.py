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


def test_buy_x_get_y_on_the_largest_body_answers_fast_and_small(handlers, config_dir):
    """500 lines of 10,000 units (a ~35 kB body): the whole validation through the storefront function, parsing
    included, in well under a second and a few MB (one entry per unit took 30 s and 400 MB)."""
    import json
    import time
    import tracemalloc

    config_dir(campaign("socks", codes={"type": "public", "code": "SOCKS3FOR2"},
                        reward={"type": "buy_x_get_y", "buy": {"category": "socks", "quantity": 2},
                                "get": {"category": "socks", "quantity": 1}}))
    items = [{"sku": f"sock-{i:04d}", "category": "socks", "quantity": 10_000, "unit_price": 100 + i}
             for i in range(500)]
    body = {"code": "SOCKS3FOR2", "customer": {"id": "c1"}, "order": {"currency": EUR, "items": items}}
    assert 30_000 < len(json.dumps(body, separators=(",", ":"))) < 40_000
    handlers.call("storefront", "POST", "/v1/validations", body=body)  # warm: imports, config, clients
    started = time.perf_counter()
    status, out, _ = handlers.call("storefront", "POST", "/v1/validations", body=body)
    elapsed = time.perf_counter() - started
    tracemalloc.start()  # a second call measures the memory (tracing slows Python down several times)
    assert handlers.call("storefront", "POST", "/v1/validations", body=body)[1] == out
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    free_lines, part = divmod(500 * 10_000 // 3, 10_000)  # the cheapest third of the units is free
    expected = sum(10_000 * (100 + i) for i in range(free_lines)) + part * (100 + free_lines)
    assert status == 200 and out["valid"] is True and out["discount"]["amount"] == expected
    assert peak < 20_000_000, f"peak {peak / 1e6:.1f} MB"
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    print(f"35 kB buy_x_get_y validation: {elapsed * 1000:.0f} ms, tracemalloc peak {peak / 1e6:.1f} MB")
