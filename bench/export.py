"""Code export: codes per second through GET /v1/campaigns/{id}/codes's service (services/code_export.py), page by
page with the largest page (1,000), as JSON and as CSV, next to bare Queries of the same index pages.

A bulk job (Issuance.run_here, as the bulk benchmark) first fills a fresh table with BENCH_EXPORT_CODES codes
(default 100,000) of one campaign. Then, on that table:
- engine, JSON: CodeExport.page(limit=1000) following next_cursor to the end, each page rendered with json.dumps
  (what the handler sends); every code must come back exactly once;
- engine, CSV: the same with ExportPage.csv();
- bare: botocore Query of gsi2 shard by shard, Limit 1000, no cursor signing, no rendering (the floor: what
  DynamoDB Local itself costs).
The engine's client is hooked (RequestRecorder) to count requests and read capacity of the JSON pass.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from . import Context, Figure, RequestRecorder, bare_client, capacity_units, ms, percentile, say, verdict

NAME = "export"
COUNT = int(os.environ.get("BENCH_EXPORT_CODES", "100000"))
PAGE = 1000
CAMPAIGN_ID = "bench-export"
CAMPAIGN = {"id": CAMPAIGN_ID, "name": "Benchmark export", "enabled": True,
            "codes": {"type": "unique", "pattern": "EXPO-####-####", "expires_in_days": 90},
            "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}},
            "limits": {"per_code": 1}}
API_GATEWAY_TIMEOUT_S = 29.0
WRITE_ITEMS = int(os.environ.get("BENCH_EXPORT_WRITE_ITEMS", "20000"))
WRITE_THREADS = 4  # as one bulk worker


def _config(tmp: str):
    import yaml

    from incentives.adapters.config_source import FileConfig

    d = Path(tmp) / "config"
    (d / "campaigns").mkdir(parents=True, exist_ok=True)
    (d / "campaigns" / f"{CAMPAIGN_ID}.yaml").write_text(yaml.safe_dump(CAMPAIGN), encoding="utf-8")
    return FileConfig(str(d), max_age=30)


def _fill(table, config) -> float:
    from incentives.services.issuance import Issuance

    issuance = Issuance(table, config)
    now = datetime.now(UTC)
    job = issuance.issue(CAMPAIGN_ID, COUNT, None, None, now).job
    if job is None:
        raise RuntimeError(f"{COUNT} codes were issued at once, expected a bulk job")
    t = time.perf_counter()
    issuance.run_here(job["job_id"], now)
    return time.perf_counter() - t


def _engine_pass(exporter, render) -> dict:
    codes: list[str] = []
    page_s: list[float] = []
    cursor = None
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    while True:
        t = time.perf_counter()
        page = exporter.page(CAMPAIGN_ID, PAGE, cursor, None, now)
        render(page)
        page_s.append(time.perf_counter() - t)
        codes.extend(c["code"] for c in page.codes)
        cursor = page.next_cursor
        if cursor is None:
            break
    return {"seconds": time.perf_counter() - t0, "codes": codes, "pages": page_s}


def _bare_pass(endpoint: str, table: str) -> dict:
    from incentives.adapters import keys

    client = bare_client(endpoint)
    n = 0
    t0 = time.perf_counter()
    for shard in range(keys.CODE_SHARDS):
        kwargs = {"TableName": table, "IndexName": "gsi2", "Limit": PAGE, "KeyConditionExpression": "gsi2pk = :p",
                  "ExpressionAttributeValues": {":p": {"S": keys.campaign_codes_gsi(CAMPAIGN_ID, shard)}}}
        while True:
            r = client.query(**kwargs)
            n += len(r["Items"])
            if "LastEvaluatedKey" not in r:
                break
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]
    return {"seconds": time.perf_counter() - t0, "count": n}


def _write_pass(ctx: Context, endpoint: str, with_gsi2: bool) -> float:
    """Bare BatchWriteItem of WRITE_ITEMS code items (25 per request, 4 threads) on a fresh table, with or without
    the gsi2 keys: what filing every code in gsi2 costs the bulk writes on DynamoDB Local."""
    import secrets
    from concurrent.futures import ThreadPoolExecutor

    from incentives.adapters.code_store import code_item
    from incentives.adapters.dynamo import to_item
    from incentives.domain.codespace import CodeSpace

    table = ctx.fresh_table("bench-export-write")
    client = bare_client(endpoint)
    space = CodeSpace(CAMPAIGN["codes"]["pattern"], "23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    items = []
    for code in space.codes(secrets.token_bytes(16), 0, WRITE_ITEMS):
        item = code_item(code, CAMPAIGN_ID, "2026-12-01T00:00:00Z", "2027-03-01T00:00:00Z", job_id="job_bench")
        if not with_gsi2:
            item.pop("gsi2pk"), item.pop("gsi2sk")
        items.append({"PutRequest": {"Item": to_item(item)}})
    batches = [{table: items[i:i + 25]} for i in range(0, len(items), 25)]

    def write(request: dict) -> None:
        while request:
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=WRITE_THREADS) as pool:
        list(pool.map(write, batches))
    seconds = time.perf_counter() - t
    ctx.drop_table(table)
    return WRITE_ITEMS / seconds


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    from incentives.adapters.dynamo import Table, dynamodb_client
    from incentives.services.code_export import CodeExport

    figures: list[Figure] = []
    client = dynamodb_client(endpoint)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        config = _config(tmp)
        table_name = ctx.fresh_table("bench-export")
        table = Table(table_name, client)
        print(f"  filling: a bulk job of {COUNT:,} codes ...", flush=True)
        fill_s = _fill(table, config)
        figures.append(say(Figure(NAME, "fill (bulk job, gsi2 written with every code)",
                                  f"{COUNT:,} codes in {fill_s:.1f} s ({COUNT / fill_s:,.0f} codes/s)")))
        exporter = CodeExport(table, config)
        exporter.store.signing_key()  # made once per table; not part of the timed passes

        # Three passes over the same table, twice in alternating order (DynamoDB Local warms up; other load).
        rates: dict[str, list[float]] = {"json": [], "csv": [], "bare": []}
        for rnd, order in ((1, ("json", "csv", "bare")), (2, ("bare", "csv", "json"))):
            for which in order:
                print(f"  round {rnd}: {which} ...", flush=True)
                if which == "bare":
                    bare = _bare_pass(endpoint, table_name)
                    rates["bare"].append(bare["count"] / bare["seconds"])
                    if bare["count"] != COUNT:
                        figures.append(say(Figure(NAME, f"round {rnd}: bare pass", f"{bare['count']:,} items",
                                                  f"{COUNT:,}", "MISS")))
                    continue
                if which == "json":
                    with RequestRecorder(client, capture_params=False, consumed=True) as rec:
                        r = _engine_pass(exporter, lambda p: json.dumps(p.body, separators=(",", ":")))
                    if rnd == 1:
                        js, calls = r, rec.calls
                else:
                    r = _engine_pass(exporter, lambda p: p.csv())
                ok = len(r["codes"]) == len(set(r["codes"])) == COUNT
                rates[which].append(COUNT / r["seconds"])
                figures.append(say(Figure(NAME, f"round {rnd}: engine, {which.upper()}, limit {PAGE}",
                                          f"{COUNT / r['seconds']:,.0f} codes/s ({len(set(r['codes'])):,} distinct "
                                          f"of {len(r['codes']):,}, {r['seconds']:.1f} s, {len(r['pages'])} pages)",
                                          "every code exactly once", verdict(ok))))
        ops = Counter(c["op"] for c in calls)
        rcu = sum(capacity_units(c["consumed"]) or 0.0 for c in calls)
        figures.append(say(Figure(NAME, "engine, JSON: requests and read capacity",
                                  f"{', '.join(f'{op} x{n}' for op, n in ops.most_common())}; {rcu:,.1f} RCU "
                                  f"({rcu / COUNT * 1000:.2f} RCU per 1,000 codes)")))
        p50, p99 = percentile(js["pages"], 50), percentile(js["pages"], 99)
        figures.append(say(Figure(NAME, f"engine, JSON: one {PAGE}-code page p50 / p99 (round 1)",
                                  f"{ms(p50)} / {ms(p99)}", f"< {API_GATEWAY_TIMEOUT_S:.0f} s (API Gateway)",
                                  verdict(p99 < API_GATEWAY_TIMEOUT_S))))
        best = {k: max(v) for k, v in rates.items()}
        figures.append(say(Figure(NAME, "codes/s, best of 2: JSON / CSV / bare Query",
                                  f"{best['json']:,.0f} / {best['csv']:,.0f} / {best['bare']:,.0f} (engine JSON at "
                                  f"{best['json'] / best['bare']:.2f}x, CSV at {best['csv'] / best['bare']:.2f}x "
                                  f"of bare)")))
        ctx.drop_table(table_name)

    # What gsi2 costs the writes: the same code items with and without its keys, twice in alternating order.
    write_rates: dict[bool, list[float]] = {True: [], False: []}
    for order in ((True, False), (False, True)):
        for with_gsi2 in order:
            print(f"  bare write of {WRITE_ITEMS:,} code items, gsi2 keys: {with_gsi2} ...", flush=True)
            write_rates[with_gsi2].append(_write_pass(ctx, endpoint, with_gsi2))
    w_with, w_without = max(write_rates[True]), max(write_rates[False])
    figures.append(say(Figure(NAME, f"bare BatchWriteItem of {WRITE_ITEMS:,} code items, with / without gsi2 keys",
                              f"{w_with:,.0f} / {w_without:,.0f} items/s, best of 2 ({w_with / w_without:.2f}x); "
                              f"all: {[round(r) for r in write_rates[True]]} / "
                              f"{[round(r) for r in write_rates[False]]}")))
    return figures
