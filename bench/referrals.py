"""Referrals: attribution (POST /v1/referral-programs/{id}/referrals through the referrals function) and conversion
(an order.paid EventBridge event through the referral_events consumer), real lambda_handlers in-process, against
DynamoDB Local.

Setup (not timed): REFERRERS referrers enrolled through the handler. For each operation:
1. An instrumented pass (warm-up + N calls) with botocore hooks on the engine's shared client: the DynamoDB
   requests per call, their ConsumedCapacity and a copy of each request's parameters.
2. A timed pass of N fresh calls alternating with the floor: the requests recorded for call i replayed with a bare
   botocore client against a copy of the table taken before the instrumented pass (same order, so every
   condition succeeds as it did). The engine's overhead is handler_p50 / floor_p50.
Attribution: each call a new referee of one of the referrers, with the referee's reward code issued in the same
transaction. Conversion: the referees attributed and their order.paid events recorded (POST /v1/events) during
setup; each call hands one event to the consumer, which converts the referral (the reward waits for the return
window: a due item).
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
from pathlib import Path

import yaml

from . import Context, Figure, RequestRecorder, say, verdict
from .checkout import MAX_OVERHEAD
from .dynamo import (Capacity, LambdaContext, alternate, clients, copy_table, engine_env, item_lookup,
                     latency_figures, load_handler, proxy_event, record, requests_and_attempts, reset_engine_state,
                     shapes)

NAME = "referrals"
CALLS = int(os.environ.get("BENCH_REFERRALS_CALLS", "1000"))
WARMUP = int(os.environ.get("BENCH_REFERRALS_WARMUP", "100"))
REFERRERS = 100
CAPACITY_SAMPLE = 50
PROGRAM = "bench-friends"
RESOURCE = "/v1/referral-programs/{program_id}/referrals"
STOREFRONT_KEY_ID = "key-storefront"

CONFIG = {
    "campaigns": [
        {"id": "bench-welcome", "name": "welcome", "codes": {"type": "unique", "pattern": "BWEL-####-####",
                                                             "expires_in_days": 60, "bind_to_customer": True},
         "reward": {"type": "amount_off", "amount": {"amount": 1500, "currency": "EUR"}}},
        {"id": "bench-thanks", "name": "thanks", "codes": {"type": "unique", "pattern": "BTHX-####-####",
                                                           "bind_to_customer": True},
         "reward": {"type": "amount_off", "amount": {"amount": 1000, "currency": "EUR"}}},
    ],
    "referral-programs": [
        {"id": PROGRAM, "link_template": "https://shop.example/r/{code}", "code_pattern": "BREF-####-####",
         "referee_reward": {"campaign": "bench-welcome"},
         "referrer_rewards": [{"from": 1, "campaign": "bench-thanks"}],
         "conversion": {"min_order_amount": {"amount": 3000, "currency": "EUR"}, "within_days": 30,
                        "return_window_days": 14}},
    ],
}


def _write_config(root: Path) -> None:
    for kind, items in CONFIG.items():
        d = root / "config" / kind
        d.mkdir(parents=True, exist_ok=True)
        for item in items:
            (d / f"{item['id']}.yaml").write_text(yaml.safe_dump(item), encoding="utf-8")


def _proxy(resource: str, body: dict, params: dict) -> dict:
    event = proxy_event(resource, body, STOREFRONT_KEY_ID)
    event["pathParameters"] = params
    event["path"] = resource.replace("{program_id}", PROGRAM)
    return event


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    figures: list[Figure] = []
    run_id = uuid.uuid4().hex[:6]
    n_pass = WARMUP + CALLS
    # Powertools prints EMF metric lines and log lines per invocation, as in Lambda: to /dev/null. One sink for
    # the run: a Logger's stream is bound when its handler module is first imported.
    with tempfile.TemporaryDirectory(prefix="bench-referrals-") as tmp, open(os.devnull, "w") as sink:
        _write_config(Path(tmp))
        for op in ("attribution", "conversion"):
            table_name = ctx.fresh_table(f"bench-ref-{op[:4]}")
            floor_name = ctx.fresh_table(f"bench-ref-{op[:4]}-floor")
            with engine_env(tmp, table_name, endpoint, "referrals"):
                reset_engine_state()
                figures.extend(_bench(op, run_id, n_pass, endpoint, table_name, floor_name, sink))
                reset_engine_state()
            ctx.drop_table(table_name)
            ctx.drop_table(floor_name)
    return figures


def _bench(op: str, run_id: str, n_pass: int, endpoint: str, table_name: str, floor_name: str,
           emf_sink) -> list[Figure]:
    from incentives.adapters import keys
    from incentives.adapters.dynamo import from_item
    from incentives.services.fanout import entry
    from incentives.subscriptions import CustomerEvent
    from local.bus import eventbridge_event

    engine_client, bare, floor = clients(endpoint)
    with contextlib.redirect_stdout(emf_sink):
        referrals = load_handler("referrals")
        consumer = load_handler("referral_events")
        events_fn = load_handler("events")
    bad: Counter = Counter()
    first_bad: list[str] = []

    def check(out: dict, ok: bool) -> None:
        if not ok:
            bad[str(out.get("statusCode") or out.get("outcomes"))[:60]] += 1
            if not first_bad:
                first_bad.append(str(out)[:300])

    t0 = time.perf_counter()
    codes = []
    with contextlib.redirect_stdout(emf_sink):
        for i in range(REFERRERS):
            out = referrals(_proxy("/v1/referral-programs/{program_id}/referrers",
                                   {"customer": {"id": f"ref-{run_id}-{i}"}}, {"program_id": PROGRAM}),
                            LambdaContext("referrals"))
            codes.append(json.loads(out["body"])["referral_code"])

    def attribute(pass_name: str, i: int) -> float:
        body = {"referral_code": codes[i % REFERRERS], "referee": {"id": f"ee-{run_id}-{pass_name}-{i}"}}
        t = time.perf_counter()
        out = referrals(_proxy(RESOURCE, body, {"program_id": PROGRAM}), LambdaContext("referrals"))
        dt = time.perf_counter() - t
        check(out, out["statusCode"] == 201)
        return dt

    paid_events: dict[str, list[dict]] = {}
    if op == "conversion":  # setup: every referee attributed and their order.paid recorded
        with contextlib.redirect_stdout(emf_sink):
            for pass_name in ("instr", "timed"):
                paid_events[pass_name] = []
                for i in range(n_pass):
                    if i and i % 250 == 0:
                        print(f"  ({pass_name}: {i} referees attributed and paid, {time.perf_counter() - t0:.1f} s)",
                              file=sys.stderr, flush=True)
                    attribute(pass_name, i)
                    eid = f"pay-{run_id}-{pass_name}-{i}"
                    body = {"id": eid, "type": "order.paid", "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                                          time.gmtime()),
                            "customer": {"id": f"ee-{run_id}-{pass_name}-{i}"},
                            "order": {"id": f"o-{eid}", "currency": "EUR", "amount": 4500}}
                    events_fn(proxy_event("/v1/events", body, STOREFRONT_KEY_ID), LambdaContext("events"))
                    item = bare.get_item(TableName=table_name, Key={"pk": {"S": keys.event(eid)[0]},
                                                                    "sk": {"S": "EVENT"}}, ConsistentRead=True)
                    paid_events[pass_name].append(eventbridge_event(entry(CustomerEvent.from_item(
                        from_item(item["Item"])))))

    def convert(pass_name: str, i: int) -> float:
        t = time.perf_counter()
        out = consumer(paid_events[pass_name][i], LambdaContext("referral_events"))
        dt = time.perf_counter() - t
        check(out, [o["outcome"] for o in out["outcomes"]] == ["converted"])
        return dt

    call = attribute if op == "attribution" else convert
    copied = copy_table(bare, table_name, floor_name)
    setup = f" and {2 * n_pass} referees attributed with their paid orders" if op == "conversion" else ""
    print(f"  {REFERRERS} referrers enrolled{setup}; {copied} items copied to the floor table "
          f"({time.perf_counter() - t0:.1f} s)", flush=True)

    print(f"  -- {op}: {WARMUP} warm-up + {CALLS} calls, instrumented pass", flush=True)
    with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
        groups = record(rec, [lambda i=i: call("instr", i) for i in range(n_pass)])
    print(f"  -- {op}: timed pass, handler and floor replay alternating", flush=True)
    replay = floor.plan(groups, table_name, floor_name)
    floor_errors: Counter = Counter()
    with contextlib.redirect_stdout(emf_sink):
        h_lat, f_lat = alternate(n_pass, lambda i: call("timed", i), lambda i: floor.call(replay[i], floor_errors),
                                 WARMUP)

    figures: list[Figure] = []
    measured = groups[WARMUP:]
    n_req, attempts = requests_and_attempts(measured)
    expected = {"attribution": ("BatchGetItem", "UpdateItem", "TransactWriteItems"),
                "conversion": ("BatchGetItem", "GetItem", "GetItem", "TransactWriteItems")}[op]
    per_call = Counter(tuple(r["op"] for r in g) for g in measured)
    figures.append(say(Figure(NAME, f"{op}: DynamoDB requests/call", f"{n_req:.2f} ({shapes(measured)})",
                              "+".join(expected) + " (expected)", verdict(set(per_call) == {expected}))))
    tx_items = [len(r["params"]["TransactItems"]) for g in measured for r in g if r["op"] == "TransactWriteItems"]
    if tx_items:
        figures.append(say(Figure(NAME, f"{op}: items per transaction", f"{min(tx_items)}..{max(tx_items)}")))
    if attempts != n_req:
        figures.append(say(Figure(NAME, f"{op}: HTTP attempts/call (retries)", f"{attempts:.2f}")))
    figures.extend(Capacity.of(measured, item_lookup(bare), CAPACITY_SAMPLE).figures(NAME, f"{op}: ", "call"))
    figures.extend(latency_figures(NAME, f"{op}: ", h_lat, f_lat, MAX_OVERHEAD, " (checkout's; none set)"))
    if bad:
        figures.append(say(Figure(NAME, f"{op}: unexpected answers", f"{dict(bad)}; first: {first_bad[0]}",
                                  "201 / converted", "MISS")))
    if floor_errors:
        figures.append(say(Figure(NAME, f"{op}: floor replay errors", str(dict(floor_errors)), "none", "MISS")))
    return figures
