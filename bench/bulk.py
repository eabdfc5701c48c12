"""Bulk issuance at a million codes: a bulk job (Issuance.issue with count > SYNC_MAX) written by parallel workers
(Issuance.run_here: plan_bulk's slices, WORKERS at once, each writing THREADS chunks at once: what the worker
queue does, SQS deployed, a thread pool locally) next to bare BatchWriteItem of the same number of equally shaped
code items from as many threads; then the whole-campaign export of the job's table to a CSV file
(services/export_jobs.py, the code-export job's service).

A small probe job first (hooks on the engine's client) shows which requests the engine sends and the exact item
it writes per code; the bare baseline copies that item (only the code differs) and writes 25 items per
BatchWriteItem. Codes are generated before the bare run starts (it measures writing only); the engine's time is
the whole run's, generation, chunk claims and bookkeeping included. Every run gets a fresh table of the same
DynamoDB Local; with BENCH_BULK_ROUNDS=2 (the default) the pair runs twice in alternating order (DynamoDB Local
warms up). Sizes: BENCH_BULK_CODES (1,000,000), BENCH_BULK_WORKERS (4).
"""
from __future__ import annotations

import os
import random
import secrets
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

from . import Context, Figure, RequestRecorder, bare_client, say, verdict

NAME = "bulk"
COUNT = int(os.environ.get("BENCH_BULK_CODES", "1000000"))
ROUNDS = int(os.environ.get("BENCH_BULK_ROUNDS", "2"))
WORKERS = int(os.environ.get("BENCH_BULK_WORKERS", "4"))
MIN_RATIO = 0.8
CAMPAIGN_ID = "bench-bulk"
CAMPAIGN = {"id": CAMPAIGN_ID, "name": "Benchmark bulk", "enabled": True,
            "codes": {"type": "unique", "pattern": "BULK-#####-####", "expires_in_days": 90},
            "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}},
            "limits": {"per_code": 1}}


def _config(tmp: str):
    import yaml

    from incentives.adapters.config_source import FileConfig

    d = Path(tmp) / "config"
    (d / "campaigns").mkdir(parents=True, exist_ok=True)
    (d / "campaigns" / f"{CAMPAIGN_ID}.yaml").write_text(yaml.safe_dump(CAMPAIGN), encoding="utf-8")
    return FileConfig(str(d), max_age=30)


def _run_engine(ctx: Context, config, count: int, client, recorder: bool = False) -> dict:
    """One bulk job on a fresh table: issue() makes the job, run_here() plans it and runs its slices with
    WORKERS parallel workers."""
    from incentives.adapters.dynamo import Table
    from incentives.services.issuance import Issuance

    table_name = ctx.fresh_table("bench-bulk-engine")
    issuer = Issuance(Table(table_name, client), config)
    now = datetime.now(UTC)
    out = issuer.issue(CAMPAIGN_ID, count, None, None, now)
    if out.job is None:
        raise RuntimeError(f"Issuance.issue({count}) answered codes, expected a bulk job: {str(out.body)[:300]}")
    job_id = out.job["job_id"]
    rec = RequestRecorder(client, capture_params=True, consumed=False) if recorder else None
    if rec:
        rec.__enter__()
    try:
        t = time.perf_counter()
        job = issuer.run_here(job_id, now, workers=WORKERS)
        seconds = time.perf_counter() - t
    finally:
        if rec:
            rec.__exit__(None, None, None)
    return {"table": table_name, "seconds": seconds, "job": job, "calls": rec.calls if rec else None}


def _run_export(table_name: str, client, config) -> dict:
    """The whole-campaign export of the job's table to a CSV file in a temporary folder (what the code-export job
    runs; the local run keeps the file, deployed it goes to S3)."""
    from incentives.adapters.dynamo import Table
    from incentives.adapters.export_files import LocalExportFiles
    from incentives.services.export_jobs import ExportJobs

    with tempfile.TemporaryDirectory(prefix="bench-bulk-export-") as out_dir:
        exports = ExportJobs(Table(table_name, client), config, LocalExportFiles(out_dir))
        now = datetime.now(UTC)
        export_id = exports.create(CAMPAIGN_ID, now)["export_id"]
        t = time.perf_counter()
        answer = exports.run(export_id, now)
        seconds = time.perf_counter() - t
        with open(answer["path"], encoding="utf-8") as f:
            next(f)  # the header
            codes = [line.split(",", 1)[0] for line in f]
        size = os.path.getsize(answer["path"])
    return {"seconds": seconds, "rows": answer["done"], "distinct": len(set(codes)), "lines": len(codes),
            "bytes": size}


def _code_items_in(client, table: str) -> int:
    kwargs = {"TableName": table, "Select": "COUNT", "FilterExpression": "begins_with(pk, :c)", "Limit": 20000,
              "ExpressionAttributeValues": {":c": {"S": "CODE#"}}}
    n = 0
    while True:
        r = client.scan(**kwargs)
        n += r["Count"]
        if "LastEvaluatedKey" not in r:
            return n
        kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def _sample_item(calls: list[dict]) -> dict:
    """The first code item (pk CODE#...) the engine wrote, as sent on the wire (attribute-value form)."""
    for c in calls:
        p = c["params"]
        if c["op"] == "BatchWriteItem":
            candidates = [r["PutRequest"]["Item"] for reqs in p["RequestItems"].values() for r in reqs
                          if "PutRequest" in r]
        elif c["op"] == "TransactWriteItems":
            candidates = [a["Put"]["Item"] for a in p["TransactItems"] if "Put" in a]
        elif c["op"] == "PutItem":
            candidates = [p["Item"]]
        else:
            continue
        for item in candidates:
            if item.get("pk", {}).get("S", "").startswith("CODE#"):
                return item
    raise RuntimeError(f"the probe job wrote no code item; requests: {Counter(c['op'] for c in calls)}")


def _run_bare(ctx: Context, endpoint: str, template: dict, codes: list[str], threads: int) -> dict:
    table_name = ctx.fresh_table("bench-bulk-bare")
    client = bare_client(endpoint, max_pool=max(32, threads * 2))
    sample = template["code"]["S"]

    def item(code: str) -> dict:
        return {k: ({"S": v["S"].replace(sample, code)} if "S" in v and sample in v["S"] else v)
                for k, v in template.items()}

    def write(first: int) -> int:
        # the request is built here, 25 items at a time: a million prebuilt items would not fit the heap well
        request = {table_name: [{"PutRequest": {"Item": item(c)}} for c in codes[first:first + 25]]}
        calls = 0
        for attempt in range(10):
            calls += 1
            request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return calls
            time.sleep(min(0.5, 0.01 * 2**attempt) * random.random())  # backoff jitter  # nosec B311
        raise RuntimeError("BatchWriteItem kept returning unprocessed items")

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        calls = sum(pool.map(write, range(0, len(codes), 25)))
    seconds = time.perf_counter() - t
    return {"table": table_name, "seconds": seconds, "requests": calls}


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    from incentives.adapters.dynamo import dynamodb_client
    from incentives.domain.codespace import CodeSpace
    from incentives.services import issuance

    threads = WORKERS * issuance.THREADS  # the chunks being written at once
    print(f"  {COUNT:,} codes; {WORKERS} workers x {issuance.THREADS} threads; CHUNK={issuance.CHUNK}, "
          f"SLICE_CHUNKS={issuance.SLICE_CHUNKS}; {ROUNDS} round(s)", flush=True)
    figures: list[Figure] = []
    client = dynamodb_client(endpoint, max_pool=max(32, threads * 2))  # the engine's client for this endpoint
    with tempfile.TemporaryDirectory(prefix="bench-bulk-") as tmp:
        config = _config(tmp)

        # Probe: which requests, which item, how many per code.
        probe_count = 2 * issuance.CHUNK + 7
        probe = _run_engine(ctx, config, probe_count, client, recorder=True)
        ctx.drop_table(probe["table"])
        ops = Counter(c["op"] for c in probe["calls"])
        template = _sample_item(probe["calls"])
        per_request = [len(r) for c in probe["calls"] if c["op"] == "BatchWriteItem"
                       for r in c["params"]["RequestItems"].values()]
        tx_items = [len(c["params"]["TransactItems"]) for c in probe["calls"] if c["op"] == "TransactWriteItems"]
        shape = ", ".join(f"{op} x{n}" for op, n in ops.most_common())
        detail = []
        if per_request:
            detail.append(f"BatchWriteItem {min(per_request)}..{max(per_request)} items")
        if tx_items:
            detail.append(f"transactions of {min(tx_items)}..{max(tx_items)} items")
        figures.append(say(Figure(NAME, f"engine requests for a {probe_count}-code job",
                                  f"{shape} ({'; '.join(detail)}); {sum(ops.values()) / probe_count * 1000:.1f} "
                                  f"requests per 1,000 codes")))
        print(f"  code item as the engine writes it: {sorted(template)}", flush=True)

        space = CodeSpace(CAMPAIGN["codes"]["pattern"], "23456789ABCDEFGHJKMNPQRSTUVWXYZ")
        bare_codes = space.codes(secrets.token_bytes(16), 0, COUNT)
        check = bare_client(endpoint, read_timeout=600)  # counting a million items with Scan is slow on Local
        orders = [("engine", "bare"), ("bare", "engine")][:max(1, ROUNDS)]
        for rnd, order in enumerate(orders, start=1):
            rates = {}
            for which in order:
                print(f"  round {rnd}: {which}, {COUNT:,} codes ...", flush=True)
                if which == "engine":
                    r = _run_engine(ctx, config, COUNT, client)
                    job = r["job"]
                    written = _code_items_in(check, r["table"])
                    note = f"job {job['status']}, done {job['done']:,}/{job['total']:,}, {written:,} code items"
                    if job["status"] != "succeeded" or written != COUNT:
                        figures.append(say(Figure(NAME, f"round {rnd}: engine job incomplete", note, "all written",
                                                  "MISS")))
                    if rnd == 1:
                        print("  export of the job's table to a CSV file ...", flush=True)
                        ex = _run_export(r["table"], client, config)
                        ok = ex["rows"] == ex["lines"] == ex["distinct"] == COUNT
                        figures.append(say(Figure(
                            NAME, f"export of {COUNT:,} codes to a CSV file (4 shard readers)",
                            f"{ex['rows'] / ex['seconds']:,.0f} codes/s ({ex['seconds']:.1f} s; {ex['distinct']:,} "
                            f"distinct of {ex['lines']:,} rows; {ex['bytes'] / 1e6:.1f} MB)",
                            "every code exactly once", verdict(ok))))
                else:
                    r = _run_bare(ctx, endpoint, template, bare_codes, threads)
                    written = _code_items_in(check, r["table"])
                    note = f"{r['requests']:,} requests, {written:,} code items"
                ctx.drop_table(r["table"])
                rates[which] = COUNT / r["seconds"]
                who = f"{WORKERS} workers x {issuance.THREADS} threads" if which == "engine" else f"{threads} threads"
                figures.append(say(Figure(NAME, f"round {rnd}: {which} ({who})",
                                          f"{rates[which]:,.0f} codes/s ({r['seconds']:.1f} s; {note})")))
            ratio = rates["engine"] / rates["bare"]
            figures.append(say(Figure(NAME, f"round {rnd} ({' then '.join(order)}): engine / bare BatchWriteItem",
                                      f"{ratio:.2f}x", f">= {MIN_RATIO}x", verdict(ratio >= MIN_RATIO))))
    return figures
