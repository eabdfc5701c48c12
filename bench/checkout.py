"""Checkout path: validation and redemption through the storefront function's real lambda_handler, in-process,
with API Gateway REST proxy events, against DynamoDB Local.

Per call type (validation, redemption, redemption with an Idempotency-Key):
1. An instrumented pass (warm-up + N calls) with botocore hooks on the engine's shared client: the DynamoDB
   requests each call makes, their ConsumedCapacity (ReturnConsumedCapacity=TOTAL added by the hook), and a
   copy of every request's parameters.
2. A timed pass without hooks: N more handler calls (fresh codes, fresh customers), each paired with the floor:
   the requests the instrumented pass recorded for call i, replayed with a bare botocore client against a copy
   of the table as it was before the instrumented pass (so every replayed condition succeeds as it did). Handler
   and floor calls alternate, so both see the same JVM, GC and machine noise.
The engine's overhead is handler_p50 / floor_p50.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from . import (READ_OPS, ROOT, Context, Figure, RequestRecorder, bare_client, capacity_units, env, ms, percentile,
               say, verdict)

NAME = "checkout"
CALLS = int(os.environ.get("BENCH_CHECKOUT_CALLS", "2000"))
WARMUP = int(os.environ.get("BENCH_CHECKOUT_WARMUP", "200"))
VALIDATION_CODES = 500
CAMPAIGN_ID = "bench-checkout"
STOREFRONT_KEY_ID = "key-storefront"
MAX_OVERHEAD = 1.3
CAPACITY_SAMPLE = 50  # calls priced per the documented rules (each needs reads of the items it touched)

# A realistic unique-code campaign: every limit on, so a redemption is the full 4-item transaction (code,
# campaign counters, customer usage, redemption record).
CAMPAIGN = {
    "id": CAMPAIGN_ID, "name": "Benchmark checkout", "enabled": True,
    "codes": {"type": "unique", "pattern": "CHK-####-####"},
    "reward": {"type": "percent_off", "percent": 10, "max_amount": {"amount": 5000, "currency": "EUR"}},
    "limits": {"per_code": 1, "per_customer": 1, "total_redemptions": 10_000_000,
               "budget": {"amount": 10**11, "currency": "EUR"}},
    "eligibility": {"countries": ["DE", "AT"], "min_order_amount": {"amount": 1000, "currency": "EUR"}},
}


class _LambdaContext:
    function_name = "storefront"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-central-1:000000000000:function:storefront"
    log_group_name = log_stream_name = "bench"

    def __init__(self):
        self.aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def _event(resource: str, body: dict, headers: dict | None = None) -> dict:
    """An API Gateway REST proxy event, shaped as tests/support.py's HandlerClient builds it."""
    return {
        "resource": resource, "path": resource, "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", **(headers or {})}, "multiValueHeaders": {},
        "queryStringParameters": None, "pathParameters": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "stage": "v1",
                           "requestId": str(uuid.uuid4()),
                           "identity": {"sourceIp": "203.0.113.9", "apiKeyId": STOREFRONT_KEY_ID}},
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def _checkout_body(code: str, customer: str, order: str) -> dict:
    return {"code": code,
            "customer": {"id": customer, "email": f"{customer}@example.com", "country": "DE"},
            "order": {"id": order, "currency": "EUR", "amount": 7990,
                      "items": [{"sku": "SKU-1", "category": "shoes", "quantity": 1, "unit_price": 5990},
                                {"sku": "SKU-2", "category": "socks", "quantity": 2, "unit_price": 1000}]}}


# --- capacity per DynamoDB's documented rules (used only where DynamoDB Local returns no ConsumedCapacity) -----

def _av_size(av: dict) -> int:
    (t, v), = av.items()
    if t == "S":
        return len(v.encode())
    if t == "N":
        digits = v.lstrip("-").replace(".", "").lower().split("e")[0].strip("0") or "0"
        return (len(digits) + 1) // 2 + 1
    if t == "B":
        return len(v)
    if t in ("BOOL", "NULL"):
        return 1
    if t == "M":
        return 3 + sum(len(k.encode()) + _av_size(x) + 1 for k, x in v.items())
    if t == "L":
        return 3 + sum(_av_size(x) + 1 for x in v)
    if t == "SS":
        return sum(len(x.encode()) for x in v)
    if t == "NS":
        return sum(_av_size({"N": x}) for x in v)
    return sum(len(x) for x in v)  # BS


def item_size(item: dict | None) -> int:
    """Item size per the DynamoDB developer guide: attribute name bytes + value bytes."""
    return sum(len(k.encode()) + _av_size(v) for k, v in (item or {}).items())


def computed_capacity(rec: dict, lookup) -> float:
    """Capacity units of one recorded request from item sizes: writes 1 WCU per started KB (2x in a transaction,
    updates sized by the item after the write), reads 0.5 RCU (eventual) / 1 RCU (strong) per started 4 KB and
    item, at least one unit for a GetItem of a missing item. GSI writes are not included."""
    op, p = rec["op"], rec["params"]

    def wcu(item: dict | None, factor: int) -> float:
        return factor * max(1, math.ceil(item_size(item) / 1024))

    if op == "GetItem":
        per = 1.0 if p.get("ConsistentRead") else 0.5
        return per * max(1, math.ceil(item_size(lookup(p["TableName"], p["Key"])) / 4096))
    if op == "BatchGetItem":
        total = 0.0
        for table, spec in p["RequestItems"].items():
            per = 1.0 if spec.get("ConsistentRead") else 0.5
            for k in spec["Keys"]:
                item = lookup(table, k)
                total += per * math.ceil(item_size(item) / 4096) if item else 0.0
        return total
    if op == "PutItem":
        return wcu(p["Item"], 1)
    if op in ("UpdateItem", "DeleteItem"):
        return wcu(lookup(p["TableName"], p["Key"]), 1)
    if op == "TransactWriteItems":
        total = 0.0
        for action in p["TransactItems"]:
            (kind, a), = action.items()
            total += wcu(a["Item"] if kind == "Put" else lookup(a["TableName"], a["Key"]), 2)
        return total
    if op == "BatchWriteItem":
        return sum(wcu(r["PutRequest"]["Item"], 1) for reqs in p["RequestItems"].values() for r in reqs
                   if "PutRequest" in r)
    return float("nan")


# --- the benchmark ---------------------------------------------------------------------------------------------

def _reset_engine_state() -> None:
    """Fresh settings, config source and handler modules (they keep warm-container state in globals)."""
    from incentives.adapters import config_source
    from incentives.settings import get_settings

    get_settings.cache_clear()
    config_source._default = None
    for name in [m for m in sys.modules if m.startswith("fn_")]:
        del sys.modules[name]


def _preissue(table, config, count: int) -> list[str]:
    """Unique codes issued by the engine itself (Issuance.issue, at most SYNC_MAX per call)."""
    from incentives.services import issuance as iss

    issuer = iss.Issuance(table, config)
    step = getattr(iss, "SYNC_MAX", 50)
    codes: list[str] = []
    now = datetime.now(timezone.utc)
    while len(codes) < count:
        out = issuer.issue(CAMPAIGN_ID, min(step, count - len(codes)), None, None, now)
        if out.get("status") != 201:
            raise RuntimeError(f"Issuance.issue answered {out.get('status')}: {str(out.get('body'))[:300]}")
        codes.extend(c["code"] for c in out["body"]["codes"])
    return codes


def _copy_table(client, src: str, dst: str) -> int:
    kwargs: dict = {"TableName": src, "ConsistentRead": True}
    n = 0
    while True:
        r = client.scan(**kwargs)
        items = r["Items"]
        for i in range(0, len(items), 25):
            request = {dst: [{"PutRequest": {"Item": it}} for it in items[i:i + 25]]}
            while request:
                request = client.batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
        n += len(items)
        if "LastEvaluatedKey" not in r:
            return n
        kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]


def _retarget(params: dict, src: str, dst: str) -> dict:
    """The recorded request for the floor table: table names swapped, a fresh ClientRequestToken (same
    parameters with a reused token would be a different request to DynamoDB); everything else verbatim."""
    def walk(x):
        if isinstance(x, dict):
            out = {}
            for k, v in x.items():
                if k == "TableName" and v == src:
                    out[k] = dst
                elif k == "RequestItems" and isinstance(v, dict):
                    out[k] = {(dst if t == src else t): walk(spec) for t, spec in v.items()}
                else:
                    out[k] = walk(v)
            return out
        if isinstance(x, list):
            return [walk(v) for v in x]
        return x

    out = walk(copy.deepcopy(params))
    if "ClientRequestToken" in out:
        out["ClientRequestToken"] = uuid.uuid4().hex
    return out


class _Scenario:
    def __init__(self, label: str, resource: str, expected_status: int, idempotent: bool, codes_for):
        self.label = label
        self.resource = resource
        self.expected_status = expected_status
        self.idempotent = idempotent
        self.codes_for = codes_for  # (pass name, n) -> list of codes

    def events(self, pass_name: str, n: int) -> list[dict]:
        out = []
        for i, code in enumerate(self.codes_for(pass_name, n)):
            customer = f"cust-{self.label}-{pass_name}-{i}"
            headers = {"Idempotency-Key": f"idem-{pass_name}-{i}-{uuid.uuid4().hex[:8]}"} if self.idempotent else None
            out.append(_event(self.resource, _checkout_body(code, customer, f"ord-{self.label}-{pass_name}-{i}"),
                              headers))
        return out


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-checkout")
    floor_name = ctx.fresh_table("bench-checkout-floor")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp, env(
            TABLE_NAME=table_name, DYNAMODB_ENDPOINT=endpoint, INCENTIVES_CONFIG_DIR=str(Path(tmp) / "config"),
            CONFIG_SOURCE="files", CONFIG_MAX_AGE_SECONDS="30", OPERATOR_API_KEY_IDS="key-operator",
            POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED=None,
            POWERTOOLS_METRICS_NAMESPACE="Incentives", POWERTOOLS_SERVICE_NAME="storefront", JOB_DISPATCH="local", FUNCTIONS_DIR=str(ROOT / "functions"),
            LOCAL_OUTBOX_DIR=str(Path(tmp) / "outbox")):
        import yaml

        campaigns = Path(tmp) / "config" / "campaigns"
        campaigns.mkdir(parents=True)
        (campaigns / f"{CAMPAIGN_ID}.yaml").write_text(yaml.safe_dump(CAMPAIGN), encoding="utf-8")
        _reset_engine_state()

        from incentives.adapters.config_source import default_source
        from incentives.adapters.dynamo import Table, dynamodb_client
        from incentives.adapters.jobs import load_handler

        engine_client = dynamodb_client()  # the shared client the handler's Table() will use
        bare = bare_client(endpoint)
        api_to_method = {v: k for k, v in bare.meta.method_to_api_mapping.items()}
        n_pass = WARMUP + CALLS

        t0 = time.perf_counter()
        codes = _preissue(Table(table_name, engine_client), default_source(), VALIDATION_CODES + 4 * n_pass)
        copied = _copy_table(bare, table_name, floor_name)
        print(f"  issued {len(codes)} codes with Issuance.issue and copied {copied} items to the floor table "
              f"({time.perf_counter() - t0:.1f} s)", flush=True)
        validation_codes = codes[:VALIDATION_CODES]
        pools = iter([codes[VALIDATION_CODES + k * n_pass: VALIDATION_CODES + (k + 1) * n_pass] for k in range(4)])
        redemption_codes = {}

        def redemption_pool(label):
            def pick(pass_name, n):
                key = (label, pass_name)
                if key not in redemption_codes:
                    redemption_codes[key] = next(pools)
                return redemption_codes[key][:n]
            return pick

        scenarios = [
            _Scenario("validation", "/v1/validations", 200, False,
                      lambda pass_name, n: [validation_codes[i % VALIDATION_CODES] for i in range(n)]),
            _Scenario("redemption", "/v1/redemptions", 201, False, redemption_pool("redemption")),
            _Scenario("redemption+Idempotency-Key", "/v1/redemptions", 201, True,
                      redemption_pool("redemption-idem")),
        ]
        handler = load_handler(str(ROOT / "functions"), "storefront")
        lctx = _LambdaContext()
        item_cache: dict = {}
        emf_sink = open(os.devnull, "w")  # the EMF metric lines Powertools prints per invocation, as in Lambda

        def lookup(table: str, key: dict):
            k = (table, json.dumps(key, sort_keys=True))
            if k not in item_cache:
                item_cache[k] = bare.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
            return item_cache[k]

        for sc in scenarios:
            print(f"  -- {sc.label}: {WARMUP} warm-up + {CALLS} calls, instrumented pass", flush=True)
            bad: Counter = Counter()
            first_bad = None
            groups: list[list[dict]] = []
            instrumented = sc.events("instrumented", n_pass)
            with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
                for ev in instrumented:
                    start = rec.mark()
                    out = handler(ev, lctx)
                    if out["statusCode"] != sc.expected_status:
                        bad[out["statusCode"]] += 1
                        first_bad = first_bad or out.get("body")
                    groups.append(rec.calls[start:])
            measured = groups[WARMUP:]
            ops = Counter(r["op"] for g in measured for r in g)
            per_call = Counter(tuple(r["op"] for r in g) for g in measured)
            n_req = sum(len(g) for g in measured) / len(measured)
            attempts = sum(r["attempts"] for g in measured for r in g) / len(measured)
            tx_items = [len(r["params"]["TransactItems"]) for g in measured for r in g
                        if r["op"] == "TransactWriteItems"]
            computed_ops: set[str] = set()
            rcu = wcu = 0.0
            for g in measured:
                for r in g:
                    cu = capacity_units(r["consumed"])
                    if cu is None:  # DynamoDB Local returned none: compute it per the documented rules
                        cu = computed_capacity(r, lookup)
                        computed_ops.add(r["op"])
                    if r["op"] in READ_OPS:
                        rcu += cu
                    else:
                        wcu += cu
            # Cross-check on a sample: the same requests priced per DynamoDB's documented rules.
            sample = measured[:CAPACITY_SAMPLE]
            doc_r = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] in READ_OPS)
            doc_w = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] not in READ_OPS)
            gsi = sum(1 for g in sample for r in g for a in (r["params"].get("TransactItems") or [])
                      if "gsi1pk" in (a.get("Put") or {}).get("Item", {}))

            print(f"  -- {sc.label}: timed pass, handler and floor replay alternating", flush=True)
            timed = sc.events("timed", n_pass)
            replay = [[(api_to_method[r["op"]], _retarget(r["params"], table_name, floor_name)) for r in g]
                      for g in groups]
            h_lat: list[float] = []
            f_lat: list[float] = []
            floor_errors: Counter = Counter()

            def call_handler(i):
                t = time.perf_counter()
                out = handler(timed[i], lctx)
                dt = time.perf_counter() - t
                if out["statusCode"] != sc.expected_status:
                    bad[out["statusCode"]] += 1
                return dt

            def call_floor(i):
                t = time.perf_counter()
                for method, params in replay[i]:
                    try:
                        getattr(bare, method)(**params)
                    except bare.exceptions.ClientError as e:
                        floor_errors[e.response.get("Error", {}).get("Code", "?")] += 1
                return time.perf_counter() - t

            with contextlib.redirect_stdout(emf_sink):
                for i in range(n_pass):
                    if i % 2:  # floor first on odd calls, handler first on even ones
                        fl = call_floor(i)
                        hd = call_handler(i)
                    else:
                        hd = call_handler(i)
                        fl = call_floor(i)
                    if i >= WARMUP:
                        h_lat.append(hd)
                        f_lat.append(fl)

            label = sc.label
            shapes = ", ".join(f"{'+'.join(k) or '(none)'} x{v}" for k, v in per_call.most_common(3))
            if label == "validation":
                ok = all(len(k) == 1 for k in per_call)
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shapes})",
                                          "1 request", verdict(ok))))
            elif not sc.idempotent:
                ok = set(per_call) == {("TransactWriteItems",)}
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shapes})",
                                          "1 TransactWriteItems", verdict(ok))))
            else:
                ok = set(per_call) == {("PutItem", "TransactWriteItems")}
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shapes})",
                                          "1 PutItem + 1 TransactWriteItems (expected)", verdict(ok))))
            if tx_items:
                figures.append(say(Figure(NAME, f"{label}: items per transaction",
                                          f"{min(tx_items)}..{max(tx_items)}")))
            if attempts != n_req:
                figures.append(say(Figure(NAME, f"{label}: HTTP attempts/call (retries)", f"{attempts:.2f}")))
            source = "reported by DynamoDB Local" if not computed_ops else \
                f"computed from item sizes: DynamoDB Local returned none for {', '.join(sorted(computed_ops))}"
            figures.append(say(Figure(NAME, f"{label}: capacity/call ({source})",
                                      f"{rcu / len(measured):.2f} RCU + {wcu / len(measured):.2f} WCU")))
            gsi_note = f" + {gsi / len(sample):.0f} GSI write (not priced)" if gsi else ""
            figures.append(say(Figure(NAME, f"{label}: capacity/call per documented rules (item sizes)",
                                      f"{doc_r / len(sample):.2f} RCU + {doc_w / len(sample):.2f} WCU{gsi_note}")))
            hp50, hp99 = percentile(h_lat, 50), percentile(h_lat, 99)
            fp50, fp99 = percentile(f_lat, 50), percentile(f_lat, 99)
            figures.append(say(Figure(NAME, f"{label}: handler p50 / p99", f"{ms(hp50)} / {ms(hp99)}")))
            figures.append(say(Figure(NAME, f"{label}: floor (same requests, bare botocore) p50 / p99",
                                      f"{ms(fp50)} / {ms(fp99)}")))
            figures.append(say(Figure(NAME, f"{label}: overhead handler_p50 / floor_p50", f"{hp50 / fp50:.2f}x",
                                      f"<= {MAX_OVERHEAD}x", verdict(hp50 / fp50 <= MAX_OVERHEAD))))
            if bad:
                figures.append(say(Figure(NAME, f"{label}: unexpected answers", f"{dict(bad)}; first: "
                                          f"{str(first_bad)[:200]}", f"all {sc.expected_status}", "MISS")))
            if floor_errors:
                figures.append(say(Figure(NAME, f"{label}: floor replay errors", str(dict(floor_errors)),
                                          "none", "MISS")))
        _reset_engine_state()
        emf_sink.close()
    ctx.drop_table(table_name)
    ctx.drop_table(floor_name)
    return figures
