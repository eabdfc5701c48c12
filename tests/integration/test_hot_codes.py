"""Hot codes: a campaign's counters over K shard items (limits.counter_shards, domain/shards.py), against DynamoDB
Local with the real services and, for the views, the real handlers: caps exact both ways under concurrency, rollbacks
back to their shards, the views summing the shards, and K = 1 writing what it always wrote."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from bench import RequestRecorder
from incentives.adapters import keys
from incentives.adapters.checkout_store import CheckoutStore
from incentives.domain import errors
from incentives.domain.orders import Customer, Order
from incentives.domain.shards import share
from incentives.services.checkout import Checkout, CheckoutRequest
from incentives.services.issuance import Issuance
from tests.support import OPERATOR_KEY_ID, campaign, retry_transient, scan_all

NOW = datetime.now(UTC).replace(microsecond=0)
OP = {"key_id": OPERATOR_KEY_ID}
K = 8


def eur(amount: int) -> dict:
    return {"amount": amount, "currency": "EUR"}


def hot(cid: str, code: str, **limits) -> dict:
    return campaign(cid, codes={"type": "public", "code": code},
                    reward={"type": "amount_off", "amount": eur(700)}, limits=limits)


def req(code: str, i: int) -> CheckoutRequest:
    return CheckoutRequest(code, Customer(f"c{i}"), Order("EUR", 5_000, id=f"o{i}"))


def hammer(checkout: Checkout, code: str, ids: range, threads: int = 64) -> list[dict]:
    """Each attempt's outcome ("ok" or the error code), redemption id and start/end on one monotonic clock."""
    def one(i: int) -> dict:
        start = time.monotonic()
        try:
            rid, outcome = retry_transient(lambda: checkout.redeem(req(code, i), NOW))["id"], "ok"
        except errors.IncentiveError as e:
            rid, outcome = None, e.code
        return {"outcome": outcome, "id": rid, "start": start, "end": time.monotonic()}
    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, ids))


def refused_while_room_was_left(results: list[dict]) -> int:
    """Refusals after which a redemption that started later still succeeded (no rollback meanwhile): there was
    room when they were refused."""
    starts = sorted(r["start"] for r in results if r["outcome"] == "ok")
    return sum(1 for r in results if r["outcome"] != "ok" and starts and starts[-1] > r["end"])


def shard_items(table, prefix: str) -> dict[int, dict]:
    return {int(i["pk"].rsplit("#", 1)[1]): i for i in scan_all(table) if i["pk"].startswith(prefix)}


def succeeded(table, cid: str) -> list[dict]:
    return [i for i in scan_all(table) if i["sk"] == "REDEMPTION" and i["campaign_id"] == cid
            and i["status"] == "succeeded"]


def assert_shards_balance(table, cid: str, code: str) -> None:
    """Every shard holds exactly what the succeeded redemption records say they counted on it."""
    records = succeeded(table, cid)
    code_shards = shard_items(table, f"CODE#{code}#SHARD#")
    counters = shard_items(table, f"CAMPAIGN#{cid}#SHARD#")
    for j in range(K):
        mine = [r for r in records if r["counter_shard"] == j]
        assert code_shards.get(j, {}).get("redemptions", 0) == sum(1 for r in records if r["code_shard"] == j)
        assert counters.get(j, {}).get("redeemed", 0) == len(mine)
        assert counters.get(j, {}).get("discount_total", 0) == sum(r["discount_shards"].get(str(j), 0)
                                                                   for r in records)


@pytest.fixture(autouse=True)
def patient_decisions(monkeypatch):
    """The 8 s budget for deciding again is a latency bound for DynamoDB (10 ms a transaction); DynamoDB Local on a
    loaded 2-core machine makes a hot item's transactions wait seconds for its lock. What is tested here is the
    count, so the decisions get a minute."""
    from incentives.adapters.retry import RetryPolicy
    from incentives.services import checkout as checkout_service

    monkeypatch.setattr(checkout_service, "DECISIONS", RetryPolicy(deadline_s=60.0, base_s=0.003, cap_s=0.2))


@pytest.fixture
def checkout(table, config_dir):
    def make(*campaigns):
        return Checkout(CheckoutStore(table), config_dir(*campaigns))
    return make


@pytest.mark.concurrency
def test_2000_concurrent_redemptions_on_a_cap_of_500_over_8_shards_give_exactly_500(checkout, table, handlers):
    svc = checkout(hot("hot", "HOT", per_code=500, total_redemptions=500, counter_shards=K))
    results = hammer(svc, "HOT", range(2000))
    outcomes = [r["outcome"] for r in results]
    assert outcomes.count("ok") == 500
    assert set(outcomes) == {"ok", "redemption_limit_reached"}
    assert refused_while_room_was_left(results) == 0
    # every shard full to its share: the cap was spread over all 8, none passed its share
    code_shards = shard_items(table, "CODE#HOT#SHARD#")
    assert {j: i["redemptions"] for j, i in code_shards.items()} == {j: share(500, K, j) for j in range(K)}
    assert_shards_balance(table, "hot", "HOT")
    # the views sum the shards
    status, code, _ = handlers.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": "HOT"})
    assert status == 200 and code["redemptions"] == {"count": 500, "limit": 500} and code["status"] == "redeemed"
    status, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                    path_params={"campaign_id": "hot"}, **OP)
    assert status == 200 and view["stats"]["redeemed"] == 500 and view["stats"]["remaining"] == 0
    assert view["stats"]["discount_total"] == eur(500 * 700)
    assert view["stats"]["spend_by_day"] == [{"date": NOW.date().isoformat(), **eur(500 * 700)}]
    assert view["stats"]["revenue"] == [eur(500 * 5_000)]
    status, out, _ = handlers.call("storefront", "POST", "/v1/validations", body={
        "code": "HOT", "customer": {"id": "late"}, "order": {"currency": "EUR", "amount": 5_000}})
    assert status == 200 and out["valid"] is False and out["reason"] == "redemption_limit_reached"

    # rollbacks of 100 give room for exactly 100 more, each back to the shards it came from
    ids = [r["id"] for r in results if r["outcome"] == "ok"][::5]
    assert len(ids) == 100
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(lambda rid: retry_transient(lambda: svc.rollback(rid, "test", NOW)), ids))
    assert_shards_balance(table, "hot", "HOT")
    assert handlers.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": "HOT"})[1][
        "redemptions"]["count"] == 400
    more = hammer(svc, "HOT", range(2000, 2600))
    assert [r["outcome"] for r in more].count("ok") == 100
    assert refused_while_room_was_left(more) == 0
    assert_shards_balance(table, "hot", "HOT")
    _, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                               path_params={"campaign_id": "hot"}, **OP)
    assert view["stats"]["redeemed"] == 500 and view["stats"]["discount_total"] == eur(500 * 700)


@pytest.mark.concurrency
def test_no_redemption_is_refused_while_the_sharded_cap_has_room(checkout, table):
    svc = checkout(hot("room", "ROOM", total_redemptions=500, counter_shards=K))
    results = hammer(svc, "ROOM", range(499))
    assert [r["outcome"] for r in results].count("ok") == 499  # one left: nobody was turned away
    assert [r["outcome"] for r in hammer(svc, "ROOM", range(499, 540))].count("ok") == 1
    assert sum(i.get("redeemed", 0) for i in shard_items(table, "CAMPAIGN#room#SHARD#").values()) == 500


@pytest.mark.concurrency
def test_a_budget_over_8_shards_is_never_exceeded_and_fully_usable(checkout, table, handlers):
    # 100,000 over 8 shards is 12,500 each: 17 redemptions of 7.00 fit in a shard, 6.00 is left in each; the
    # last 6 redemptions only fit by taking from two shards at once. 142 x 7.00 = 994.00 <= 1,000.00 < 143 x 7.00.
    svc = checkout(hot("bud", "BUD", budget=eur(100_000), counter_shards=K))
    results = hammer(svc, "BUD", range(300), threads=32)  # a split touches several shards: DynamoDB Local's
    # lock wait (it times out where DynamoDB would answer) is what more threads would test
    outcomes = [r["outcome"] for r in results]
    assert outcomes.count("ok") == 142
    assert set(outcomes) == {"ok", "budget_exhausted"}
    assert refused_while_room_was_left(results) == 0
    counters = shard_items(table, "CAMPAIGN#bud#SHARD#")
    assert all(counters[j]["discount_total"] <= share(100_000, K, j) for j in range(K))
    assert sum(i["discount_total"] for i in counters.values()) == 142 * 700
    records = succeeded(table, "bud")
    split = [r for r in records if len(r["discount_shards"]) > 1]
    assert split and all(sum(r["discount_shards"].values()) == 700 for r in records)
    _, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                               path_params={"campaign_id": "bud"}, **OP)
    assert view["stats"]["budget_remaining"] == eur(100_000 - 142 * 700)
    # a rolled-back split redemption gives each shard its part back, and the budget can be spent again
    svc.rollback(split[0]["id"], "test", NOW)
    assert_shards_balance(table, "bud", "BUD")
    assert [r["outcome"] for r in hammer(svc, "BUD", range(300, 310))].count("ok") == 1


def test_one_shard_writes_the_same_items_and_requests_as_before(checkout, table):
    svc = checkout(hot("one", "ONE", per_code=10, total_redemptions=10, budget=eur(100_000)))
    with RequestRecorder(table.client, capture_params=False, consumed=False) as rec:
        rid = svc.redeem(req("ONE", 1), NOW)["id"]
    assert [c["op"] for c in rec.calls] == ["TransactWriteItems"]
    items = scan_all(table)
    assert sorted((i["pk"], i["sk"]) for i in items) == sorted(
        [keys.code("ONE"), keys.campaign_counters("one"), keys.redemption(rid)])
    record = next(i for i in items if i["sk"] == "REDEMPTION")
    assert not {"counter_shard", "code_shard", "discount_shards"} & set(record)
    svc.rollback(rid, None, NOW)
    assert table.get(*keys.campaign_counters("one"), consistent=True)["redeemed"] == 0


def test_eight_shards_cost_one_read_and_one_transaction_per_redemption(checkout, table):
    svc = checkout(hot("eight", "EIGHT", per_code=100, total_redemptions=100, counter_shards=K))
    with RequestRecorder(table.client, capture_params=False, consumed=False) as rec:
        rid = svc.redeem(req("EIGHT", 1), NOW)["id"]
    assert [c["op"] for c in rec.calls] == ["BatchGetItem", "TransactWriteItems"]
    record = table.get(*keys.redemption(rid), consistent=True)
    j = record["counter_shard"]
    assert record["code_shard"] == j and record["discount_shards"] == {str(j): 700}
    assert table.get(*keys.code_count_shard("EIGHT", j), consistent=True)["redemptions"] == 1
    assert table.get(*keys.code("EIGHT")) is None  # the code item is not the hot spot any more


def test_unique_codes_of_a_sharded_campaign_keep_their_own_count_and_share_the_campaign_cap(table, config_dir,
                                                                                            handlers):
    # total_redemptions 3 over 4 shards: shares 1, 1, 1, 0; each unique code is counted on its own item as always
    cfg = config_dir(campaign("uniq", limits={"per_code": 1, "total_redemptions": 3, "counter_shards": 4}))
    svc = Checkout(CheckoutStore(table), cfg)
    codes = [c["code"] for c in Issuance(table, cfg).issue("uniq", 5, None, None, NOW).codes]
    outcomes: list[str] = []
    for i, code in enumerate(codes):
        try:
            svc.redeem(req(code, i), NOW)
            outcomes.append("ok")
        except errors.IncentiveError as e:
            outcomes.append(e.code)
            assert e.details == {"limit": 3, "scope": "campaign"}
    assert outcomes == ["ok", "ok", "ok", "redemption_limit_reached", "redemption_limit_reached"]
    assert sorted(table.get(*keys.code(c), consistent=True).get("redemptions", 0) for c in codes) == [0, 0, 1, 1, 1]
    assert not [i for i in scan_all(table) if i["sk"] == "SHARD"]  # no code shards for unique codes
    counters = shard_items(table, "CAMPAIGN#uniq#SHARD#")
    assert sorted(i["redeemed"] for i in counters.values()) == [1, 1, 1] and 3 not in counters
    status, out, _ = handlers.call("storefront", "POST", "/v1/validations", body={
        "code": codes[4], "customer": {"id": "v"}, "order": {"currency": "EUR", "amount": 5_000}})
    assert status == 200 and out["valid"] is False and out["reason"] == "redemption_limit_reached"


def test_a_repeated_idempotent_redemption_of_a_sharded_code_counts_once(table, config_dir, handlers):
    config_dir(hot("idem", "IDEM", per_code=10, counter_shards=K))
    body = {"code": "IDEM", "customer": {"id": "c1"}, "order": {"id": "o1", "currency": "EUR", "amount": 5_000}}
    first = handlers.call("storefront", "POST", "/v1/redemptions", body=body, headers={"Idempotency-Key": "k-1"})
    again = handlers.call("storefront", "POST", "/v1/redemptions", body=body, headers={"Idempotency-Key": "k-1"})
    assert first[0] == 201 and again[0] == 201 and again[1] == first[1]
    status, code, _ = handlers.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": "IDEM"})
    assert status == 200 and code["redemptions"] == {"count": 1, "limit": 10}
    assert handlers.call("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback",
                         {"redemption_id": first[1]["id"]}, body={})[0] == 200
    assert handlers.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": "IDEM"})[1][
        "redemptions"]["count"] == 0
    assert_shards_balance(table, "idem", "IDEM")
