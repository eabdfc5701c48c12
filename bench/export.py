"""Code export: codes per second through GET /v1/campaigns/{id}/codes's service (services/code_export.py), page by
page with the largest page (1,000), as JSON and as CSV, next to bare Queries of the same index pages.

A bulk job (Issuance.run_bulk, as the bulk benchmark) first fills a fresh table with BENCH_EXPORT_CODES codes
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
    nxt = issuance.run_bulk(job["job_id"], 0, now, 3600.0)
    while nxt is not None:
        nxt = issuance.run_bulk(job["job_id"], nxt, now, 3600.0)
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

        with RequestRecorder(client, capture_params=False, consumed=True) as rec:
            js = _engine_pass(exporter, lambda p: json.dumps(p.body, separators=(",", ":")))
        ok = len(js["codes"]) == len(set(js["codes"])) == COUNT
        ops = Counter(c["op"] for c in rec.calls)
        rcu = sum(capacity_units(c["consumed"]) or 0.0 for c in rec.calls)
        figures.append(say(Figure(NAME, f"engine, JSON, limit {PAGE}: codes/s",
                                  f"{COUNT / js['seconds']:,.0f} codes/s ({len(js['codes']):,} codes, "
                                  f"{len(set(js['codes'])):,} distinct, {js['seconds']:.1f} s, "
                                  f"{len(js['pages'])} pages)", "every code exactly once", verdict(ok))))
        figures.append(say(Figure(NAME, "engine, JSON: requests and read capacity",
                                  f"{', '.join(f'{op} x{n}' for op, n in ops.most_common())}; {rcu:,.1f} RCU "
                                  f"({rcu / COUNT * 1000:.2f} RCU per 1,000 codes)")))
        p50, p99 = percentile(js["pages"], 50), percentile(js["pages"], 99)
        figures.append(say(Figure(NAME, f"engine, JSON: one {PAGE}-code page p50 / p99",
                                  f"{ms(p50)} / {ms(p99)}", f"< {API_GATEWAY_TIMEOUT_S:.0f} s (API Gateway)",
                                  verdict(p99 < API_GATEWAY_TIMEOUT_S))))

        cs = _engine_pass(exporter, lambda p: p.csv())
        figures.append(say(Figure(NAME, f"engine, CSV, limit {PAGE}: codes/s",
                                  f"{COUNT / cs['seconds']:,.0f} codes/s ({len(cs['codes']):,} codes, "
                                  f"{cs['seconds']:.1f} s)", "the JSON pass's codes",
                                  verdict(sorted(cs["codes"]) == sorted(js["codes"])))))

        bare = _bare_pass(endpoint, table_name)
        figures.append(say(Figure(NAME, f"bare Query of gsi2, Limit {PAGE}: codes/s",
                                  f"{bare['count'] / bare['seconds']:,.0f} codes/s ({bare['count']:,} items, "
                                  f"{bare['seconds']:.1f} s); engine JSON at "
                                  f"{bare['seconds'] / js['seconds']:.2f}x of it")))
        ctx.drop_table(table_name)
    return figures
