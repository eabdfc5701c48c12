"""Auto-applied incentives: POST /v1/qualifications for a cart of 50 line items against 20 active auto_apply
campaigns, through the storefront function's real lambda_handler, in-process, with API Gateway REST proxy
events, against DynamoDB Local.

Setup (not measured): 20 auto_apply campaigns with a mix of rewards and rules, one code of each bound to the
benchmark customer (17 by id, 3 by e-mail; issued with Issuance.issue), a profile with two paid orders (two
order.paid through the events function) and three redemptions by the customer through the storefront handler,
so the usage the limits need exists for some campaigns and is missing for others. 12 of the 20 campaigns are
designed to qualify; the other 8 fail one rule each (minimum order, no eligible items, country, currency,
per-customer limit, per-code limit, first order only).

1. An instrumented pass (warm-up + N calls) with botocore hooks on the engine's shared client: the DynamoDB
   requests each call makes, their ConsumedCapacity (ReturnConsumedCapacity=TOTAL added by the hook) and a copy
   of every request's parameters.
2. A timed pass without hooks: N more handler calls, each paired with the floor: the requests the instrumented
   pass recorded for call i, replayed with a bare botocore client. Qualification only reads, so the floor reads
   the same table (checked: the calls write nothing). Handler and floor calls alternate.
The engine's overhead is handler_p50 / floor_p50.
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import Context, Figure, RequestRecorder, capacity_units, say, verdict
from .checkout import MAX_OVERHEAD, _event
from .dynamo import (LambdaContext, alternate, capacity_source, clients, computed_capacity, engine_env,
                     item_lookup, item_size, latency_figures, load_handler, record, requests_and_attempts,
                     reset_engine_state, shapes)

NAME = "qualify"
CALLS = int(os.environ.get("BENCH_QUALIFY_CALLS", "500"))
WARMUP = int(os.environ.get("BENCH_QUALIFY_WARMUP", "100"))
CAPACITY_SAMPLE = 20
RESOURCE = "/v1/qualifications"
CUSTOMER = {"id": "bench-shopper-1", "email": "bench.shopper@example.com", "country": "DE"}
CATEGORIES = ("shoes", "socks", "bags", "shirts", "trousers", "jackets", "hats", "accessories")


def _eur(cents: int) -> dict:
    return {"amount": cents, "currency": "EUR"}


def _cart() -> dict:
    """50 line items over the 8 categories, 1-3 units each: 2,861.60 EUR."""
    base = {"shoes": 5990, "socks": 790, "bags": 4490, "shirts": 2490, "trousers": 4990, "jackets": 8990,
            "hats": 1990, "accessories": 1290}
    items = []
    for i in range(50):
        cat = CATEGORIES[i % len(CATEGORIES)]
        items.append({"sku": f"SKU-{cat.upper()[:4]}-{i:02d}", "category": cat,
                      "quantity": 1 + (i % 3 == 0) + (cat == "socks"), "unit_price": base[cat] + 100 * (i // 8)})
    return {"id": "ord-bench-qualify", "currency": "EUR", "amount": sum(i["quantity"] * i["unit_price"] for i in items),
            "items": items}


# (campaign id, campaign fields, bound by "id" or "email", qualifies as designed, why not)
SPECS: list[tuple[str, dict, str, bool, str]] = [
    ("q01", {"reward": {"type": "percent_off", "percent": 10, "max_amount": _eur(5000)}, "limits": {"per_code": 1}},
     "id", True, ""),
    ("q02", {"reward": {"type": "percent_off", "percent": 15, "max_amount": _eur(8000)},
             "eligibility": {"include": {"categories": ["shoes", "bags"]}}}, "email", True, ""),
    ("q03", {"reward": {"type": "percent_off", "percent": 20, "max_amount": _eur(10000)},
             "eligibility": {"exclude": {"categories": ["accessories", "hats"]}}, "limits": {"per_customer": 1}},
     "id", True, ""),
    ("q04", {"reward": {"type": "amount_off", "amount": _eur(1000)},
             "eligibility": {"min_order_amount": _eur(5000)}}, "id", True, ""),
    ("q05", {"reward": {"type": "amount_off", "amount": _eur(2500)},
             "eligibility": {"min_order_amount": _eur(1_000_000)}}, "id", False, "minimum order 10,000 EUR"),
    ("q06", {"reward": {"type": "buy_x_get_y", "buy": {"category": "socks", "quantity": 2},
                        "get": {"category": "socks", "quantity": 1}}}, "id", True, ""),
    ("q07", {"reward": {"type": "buy_x_get_y", "buy": {"category": "shoes", "quantity": 1},
                        "get": {"category": "socks", "quantity": 1}}, "limits": {"per_code": 1}}, "email", True, ""),
    ("q08", {"reward": {"type": "buy_x_get_y", "buy": {"category": "swimwear", "quantity": 2},
                        "get": {"category": "swimwear", "quantity": 1}}}, "id", False, "no swimwear in the cart"),
    ("q09", {"reward": {"type": "percent_off", "percent": 30},
             "eligibility": {"include": {"categories": ["electronics"]}}}, "id", False, "no electronics in the cart"),
    ("q10", {"reward": {"type": "percent_off", "percent": 5}, "eligibility": {"countries": ["FR", "BE"]}},
     "id", False, "country FR/BE only"),
    ("q11", {"reward": {"type": "amount_off", "amount": {"amount": 500, "currency": "USD"}}}, "id", False,
     "USD campaign, EUR order"),
    ("q12", {"reward": {"type": "percent_off", "percent": 12},
             "limits": {"per_customer": 3, "total_redemptions": 100_000, "budget": _eur(10_000_000)}},
     "id", True, ""),
    ("q13", {"reward": {"type": "amount_off", "amount": _eur(1500)}, "limits": {"per_customer": 1}}, "id", False,
     "per_customer 1, used"),
    ("q14", {"reward": {"type": "percent_off", "percent": 25, "max_amount": _eur(4000)}, "limits": {"per_code": 1}},
     "id", False, "per_code 1, used"),
    ("q15", {"reward": {"type": "amount_off", "amount": _eur(2000)}, "eligibility": {"first_order_only": True}},
     "id", False, "first order only; 2 paid orders"),
    ("q16", {"reward": {"type": "percent_off", "percent": 8},
             "eligibility": {"segments": ["returning_customers"]}}, "email", True, ""),
    ("q17", {"reward": {"type": "percent_off", "percent": 7},
             "limits": {"per_customer_per_period": {"count": 1, "period": "week"}}}, "id", True, ""),
    ("q18", {"reward": {"type": "amount_off", "amount": _eur(3000)},
             "eligibility": {"include": {"categories": ["jackets"]}, "exclude": {"skus": ["SKU-JACK-05"]}}},
     "id", True, ""),
    ("q19", {"reward": {"type": "percent_off", "percent": 50, "max_amount": _eur(2000)},
             "eligibility": {"include": {"categories": ["hats"]}}}, "id", True, ""),
    ("q20", {"reward": {"type": "amount_off", "amount": _eur(1200)},
             "schedule": {"starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z"},
             "eligibility": {"countries": ["DE", "AT"], "min_order_amount": _eur(10000)}}, "id", True, ""),
]
SEED_REDEMPTIONS = ("q12", "q13", "q14")  # redeemed once by the customer before the run


def _campaign(cid: str, fields: dict) -> dict:
    return {"id": f"bench-{cid}", "name": f"Benchmark {cid}", "enabled": True, "auto_apply": True,
            "codes": {"type": "unique", "pattern": f"{cid.upper()}-####-####", "bind_to_customer": True}, **fields}


def _doc_capacity(rec: dict, bare, lookup) -> tuple[float, int, int]:
    """Read capacity of one recorded request per the documented rules: a Query is one read of the summed size of
    the items it returns (GSI reads are eventually consistent: 0.5 RCU per started 4 KB, at least one unit);
    BatchGetItem as bench.dynamo.computed_capacity prices it (0.5 RCU per started 4 KB and item found; missing
    keys at 0).
    Returns (RCU, keys asked, keys missing)."""
    if rec["op"] == "Query":
        r = bare.query(**rec["params"])
        size = sum(item_size(i) for i in r["Items"])
        return 0.5 * max(1, math.ceil(size / 4096)), 0, 0
    asked = missing = 0
    if rec["op"] == "BatchGetItem":
        for table, spec in rec["params"]["RequestItems"].items():
            for k in spec["Keys"]:
                asked += 1
                missing += lookup(table, k) is None
    return computed_capacity(rec, lookup), asked, missing


def _op_index(r: dict) -> str:
    """The operation, with the index for a Query (e.g. 'Query gsi1')."""
    return r["op"] + (f" {r['params'].get('IndexName')}" if r["op"] == "Query" else "")


def _scan_all(client, table: str) -> list[str]:
    out, kwargs = [], {"TableName": table, "ConsistentRead": True}
    while True:
        r = client.scan(**kwargs)
        out.extend(json.dumps(i, sort_keys=True) for i in r["Items"])
        if "LastEvaluatedKey" not in r:
            return sorted(out)
        kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def _capacity_figures(measured: list[list[dict]], bare, lookup) -> list[Figure]:
    """Read capacity per call as DynamoDB Local reports it (or priced per the documented rules where it reports
    none), and per the documented rules from the item sizes for a sample."""
    computed_ops: set[str] = set()
    rcu = 0.0
    for g in measured:
        for r in g:
            cu = capacity_units(r["consumed"])
            if cu is None:  # DynamoDB Local returned none: price it per the documented rules
                cu = _doc_capacity(r, bare, lookup)[0]
                computed_ops.add(r["op"])
            rcu += cu
    source = capacity_source(computed_ops)
    reported_by_op: Counter = Counter()
    for g in measured:
        for r in g:
            reported_by_op[r["op"]] += capacity_units(r["consumed"]) or 0.0
    figures = [say(Figure(NAME, f"capacity/call ({source})",
                          f"{rcu / len(measured):.2f} RCU (" + ", ".join(
                              f"{op} {v / len(measured):.2f}" for op, v in sorted(reported_by_op.items()))
                          + ")"))]
    sample = measured[:CAPACITY_SAMPLE]
    doc = [_doc_capacity(r, bare, lookup) for g in sample for r in g]
    doc_rcu = sum(d[0] for d in doc) / len(sample)
    asked = sum(d[1] for d in doc) / len(sample)
    missing = sum(d[2] for d in doc) / len(sample)
    figures.append(say(Figure(NAME, "capacity/call per documented rules (item sizes)",
                              f"{doc_rcu:.2f} RCU (BatchGetItem: {asked:.0f} keys, {missing:.0f} missing, "
                              f"priced 0)")))
    return figures


def _issue_bound_codes(issuer, now: datetime) -> dict[str, str]:
    """One code per campaign, bound to the customer by id or by e-mail as SPECS says."""
    codes: dict[str, str] = {}
    for cid, _, by, _, _ in SPECS:
        holder = {"id": CUSTOMER["id"]} if by == "id" else {"email": CUSTOMER["email"]}
        out = issuer.issue(f"bench-{cid}", 1, holder, None, now)
        if out.codes is None:
            raise RuntimeError(f"Issuance.issue({cid}) answered a job: {str(out.body)[:300]}")
        codes[cid] = out.codes[0]["code"]
    return codes


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-qualify")
    figures: list[Figure] = []
    cart = _cart()
    with tempfile.TemporaryDirectory(prefix="bench-qualify-") as tmp, \
            engine_env(tmp, table_name, endpoint, "storefront"):
        import yaml

        campaigns_dir = Path(tmp) / "config" / "campaigns"
        campaigns_dir.mkdir(parents=True)
        for cid, fields, _, _, _ in SPECS:
            (campaigns_dir / f"bench-{cid}.yaml").write_text(yaml.safe_dump(_campaign(cid, fields)), encoding="utf-8")
        reset_engine_state()

        from incentives.adapters.config_source import default_source
        from incentives.adapters.dynamo import Table
        from incentives.services.issuance import Issuance

        engine_client, bare, floor = clients(endpoint)
        storefront = load_handler("storefront")
        events = load_handler("events")
        lctx = LambdaContext("storefront")
        emf_sink = open(os.devnull, "w")  # the EMF metric lines Powertools prints per invocation, as in Lambda

        def call(handler, resource: str, body: dict, want: int) -> dict:
            out = handler(_event(resource, body), lctx)
            if out["statusCode"] != want:
                raise RuntimeError(f"setup: {resource} answered {out['statusCode']}: {str(out.get('body'))[:300]}")
            return json.loads(out.get("body") or "null")

        # --- setup: codes bound to the customer, a profile with two paid orders, three redemptions -------------
        t0 = time.perf_counter()
        now = datetime.now(UTC)
        codes = _issue_bound_codes(Issuance(Table(table_name, engine_client), default_source()), now)
        with contextlib.redirect_stdout(emf_sink):
            stamp = lambda d: (now - timedelta(days=d)).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
            call(events, "/v1/events", {"id": f"ev-q-created-{table_name}", "type": "customer.created",
                                        "occurred_at": stamp(60), "customer": CUSTOMER,
                                        "data": {"consents": {"email": True}}}, 202)
            for k, days in enumerate((40, 20)):
                call(events, "/v1/events", {"id": f"ev-q-paid-{k}-{table_name}", "type": "order.paid",
                                            "occurred_at": stamp(days), "customer": CUSTOMER,
                                            "order": {"id": f"ord-q-past-{k}", "currency": "EUR", "amount": 4990}},
                     202)
            for cid in SEED_REDEMPTIONS:
                call(storefront, "/v1/redemptions", {"code": codes[cid], "customer": CUSTOMER,
                                                     "order": {**cart, "id": f"ord-q-seed-{cid}"}}, 201)
        print(f"  20 campaigns, {len(codes)} bound codes ({sum(s[2] == 'email' for s in SPECS)} by e-mail), "
              f"profile with 2 paid orders, {len(SEED_REDEMPTIONS)} redemptions; cart of {len(cart['items'])} "
              f"items over {len({i['category'] for i in cart['items']})} categories, {cart['amount'] / 100:.2f} EUR "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)

        body = {"customer": CUSTOMER, "order": cart}
        before = _scan_all(bare, table_name)
        bad: Counter = Counter()
        first_bad: list[str] = []
        answers: Counter = Counter()
        last: dict = {}

        def qualify() -> float:
            nonlocal last
            t = time.perf_counter()
            out = storefront(_event(RESOURCE, body), lctx)
            dt = time.perf_counter() - t
            if out["statusCode"] != 200:
                bad[out["statusCode"]] += 1
                if not first_bad:
                    first_bad.append(str(out.get("body"))[:200])
            else:
                last = json.loads(out["body"])
                answers[tuple((q["campaign_id"], q["discount"]["amount"]) for q in last["qualifications"])] += 1
            return dt

        # --- 1. instrumented pass --------------------------------------------------------------------------
        n_pass = WARMUP + CALLS
        print(f"  -- qualification: {WARMUP} warm-up + {CALLS} calls, instrumented pass", flush=True)
        with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
            groups = record(rec, [qualify] * n_pass)

        # --- 2. timed pass: handler and floor alternating ---------------------------------------------------
        print("  -- qualification: timed pass, handler and floor replay alternating", flush=True)
        replay = floor.plan(groups)  # the same table: qualification only reads
        floor_errors: Counter = Counter()
        with contextlib.redirect_stdout(emf_sink):
            h_lat, f_lat = alternate(n_pass, lambda i: qualify(), lambda i: floor.call(replay[i], floor_errors), WARMUP)
        written = before != _scan_all(bare, table_name)

        # sanity: each code's qualification agrees with POST /v1/validations of the same code and cart
        reasons: dict[str, str] = {}
        with contextlib.redirect_stdout(emf_sink):
            for cid, _, _, _, _ in SPECS:
                v = call(storefront, "/v1/validations", {"code": codes[cid], **body}, 200)
                reasons[cid] = "valid" if v["valid"] else v["reason"]

        # --- figures --------------------------------------------------------------------------------------
        lookup = item_lookup(bare)
        measured = groups[WARMUP:]
        per_call = Counter(tuple(_op_index(r) for r in g) for g in measured)
        n_req, attempts = requests_and_attempts(measured)
        by_op = Counter(r["op"] for g in measured for r in g)
        ok = all(1 <= k.count("Query gsi1") <= 2 and k.count("BatchGetItem") == 1
                 and len(k) == k.count("Query gsi1") + 1 for k in per_call)
        per_op = ", ".join(f"{op} {n / len(measured):.2f}" for op, n in sorted(by_op.items()))
        figures.append(say(Figure(NAME, "DynamoDB requests/call",
                                  f"{n_req:.2f} ({shapes(measured, _op_index, ' + ')}; {per_op})",
                                  "1-2 Query on gsi1 + 1 BatchGetItem", verdict(ok))))
        bgi_keys = [len(spec["Keys"]) for g in measured for r in g if r["op"] == "BatchGetItem"
                    for spec in r["params"]["RequestItems"].values()]
        if bgi_keys:
            figures.append(say(Figure(NAME, "keys per BatchGetItem", f"{min(bgi_keys)}..{max(bgi_keys)}")))
        if attempts != n_req:
            figures.append(say(Figure(NAME, "HTTP attempts/call (retries)", f"{attempts:.2f}")))
        figures.extend(_capacity_figures(measured, bare, lookup))
        figures.extend(latency_figures(NAME, "", h_lat, f_lat, MAX_OVERHEAD, " (checkout's; none set)"))

        quals = last.get("qualifications", [])
        expected = {f"bench-{cid}" for cid, _, _, q, _ in SPECS if q}
        got = {q["campaign_id"] for q in quals}
        figures.append(say(Figure(NAME, "campaigns qualified (of 20)", f"{len(quals)}: " + " ".join(
            sorted(c.removeprefix("bench-") for c in got)), f"{len(expected)} as designed", verdict(got == expected))))
        if quals:
            top = quals[0]
            figures.append(say(Figure(NAME, "top discount", f"{top['discount']['amount'] / 100:.2f} EUR "
                                      f"({top['campaign_id'].removeprefix('bench-')}) on {cart['amount'] / 100:.2f} "
                                      f"EUR; lowest {quals[-1]['discount']['amount'] / 100:.2f} EUR")))
        agree = sum((reasons[cid] == "valid") == (f"bench-{cid}" in got) for cid, *_ in SPECS)
        figures.append(say(Figure(NAME, "agrees with POST /v1/validations per code", f"{agree}/20; not qualified: " +
                                  ", ".join(f"{cid} {reasons[cid]}" for cid, *_ in SPECS if reasons[cid] != "valid"),
                                  "20/20", verdict(agree == 20))))
        figures.append(say(Figure(NAME, "same answer on every call; items written",
                                  f"{'yes' if len(answers) == 1 else f'no: {len(answers)} answers'}; "
                                  f"{'changed!' if written else 'none'}", "yes; none",
                                  verdict(len(answers) == 1 and not written))))
        if bad:
            figures.append(say(Figure(NAME, "unexpected answers", f"{dict(bad)}; first: {first_bad[0]}", "all 200",
                                      "MISS")))
        if floor_errors:
            figures.append(say(Figure(NAME, "floor replay errors", str(dict(floor_errors)), "none", "MISS")))
        reset_engine_state()
        emf_sink.close()
    ctx.drop_table(table_name)
    return figures
