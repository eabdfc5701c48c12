"""Loyalty: earning (the loyalty consumer's real lambda_handler with EventBridge events), spending (POST
.../rewards through the loyalty function's real lambda_handler) and the points-expiry job's read cost, against
DynamoDB Local, in-process.

1. Earning: order.paid events for MEMBERS existing members (each joined with a customer.created first, not
   measured), round-robin; warm-up + N events under botocore hooks on the engine's shared client (requests,
   ConsumedCapacity), then N more timed without hooks. Duplicates of measured events are delivered too.
2. Spending: every member gets points enough (one operator adjustment, not measured), then rewards of 500 points
   are redeemed round-robin: instrumented pass, then timed pass; with an Idempotency-Key in a third pass.
3. Expiry job: one program, a fresh table. The job runs (as of a fixed moment) on the empty table, then after
   BENCH_LOYALTY_LOTS lots that are not due yet were written (with the engine's own item builder,
   LoyaltyStore.lot_item, in bulk: BatchWriteItem, 4 threads), each under ReturnConsumedCapacity=TOTAL. The
   read capacity of the two runs must be nearly equal: the job reads only due items. Then BENCH_LOYALTY_DUE lots
   that are due are added and the job's cost per expired lot is reported.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml

from . import READ_OPS, Context, Figure, RequestRecorder, capacity_units, ms, percentile, verdict
from .dynamo import LambdaContext, clients, engine_env, load_handler, proxy_event, record, reset_engine_state, shapes

NAME = "loyalty"
CALLS = int(os.environ.get("BENCH_LOYALTY_CALLS", "1000"))
WARMUP = int(os.environ.get("BENCH_LOYALTY_WARMUP", "100"))
MEMBERS = int(os.environ.get("BENCH_LOYALTY_MEMBERS", "200"))
LOTS = int(os.environ.get("BENCH_LOYALTY_LOTS", "100000"))
DUE = int(os.environ.get("BENCH_LOYALTY_DUE", "1000"))
DUPLICATES = max(1, CALLS // 10)
PRICE = 500
PROGRAM = "bench-club"
STOREFRONT_KEY_ID = "key-storefront"
OPERATOR_KEY_ID = "key-operator"
JOB_NOW = datetime(2027, 3, 1, 12, tzinfo=UTC)
MAX_READ_RATIO = 1.1  # the job's RCU with LOTS not-due lots over its RCU with none


def say(fig: Figure) -> Figure:
    """bench.say, to the terminal even while the handlers' stdout (Powertools' EMF lines) goes to /dev/null."""
    print(fig.line(), file=sys.__stdout__, flush=True)
    return fig


def note(text: str) -> None:
    print(text, file=sys.__stdout__, flush=True)


def _config(tmp: str) -> None:
    root = Path(tmp) / "config"
    for d in ("campaigns", "loyalty-programs"):
        (root / d).mkdir(parents=True, exist_ok=True)
    campaign = {"id": "bench-club-5off", "name": "5 off", "enabled": True,
                "codes": {"type": "unique", "pattern": "BCLUB-####-####", "expires_in_days": 180,
                          "bind_to_customer": True},
                "reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}}
    program = {"id": PROGRAM, "name": "Bench club", "timezone": "Europe/Berlin",
               "earning": [{"event": "order.paid", "points_per_unit": 1,
                            "unit_amount": {"amount": 100, "currency": "EUR"}},
                           {"event": "customer.created", "points": 100},
                           {"event": "review.submitted", "points": 50, "max_per_day": 3}],
               "pending_days": 0, "expiry": {"after_days": 365}, "expiry_warning_days": 7,
               "tiers": [{"id": "silver", "min_points": 0},
                         {"id": "gold", "min_points": 10_000_000, "multiplier": 1.5}],
               "rewards": [{"id": "five-off", "points": PRICE, "campaign": "bench-club-5off"}]}
    (root / "campaigns" / "bench-club-5off.yaml").write_text(yaml.safe_dump(campaign))
    (root / "loyalty-programs" / f"{PROGRAM}.yaml").write_text(yaml.safe_dump(program))


def _customer(i: int) -> str:
    return f"member-{i % MEMBERS:04d}"


def _eventbridge(detail: dict) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail["type"],
            "source": "incentives.customers", "account": "000000000000", "region": "eu-central-1",
            "time": detail["occurred_at"], "resources": [], "detail": detail}


def _detail(event_type: str, customer: str, event_id: str, amount: int | None = None) -> dict:
    at = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    d = {"id": event_id, "type": event_type, "customer_id": customer, "occurred_at": at, "received_at": at}
    if amount is not None:
        d.update(order_id=f"ord-{event_id}", order_amount=amount, currency="EUR")
    return d


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _capacity(groups: list[list[dict]]) -> tuple[float, float, set[str]]:
    """RCU and WCU per call as DynamoDB Local reports them, and the operations it reported none for."""
    rcu = wcu = 0.0
    missing: set[str] = set()
    for g in groups:
        for r in g:
            cu = capacity_units(r["consumed"])
            if cu is None:
                missing.add(r["op"])
                continue
            if r["op"] in READ_OPS:
                rcu += cu
            else:
                wcu += cu
    n = max(1, len(groups))
    return rcu / n, wcu / n, missing


def _request_figures(prefix: str, groups: list[list[dict]], expected: str, ok: bool) -> list[Figure]:
    n_req = sum(len(g) for g in groups) / max(1, len(groups))
    rcu, wcu, missing = _capacity(groups)
    tx = [len(r["params"]["TransactItems"]) for g in groups for r in g if r["op"] == "TransactWriteItems"]
    out = [say(Figure(NAME, f"{prefix}: DynamoDB requests/call", f"{n_req:.2f} ({shapes(groups)})", expected,
                      verdict(ok)))]
    if tx:
        out.append(say(Figure(NAME, f"{prefix}: items per transaction", f"{min(tx)}..{max(tx)}")))
    note = f"; none reported for {', '.join(sorted(missing))}" if missing else ""
    out.append(say(Figure(NAME, f"{prefix}: capacity/call (reported by DynamoDB Local)",
                          f"{rcu:.2f} RCU + {wcu:.2f} WCU{note}")))
    return out


def _latency(prefix: str, lat: list[float]) -> Figure:
    return say(Figure(NAME, f"{prefix}: handler p50 / p99", f"{ms(percentile(lat, 50))} / {ms(percentile(lat, 99))}"
                      f" ({len(lat)} calls)"))


def run(ctx: Context) -> list[Figure]:
    figures = _on_fresh_table(ctx, "bench-loyalty", lambda engine_client, table: _earning_and_spending(engine_client))
    figures += _on_fresh_table(ctx, "bench-loyalty-job", _expiry_job)
    return figures


def _on_fresh_table(ctx: Context, name: str, measure) -> list[Figure]:
    """`measure(engine_client, table_name)` against a fresh table with the bench program's config, the engine's
    metrics (EMF on stdout) discarded; the table is dropped afterwards."""
    table_name = ctx.fresh_table(name)
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp, engine_env(tmp, table_name, ctx.ddb(), NAME):
        _config(tmp)
        reset_engine_state()
        engine_client, _, _ = clients(ctx.ddb())
        with open(os.devnull, "w") as emf_sink, contextlib.redirect_stdout(emf_sink):
            figures = measure(engine_client, table_name)
        reset_engine_state()
    ctx.drop_table(table_name)
    return figures


# --- earning and spending ----------------------------------------------------------------------------------

def _earning_and_spending(engine_client) -> list[Figure]:
    figures: list[Figure] = []
    consumer = load_handler("loyalty_events")
    api = load_handler("loyalty")
    lctx, actx = LambdaContext("loyalty-events"), LambdaContext("loyalty")
    run_id = uuid.uuid4().hex[:6]
    bad: Counter = Counter()

    def deliver(detail: dict, want: str) -> None:
        out = consumer(_eventbridge(detail), lctx)
        got = out["programs"][0]["status"] if out["programs"] else "none"
        if got != want:
            bad[f"earn {got}"] += 1

    t0 = time.perf_counter()
    for i in range(MEMBERS):
        deliver(_detail("customer.created", _customer(i), f"{run_id}-join-{i}"), "joined")
    note(f"  {MEMBERS} members joined through the consumer ({time.perf_counter() - t0:.1f} s)")

    n = WARMUP + CALLS
    paid = [_detail("order.paid", _customer(i), f"{run_id}-paid-{i}", 12_345) for i in range(n)]
    note(f"  -- earning: {WARMUP} warm-up + {CALLS} order.paid events over {MEMBERS} members, instrumented pass")
    with RequestRecorder(engine_client) as rec:
        groups = record(rec, [lambda d=d: deliver(d, "earned") for d in paid])
        dups = record(rec, [lambda d=d: deliver(d, "duplicate") for d in paid[WARMUP:WARMUP + DUPLICATES]])
    measured = groups[WARMUP:]
    ops = Counter(tuple(r["op"] for r in g) for g in measured)
    figures += _request_figures("earning (order.paid, existing member)", measured,
                                "1 BatchGetItem + 1 TransactWriteItems",
                                set(ops) == {("BatchGetItem", "TransactWriteItems")})
    figures += _request_figures("earning: duplicate delivery", dups, "1 BatchGetItem (marker found, no write)",
                                set(tuple(r["op"] for r in g) for g in dups) == {("BatchGetItem",)})
    note("  -- earning: timed pass")
    timed = [_detail("order.paid", _customer(i), f"{run_id}-timed-{i}", 12_345) for i in range(n)]
    lat = [_timed(lambda d=d: deliver(d, "earned")) for d in timed][WARMUP:]
    figures.append(_latency("earning", lat))

    # spending: top every member up so each can pay for its share of the redemptions, three passes over them
    spends_each = -(-(3 * n + WARMUP) // MEMBERS) + 1
    for i in range(MEMBERS):
        body = {"points": PRICE * spends_each, "reason": "benchmark top-up"}
        out = api(proxy_event("/v1/loyalty-programs/{program_id}/members/{customer_id}/adjustments", body,
                              OPERATOR_KEY_ID) | _path("adjustments", _customer(i)), actx)
        if out["statusCode"] != 201:
            bad[f"top-up {out['statusCode']}"] += 1

    def redeem(i: int, key: str | None = None) -> None:
        headers = {"Idempotency-Key": key} if key else None
        out = api(proxy_event("/v1/loyalty-programs/{program_id}/members/{customer_id}/rewards",
                              {"reward_id": "five-off"}, STOREFRONT_KEY_ID, headers) | _path("rewards", _customer(i)),
                  actx)
        if out["statusCode"] != 201:
            bad[f"spend {out['statusCode']} {json.loads(out['body'])['error']['code']}"] += 1

    note(f"  -- spending: {WARMUP} warm-up + {CALLS} rewards of {PRICE} points, instrumented pass")
    with RequestRecorder(engine_client) as rec:
        sgroups = record(rec, [lambda i=i: redeem(i) for i in range(n)])
    smeasured = sgroups[WARMUP:]
    sops = set(tuple(r["op"] for r in g) for g in smeasured)
    figures += _request_figures("spending (reward)", smeasured,
                                "GetItem + Query + UpdateItem (code space) + TransactWriteItems",
                                sops == {("GetItem", "Query", "UpdateItem", "TransactWriteItems")})
    # the transaction: debt check, balance, the lots, ledger entry, code, issued count
    lots_per_spend = [len(r["params"]["TransactItems"]) - 5 for g in smeasured for r in g
                      if r["op"] == "TransactWriteItems"]
    figures.append(say(Figure(NAME, "spending: lots drawn per reward",
                              f"{min(lots_per_spend)}..{max(lots_per_spend)}")))
    note("  -- spending: timed pass")
    lat = [_timed(lambda i=i: redeem(i)) for i in range(n)][WARMUP:]
    figures.append(_latency("spending", lat))
    note("  -- spending with Idempotency-Key: timed pass")
    with RequestRecorder(engine_client) as rec:
        kgroups = record(rec, [lambda i=i: redeem(i, f"k-{run_id}-{i}") for i in range(WARMUP)])
    figures.append(say(Figure(NAME, "spending+Idempotency-Key: DynamoDB requests/call",
                              f"{sum(len(g) for g in kgroups) / max(1, len(kgroups)):.2f} ({shapes(kgroups)})")))
    lat = [_timed(lambda i=i: redeem(i, f"k2-{run_id}-{i}")) for i in range(n)][WARMUP:]
    figures.append(_latency("spending+Idempotency-Key", lat))
    if bad:
        figures.append(say(Figure(NAME, "unexpected answers", str(dict(bad)), "none", "MISS")))
    return figures


def _path(suffix: str, customer: str) -> dict:
    resource = f"/v1/loyalty-programs/{{program_id}}/members/{{customer_id}}/{suffix}"
    params = {"program_id": PROGRAM, "customer_id": customer}
    return {"resource": resource, "path": f"/v1/loyalty-programs/{PROGRAM}/members/{customer}/{suffix}",
            "pathParameters": params}


# --- the expiry job ----------------------------------------------------------------------------------------

def _write_lots(table_name: str, count: int, due: bool) -> float:
    """``count`` lots over count/10 members, built by the engine's LoyaltyStore.lot_item (same keys and index
    attributes as an earning writes), each member with its balance item; due lots expired a day before JOB_NOW,
    of the others one in ten waits in the expiry partition (warned, expiring 1-7 days after it), the rest expire
    30-365 days after it and wait for their warning (7 days before)."""
    from incentives.adapters import keys
    from incentives.adapters.dynamo import Table, dynamodb_client
    from incentives.adapters.loyalty_store import LoyaltyStore
    from incentives.domain.clock import iso

    table = Table(table_name, dynamodb_client(max_pool=8))
    now_iso = iso(JOB_NOW)
    items = []
    tag = "due" if due else "later"
    for m in range(max(1, count // 10)):
        member_id = f"mbr_bench_{tag}_{m:06d}"
        pk, sk = keys.loyalty_balance(member_id)
        items.append({"pk": pk, "sk": sk, "member_id": member_id, "program_id": PROGRAM,
                      "customer_id": f"cust-{tag}-{m}", "lots_total": 1000})
    for i in range(count):
        member_id = f"mbr_bench_{tag}_{i % max(1, count // 10):06d}"
        if due:
            expires, warn = JOB_NOW - timedelta(days=1), None
        elif i % 10 == 0:  # warned already: waiting in the expiry partition, due within the week
            expires, warn = JOB_NOW + timedelta(days=1 + i % 7), None
        else:
            expires = JOB_NOW + timedelta(days=30 + i % 335)
            warn = iso(expires - timedelta(days=7))
        items.append(LoyaltyStore.lot_item(PROGRAM, member_id, 100, iso(expires - timedelta(days=365)), iso(expires),
                                           iso(expires - timedelta(days=365)), "order.paid", warn,
                                           now_iso if not due else iso(expires - timedelta(days=365))))
    t = time.perf_counter()
    chunks = [items[i:i + 2500] for i in range(0, len(items), 2500)]
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(table.batch_write, chunks))
    return time.perf_counter() - t


def _run_job(engine_client) -> tuple[dict, list[dict]]:
    """The job's real handler as of JOB_NOW, its requests recorded; each call also gets ``scanned`` (the items its
    Query read, ScannedCount)."""
    handler = load_handler("points_expiry")
    scanned: list[int] = []

    def count(parsed, model, **_):
        if model.name == "Query":
            scanned.append(parsed.get("ScannedCount", 0))

    engine_client.meta.events.register("after-call.dynamodb", count, unique_id="bench-loyalty-scanned")
    try:
        with RequestRecorder(engine_client) as rec:
            result = handler({"now": JOB_NOW.isoformat()}, LambdaContext("points-expiry"))
    finally:
        engine_client.meta.events.unregister("after-call.dynamodb", count, unique_id="bench-loyalty-scanned")
    result["scanned"] = sum(scanned)
    return result, rec.calls


def _job_capacity(calls: list[dict]) -> tuple[float, float, int, int]:
    rcu = sum(capacity_units(c["consumed"]) or 0.0 for c in calls if c["op"] in READ_OPS)
    wcu = sum(capacity_units(c["consumed"]) or 0.0 for c in calls if c["op"] not in READ_OPS)
    queries = sum(1 for c in calls if c["op"] == "Query")
    return rcu, wcu, queries, len(calls)


def _expiry_job(engine_client, table_name: str) -> list[Figure]:
    figures: list[Figure] = []
    note("  -- points-expiry: the job on an empty table")
    r0, calls0 = _run_job(engine_client)
    rcu0, _, q0, n0 = _job_capacity(calls0)
    note(f"  -- points-expiry: writing {LOTS:,} lots that are not due yet")
    took = _write_lots(table_name, LOTS, due=False)
    note(f"     ({took:.1f} s)")
    r1, calls1 = _run_job(engine_client)
    rcu1, _, q1, n1 = _job_capacity(calls1)
    ratio = rcu1 / rcu0 if rcu0 else (1.0 if rcu1 == 0 else float("inf"))
    expired1 = r1["programs"][PROGRAM]["expired_lots"]
    figures.append(say(Figure(NAME, "points-expiry: no lots", f"{rcu0:.2f} RCU reported, {r0['scanned']} items read "
                              f"({n0} requests: {q0} Query)")))
    figures.append(say(Figure(NAME, f"points-expiry: {LOTS:,} lots not due",
                              f"{rcu1:.2f} RCU reported, {r1['scanned']} items read ({n1} requests: {q1} Query); "
                              f"{expired1} expired, {r1['programs'][PROGRAM]['warned']} warned")))
    figures.append(say(Figure(NAME, f"points-expiry: read cost with {LOTS:,} not due vs none",
                              f"{ratio:.2f}x RCU; items read {r1['scanned']} vs {r0['scanned']}",
                              f"<= {MAX_READ_RATIO}x, same items (reads only due items)",
                              verdict(ratio <= MAX_READ_RATIO and r1["scanned"] == r0["scanned"] and expired1 == 0))))
    if DUE:
        note(f"  -- points-expiry: adding {DUE:,} due lots")
        _write_lots(table_name, DUE, due=True)
        t = time.perf_counter()
        r2, calls2 = _run_job(engine_client)
        took = time.perf_counter() - t
        rcu2, wcu2, _, n2 = _job_capacity(calls2)
        done = r2["programs"][PROGRAM]["expired_lots"]
        figures.append(say(Figure(NAME, f"points-expiry: {DUE:,} due lots among {LOTS:,}",
                                  f"{done:,} expired in {took:.1f} s; {r2['scanned']} items read; "
                                  f"{rcu2:.2f} RCU + {wcu2:.2f} WCU "
                                  f"({(rcu2 - rcu0) / max(1, done):.3f} RCU and {wcu2 / max(1, done):.2f} WCU per lot; "
                                  f"{n2} requests: {_ops(calls2)})",
                                  f"{DUE:,} expired", verdict(done == DUE))))
        r3, calls3 = _run_job(engine_client)
        rcu3, _, _, n3 = _job_capacity(calls3)
        figures.append(say(Figure(NAME, "points-expiry: the next run", f"{rcu3:.2f} RCU ({n3} requests), "
                                  f"{r3['programs'][PROGRAM]['expired_lots']} expired", "0 expired",
                                  verdict(r3["programs"][PROGRAM]["expired_lots"] == 0))))
    return figures


def _ops(calls: list[dict]) -> str:
    return ", ".join(f"{op} x{n}" for op, n in Counter(c["op"] for c in calls).most_common())
