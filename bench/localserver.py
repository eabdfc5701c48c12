"""The local API server (`make run`, local/server.py) under load, next to the handlers' own time.

`python -m local.run` runs as a subprocess (its own interpreter, as a user runs it; the shared DynamoDB Local of the
benchmark run, a fresh table, a config with two public codes, schedules off), and this process is the client:
1. The handlers alone, in this process (the same functions, table and config, events built as local/server.py
   builds them): GET /v1/health (operators), POST /v1/validations and POST /v1/redemptions (storefront), one
   caller: p50/p99 and calls per second.
2. The same over HTTP at 1, 16 and 64 clients, each client a thread on one keep-alive connection: throughput,
   p50/p99, errors. Every redemption is a new customer and order on an uncapped public code.
3. New connections: 8 clients connecting at the same moment (a barrier) x 20 rounds, and 64 x 5 rounds (the
   tables of issue 15): errors, p99 and the whole time.
4. 2,000 redemptions over 64 threads on a public code capped at 500 redemptions: no connection error, exactly 500
   answered 201, the code's count 500.

BENCH_LOCALSERVER_REQUESTS (600 per endpoint and client count), BENCH_LOCALSERVER_ROOT (the source tree whose
`python -m local.run` is measured: another checkout gives the before/after figures).
"""
from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from . import ROOT, Context, Figure, median, percentile, say, verdict

NAME = "localserver"
REQUESTS = int(os.environ.get("BENCH_LOCALSERVER_REQUESTS", "600"))
SERVER_ROOT = Path(os.environ.get("BENCH_LOCALSERVER_ROOT") or ROOT).resolve()
CLIENTS = (1, 16, 64)
CAP = 500
CAPPED_REDEMPTIONS = 2000
CAPPED_THREADS = 64
MAX_SECONDS = 120  # per measurement: every loop here ends by count or by this
STOREFRONT_KEY = "bench-storefront-key"
OPERATOR_KEY = "bench-operator-key"
PUBLIC_CODE = "BENCHOPEN"
CAPPED_CODE = "BENCHCAP500"

CAMPAIGNS = [
    {"id": "bench-open", "name": "Bench open", "enabled": True, "codes": {"type": "public", "code": PUBLIC_CODE},
     "reward": {"type": "percent_off", "percent": 10}},
    {"id": "bench-capped", "name": "Bench capped", "enabled": True, "codes": {"type": "public", "code": CAPPED_CODE},
     "reward": {"type": "percent_off", "percent": 10}, "limits": {"total_redemptions": CAP}},
]


def _order_body(code: str, n: int, tag: str) -> dict:
    customer = f"c-{tag}-{n}"
    return {"code": code, "customer": {"id": customer, "country": "DE"},
            "order": {"id": f"o-{tag}-{n}", "currency": "EUR", "amount": 7990,
                      "items": [{"sku": "SKU-1", "category": "shoes", "quantity": 1, "unit_price": 7990}]}}


# --- the server as a user runs it --------------------------------------------------------------------------------

@dataclass
class Server:
    proc: subprocess.Popen
    host: str
    port: int
    log_path: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)  # Ctrl-C
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _start_server(endpoint: str, table: str, tmp: Path) -> Server:
    from local.dynamodb_local import free_port

    port = free_port()
    log_path = tmp / "local-run.log"
    env = {**os.environ, "PORT": str(port), "DYNAMODB_ENDPOINT": endpoint, "TABLE_NAME": table,
           "INCENTIVES_CONFIG_DIR": str(tmp / "config"), "INCENTIVES_DATA_DIR": str(tmp / "data"),
           "LOCAL_SCHEDULES": "off", "STOREFRONT_API_KEY": STOREFRONT_KEY, "OPERATOR_API_KEY": OPERATOR_KEY,
           "PYTHONUNBUFFERED": "1"}
    env.pop("FUNCTIONS_DIR", None)
    t0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "local.run"], cwd=SERVER_ROOT, env=env, stdout=log,
                                stderr=subprocess.STDOUT)
    server = Server(proc, "127.0.0.1", port, log_path)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"local.run exited with {proc.returncode}: {log_path.read_text()[-2000:]}")
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection(server.host, port, timeout=5)
            conn.request("GET", "/v1/health")
            r = conn.getresponse()
            r.read()
            conn.close()
            if r.status == 200:
                print(f"  local.run ({SERVER_ROOT}) answering on :{port} after {time.perf_counter() - t0:.1f} s",
                      flush=True)
                return server
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"local.run not ready: {log_path.read_text()[-2000:]}")


# --- load ----------------------------------------------------------------------------------------------------------

@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    seconds: float = 0.0

    @property
    def done(self) -> int:
        return len(self.latencies)

    def describe(self) -> str:
        if not self.latencies:
            return f"no answer; errors {dict(self.errors)}"
        return (f"{self.done / self.seconds:,.0f} req/s, p50 {percentile(self.latencies, 50) * 1000:.2f} ms, "
                f"p99 {percentile(self.latencies, 99) * 1000:.2f} ms; "
                + ", ".join(f"{n} x {s}" for s, n in sorted(self.statuses.items()))
                + (f"; ERRORS {dict(self.errors)}" if self.errors else ""))


def keep_alive(server: Server, clients: int, requests: int, make, timeout: float = 30) -> Load:
    """``clients`` threads, each on one keep-alive connection, share ``requests`` requests (make(i) -> method, path,
    body, headers), started together."""
    out = Load()
    lock = threading.Lock()
    counter = itertools.count()
    barrier = threading.Barrier(clients + 1)
    stop_at: list[float] = []

    def client() -> None:
        conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
        lat: list[float] = []
        statuses: Counter = Counter()
        errors: Counter = Counter()
        barrier.wait()
        while True:
            i = next(counter)
            if i >= requests or time.monotonic() > stop_at[0]:
                break
            method, path, body, headers = make(i)
            t0 = time.perf_counter()
            try:
                conn.request(method, path, body=body, headers=headers)
                r = conn.getresponse()
                r.read()
                lat.append(time.perf_counter() - t0)
                statuses[r.status] += 1
            except (OSError, http.client.HTTPException) as e:
                errors[type(e).__name__] += 1
                conn.close()  # http.client opens a new connection for the next request
        conn.close()
        with lock:
            out.latencies.extend(lat)
            out.statuses.update(statuses)
            out.errors.update(errors)

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    stop_at.append(time.monotonic() + MAX_SECONDS)
    t0 = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(MAX_SECONDS + timeout + 10)
    out.seconds = time.perf_counter() - t0
    return out


def new_connections(server: Server, clients: int, rounds: int, timeout: float = 30) -> Load:
    """``rounds`` times: ``clients`` threads pass a barrier together, each sends GET /v1/health on a new connection."""
    out = Load()
    lock = threading.Lock()
    t_start = time.perf_counter()
    for _ in range(rounds):
        barrier = threading.Barrier(clients)

        def client(barrier: threading.Barrier) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            conn = http.client.HTTPConnection(server.host, server.port, timeout=timeout)
            try:
                conn.request("GET", "/v1/health")
                r = conn.getresponse()
                r.read()
                with lock:
                    out.latencies.append(time.perf_counter() - t0)
                    out.statuses[r.status] += 1
            except (OSError, http.client.HTTPException) as e:
                with lock:
                    out.errors[type(e).__name__] += 1
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(barrier,), daemon=True) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 10)
    out.seconds = time.perf_counter() - t_start
    return out


# --- the benchmark -------------------------------------------------------------------------------------------------

def _handlers_in_process(tmp: Path, table: str, endpoint: str):
    """{endpoint name: call()} for the three handlers in this process, with the events local/server.py builds."""
    from local import lambdas
    from local.server import STOREFRONT_KEY_ID, build_event, match_route

    from .dynamo import reset_engine_state

    reset_engine_state()
    from incentives.http.routes import ROUTES

    seq = itertools.count()
    calls = {}
    for name, method, path, folder_key in (("health", "GET", "/v1/health", None),
                                           ("validation", "POST", "/v1/validations", STOREFRONT_KEY_ID),
                                           ("redemption", "POST", "/v1/redemptions", STOREFRONT_KEY_ID)):
        route = match_route(method, path, ROUTES).route
        handler = lambdas.load_handler(route.function, ROOT / "functions")
        context = lambdas.LambdaContext(route.function)

        def call(route=route, handler=handler, context=context, name=name, method=method, path=path,
                 key_id=folder_key) -> int:
            body = None if method == "GET" else json.dumps(_order_body(PUBLIC_CODE, next(seq), "inproc")).encode()
            event = build_event(route, method, path, [("Host", "127.0.0.1"), ("Content-Type", "application/json")],
                                body, api_key="k" if key_id else None, api_key_id=key_id)
            return handler(event, context)["statusCode"]

        calls[name] = call
    return calls


def _requests(tag: str):
    seq = itertools.count()
    key = {"x-api-key": STOREFRONT_KEY, "Content-Type": "application/json"}
    return {
        "health": lambda i: ("GET", "/v1/health", None, {}),
        "validation": lambda i: ("POST", "/v1/validations",
                                 json.dumps(_order_body(PUBLIC_CODE, next(seq), tag)).encode(), key),
        "redemption": lambda i: ("POST", "/v1/redemptions",
                                 json.dumps(_order_body(PUBLIC_CODE, next(seq), tag)).encode(), key),
    }


def run(ctx: Context) -> list[Figure]:
    import yaml

    from .dynamo import engine_env

    endpoint = ctx.ddb()
    table = ctx.fresh_table("bench-localserver")
    figures: list[Figure] = []

    def fig(name: str, value: str, target: str = "", status: str = "-") -> None:
        figures.append(say(Figure(NAME, name, value, target, status)))

    with tempfile.TemporaryDirectory(prefix="bench-localserver-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "config" / "campaigns").mkdir(parents=True)
        for c in CAMPAIGNS:
            (tmp / "config" / "campaigns" / f"{c['id']}.yaml").write_text(yaml.safe_dump(c), encoding="utf-8")
        server = _start_server(endpoint, table, tmp)
        try:
            # 1. the handlers alone, and over HTTP from 1 client: in blocks of 20 taking turns (the same load)
            expected = {"health": 200, "validation": 200, "redemption": 201}
            own: dict[str, list[float]] = {}
            one: dict[str, Load] = {}
            with engine_env(tmp_s, table, endpoint, "storefront"), \
                    contextlib.redirect_stdout(open(os.devnull, "w")):  # Powertools' EMF lines
                calls = _handlers_in_process(tmp, table, endpoint)
                for name, call in calls.items():
                    make = _requests(f"http1-{uuid.uuid4().hex[:6]}")[name]
                    for _ in range(30):
                        call()
                    keep_alive(server, 1, 30, make)
                    own[name], one[name] = [], Load()
                    for _ in range(max(1, REQUESTS // 20)):
                        for _ in range(20):
                            t0 = time.perf_counter()
                            status = call()
                            own[name].append(time.perf_counter() - t0)
                            if status != expected[name]:
                                raise RuntimeError(f"{name} in process answered {status}")
                        block = keep_alive(server, 1, 20, make)
                        one[name].latencies += block.latencies
                        one[name].statuses.update(block.statuses)
                        one[name].errors.update(block.errors)
                        one[name].seconds += block.seconds
            for name, lat in own.items():
                fig(f"{name}: handler alone, in process, 1 caller",
                    f"{len(lat) / sum(lat):,.0f} calls/s, p50 {percentile(lat, 50) * 1000:.2f} ms, "
                    f"p99 {percentile(lat, 99) * 1000:.2f} ms")
                load = one[name]
                ok = not load.errors and set(load.statuses) == {expected[name]}
                gap = median(load.latencies) - median(lat)
                fig(f"{name}: HTTP keep-alive, 1 client",
                    load.describe() + f"; p50 - handler's p50 = {gap * 1000:.2f} ms",
                    "p50 within 2 ms of the handler's", verdict(ok and gap < 0.002))

            # 2. over HTTP, keep-alive, 16 and 64 clients
            for name in ("health", "validation", "redemption"):
                for clients in CLIENTS[1:]:
                    make = _requests(f"http{clients}-{uuid.uuid4().hex[:6]}")[name]
                    keep_alive(server, clients, min(REQUESTS, 2 * clients), make)  # warm-up (connections, threads)
                    load = keep_alive(server, clients, REQUESTS, make)
                    ok = not load.errors and set(load.statuses) == {expected[name]}
                    fig(f"{name}: HTTP keep-alive, {clients} clients", load.describe(), "no error, no 503", verdict(ok))

            # 3. new connections, all at the same moment
            for clients, rounds in ((8, 20), (64, 5)):
                load = new_connections(server, clients, rounds)
                ok = not load.errors and set(load.statuses) == {200} and max(load.latencies) < 2.0
                fig(f"health: {clients} new connections at once x {rounds} rounds",
                    f"{load.seconds:.2f} s in all; {load.done} answered,"
                    f" p50 {percentile(load.latencies, 50) * 1000:.1f}"
                    f" ms, p99 {percentile(load.latencies, 99) * 1000:.1f} ms, max {max(load.latencies) * 1000:.1f} ms"
                    + (f"; ERRORS {dict(load.errors)}" if load.errors else "") if load.latencies
                    else f"no answer; errors {dict(load.errors)}",
                    "no error, every answer within 2 s", verdict(ok))

            # 4. a capped public code under 64 threads
            seq = itertools.count()
            key = {"x-api-key": STOREFRONT_KEY, "Content-Type": "application/json"}
            load = keep_alive(server, CAPPED_THREADS, CAPPED_REDEMPTIONS, lambda i: (
                "POST", "/v1/redemptions", json.dumps(_order_body(CAPPED_CODE, next(seq), "cap")).encode(), key))
            conn = http.client.HTTPConnection(server.host, server.port, timeout=30)
            conn.request("GET", f"/v1/codes/{CAPPED_CODE}", headers={"x-api-key": STOREFRONT_KEY})
            r = conn.getresponse()
            count = json.loads(r.read()).get("redemptions", {}).get("count")
            conn.close()
            fig(f"{CAPPED_REDEMPTIONS:,} redemptions over {CAPPED_THREADS} threads, code capped at {CAP}",
                f"{load.seconds:.1f} s; {load.describe()}; the code's count {count}",
                f"no connection error, exactly {CAP} x 201",
                verdict(not load.errors and load.statuses.get(201) == CAP and count == CAP
                        and load.done == CAPPED_REDEMPTIONS))
            log = server.log_path.read_text(errors="replace")
            started = re.search(r"functions loaded in ([\d.]+) s", log)
            if started:
                fig("local.run: functions loaded in", f"{started.group(1)} s")
        finally:
            server.stop()
            ctx.drop_table(table)
    return figures
