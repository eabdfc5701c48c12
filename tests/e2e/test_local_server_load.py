"""local/server.py in this process with stand-in handlers: 503 + Retry-After when its bounded pool is saturated, and
a stop with requests in flight. (64 simultaneous clients and 256 keep-alive clients against `python -m local.run`:
test_local_run_server.py; the server's p50 next to the real health handler's own time: test_local_run.py.)"""
from __future__ import annotations

import http.client
import socket
import sys
import threading
import time

import pytest

from local.server import LocalApi, Response, make_server, serve_in_thread
from tests.e2e.localrun import fetch, serving, simultaneous

pytestmark = [pytest.mark.e2e]


@pytest.fixture(autouse=True)
def _forget_handlers():
    """Handler modules loaded here (real or fake) must not stay in sys.modules for other tests in this worker."""
    before = {k: v for k, v in sys.modules.items() if k.startswith("fn_")}
    for k in before:
        del sys.modules[k]
    yield
    for k in [k for k in sys.modules if k.startswith("fn_")]:
        del sys.modules[k]
    sys.modules.update(before)


class SlowApi(LocalApi):
    """The stand-in functions, plus GET /slow: a handler that takes ``seconds`` (and says when it starts)."""

    def __init__(self, functions_dir, seconds: float):
        super().__init__(functions_dir=functions_dir, storefront_key="sk", operator_key="ok")
        self.seconds = seconds
        self.started = threading.Semaphore(0)
        self.ready.set()

    def handle(self, method, raw_path, headers, body, source_ip="127.0.0.1"):
        if raw_path == "/slow":
            self.started.release()
            time.sleep(self.seconds)
            return Response(200, [("Content-Type", "application/json")], b'{"slept": true}')
        return super().handle(method, raw_path, headers, body, source_ip)


def test_a_saturated_pool_answers_503_with_retry_after_at_once_and_recovers(fake_functions):
    api = SlowApi(fake_functions, seconds=2)
    with serving(api, threads=1, queue_size=1) as server:
        base = "http://{}:{}".format(*server.server_address)
        out = simultaneous(base, "/slow", clients=6)
        served = [o for o in out if o.status == 200]
        refused = [o for o in out if o.status == 503]
        # one request runs, one waits in the queue; the others are told to come back, at once
        assert len(served) + len(refused) == 6, [o.error for o in out]
        assert 1 <= len(served) <= 2 and len(refused) >= 4
        assert all(o.headers.get("Retry-After") == "1" for o in refused)
        assert all(o.headers.get("Connection") == "close" for o in refused)
        assert max(o.seconds for o in refused) < 1.5 < min(o.seconds for o in served)
        assert server.rejected == len(refused)
        # once the pool is free again, requests are served
        assert fetch(base, "/v1/health").status == 200


def test_shutdown_answers_the_requests_in_flight_and_closes_idle_connections(fake_functions):
    api = SlowApi(fake_functions, seconds=1)
    server = make_server(api, "127.0.0.1", 0, threads=4)
    thread = serve_in_thread(server)
    host, port = server.server_address
    base = f"http://{host}:{port}"
    idle = http.client.HTTPConnection(host, port, timeout=5)
    idle.request("GET", "/v1/health")
    assert idle.getresponse().read()
    results = []
    clients = [threading.Thread(target=lambda: results.append(fetch(base, "/slow"))) for _ in range(3)]
    for t in clients:
        t.start()
    for _ in clients:
        assert api.started.acquire(timeout=10)  # all three are in the handler
    t0 = time.monotonic()
    try:
        assert server.shutdown(timeout=10) is True
        took = time.monotonic() - t0
        for t in clients:
            t.join(10)
        assert [o.status for o in results] == [200, 200, 200]
        assert all(o.headers.get("Connection") == "close" for o in results)
        assert 0.3 < took < 5  # it waited for them, and no longer
        thread.join(5)
        assert not thread.is_alive()
        with pytest.raises((OSError, http.client.HTTPException)):  # the idle keep-alive connection was closed
            idle.request("GET", "/v1/health")
            idle.getresponse()
        with socket.socket() as s:
            assert s.connect_ex((host, port)) != 0  # not listening any more
    finally:
        idle.close()
        server.server_close()
