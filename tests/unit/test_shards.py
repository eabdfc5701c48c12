"""Sharded counters (domain/shards.py): shares that add up to the cap, the plan that never picks a spent shard and
spreads a budget over shards, the generic sum of the views, and limits.counter_shards in the config."""
from __future__ import annotations

import random

import pytest
import yaml

from incentives.domain.config import Campaign, ConfigBundle
from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.errors import ConfigError
from incentives.domain.json_schema import check_document
from incentives.domain.shards import NoRoom, ShardCounts, plan, sample, share, sum_counters
from tests.support import campaign


def hot(k: int = 8, **limits) -> Campaign:
    return validate(Campaign, campaign("hot", codes={"type": "public", "code": "HOT"},
                                       reward={"type": "amount_off", "amount": {"amount": 700, "currency": "EUR"}},
                                       limits={"counter_shards": k, **limits}))


@pytest.mark.parametrize("k", [1, 2, 3, 7, 8, 32])
@pytest.mark.parametrize("cap", [1, 5, 8, 500, 100_001])
def test_the_shares_add_up_to_the_cap_and_differ_by_at_most_one(cap, k):
    shares = [share(cap, k, j) for j in range(k)]
    assert sum(shares) == cap and max(shares) - min(shares) <= 1


def test_concurrent_plans_from_the_same_counts_spread_over_the_shards():
    c = hot(total_redemptions=800)  # 100 per shard
    counts = [ShardCounts(j, redeemed=50) for j in range(8)]
    rng = random.Random(5)
    assert len({plan(c, 700, counts, rng.random).shard for _ in range(64)}) >= 6


def test_the_plan_takes_the_shard_with_the_most_room_and_never_a_spent_one():
    c = hot(per_code=80)  # 10 per shard
    shards = [ShardCounts(0, code=10), ShardCounts(3, code=4), ShardCounts(5, code=9)]
    assert plan(c, 700, shards).shard == 3
    assert plan(c, 700, [ShardCounts(0, code=10), ShardCounts(5, code=9)]).shard == 5
    with pytest.raises(NoRoom) as e:
        plan(c, 700, [ShardCounts(0, code=10), ShardCounts(5, code=10)])
    assert e.value.scope == "code"
    with pytest.raises(NoRoom) as e:
        plan(hot(total_redemptions=16), 700, [ShardCounts(0, redeemed=2), ShardCounts(1, redeemed=2)])
    assert e.value.scope == "campaign"


def test_a_discount_larger_than_one_shards_budget_takes_the_rest_from_others():
    c = hot(budget={"amount": 8_000, "currency": "EUR"})  # 1,000 per shard
    shards = [ShardCounts(0, discount_total=600), ShardCounts(1, discount_total=800),
              ShardCounts(2, discount_total=1000), ShardCounts(3, discount_total=900)]
    for seed in range(20):  # rooms 400, 200, 0, 100: it takes all that is left, never from the spent shard
        p = plan(c, 700, shards, random.Random(seed).random)
        assert p.shard in (0, 1, 3) and p.discounts == {0: 400, 1: 200, 3: 100}
    p = plan(c, 250, shards, random.Random(3).random)
    assert sum(p.discounts.values()) == 250 and 2 not in p.discounts
    assert all(part <= 1000 - shards[j].discount_total for j, part in p.discounts.items())
    with pytest.raises(NoRoom) as e:
        plan(c, 800, shards)  # 400 + 200 + 100 left
    assert e.value.scope == "budget"


def test_balanced_plans_fill_every_shard_to_its_share_exactly():
    """Redemptions planned from reads of all shards reach the cap exactly, each shard at its share."""
    c = hot(per_code=501, total_redemptions=600)
    counts = {j: 0 for j in range(8)}
    rng = random.Random(7)
    for _ in range(501):
        j = plan(c, 700, [ShardCounts(i, code=n, redeemed=n) for i, n in counts.items()], rng.random).shard
        counts[j] += 1
    assert counts == {j: share(501, 8, j) for j in range(8)}
    with pytest.raises(NoRoom):
        plan(c, 700, [ShardCounts(i, code=n, redeemed=n) for i, n in counts.items()])


def test_sample_is_a_few_distinct_shards_or_all_of_few():
    assert sample(2) == [0, 1] and sample(1) == [0]
    s = sample(32, rng=random.Random(1))
    assert len(s) == 2 and len(set(s)) == 2 and all(0 <= j < 32 for j in s)


def test_the_views_sum_every_numeric_counter_of_the_shards_whatever_its_name():
    items = [{"pk": "CAMPAIGN#x", "sk": "COUNTERS", "claims": 3, "updated_at": "2026-12-01T00:00:00Z"},
             {"pk": "CAMPAIGN#x#SHARD#00", "redeemed": 2, "discount_total": 1400, "v_blue_redeemed": 1, "flag": True},
             None,
             {"pk": "CAMPAIGN#x#SHARD#01", "redeemed": 1, "discount_total": 700, "v_blue_redeemed": 1,
              "spend_2026-12-01_EUR": 700}]
    assert sum_counters(items) == {"claims": 3, "redeemed": 3, "discount_total": 2100, "v_blue_redeemed": 2,
                                   "spend_2026-12-01_EUR": 700}


@pytest.mark.parametrize("k", [0, 33, "8"])
def test_counter_shards_is_1_to_32(tmp_path, k):
    d = tmp_path / "campaigns"
    d.mkdir()
    (d / "hot.yaml").write_text(yaml.safe_dump(campaign("hot", limits={"counter_shards": k})))
    with pytest.raises(ConfigError, match=r"limits\.counter_shards"):
        load_config_dir(tmp_path)
    doc = {"campaigns": {"hot": campaign("hot", limits={"counter_shards": k})}}
    with pytest.raises(ConfigError, match="counter_shards"):
        ConfigBundle.from_document(doc)
    with pytest.raises(ConfigError, match="counter_shards"):
        check_document(doc)


def test_counter_shards_defaults_to_one_and_goes_up_to_32():
    assert validate(Campaign, campaign("plain")).limits.counter_shards == 1
    assert hot(32).limits.counter_shards == 32
