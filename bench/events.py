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
from datetime import datetime, timedelta, timezone
from pathlib import Path

from . import (READ_OPS, ROOT, Context, Figure, RequestRecorder, bare_client, capacity_units, env, ms, percentile,
               say, verdict)
from .checkout import MAX_OVERHEAD, _copy_table, _reset_engine_state, _retarget, computed_capacity

NAME = "events"
CALLS = int(os.environ.get("BENCH_EVENTS_CALLS", "2000"))
WARMUP = int(os.environ.get("BENCH_EVENTS_WARMUP", "200"))
DUPLICATES = int(os.environ.get("BENCH_EVENTS_DUPLICATES", "200"))
CUSTOMERS = 200
STOREFRONT_KEY_ID = "key-storefront"  # POST /v1/events is a storefront route
CAPACITY_SAMPLE = 50
RESOURCE = "/v1/events"
T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
# three line items per order, from a fixed set of categories (the profile's category counters stay bounded)
ITEMS = [{"sku": "SKU-SHOE-1", "category": "shoes", "quantity": 1, "unit_price": 5990},
         {"sku": "SKU-SOCK-2", "category": "socks", "quantity": 2, "unit_price": 1000},
         {"sku": "SKU-BAG-3", "category": "bags", "quantity": 1, "unit_price": 2490}]


class _LambdaContext:
    function_name = "events"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:000000000000:function:events"
    log_group_name = log_stream_name = "bench"

    def __init__(self):
        self.aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _proxy(body: dict) -> dict:
    """An API Gateway REST proxy event, shaped as tests/support.py's HandlerClient builds it (a fresh requestId
    per delivery, also for a duplicate)."""
    return {
        "resource": RESOURCE, "path": RESOURCE, "httpMethod": "POST",
        "headers": {"Content-Type": "application/json"}, "multiValueHeaders": {},
        "queryStringParameters": None, "pathParameters": None,
        "requestContext": {"resourcePath": RESOURCE, "httpMethod": "POST", "stage": "v1",
                           "requestId": str(uuid.uuid4()),
                           "identity": {"sourceIp": "203.0.113.9", "apiKeyId": STOREFRONT_KEY_ID}},
        "body": json.dumps(body), "isBase64Encoded": False,
    }


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


def _shapes(groups: list[list[dict]]) -> str:
    per = Counter(tuple(r["op"] for r in g) for g in groups)
    return ", ".join(f"{'+'.join(k) or '(none)'} x{v}" for k, v in per.most_common(3))


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-events")
    floor_name = ctx.fresh_table("bench-events-floor")
    figures: list[Figure] = []
    run_id = uuid.uuid4().hex[:6]
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp, env(
            TABLE_NAME=table_name, DYNAMODB_ENDPOINT=endpoint, INCENTIVES_CONFIG_DIR=str(Path(tmp) / "config"),
            CONFIG_SOURCE="files", CONFIG_MAX_AGE_SECONDS="30", OPERATOR_API_KEY_IDS="key-operator",
            POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED=None,
            POWERTOOLS_METRICS_NAMESPACE="Incentives", POWERTOOLS_SERVICE_NAME="events", JOB_DISPATCH="local",
            FUNCTIONS_DIR=str(ROOT / "functions"), LOCAL_OUTBOX_DIR=str(Path(tmp) / "outbox")):
        (Path(tmp) / "config" / "campaigns").mkdir(parents=True)  # no campaigns: order.paid does not need any
        _reset_engine_state()

        from incentives.adapters.dynamo import dynamodb_client
        from incentives.adapters.jobs import load_handler

        engine_client = dynamodb_client()  # the shared client the handler's Table() will use
        bare = bare_client(endpoint)
        api_to_method = {v: k for k, v in bare.meta.method_to_api_mapping.items()}
        handler = load_handler(str(ROOT / "functions"), "events")
        lctx = _LambdaContext()
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
        copied = _copy_table(bare, table_name, floor_name)
        print(f"  {CUSTOMERS} profiles created with customer.created through the handler, {copied} items copied "
              f"to the floor table ({time.perf_counter() - t0:.1f} s)", flush=True)

        # 1. instrumented pass, then duplicates of its measured events
        print(f"  -- order.paid: {WARMUP} warm-up + {CALLS} events over {CUSTOMERS} customers, instrumented pass",
              flush=True)
        instrumented = [_paid(run_id, "instr", i, i) for i in range(n_pass)]
        step = max(1, CALLS // max(1, DUPLICATES))
        dup_idx = [WARMUP + (j * step) % CALLS for j in range(DUPLICATES)]
        groups: list[list[dict]] = []
        dup_groups: list[list[dict]] = []
        with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
            for body in instrumented:
                start = rec.mark()
                deliver(body, "accepted")
                groups.append(rec.calls[start:])
            for k in dup_idx:
                start = rec.mark()
                deliver(instrumented[k], "duplicate")
                dup_groups.append(rec.calls[start:])
        for i in range(n_pass):
            expected_orders[_customer(i)["id"]] += 1

        # 2. timed pass, handler and floor alternating; then duplicates of the timed pass's events
        print("  -- order.paid: timed pass, handler and floor replay alternating", flush=True)
        timed = [_paid(run_id, "timed", i, n_pass + i) for i in range(n_pass)]
        replay = [[(api_to_method[r["op"]], _retarget(r["params"], table_name, floor_name)) for r in g]
                  for g in groups]
        dup_replay = [[(api_to_method[r["op"]], _retarget(r["params"], table_name, floor_name)) for r in g]
                      for g in dup_groups]
        floor_errors: Counter = Counter()
        dup_floor_errors: Counter = Counter()

        def call_floor(requests, errs: Counter) -> float:
            t = time.perf_counter()
            for method, params in requests:
                try:
                    getattr(bare, method)(**params)
                except bare.exceptions.ClientError as e:
                    errs[e.response.get("Error", {}).get("Code", "?")] += 1
            return time.perf_counter() - t

        def alternate(n, handler_call, floor_call, keep_from):
            h_lat, f_lat = [], []
            for i in range(n):
                if i % 2:  # floor first on odd calls, handler first on even ones
                    fl = floor_call(i)
                    hd = handler_call(i)
                else:
                    hd = handler_call(i)
                    fl = floor_call(i)
                if i >= keep_from:
                    h_lat.append(hd)
                    f_lat.append(fl)
            return h_lat, f_lat

        t1 = time.perf_counter()
        with contextlib.redirect_stdout(emf_sink):
            h_lat, f_lat = alternate(n_pass, lambda i: deliver(timed[i], "accepted"),
                                     lambda i: call_floor(replay[i], floor_errors), WARMUP)
            for i in range(n_pass):
                expected_orders[_customer(i)["id"]] += 1
            print(f"  -- duplicates: {DUPLICATES} deliveries of event ids already recorded, handler and floor "
                  f"alternating ({time.perf_counter() - t1:.1f} s so far)", flush=True)
            dh_lat, df_lat = alternate(len(dup_idx), lambda j: deliver(timed[dup_idx[j]], "duplicate"),
                                       lambda j: call_floor(dup_replay[j], dup_floor_errors), 0)

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
        item_cache: dict = {}

        def lookup(table: str, key: dict):
            k = (table, json.dumps(key, sort_keys=True))
            if k not in item_cache:
                item_cache[k] = bare.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            return item_cache[k]

        measured = groups[WARMUP:]
        per_event = Counter(tuple(r["op"] for r in g) for g in measured)
        n_req = sum(len(g) for g in measured) / len(measured)
        attempts = sum(r["attempts"] for g in measured for r in g) / len(measured)
        tx_items = [len(r["params"]["TransactItems"]) for g in measured for r in g if r["op"] == "TransactWriteItems"]
        consistent = {bool(r["params"].get("ConsistentRead")) for g in measured for r in g if r["op"] == "GetItem"}
        ok = set(per_event) == {("GetItem", "TransactWriteItems")} and set(tx_items) == {2}
        figures.append(say(Figure(NAME, "order.paid: DynamoDB requests/event", f"{n_req:.2f} ({_shapes(measured)})",
                                  "1 GetItem + 1 TransactWriteItems (expected)", verdict(ok))))
        if tx_items:
            figures.append(say(Figure(NAME, "order.paid: items per transaction; GetItem ConsistentRead",
                                      f"{min(tx_items)}..{max(tx_items)}; {'/'.join(map(str, sorted(consistent)))}")))
        if attempts != n_req:
            figures.append(say(Figure(NAME, "order.paid: HTTP attempts/event (retries)", f"{attempts:.2f}")))
        computed_ops: set[str] = set()
        rcu = wcu = 0.0
        for g in measured:
            for r in g:
                cu = capacity_units(r["consumed"])
                if cu is None:
                    cu = computed_capacity(r, lookup)
                    computed_ops.add(r["op"])
                if r["op"] in READ_OPS:
                    rcu += cu
                else:
                    wcu += cu
        sample = measured[:CAPACITY_SAMPLE]
        doc_r = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] in READ_OPS)
        doc_w = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] not in READ_OPS)
        gsi = sum(1 for g in sample for r in g for a in (r["params"].get("TransactItems") or [])
                  if "gsi1pk" in (a.get("Put") or {}).get("Item", {}))
        source = "reported by DynamoDB Local" if not computed_ops else \
            f"computed from item sizes: DynamoDB Local returned none for {', '.join(sorted(computed_ops))}"
        figures.append(say(Figure(NAME, f"order.paid: capacity/event ({source})",
                                  f"{rcu / len(measured):.2f} RCU + {wcu / len(measured):.2f} WCU")))
        gsi_note = f" + {gsi / len(sample):.0f} GSI write (not priced)" if gsi else ""
        figures.append(say(Figure(NAME, "order.paid: capacity/event per documented rules (item sizes)",
                                  f"{doc_r / len(sample):.2f} RCU + {doc_w / len(sample):.2f} WCU{gsi_note}")))
        hp50, hp99 = percentile(h_lat, 50), percentile(h_lat, 99)
        fp50, fp99 = percentile(f_lat, 50), percentile(f_lat, 99)
        figures.append(say(Figure(NAME, "order.paid: handler p50 / p99", f"{ms(hp50)} / {ms(hp99)}")))
        figures.append(say(Figure(NAME, "order.paid: floor (same requests, bare botocore) p50 / p99",
                                  f"{ms(fp50)} / {ms(fp99)}")))
        figures.append(say(Figure(NAME, "order.paid: overhead handler_p50 / floor_p50", f"{hp50 / fp50:.2f}x",
                                  f"<= {MAX_OVERHEAD}x (checkout's; none set)", verdict(hp50 / fp50 <= MAX_OVERHEAD))))

        # --- figures: duplicates ----------------------------------------------------------------------------
        d_req = sum(len(g) for g in dup_groups) / max(1, len(dup_groups))
        cancelled = sum(1 for g in dup_groups for r in g if r.get("error") == "TransactionCanceledException")
        d_missing = Counter(r["op"] for g in dup_groups for r in g if capacity_units(r["consumed"]) is None)
        figures.append(say(Figure(NAME, "duplicate: DynamoDB requests/duplicate",
                                  f"{d_req:.2f} ({_shapes(dup_groups)}; {cancelled} transactions cancelled)")))
        d_r = sum(capacity_units(r["consumed"]) or 0.0 for g in dup_groups for r in g if r["op"] in READ_OPS)
        d_w = sum(capacity_units(r["consumed"]) or 0.0 for g in dup_groups for r in g if r["op"] not in READ_OPS)
        missing = f"; none reported for {', '.join(f'{op} x{n}' for op, n in d_missing.items())} (error answers)" \
            if d_missing else ""
        figures.append(say(Figure(NAME, "duplicate: capacity/duplicate as DynamoDB Local reports it",
                                  f"{d_r / max(1, len(dup_groups)):.2f} RCU + {d_w / max(1, len(dup_groups)):.2f} WCU"
                                  f"{missing}")))
        dh50, dh99 = percentile(dh_lat, 50), percentile(dh_lat, 99)
        df50, df99 = percentile(df_lat, 50), percentile(df_lat, 99)
        figures.append(say(Figure(NAME, "duplicate: handler p50 / p99", f"{ms(dh50)} / {ms(dh99)}")))
        figures.append(say(Figure(NAME, "duplicate: floor (same requests, bare botocore) p50 / p99",
                                  f"{ms(df50)} / {ms(df99)}")))
        figures.append(say(Figure(NAME, "duplicate: overhead handler_p50 / floor_p50", f"{dh50 / df50:.2f}x")))

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
        _reset_engine_state()
        emf_sink.close()
    ctx.drop_table(table_name)
    ctx.drop_table(floor_name)
    return figures
