"""Hot codes: redemptions per second of ONE public code over BENCH_HOTCODE_THREADS threads (default 64), with
limits.counter_shards K = 1 and K = 8, against DynamoDB Local, through the engine's checkout service (services/
checkout.py, the code the storefront handler calls) on the engine's shared client.

Per K: BENCH_HOTCODE_CALLS redemptions (default 1000; distinct customers, per_customer 1, per_code and
total_redemptions far above the count so every condition is evaluated and none binds), after a warm-up. Figures:
redemptions per second (wall clock), p50 / p99 latency, and the DynamoDB requests per redemption by operation,
counted with botocore hooks (a TransactionConflict the engine retries counts as a request of its own). Then an
exhaustion round: BENCH_HOTCODE_CAP_ATTEMPTS attempts (default 2000) on a cap of 500: successes, and refusals
while room was left (a later-started redemption still succeeded), which must be 0.

DynamoDB Local has no partitions and no per-partition write limit: what it shows is the engine's own cost and how
the hot item's contention (conflicting transactions) changes with K. What K buys on AWS, where one item takes
~1,000 WCU/s, is docs/throughput.md's model, checked by tools/hotcode_sim.py.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from . import Context, Figure, RequestRecorder, ms, percentile, say, verdict

NAME = "hotcode"
THREADS = int(os.environ.get("BENCH_HOTCODE_THREADS", "64"))
CALLS = int(os.environ.get("BENCH_HOTCODE_CALLS", "1000"))
WARMUP = 200
CAP_ATTEMPTS = int(os.environ.get("BENCH_HOTCODE_CAP_ATTEMPTS", "2000"))
SHARDS = (1, 8)


def _campaign(cid: str, code: str, k: int, cap: int) -> dict:
    return {"id": cid, "name": cid, "enabled": True, "codes": {"type": "public", "code": code},
            "reward": {"type": "amount_off", "amount": {"amount": 700, "currency": "EUR"}},
            "limits": {"per_code": cap, "total_redemptions": cap, "per_customer": 1, "counter_shards": k}}


def _checkout(tmp: Path, table, campaigns: list[dict]):
    import yaml

    from incentives.adapters.checkout_store import CheckoutStore
    from incentives.adapters.config_source import FileConfig
    from incentives.services.checkout import Checkout

    d = tmp / "config" / "campaigns"
    d.mkdir(parents=True, exist_ok=True)
    for c in campaigns:
        (d / f"{c['id']}.yaml").write_text(yaml.safe_dump(c), encoding="utf-8")
    return Checkout(CheckoutStore(table), FileConfig(str(tmp / "config"), max_age=3600))


def _redeem(checkout, code: str, i: int, tag: str) -> tuple[str, float, float]:
    from botocore.exceptions import ClientError

    from incentives.domain import errors
    from incentives.domain.orders import Customer, Order
    from incentives.services.checkout import CheckoutRequest

    r = CheckoutRequest(code, Customer(f"{tag}-{i}"), Order("EUR", 5_000, id=f"{tag}-o{i}"))
    start = time.monotonic()
    try:
        checkout.redeem(r, datetime.now(UTC))
        outcome = "ok"
    except errors.IncentiveError as e:
        outcome = e.code
    except ClientError as e:  # DynamoDB Local's own lock timeout on a hot item (InternalServerError)
        outcome = e.response.get("Error", {}).get("Code", "ClientError")
    return outcome, start, time.monotonic()


def _round(checkout, code: str, ids: range, tag: str) -> tuple[list[tuple[str, float, float]], float]:
    t = time.perf_counter()
    with ThreadPoolExecutor(THREADS) as pool:
        out = list(pool.map(lambda i: _redeem(checkout, code, i, tag), ids))
    return out, time.perf_counter() - t


def _ceiling(ctx: Context, n: int = 400) -> str:
    """Bare botocore transactions (an ADD on a counter item + a put) from THREADS threads, no engine code: on one
    item, over 8 items and on distinct items. What DynamoDB Local itself allows on this machine."""
    import uuid

    from . import bare_client

    name = ctx.fresh_table("bench-hotceil")
    client = bare_client(ctx.ddb(), max_pool=THREADS, read_timeout=120)

    def tx(pk: str) -> None:
        client.transact_write_items(TransactItems=[
            {"Update": {"TableName": name, "Key": {"pk": {"S": pk}, "sk": {"S": "COUNTERS"}},
                        "UpdateExpression": "ADD n :one", "ExpressionAttributeValues": {":one": {"N": "1"}}}},
            {"Put": {"TableName": name, "Item": {"pk": {"S": uuid.uuid4().hex}, "sk": {"S": "R"}}}}])

    out = []
    for label, key in (("one item", lambda i: "HOT"), ("8 items", lambda i: f"S{i % 8}"),
                       ("distinct items", lambda i: f"D{i}")):
        t = time.perf_counter()
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(tx, [key(i) for i in range(n)]))
        out.append(f"{label} {n / (time.perf_counter() - t):,.0f}/s")
    ctx.drop_table(name)
    return ", ".join(out)


def run(ctx: Context) -> list[Figure]:
    from incentives.adapters.dynamo import Table, dynamodb_client

    endpoint = ctx.ddb()
    client = dynamodb_client(endpoint, max_pool=THREADS)
    figures: list[Figure] = []
    rates: dict[int, float] = {}
    print(f"  one public code, {THREADS} threads, {CALLS} redemptions per K (after {WARMUP} warm-up)", flush=True)
    for k in SHARDS:
        name = ctx.fresh_table(f"bench-hot{k}")
        table = Table(name, client)
        with tempfile.TemporaryDirectory() as tmp:
            checkout = _checkout(Path(tmp), table, [_campaign(f"hot{k}", f"HOT{k}", k, 10_000_000),
                                                    _campaign(f"cap{k}", f"CAP{k}", k, 500)])
            _round(checkout, f"HOT{k}", range(WARMUP), "warm")
            with RequestRecorder(client, capture_params=False, consumed=False) as rec:
                results, wall = _round(checkout, f"HOT{k}", range(CALLS), "run")
            ok = sum(1 for o, _, _ in results if o == "ok")
            lat = [e - s for o, s, e in results if o == "ok"]
            ops = Counter(c["op"] for c in rec.calls)
            conflicts = sum(1 for c in rec.calls if c.get("error") == "TransactionCanceledException")
            rates[k] = ok / wall
            per = ", ".join(f"{op} {n / max(ok, 1):.2f}" for op, n in sorted(ops.items()))
            failed = dict(Counter(o for o, _, _ in results if o != "ok"))
            figures += [
                say(Figure(NAME, f"K={k}: redemptions per second ({THREADS} threads)", f"{ok / wall:,.0f}/s "
                           f"({ok} of {CALLS} in {wall:.1f} s; failed {failed})")),
                say(Figure(NAME, f"K={k}: latency p50 / p99",
                           f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}")),
                say(Figure(NAME, f"K={k}: DynamoDB requests per redemption",
                           f"{len(rec.calls) / max(ok, 1):.2f} ({per}; cancelled transactions "
                           f"{conflicts / max(ok, 1):.2f})")),
            ]
            # exhaustion: a cap of 500, CAP_ATTEMPTS attempts at once
            results, wall = _round(checkout, f"CAP{k}", range(CAP_ATTEMPTS), "cap")
            ok = sum(1 for o, _, _ in results if o == "ok")
            last_ok_start = max((s for o, s, _ in results if o == "ok"), default=0.0)
            early = sum(1 for o, _, e in results if o != "ok" and last_ok_start > e)
            refusals = Counter(o for o, _, _ in results if o != "ok")
            figures.append(say(Figure(NAME, f"K={k}: {CAP_ATTEMPTS} attempts on a cap of 500",
                                      f"{ok} succeeded, refused while room was left {early} "
                                      f"({early / CAP_ATTEMPTS:.2%}); {dict(refusals)}; {wall:.1f} s",
                                      "500, <= 0.1 % early", verdict(ok == 500 and early <= CAP_ATTEMPTS / 1000))))
        ctx.drop_table(name)
    figures.append(say(Figure(NAME, "K=8 / K=1 redemptions per second (DynamoDB Local)",
                              f"{rates[8] / rates[1]:.2f}x")))
    figures.append(say(Figure(NAME, "DynamoDB Local's own ceiling (bare 2-item transactions)", _ceiling(ctx))))
    return figures
