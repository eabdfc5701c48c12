"""Event ingestion: POST /v1/events (order.paid) through the events function's real lambda_handler, in-process,
with API Gateway REST proxy events, against DynamoDB Local.

The events go to a fixed set of customers whose profiles exist before the run (one customer.created each), so
every measured event reads a profile and replaces it (version condition) while recording the event item.
1. An instrumented pass (warm-up + N events) with botocore hooks on the engine's shared client: the DynamoDB
   requests each event makes, their ConsumedCapacity (ReturnConsumedCapacity=TOTAL added by the hook), and a
   copy of every request's parameters. Then D duplicate deliveries (event ids of that pass again), recorded
   the same way.
2. A timed pass without hooks: N more events (fresh ids, the same customers), each paired with the floor: the
   requests the instrumented pass recorded for event i, replayed with a bare botocore client against a copy of
   the table as it was before the instrumented pass (replayed in the same order, so every version condition
   succeeds as it did). Then D duplicates of the timed pass's events, each paired with the replay of a recorded
   duplicate (its transaction is cancelled on the floor as it was for the engine). Handler and floor alternate.
The engine's overhead is handler_p50 / floor_p50.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import READ_OPS, Context, Figure, RequestRecorder, capacity_units, say, verdict
from .checkout import MAX_OVERHEAD
from .dynamo import (Capacity, LambdaContext, alternate, clients, copy_table, engine_env, item_lookup,
                     latency_figures, load_handler, proxy_event, record, requests_and_attempts, reset_engine_state,
                     shapes)

NAME = "events"
CALLS = int(os.environ.get("BENCH_EVENTS_CALLS", "2000"))
WARMUP = int(os.environ.get("BENCH_EVENTS_WARMUP", "200"))
DUPLICATES = int(os.environ.get("BENCH_EVENTS_DUPLICATES", "200"))
CUSTOMERS = 200
STOREFRONT_KEY_ID = "key-storefront"  # POST /v1/events is a storefront route
CAPACITY_SAMPLE = 50
RESOURCE = "/v1/events"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
# three line items per order, from a fixed set of categories (the profile's category counters stay bounded)
ITEMS = [{"sku": "SKU-SHOE-1", "category": "shoes", "quantity": 1, "unit_price": 5990},
         {"sku": "SKU-SOCK-2", "category": "socks", "quantity": 2, "unit_price": 1000},
         {"sku": "SKU-BAG-3", "category": "bags", "quantity": 1, "unit_price": 2490}]


def _proxy(body: dict) -> dict:
    """A fresh requestId per delivery, also for a duplicate."""
    return proxy_event(RESOURCE, body, STOREFRONT_KEY_ID)


def _customer(i: int) -> dict:
    cid = f"cust-{i % CUSTOMERS:03d}"
    return {"id": cid, "email": f"{cid}@example.com", "country": "DE"}


def _created(run: str, i: int) -> dict:
    return {"id": f"ev-{run}-created-{i}", "type": "customer.created",
            "occurred_at": (T0 - timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ"), "customer": _customer(i),
            "data": {"consents": {"email": True}}}


def _paid(run: str, pass_name: str, i: int, seq: int) -> dict:
    eid = f"ev-{run}-{pass_name}-{i}"
    at = (T0 + timedelta(seconds=seq)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"id": eid, "type": "order.paid", "occurred_at": at,
            "customer": _customer(i), "order": {"id": f"ord-{eid}", "currency": "EUR", "items": ITEMS}}


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-events")
    floor_name = ctx.fresh_table("bench-events-floor")
    figures: list[Figure] = []
    run_id = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, \
            engine_env(tmp, table_name, endpoint, "events"):
        (Path(tmp) / "config" / "campaigns").mkdir(parents=True)  # no campaigns: order.paid does not need any
        reset_engine_state()

        engine_client, bare, floor = clients(endpoint)
        handler = load_handler("events")
        lctx = LambdaContext("events")
        emf_sink = open(os.devnull, "w")  # the EMF metric lines Powertools prints per invocation, as in Lambda
        bad: Counter = Counter()
        first_bad: list = []
        n_pass = WARMUP + CALLS
        expected_orders: Counter = Counter()

        def deliver(body: dict, want: str) -> float:
            t = time.perf_counter()
            out = handler(_proxy(body), lctx)
            dt = time.perf_counter() - t
            got = json.loads(out.get("body") or "{}").get("status") if out["statusCode"] == 202 else None
            if got != want:
                bad[f"{out['statusCode']} {got}"] += 1
                if not first_bad:
                    first_bad.append(str(out.get("body"))[:200])
            return dt

        t0 = time.perf_counter()
        with contextlib.redirect_stdout(emf_sink):
            for i in range(CUSTOMERS):
                deliver(_created(run_id, i), "accepted")
        copied = copy_table(bare, table_name, floor_name)
        print(f"  {CUSTOMERS} profiles created with customer.created through the handler, {copied} items copied "
              f"to the floor table ({time.perf_counter() - t0:.1f} s)", flush=True)

        # 1. instrumented pass, then duplicates of its measured events
        print(f"  -- order.paid: {WARMUP} warm-up + {CALLS} events over {CUSTOMERS} customers, instrumented pass",
              flush=True)
        instrumented = [_paid(run_id, "instr", i, i) for i in range(n_pass)]
        step = max(1, CALLS // max(1, DUPLICATES))
        dup_idx = [WARMUP + (j * step) % CALLS for j in range(DUPLICATES)]
        with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
            groups = record(rec, [lambda body=body: deliver(body, "accepted") for body in instrumented])
            dup_groups = record(rec, [lambda k=k: deliver(instrumented[k], "duplicate") for k in dup_idx])
        for i in range(n_pass):
            expected_orders[_customer(i)["id"]] += 1

        # 2. timed pass, handler and floor alternating; then duplicates of the timed pass's events
        print("  -- order.paid: timed pass, handler and floor replay alternating", flush=True)
        timed = [_paid(run_id, "timed", i, n_pass + i) for i in range(n_pass)]
        replay = floor.plan(groups, table_name, floor_name)
        dup_replay = floor.plan(dup_groups, table_name, floor_name)
        floor_errors: Counter = Counter()
        dup_floor_errors: Counter = Counter()

        t1 = time.perf_counter()
        with contextlib.redirect_stdout(emf_sink):
            h_lat, f_lat = alternate(n_pass, lambda i: deliver(timed[i], "accepted"),
                                     lambda i: floor.call(replay[i], floor_errors), WARMUP)
            for i in range(n_pass):
                expected_orders[_customer(i)["id"]] += 1
            print(f"  -- duplicates: {DUPLICATES} deliveries of event ids already recorded, handler and floor "
                  f"alternating ({time.perf_counter() - t1:.1f} s so far)", flush=True)
            dh_lat, df_lat = alternate(len(dup_idx), lambda j: deliver(timed[dup_idx[j]], "duplicate"),
                                       lambda j: floor.call(dup_replay[j], dup_floor_errors), 0)

        # sanity: every profile counts each accepted order.paid once, and the duplicates changed nothing
        from incentives.adapters import keys

        wrong_profiles = 0
        for c, n in expected_orders.items():
            pk, sk = keys.customer_profile(c)
            item = bare.get_item(TableName=table_name, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                 ConsistentRead=True).get("Item") or {}
            if int((item.get("order_count") or {}).get("N", -1)) != n:
                wrong_profiles += 1

        # --- figures: accepted events -----------------------------------------------------------------------
        lookup = item_lookup(bare)
        measured = groups[WARMUP:]
        per_event = Counter(tuple(r["op"] for r in g) for g in measured)
        n_req, attempts = requests_and_attempts(measured)
        tx_items = [len(r["params"]["TransactItems"]) for g in measured for r in g if r["op"] == "TransactWriteItems"]
        consistent = {bool(r["params"].get("ConsistentRead")) for g in measured for r in g if r["op"] == "GetItem"}
        ok = set(per_event) == {("GetItem", "TransactWriteItems")} and set(tx_items) == {2}
        figures.append(say(Figure(NAME, "order.paid: DynamoDB requests/event", f"{n_req:.2f} ({shapes(measured)})",
                                  "1 GetItem + 1 TransactWriteItems (expected)", verdict(ok))))
        if tx_items:
            figures.append(say(Figure(NAME, "order.paid: items per transaction; GetItem ConsistentRead",
                                      f"{min(tx_items)}..{max(tx_items)}; {'/'.join(map(str, sorted(consistent)))}")))
        if attempts != n_req:
            figures.append(say(Figure(NAME, "order.paid: HTTP attempts/event (retries)", f"{attempts:.2f}")))
        figures.extend(Capacity.of(measured, lookup, CAPACITY_SAMPLE).figures(NAME, "order.paid: ", "event"))
        figures.extend(latency_figures(NAME, "order.paid: ", h_lat, f_lat, MAX_OVERHEAD, " (checkout's; none set)"))

        # --- figures: duplicates ----------------------------------------------------------------------------
        d_req = sum(len(g) for g in dup_groups) / max(1, len(dup_groups))
        cancelled = sum(1 for g in dup_groups for r in g if r.get("error") == "TransactionCanceledException")
        d_missing = Counter(r["op"] for g in dup_groups for r in g if capacity_units(r["consumed"]) is None)
        figures.append(say(Figure(NAME, "duplicate: DynamoDB requests/duplicate",
                                  f"{d_req:.2f} ({shapes(dup_groups)}; {cancelled} transactions cancelled)")))
        d_r = sum(capacity_units(r["consumed"]) or 0.0 for g in dup_groups for r in g if r["op"] in READ_OPS)
        d_w = sum(capacity_units(r["consumed"]) or 0.0 for g in dup_groups for r in g if r["op"] not in READ_OPS)
        missing = f"; none reported for {', '.join(f'{op} x{n}' for op, n in d_missing.items())} (error answers)" \
            if d_missing else ""
        figures.append(say(Figure(NAME, "duplicate: capacity/duplicate as DynamoDB Local reports it",
                                  f"{d_r / max(1, len(dup_groups)):.2f} RCU + {d_w / max(1, len(dup_groups)):.2f} WCU"
                                  f"{missing}")))
        figures.extend(latency_figures(NAME, "duplicate: ", dh_lat, df_lat))

        # --- checks ----------------------------------------------------------------------------------------
        figures.append(say(Figure(NAME, "profiles: order_count as expected",
                                  f"{len(expected_orders) - wrong_profiles}/{len(expected_orders)}",
                                  "all", verdict(wrong_profiles == 0))))
        if bad:
            figures.append(say(Figure(NAME, "unexpected answers", f"{dict(bad)}; first: {first_bad[0]}",
                                      "202 accepted / duplicate", "MISS")))
        if floor_errors:
            figures.append(say(Figure(NAME, "floor replay errors", str(dict(floor_errors)), "none", "MISS")))
        expected_dup = {"TransactionCanceledException": len(dup_replay)}
        if dict(dup_floor_errors) != expected_dup:
            figures.append(say(Figure(NAME, "duplicate floor replay errors", str(dict(dup_floor_errors)),
                                      str(expected_dup), "MISS")))
        reset_engine_state()
        emf_sink.close()
    ctx.drop_table(table_name)
    ctx.drop_table(floor_name)
    return figures
