"""Retention metrics: GET /v1/metrics/retention's service (services/retention.py) for a one-year window over
BENCH_RETENTION_CUSTOMERS customers (default 100,000), of whom 10 % bought in the window (two orders each, one
refunded in part for every tenth of them); the others bought only the year before, so the table holds far more
than the window. The day index items are written as the metrics_events consumer writes them (bare
BatchWriteItem: the fill is not what is measured). Figures: DynamoDB requests, read capacity, p50 of the query.
"""
from __future__ import annotations

import os
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from . import Context, Figure, RequestRecorder, bare_client, capacity_units, ms, percentile, say, verdict

NAME = "retention"
CUSTOMERS = int(os.environ.get("BENCH_RETENTION_CUSTOMERS", "100000"))
ACTIVE_SHARE = 10  # one customer in ten bought in the window
RUNS = 5
WINDOW = (date(2025, 1, 1), date(2025, 12, 31))


def _items() -> list[dict]:
    from incentives.adapters import keys

    out = []
    for i in range(CUSTOMERS):
        customer = f"cust-{i:07d}"
        active = i % ACTIVE_SHARE == 0
        year, n = (2025, 2) if active else (2024, 1)
        for k in range(n):
            day = (date(year, 1, 1) + timedelta(days=(i * 7 + k * 131) % 365)).isoformat()
            order = f"o-{i}-{k}"
            pk, sk = keys.retention_day_order(day, customer, order)
            refunded = 500 if active and k == 1 and i % 100 == 0 else 0
            out.append({"pk": {"S": pk}, "sk": {"S": sk}, "customer_id": {"S": customer}, "order_id": {"S": order},
                        "currency": {"S": "EUR"}, "amount": {"N": "4000"}, "refunded": {"N": str(refunded)}})
    return out


def _fill(endpoint: str, table: str) -> float:
    client = bare_client(endpoint)
    items = [{"PutRequest": {"Item": it}} for it in _items()]
    batches = [{table: items[i:i + 25]} for i in range(0, len(items), 25)]

    def write(request: dict) -> None:
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, batches))
    return time.perf_counter() - t


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    from incentives.adapters.dynamo import Table, dynamodb_client
    from incentives.services.retention import RetentionMetrics, Window

    figures: list[Figure] = []
    client = dynamodb_client(endpoint)
    table_name = ctx.fresh_table("bench-retention")
    active = (CUSTOMERS + ACTIVE_SHARE - 1) // ACTIVE_SHARE
    print(f"  filling: {CUSTOMERS:,} customers, {active:,} active in the window ...", flush=True)
    fill_s = _fill(endpoint, table_name)
    figures.append(say(Figure(NAME, "fill (bare BatchWriteItem of day index items)",
                              f"{CUSTOMERS + active:,} items in {fill_s:.1f} s")))
    metrics = RetentionMetrics(Table(table_name, client))
    window = Window(*WINDOW)
    seconds, out = [], {}
    for i in range(RUNS):
        with RequestRecorder(client, capture_params=False, consumed=True) as rec:
            t = time.perf_counter()
            out = metrics.get(window)
            seconds.append(time.perf_counter() - t)
        if i == 0:
            calls = rec.calls
    eur = out["currencies"].get("EUR", {})
    expected_revenue = active * 8000 - 500 * len(range(0, CUSTOMERS, 100))
    ok = (eur.get("customers"), eur.get("orders"), eur.get("revenue")) == (active, 2 * active, expected_revenue)
    figures.append(say(Figure(NAME, "one-year window: the figures", f"customers {eur.get('customers'):,}, orders "
                              f"{eur.get('orders'):,}, revenue {eur.get('revenue'):,}", "exact", verdict(ok))))
    ops = Counter(c["op"] for c in calls)
    rcu = sum(capacity_units(c["consumed"]) or 0.0 for c in calls)
    figures.append(say(Figure(NAME, "one-year window: requests and read capacity",
                              f"{', '.join(f'{op} x{n}' for op, n in ops.most_common())}; {rcu:,.1f} RCU "
                              f"(table {CUSTOMERS + active:,} items, window {2 * active:,})")))
    figures.append(say(Figure(NAME, f"one-year window: p50 / max of {RUNS}",
                              f"{ms(percentile(seconds, 50))} / {ms(max(seconds))}")))
    ctx.drop_table(table_name)
    return figures
