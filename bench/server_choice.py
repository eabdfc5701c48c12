"""Which HTTP server under local/server.py's API Gateway emulation: ours (stdlib) or waitress? The measurement behind
the decision in docs/decision-log.md ("Local server: ..."). Not one of `make bench`'s benchmarks (waitress is not a
dependency): `pip install --target /tmp/waitress-lib waitress` then
`PYTHONPATH=/tmp/waitress-lib .venv/bin/python -m bench.server_choice`.

Each server runs in its own process and serves the same LocalApi (stand-in functions from tests/e2e/localrun.py:
the handler time is ~0, so what is measured is the server), on a free port:
- ``ours``: local/server.py's LocalApiServer (32 workers, queue 512);
- ``waitress``: waitress 3 with a WSGI adapter around the same LocalApi (threads=32, backlog=1024,
  connection_limit=1000: its default 100 would stall the 101st keep-alive client).
Figures: start-up (process start to the first 200), import time of the server, GET /v1/health p50/p99 on one
keep-alive connection, 64 new connections at once x 5 rounds, 256 keep-alive clients for 5 s, saturation (2 workers,
ours with a queue of 2, a 1 s handler, 16 clients at once) and what reaches the handler's event of a request with a
repeated header.
"""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import Counter
from pathlib import Path

from . import ROOT, percentile, setup_path

SERVE = textwrap.dedent('''
    import sys, time, logging
    sys.path[:0] = [sys.argv[3] + "/layers/core/python", sys.argv[3]]
    from pathlib import Path
    from local.server import LocalApi, Response
    kind, port, root, functions, threads = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])

    class Api(LocalApi):
        def handle(self, method, raw_path, headers, body, source_ip="127.0.0.1"):
            if raw_path == "/slow":
                time.sleep(1)
                return Response(200, [("Content-Type", "application/json")], b"{}")
            return super().handle(method, raw_path, headers, body, source_ip)

    api = Api(functions_dir=functions, storefront_key="sk", operator_key="ok")
    api.ready.set()
    if kind == "ours":
        from local.server import make_server
        make_server(api, "127.0.0.1", port, threads=threads).serve_forever()
    else:
        import waitress

        def app(environ, start_response):
            headers = [(k[5:].replace("_", "-").title(), v) for k, v in environ.items() if k.startswith("HTTP_")]
            for k in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                if environ.get(k):
                    headers.append((k.replace("_", "-").title(), environ[k]))
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else None
            query = environ.get("QUERY_STRING")
            path = environ.get("PATH_INFO", "/") + ("?" + query if query else "")
            r = api.handle(environ["REQUEST_METHOD"], path, headers, body, environ.get("REMOTE_ADDR", "127.0.0.1"))
            start_response(f"{r.status} X", [*r.headers, ("Content-Length", str(len(r.body)))])
            return [r.body]

        logging.getLogger("waitress").setLevel(logging.ERROR)
        waitress.serve(app, host="127.0.0.1", port=port, threads=threads, backlog=1024, connection_limit=1000,
                       _quiet=True)
''')


def _get(port: int, path: str, conn=None, headers=None) -> tuple[int, dict, bytes]:
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request("GET", path, headers=headers or {})
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        if conn is None:
            c.close()


def _start(kind: str, functions: Path, threads: int = 32, **env: str) -> tuple[subprocess.Popen, int, float]:
    from local.dynamodb_local import free_port

    port = free_port()
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", SERVE, kind, str(port), str(ROOT), str(functions), str(threads)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while time.perf_counter() - t0 < 60:
        try:
            if _get(port, "/v1/health")[0] == 200:
                return proc, port, time.perf_counter() - t0
        except OSError:
            time.sleep(0.01)
    proc.kill()
    raise RuntimeError(f"{kind} did not start")


def _import_ms(module: str) -> float:
    code = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                 cwd=ROOT, env={**os.environ, "PYTHONPATH": os.pathsep.join(
                                     [str(ROOT), str(ROOT / "layers/core/python"), os.environ.get("PYTHONPATH", "")])}
                                 ).stdout) for _ in range(5)]
    return sorted(runs)[2] * 1000


def _simultaneous(port: int, clients: int, rounds: int, path: str = "/v1/health") -> tuple[Counter, list[float]]:
    statuses: Counter = Counter()
    lat: list[float] = []
    lock = threading.Lock()
    for _ in range(rounds):
        barrier = threading.Barrier(clients)

        def client(barrier=barrier) -> None:
            barrier.wait()
            t0 = time.perf_counter()
            try:
                s = _get(port, path)[0]
            except (OSError, http.client.HTTPException) as e:
                s = type(e).__name__
            with lock:
                statuses[s] += 1
                lat.append(time.perf_counter() - t0)

        ts = [threading.Thread(target=client) for _ in range(clients)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
    return statuses, lat


def _keep_alive(port: int, clients: int, seconds: float) -> tuple[Counter, int]:
    statuses: Counter = Counter()
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    end: list[float] = []

    def client() -> None:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: Counter = Counter()
        barrier.wait()
        with lock:
            end or end.append(time.monotonic() + seconds)
        while time.monotonic() < end[0]:
            try:
                mine[_get(port, "/v1/health", c)[0]] += 1
            except (OSError, http.client.HTTPException) as e:
                mine[type(e).__name__] += 1
                c.close()
        c.close()
        with lock:
            statuses.update(mine)

    ts = [threading.Thread(target=client) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(seconds + 60)
    return statuses, sum(v for k, v in statuses.items() if k == 200)


def main() -> None:
    setup_path()
    from tests.e2e.localrun import write_fake_functions

    functions = write_fake_functions(Path(tempfile.mkdtemp(prefix="server-choice-")))
    print(f"load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"import local.server: {_import_ms('local.server'):.1f} ms; "
          f"import waitress.server: {_import_ms('waitress.server'):.1f} ms (median of 5)")
    for kind in ("ours", "waitress"):
        starts = []
        for _ in range(3):
            proc, port, started = _start(kind, functions)
            starts.append(started)
            proc.kill()
            proc.wait()
        proc, port, _ = _start(kind, functions)
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(100):
                _get(port, "/v1/health", c)
            lat = []
            for _ in range(2000):
                t0 = time.perf_counter()
                _get(port, "/v1/health", c)
                lat.append(time.perf_counter() - t0)
            c.close()
            st64, lat64 = _simultaneous(port, 64, 5)
            st256, ok256 = _keep_alive(port, 256, 5)
            # http.client sends a header once per putheader call: a repeated one through a raw request
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            c.putrequest("GET", "/v1/codes/X")
            for k, v in (("x-api-key", "sk"), ("X-Multi", "a"), ("X-Multi", "b")):
                c.putheader(k, v)
            c.endheaders()
            event = json.loads(c.getresponse().read())["event"]
            c.close()
        finally:
            proc.kill()
            proc.wait()
        proc, port, _ = _start(kind, functions, threads=2, LOCAL_API_QUEUE="2")  # waitress: no such bound
        try:
            t0 = time.perf_counter()
            st_sat, lat_sat = _simultaneous(port, 16, 1, "/slow")
            sat_time = time.perf_counter() - t0
        finally:
            proc.kill()
            proc.wait()
        print(f"\n{kind}:")
        print(f"  start-up to the first 200: {sorted(starts)[1] * 1000:.0f} ms (median of 3)")
        print(f"  health keep-alive, 1 client, 2000 requests: p50 {percentile(lat, 50) * 1000:.3f} ms, "
              f"p99 {percentile(lat, 99) * 1000:.3f} ms")
        print(f"  64 new connections at once x 5: {dict(st64)}, max {max(lat64) * 1000:.0f} ms")
        print(f"  256 keep-alive clients, 5 s: {dict(st256)} ({ok256 / 5:,.0f} req/s)")
        print(f"  saturated (2 workers, 1 s handler, 16 at once): {dict(st_sat)}; first answer "
              f"{min(lat_sat):.2f} s, last {max(lat_sat):.2f} s ({sat_time:.1f} s in all)")
        print(f"  the event of a request with x-api-key and X-Multi: a, X-Multi: b: headers "
              f"{ {k: v for k, v in event['headers'].items() if k.lower() in ('x-api-key', 'x-multi')} }, "
              f"multiValueHeaders {({k: v for k, v in event['multiValueHeaders'].items() if k.lower() == 'x-multi'})}")


if __name__ == "__main__":
    main()
