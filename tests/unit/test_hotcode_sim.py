"""The hot-code simulation (tools/hotcode_sim.py) backs docs/throughput.md's claims: one item serves ~500
transactional redemptions a second whatever the demand, K shards serve the demand up to ~500 x K, and the engine's
fall-over refuses nobody while the cap has room, where a random shard without fall-over refuses more than 0.1 %."""
from __future__ import annotations

from tools.hotcode_sim import simulate


def test_one_item_caps_near_500_a_second_and_8_shards_serve_2000():
    one = simulate(2000, 1, seconds=2)
    eight = simulate(2000, 8, seconds=2)
    assert 400 <= one.rate <= 550
    assert eight.rate >= 1850 and eight.gave_up == 0
    assert eight.p99_ms < one.p99_ms / 5


def test_the_fall_over_keeps_the_cap_exact_both_ways_and_a_random_shard_alone_does_not():
    engine = simulate(20_000, 8, seconds=0.5, cap=500)
    assert engine.succeeded == 500 and engine.refused_early == 0 and engine.gave_up == 0
    naive = simulate(20_000, 8, seconds=0.5, cap=500, strategy="naive")
    assert naive.succeeded == 500  # the shares still hold the cap ...
    assert naive.refused_early > naive.attempts / 1000  # ... but more than 0.1 % are turned away too early
