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
import os
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from . import Context, Figure, RequestRecorder, median, say, verdict
from .dynamo import (Capacity, LambdaContext, alternate, clients, copy_table, engine_env, item_lookup,
                     latency_figures, load_handler, proxy_event, record, requests_and_attempts, reset_engine_state,
                     shapes)

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


def _event(resource: str, body: dict, headers: dict | None = None) -> dict:
    return proxy_event(resource, body, STOREFRONT_KEY_ID, headers)


def _checkout_body(code: str, customer: str, order: str) -> dict:
    return {"code": code,
            "customer": {"id": customer, "email": f"{customer}@example.com", "country": "DE"},
            "order": {"id": order, "currency": "EUR", "amount": 7990,
                      "items": [{"sku": "SKU-1", "category": "shoes", "quantity": 1, "unit_price": 5990},
                                {"sku": "SKU-2", "category": "socks", "quantity": 2, "unit_price": 1000}]}}


# --- the benchmark ---------------------------------------------------------------------------------------------

def _preissue(table, config, count: int) -> list[str]:
    """Unique codes issued by the engine itself (Issuance.issue, at most SYNC_MAX per call)."""
    from incentives.services import issuance as iss

    issuer = iss.Issuance(table, config)
    step = getattr(iss, "SYNC_MAX", 50)
    codes: list[str] = []
    now = datetime.now(UTC)
    while len(codes) < count:
        out = issuer.issue(CAMPAIGN_ID, min(step, count - len(codes)), None, None, now)
        if out.codes is None:
            raise RuntimeError(f"Issuance.issue answered a job, not codes: {str(out.body)[:300]}")
        codes.extend(c["code"] for c in out.codes)
    return codes


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


STUB_CALLS = int(os.environ.get("BENCH_CHECKOUT_STUB_CALLS", "4000"))


def _engine_cpu(handler, lctx, engine_client, validation_code: str, redemption_code: str) -> dict[str, float]:
    """What the engine itself spends per call, without DynamoDB: the shared client's `_make_api_call` answers
    every request with the response a real call got (one real call per path first). The handler-over-floor
    ratio above moves with the machine's load by more than this whole figure; this one does not wait on
    DynamoDB Local's JVM, so it compares across commits (run it on two checkouts, alternating)."""
    real = engine_client._make_api_call
    out = {}
    try:
        for label, resource, code, status in (("validation", "/v1/validations", validation_code, 200),
                                              ("redemption", "/v1/redemptions", redemption_code, 201)):
            ev = _event(resource, _checkout_body(code, "cust-stub", "order-stub"))
            recorded: dict = {}

            def keep(op, params, recorded=recorded):
                recorded[op] = real(op, params)
                return recorded[op]
            engine_client._make_api_call = keep
            first = handler(ev, lctx)
            engine_client._make_api_call = lambda op, params, recorded=recorded: recorded[op]
            lat = []
            for i in range(WARMUP + STUB_CALLS):
                t = time.perf_counter()
                got = handler(ev, lctx)
                if i >= WARMUP:
                    lat.append(time.perf_counter() - t)
            if first["statusCode"] != status or got["statusCode"] != status:
                raise RuntimeError(f"stubbed {label}: {first['statusCode']}, {got['statusCode']}")
            out[label] = median(lat)
    finally:
        engine_client._make_api_call = real
    return out


def run(ctx: Context) -> list[Figure]:
    endpoint = ctx.ddb()
    table_name = ctx.fresh_table("bench-checkout")
    floor_name = ctx.fresh_table("bench-checkout-floor")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-checkout-") as tmp, \
            engine_env(tmp, table_name, endpoint, "storefront"):
        import yaml

        campaigns = Path(tmp) / "config" / "campaigns"
        campaigns.mkdir(parents=True)
        (campaigns / f"{CAMPAIGN_ID}.yaml").write_text(yaml.safe_dump(CAMPAIGN), encoding="utf-8")
        reset_engine_state()

        from incentives.adapters.config_source import default_source
        from incentives.adapters.dynamo import Table

        engine_client, bare, floor = clients(endpoint)
        n_pass = WARMUP + CALLS

        t0 = time.perf_counter()
        codes = _preissue(Table(table_name, engine_client), default_source(), VALIDATION_CODES + 4 * n_pass + 1)
        copied = copy_table(bare, table_name, floor_name)
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
        handler = load_handler("storefront")
        lctx = LambdaContext("storefront")
        lookup = item_lookup(bare)
        emf_sink = open(os.devnull, "w")  # the EMF metric lines Powertools prints per invocation, as in Lambda

        for sc in scenarios:
            print(f"  -- {sc.label}: {WARMUP} warm-up + {CALLS} calls, instrumented pass", flush=True)
            bad: Counter = Counter()
            first_bad = None

            # defaults bind this scenario's values (the closure is only called within its iteration anyway)
            def call_handler(ev, keep_first: bool, expected: int = sc.expected_status, bad: Counter = bad) -> float:
                nonlocal first_bad
                t = time.perf_counter()
                out = handler(ev, lctx)
                dt = time.perf_counter() - t
                if out["statusCode"] != expected:
                    bad[out["statusCode"]] += 1
                    if keep_first:  # the first unexpected body of the instrumented pass
                        first_bad = first_bad or out.get("body")
                return dt

            instrumented = sc.events("instrumented", n_pass)
            with RequestRecorder(engine_client) as rec, contextlib.redirect_stdout(emf_sink):
                groups = record(rec, [lambda ev=ev: call_handler(ev, True) for ev in instrumented])
            measured = groups[WARMUP:]
            per_call = Counter(tuple(r["op"] for r in g) for g in measured)
            n_req, attempts = requests_and_attempts(measured)
            tx_items = [len(r["params"]["TransactItems"]) for g in measured for r in g
                        if r["op"] == "TransactWriteItems"]
            # priced before the timed pass, on the items as the instrumented pass left them
            capacity = Capacity.of(measured, lookup, CAPACITY_SAMPLE)

            print(f"  -- {sc.label}: timed pass, handler and floor replay alternating", flush=True)
            timed = sc.events("timed", n_pass)
            replay = floor.plan(groups, table_name, floor_name)
            floor_errors: Counter = Counter()
            with contextlib.redirect_stdout(emf_sink):
                h_lat, f_lat = alternate(n_pass, lambda i, timed=timed: call_handler(timed[i], False),
                                         lambda i, replay=replay, errs=floor_errors: floor.call(replay[i], errs),
                                         WARMUP)

            label = sc.label
            shape = shapes(measured)
            if label == "validation":
                ok = all(len(k) == 1 for k in per_call)
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shape})",
                                          "1 request", verdict(ok))))
            elif not sc.idempotent:
                ok = set(per_call) == {("TransactWriteItems",)}
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shape})",
                                          "1 TransactWriteItems", verdict(ok))))
            else:
                ok = set(per_call) == {("PutItem", "TransactWriteItems")}
                figures.append(say(Figure(NAME, f"{label}: DynamoDB requests/call", f"{n_req:.2f} ({shape})",
                                          "1 PutItem + 1 TransactWriteItems (expected)", verdict(ok))))
            if tx_items:
                figures.append(say(Figure(NAME, f"{label}: items per transaction",
                                          f"{min(tx_items)}..{max(tx_items)}")))
            if attempts != n_req:
                figures.append(say(Figure(NAME, f"{label}: HTTP attempts/call (retries)", f"{attempts:.2f}")))
            figures.extend(capacity.figures(NAME, f"{label}: ", "call"))
            figures.extend(latency_figures(NAME, f"{label}: ", h_lat, f_lat, MAX_OVERHEAD))
            if bad:
                figures.append(say(Figure(NAME, f"{label}: unexpected answers", f"{dict(bad)}; first: "
                                          f"{str(first_bad)[:200]}", f"all {sc.expected_status}", "MISS")))
            if floor_errors:
                figures.append(say(Figure(NAME, f"{label}: floor replay errors", str(dict(floor_errors)),
                                          "none", "MISS")))
        with contextlib.redirect_stdout(emf_sink):
            cpu = _engine_cpu(handler, lctx, engine_client, validation_codes[0], codes[-1])
        for label, p50 in cpu.items():
            figures.append(say(Figure(NAME, f"{label}: engine CPU/call, client stubbed (p50)", f"{p50 * 1e6:.0f} us")))
        reset_engine_state()
        emf_sink.close()
    ctx.drop_table(table_name)
    ctx.drop_table(floor_name)
    return figures
