"""Journeys: the birthdays job's read cost and send rate against DynamoDB Local, in-process (services/journeys.py
with the engine's shared client under botocore hooks).

1. The job runs as of a fixed moment on an empty table, then after BENCH_JOURNEYS_PROFILES profiles whose
   birthdays are NOT on the run's day were written with their due-date index items (the consumer's own builder,
   JourneyIndex.items_for; BatchWriteItem, 4 threads). Consumed read capacity of the two runs: <= 1.05x (the run
   reads only the due hour buckets, never the profiles).
2. BENCH_JOURNEYS_DUE profiles whose birthday is the run's day are added; the run sends them through the local
   outbox (.eml files): index items read, sends per second, DynamoDB requests and capacity per sent message.
3. As many again, due the next day, sent through moto's SES (sesv2 SendEmail with raw MIME): sends per second.
"""
from __future__ import annotations

import os
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import yaml

from . import READ_OPS, Context, Figure, RequestRecorder, capacity_units, verdict
from .dynamo import engine_env, reset_engine_state

NAME = "journeys"
PROFILES = int(os.environ.get("BENCH_JOURNEYS_PROFILES", "100000"))
DUE = int(os.environ.get("BENCH_JOURNEYS_DUE", "1000"))
RUN_AT = datetime(2027, 6, 15, 8, 30, tzinfo=UTC)  # 10:30 in Berlin
MAX_READ_RATIO = 1.05


def say(fig: Figure) -> Figure:
    print(fig.line(), file=sys.__stdout__, flush=True)
    return fig


def _config(tmp: str) -> None:
    root = Path(tmp) / "config"
    for d in ("campaigns", "journeys"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "campaigns" / "gift.yaml").write_text(yaml.safe_dump({
        "id": "gift", "name": "Gift", "enabled": True,
        "codes": {"type": "unique", "pattern": "GIFT-####-####", "expires_in_days": 30, "bind_to_customer": True},
        "reward": {"type": "percent_off", "percent": 15}}))
    (root / "journeys" / "bday.yaml").write_text(yaml.safe_dump({
        "id": "bday", "enabled": True, "trigger": {"type": "birthday"}, "offer": {"campaign": "gift"},
        "channels": ["email"], "send_at": "10:00", "timezone": "Europe/Berlin",
        "message": {"subject": "Happy birthday: {discount} off", "text": "Use {code} before {expires_on}."}}))
    (root / "messaging.yaml").write_text(yaml.safe_dump({
        "from_email": "Shop <shop@example.com>", "public_base_url": "https://shop.example",
        "frequency_cap": {"max_messages": 3, "per_days": 7}}))


def _profiles(prefix: str, n: int, birthday: callable) -> list[dict]:
    out = []
    for i in range(n):
        cid = f"{prefix}{i:06d}"
        out.append({"pk": f"CUSTOMER#{cid}", "sk": "PROFILE", "customer_id": cid, "email": f"{cid}@example.com",
                    "timezone": "Europe/Berlin", "birthday": birthday(i).isoformat(), "version": 1,
                    "order_count": 0, "consents": {"email": {"given": True, "at": "2027-01-01T00:00:00Z",
                                                             "source": "bench"}}})
    return out


def _write(table, index, profiles: list[dict], now: datetime) -> float:
    items = []
    for p in profiles:
        items.append(p)
        items.extend(index.items_for(p, now))
    chunks = [items[i:i + 500] for i in range(0, len(items), 500)]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(table.batch_write, chunks))
    return time.perf_counter() - t0


def _cost(calls: list[dict]) -> tuple[float, int, Counter]:
    rcu = sum(capacity_units(c["consumed"]) or 0.0 for c in calls if c["op"] in READ_OPS)
    return rcu, len(calls), Counter(c["op"] for c in calls)


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-journeys")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory() as tmp, engine_env(tmp, table_name, endpoint, "journeys"):
        _config(tmp)
        reset_engine_state()
        from incentives.adapters.config_source import FileConfig
        from incentives.adapters.delivery import OutboxDelivery, SesDelivery
        from incentives.adapters.dynamo import Table, dynamodb_client
        from incentives.services.consumers import Consumer
        from incentives.services.journey_index import JourneyIndex
        from incentives.services.journeys import JourneyRuns

        client = dynamodb_client()
        table = Table(table_name, client)
        config = FileConfig(str(Path(tmp) / "config"), max_age=300)
        index = JourneyIndex(table, config, Consumer("journey_events", table))
        outbox = Path(tmp) / "outbox" / "messages"
        delivery = {"factory": lambda ch, fr: OutboxDelivery(str(outbox), fr)}
        runs = JourneyRuns(table, config, delivery=lambda ch, fr: delivery["factory"](ch, fr))
        before = RUN_AT - timedelta(days=30)

        with RequestRecorder(client) as rec:
            runs.run("birthdays", RUN_AT, lease=False)
        rcu0, n0, _ = _cost(rec.calls)
        # not due: birthdays on every other day of the year (not the run's day, the day before, whose hours the
        # run's window still covers, nor the day after, which part 3 sends)
        other = [d for d in (date(1990, 1, 1) + timedelta(days=k) for k in range(365))
                 if (d.month, d.day) not in ((6, 14), (6, 15), (6, 16))]
        took = _write(table, index, _profiles("n", PROFILES, lambda i: other[i % len(other)]), before)
        print(f"  -- wrote {PROFILES:,} profiles not due (+ index items) in {took:.1f} s", file=sys.__stdout__)
        with RequestRecorder(client) as rec:
            r1 = runs.run("birthdays", RUN_AT, lease=False)
        rcu1, n1, _ = _cost(rec.calls)
        ratio = rcu1 / rcu0 if rcu0 else (1.0 if rcu1 == 0 else float("inf"))
        figures.append(say(Figure(NAME, f"birthdays: read capacity with {PROFILES:,} not due vs none",
                                  f"{rcu1:.1f} vs {rcu0:.1f} RCU ({ratio:.2f}x; {n1} vs {n0} requests, "
                                  f"{r1['index_items_read']} index items read)",
                                  f"<= {MAX_READ_RATIO}x", verdict(ratio <= MAX_READ_RATIO))))

        _write(table, index, _profiles("d", DUE, lambda i: date(1990, 6, 15)), before)
        with RequestRecorder(client) as rec:
            t0 = time.perf_counter()
            r2 = runs.run("birthdays", RUN_AT, lease=False)
            dt = time.perf_counter() - t0
        rcu2, n2, ops = _cost(rec.calls)
        sent = r2["sent"].get("email", 0)
        figures.append(say(Figure(NAME, f"birthdays: {DUE:,} due among {PROFILES + DUE:,} profiles",
                                  f"{r2['index_items_read']} index items read, {sent} sent, {rcu2:.0f} RCU",
                                  f"reads ~{DUE:,} items", verdict(r2["index_items_read"] == DUE and sent == DUE))))
        figures.append(say(Figure(NAME, "sends/s through the local outbox (.eml)", f"{sent / dt:.0f}/s "
                                  f"({sent} in {dt:.1f} s, one process, sequential)", "-", "-")))
        figures.append(say(Figure(NAME, "DynamoDB requests per sent message",
                                  f"{n2 / max(sent, 1):.2f} (" + ", ".join(f"{k} {v}" for k, v in sorted(ops.items()))
                                  + ")", "-", "-")))

        # moto's SES: customers due the next day
        try:
            from moto import mock_aws
        except ImportError:  # moto is a dev dependency
            return figures
        _write(table, index, _profiles("s", DUE, lambda i: date(1990, 6, 16)), before)
        with mock_aws():
            import boto3

            boto3.client("ses", region_name="eu-central-1").verify_email_identity(EmailAddress="shop@example.com")
            ses = boto3.client("sesv2", region_name="eu-central-1")
            delivery["factory"] = lambda ch, fr: SesDelivery(fr, client=ses)
            t0 = time.perf_counter()
            r3 = runs.run("birthdays", RUN_AT + timedelta(days=1), lease=False)
            dt = time.perf_counter() - t0
        sent = r3["sent"].get("email", 0)
        figures.append(say(Figure(NAME, "sends/s through moto's SES (sesv2 raw MIME)",
                                  f"{sent / dt:.0f}/s ({sent} of {DUE} in {dt:.1f} s; failed {r3['failed']})",
                                  "-", "-")))
    ctx.drop_table(table_name)
    return figures
