"""Several codes on one order: all or nothing, only campaigns that say they combine, never more than the order."""
from __future__ import annotations

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from incentives.adapters import keys
from tests.support import OPERATOR_KEY_ID, campaign, scan_all

REDEEM = ("storefront", "POST", "/v1/redemptions")
ROLLBACK = ("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback")


def eur(a):
    return {"amount": a, "currency": "EUR"}


def stack_config(config_dir, **first):
    config_dir(
        campaign("tenpct", combinable=True, codes={"type": "public", "code": "TENPCT"},
                 reward={"type": "percent_off", "percent": 10}, limits={"per_customer": 1}, **first),
        campaign("fiver", combinable=True, codes={"type": "public", "code": "FIVER"},
                 reward={"type": "amount_off", "amount": eur(500)}, limits={"total_redemptions": 1}),
        campaign("card", combinable=True, codes={"type": "unique", "pattern": "CARD-####-####"},
                 reward={"type": "gift_card", "balance": eur(100_000)}),
        campaign("solo", codes={"type": "public", "code": "SOLO"}, reward={"type": "amount_off", "amount": eur(100)}))


def body(codes, customer="c1", amount=10_000):
    return {"codes": codes, "customer": {"id": customer}, "order": {"id": "o1", "currency": "EUR", "amount": amount}}


def card(handlers):
    out = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes", path_params={"campaign_id": "card"},
                        body={}, key_id=OPERATOR_KEY_ID)[1]
    return out["codes"][0]["code"]


def test_a_stack_applies_discounts_first_then_the_gift_card_for_the_rest(handlers, config_dir, table):
    stack_config(config_dir)
    gift = card(handlers)
    status, out, _ = handlers.call(*REDEEM, body=body([gift, "TENPCT", "FIVER"]))
    assert status == 201
    lines = {r["code"]: r for r in out["redemptions"]}
    assert lines["TENPCT"]["discount"]["amount"] == 1_000 and lines["FIVER"]["discount"]["amount"] == 500
    assert lines[gift]["discount"]["amount"] == 8_500  # the card pays exactly what is left
    assert lines[gift]["balance_after"] == eur(91_500)
    assert out["discount"] == eur(10_000)
    records = [i for i in scan_all(table) if i["sk"] == "REDEMPTION"]
    assert len(records) == 3 and all(len(r["stack"]) == 3 for r in records)
    # each redemption of the stack is rolled back by its own id
    assert handlers.call(*ROLLBACK, path_params={"redemption_id": lines["FIVER"]["id"]}, body={})[0] == 200
    assert table.get(*keys.campaign_counters("fiver"), consistent=True)["redeemed"] == 0


def test_a_stack_is_all_or_nothing(handlers, config_dir, table):
    stack_config(config_dir)
    assert handlers.call(*REDEEM, body=body(["FIVER"], customer="first"))[0] == 201  # FIVER is used up now
    gift = card(handlers)
    before = sorted(map(repr, scan_all(table)))
    status, out, _ = handlers.call(*REDEEM, body=body(["TENPCT", gift, "FIVER"]))
    assert status == 409 and out["error"]["code"] == "redemption_limit_reached"
    assert sorted(map(repr, scan_all(table))) == before  # TENPCT and the card were not touched either


def test_only_combinable_campaigns_stack_and_never_twice_the_same_campaign(handlers, config_dir, table):
    stack_config(config_dir)
    status, out, _ = handlers.call(*REDEEM, body=body(["TENPCT", "SOLO"]))
    assert status == 422 and out["error"]["code"] == "not_combinable"
    a, b = card(handlers), card(handlers)
    status, out, _ = handlers.call(*REDEEM, body=body([a, b]))
    assert status == 422 and out["error"]["code"] == "not_combinable"
    status, out, _ = handlers.call(*REDEEM, body=body(["TENPCT", "tenpct"]))
    assert status == 422 and out["error"]["code"] == "invalid_request"
    assert [i for i in scan_all(table) if i["sk"] == "REDEMPTION"] == []


def test_stacked_redemption_honours_idempotency_key(handlers, config_dir, table):
    stack_config(config_dir)
    h = {"Idempotency-Key": "stack-1"}
    first = handlers.call(*REDEEM, body=body(["TENPCT", "FIVER"]), headers=h)
    again = handlers.call(*REDEEM, body=body(["TENPCT", "FIVER"]), headers=h)
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert len([i for i in scan_all(table) if i["sk"] == "REDEMPTION"]) == 2


SHOES_ONLY = {"include": {"categories": ["shoes"]}}
CART = {"id": "o2", "currency": "EUR", "shipping_amount": 500,
        "items": [{"sku": "sneaker", "category": "shoes", "quantity": 1, "unit_price": 6_000},
                  {"sku": "tv", "category": "tv", "quantity": 1, "unit_price": 50_000}]}


def shoes_config(config_dir):
    config_dir(
        campaign("shoes-a", combinable=True, codes={"type": "public", "code": "SHOESA"}, eligibility=SHOES_ONLY,
                 reward={"type": "amount_off", "amount": eur(5_000)}),
        campaign("shoes-b", combinable=True, codes={"type": "public", "code": "SHOESB"}, eligibility=SHOES_ONLY,
                 reward={"type": "amount_off", "amount": eur(5_000)}),
        campaign("ship", combinable=True, codes={"type": "public", "code": "FREESHIP"},
                 reward={"type": "free_shipping"}),
        campaign("pct", combinable=True, codes={"type": "public", "code": "PCT10"},
                 reward={"type": "percent_off", "percent": 10}))


def test_two_codes_limited_to_shoes_never_discount_the_tv(handlers, config_dir, table):
    shoes_config(config_dir)
    status, out, _ = handlers.call(*REDEEM, body={"codes": ["SHOESA", "SHOESB"], "customer": {"id": "c1"},
                                                  "order": CART})
    assert status == 201
    assert [r["discount"]["amount"] for r in out["redemptions"]] == [5_000, 1_000]  # what is left of the shoes
    assert out["discount"] == eur(6_000)
    counters = table.get(*keys.campaign_counters("shoes-b"), consistent=True)
    assert counters["discount_total"] == 1_000


def test_free_shipping_and_a_percentage_take_the_shipping_once(handlers, config_dir, table):
    shoes_config(config_dir)
    status, out, _ = handlers.call(*REDEEM, body={"codes": ["PCT10", "FREESHIP"], "customer": {"id": "c1"},
                                                  "order": CART})
    assert status == 201  # the amount is the items plus the shipping: 56,500
    assert [r["discount"]["amount"] for r in out["redemptions"]] == [5_650, 450]  # 10 % took 50 of the shipping
    assert out["discount"] == eur(6_100)


def test_an_order_without_items_does_not_pass_include_rules(handlers, config_dir, table):
    shoes_config(config_dir)
    order = {"id": "o3", "currency": "EUR", "amount": 56_000}
    status, out, _ = handlers.call("storefront", "POST", "/v1/validations",
                                   body={"code": "SHOESA", "customer": {"id": "c1"}, "order": order})
    assert status == 200 and out["valid"] is False and out["reason"] == "no_eligible_items"
    status, out, _ = handlers.call(*REDEEM, body={"code": "SHOESA", "customer": {"id": "c1"}, "order": order})
    assert status == 422 and out["error"]["code"] == "no_eligible_items"
    assert [i for i in scan_all(table) if i["sk"] == "REDEMPTION"] == []


# --- property: random carts and stacks through the API --------------------------------------------------------

CATEGORIES = ["shoes", "tv", "books"]
_items = st.lists(st.tuples(st.sampled_from(["p1", "p2", "p3"]), st.sampled_from(CATEGORIES), st.integers(1, 5),
                            st.integers(1, 20_000)), min_size=1, max_size=5)
_filters = st.one_of(st.none(), st.builds(lambda c: {"include": {"categories": c}},
                                          st.lists(st.sampled_from(CATEGORIES), min_size=1, max_size=2)),
                     st.builds(lambda s: {"exclude": {"skus": s}}, st.lists(st.sampled_from(["p1", "p2"]), min_size=1)))
_rewards = st.one_of(
    st.builds(lambda p: {"type": "percent_off", "percent": p}, st.integers(1, 100)),
    st.builds(lambda a: {"type": "amount_off", "amount": eur(a)}, st.integers(1, 10_000)),
    st.just({"type": "free_shipping"}),
    st.builds(lambda c, x: {"type": "buy_x_get_y", "buy": {"category": c, "quantity": x},
                            "get": {"category": c, "quantity": 1}}, st.sampled_from(CATEGORIES), st.integers(1, 2)))


def _parts(spec: tuple[dict, dict | None], items: list[tuple]) -> set:
    reward, f = spec
    if reward["type"] == "free_shipping":
        return {"shipping"}
    if f is None:
        return {*range(len(items)), "shipping"}
    if "include" in f:
        return {i for i, (_, cat, _, _) in enumerate(items) if cat in f["include"]["categories"]}
    return {i for i, (sku, _, _, _) in enumerate(items) if sku not in f["exclude"]["skus"]}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(items=_items, shipping=st.integers(1, 1_500), specs=st.lists(st.tuples(_rewards, _filters), min_size=2,
                                                                    max_size=4))
@example(items=[("p1", "shoes", 1, 6_000), ("p2", "tv", 1, 50_000)], shipping=500,
         specs=[({"type": "amount_off", "amount": eur(5_000)}, SHOES_ONLY),
                ({"type": "amount_off", "amount": eur(5_000)}, SHOES_ONLY), ({"type": "free_shipping"}, None),
                ({"type": "percent_off", "percent": 10}, None)])
def test_random_stacks_never_exceed_the_eligible_parts_nor_the_order(handlers, config_dir, table, items, shipping,
                                                                     specs):
    config_dir(*[campaign(f"prop{i}", combinable=True, codes={"type": "public", "code": f"PROP{i}"}, reward=reward,
                          **({"eligibility": f} if f else {})) for i, (reward, f) in enumerate(specs)])
    order = {"id": "o-prop", "currency": "EUR", "shipping_amount": shipping,
             "items": [{"sku": s, "category": c, "quantity": q, "unit_price": p} for s, c, q, p in items]}
    total = sum(q * p for _, _, q, p in items) + shipping  # no amount: the items' sum plus the shipping
    status, out, _ = handlers.call(*REDEEM, body={"codes": [f"PROP{i}" for i in range(len(specs))],
                                                  "customer": {"id": "prop"}, "order": order})
    event(f"answer {status}")
    if status != 201:  # refused as a whole (e.g. a code with nothing left to discount): nothing is given
        assert status == 422 and out["error"]["code"] == "no_eligible_items", out
        return
    value = {i: q * p for i, (_, _, q, p) in enumerate(items)} | {"shipping": shipping}
    given_ = {ln["campaign_id"]: ln["discount"]["amount"] for ln in out["redemptions"]}
    assert out["discount"]["amount"] == sum(given_.values()) <= total
    for i, spec in enumerate(specs):
        mine = _parts(spec, items)
        assert given_[f"prop{i}"] <= sum(value[p] for p in mine)
        within = [given_[f"prop{j}"] for j, other in enumerate(specs) if _parts(other, items) <= mine]
        assert sum(within) <= sum(value[p] for p in mine)  # codes on the same parts share what those parts are worth
