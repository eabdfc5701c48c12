"""tools/cost.py: the cost table recomputed from the benchmarks' figures (docs/cost.md)."""
from __future__ import annotations

import json

import pytest

from tools import cost

RESULTS = """
| Benchmark | Figure | Value | Target | Result |
|---|---|---|---|---|
| checkout | validation: capacity/call per documented rules (item sizes) | 0.50 RCU + 0.00 WCU |  |  |
| checkout | validation: handler p50 / p99 | 4.20 ms / 11.20 ms |  |  |
| checkout | redemption: capacity/call per documented rules (item sizes) | 0.00 RCU + 8.00 WCU + 1 GSI write | | |
| checkout | redemption: handler p50 / p99 | 10.00 ms / 21.16 ms |  |  |
| events | order.paid: capacity/event per documented rules (item sizes) | 1.00 RCU + 4.00 WCU + 1 GSI write | | |
| events | order.paid: handler p50 / p99 | 10.82 ms / 22.05 ms |  |  |
| loyalty | earning: handler p50 / p99 | 21.28 ms / 37.92 ms (1000 calls) |  |  |
"""


def _by_name(rows):
    return {c.name.split(" ")[0]: c for c in rows}


def test_a_redemption_costs_its_write_units_at_the_on_demand_price():
    rows = _by_name(cost.calls(cost.figures_from_markdown(RESULTS)))
    redemption = rows["redemption"]
    # 8 WCU + 1 GSI write measured, + the gsi2 entry of the code: 10 write units
    assert (redemption.rru, redemption.wru, redemption.lambda_ms) == (0.0, 10.0, 10.0)
    usd = redemption.costs()
    assert usd["dynamodb"] == pytest.approx(10 * 0.625)
    assert usd["api_gateway"] == 3.50
    # one invocation: $0.20 per million requests + 10 ms x 0.5 GB x 1e6 x $0.0000133334 per GB-s
    assert usd["lambda"] == pytest.approx(0.20 + 0.010 * 0.5 * 1e6 * 0.0000133334)
    assert rows["validation"].costs()["dynamodb"] == pytest.approx(0.5 * 0.125)


def test_lambda_bills_each_started_millisecond():
    assert cost.Call("x", lambda_ms=4.2).costs()["lambda"] == pytest.approx(0.20 + 0.005 * 0.5 * 1e6 * 0.0000133334)


def test_the_bench_json_gives_the_same_table_as_the_markdown(tmp_path):
    figures = cost.figures_from_markdown(RESULTS)
    rows = [{"bench": b, "name": n, "value": v, "target": "", "status": "-"} for (b, n), v in figures.items()]
    path = tmp_path / "bench.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    assert cost.table(cost.calls(cost.figures_from_json(json.loads(path.read_text())))) == \
        cost.table(cost.calls(figures))


def test_a_measured_figure_that_changes_changes_the_table_and_a_missing_one_stops_it():
    faster = RESULTS.replace("10.00 ms / 21.16 ms", "5.00 ms / 21.16 ms")
    slow = _by_name(cost.calls(cost.figures_from_markdown(RESULTS)))["redemption"].costs()["lambda"]
    fast = _by_name(cost.calls(cost.figures_from_markdown(faster)))["redemption"].costs()["lambda"]
    assert fast < slow
    with pytest.raises(SystemExit, match=r"order\.paid"):
        cost.calls(cost.figures_from_markdown(RESULTS.replace("order.paid: handler", "other: handler")))


def test_estimates_are_marked_and_measured_inputs_named():
    table = cost.table(cost.calls(cost.figures_from_markdown(RESULTS)))
    assert "| claim (landing page, code e-mailed) |" in table and "ESTIMATE" in table
    assert "measured: dynamodb, lambda" in table


def test_the_committed_benchmarks_give_a_table():
    out = cost.table(cost.calls(cost.figures_from_markdown((cost.ROOT / "docs" / "benchmarks.md").read_text())))
    assert out.count("\n") == 6  # header, rule, five calls
