"""Helpers for the end-to-end tests: start the real local run (`python -m local.run`) as a subprocess.

``start_local_run(workdir, functions_dir=None, **env)`` starts one (its own DynamoDB Local, data in a temp
dir, a free port) and waits until /v1/health answers anything but 503; ``write_fake_functions`` writes tiny
stand-in handlers, to test the server's own behaviour independently of the real handlers; ``serving`` runs
local/server.py in this process; ``simultaneous`` and ``keep_alive_load`` are the load clients of the server tests.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from local.dynamodb_local import free_port

ROOT = Path(__file__).resolve().parents[2]
STOREFRONT_KEY = "e2e-storefront-key"
OPERATOR_KEY = "e2e-operator-key"


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)


@dataclass
class LocalRun:
    proc: subprocess.Popen
    base_url: str
    log_path: Path

    def request(self, method: str, path: str, body=None, headers: dict | None = None, timeout: float = 30) -> Reply:
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers or {})
        if data is not None and "Content-Type" not in (headers or {}):
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return Reply(r.status, dict(r.headers), r.read())
        except urllib.error.HTTPError as e:
            return Reply(e.code, dict(e.headers), e.read())

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def java_children(self) -> list[int]:
        return [pid for pid in _descendants(self.proc.pid) if "java" in _cmdline(pid)]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                for pid in self.java_children():
                    _kill(pid)
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for task in Path(f"/proc/{p}/task").glob("*"):
            try:
                kids = [int(x) for x in (task / "children").read_text().split()]
            except OSError:
                kids = []
            out.extend(kids)
            todo.extend(kids)
    return out


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def start_local_run(workdir: Path, functions_dir: Path | None = None, timeout: float = 90, **env) -> LocalRun:
    port = free_port()
    log_path = workdir / "local-run.log"
    full_env = {
        **os.environ,
        "PORT": str(port),
        "INCENTIVES_DATA_DIR": str(workdir / "data"),
        "STOREFRONT_API_KEY": STOREFRONT_KEY,
        "OPERATOR_API_KEY": OPERATOR_KEY,
        "PYTHONUNBUFFERED": "1",
        **({"FUNCTIONS_DIR": str(functions_dir)} if functions_dir else {}),
        **env,
    }
    full_env.pop("DYNAMODB_ENDPOINT", None)  # each run starts (and must stop) its own DynamoDB Local
    if "DYNAMODB_ENDPOINT" in env:
        full_env["DYNAMODB_ENDPOINT"] = env["DYNAMODB_ENDPOINT"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "local.run"], cwd=ROOT, env=full_env,
                                stdout=log, stderr=subprocess.STDOUT)
    run = LocalRun(proc, f"http://127.0.0.1:{port}", log_path)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"local run exited with {proc.returncode}:\n{run.log()}")
        try:
            if run.request("GET", "/v1/health", timeout=5).status != 503:
                return run
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    run.stop()
    raise RuntimeError(f"local run not ready after {timeout}s:\n{run.log()}")


FAKE_STOREFRONT = '''
import json, os, time

from incentives import wiring

def lambda_handler(event, context):
    code = (event.get("pathParameters") or {}).get("code")
    if code == "boom":
        raise RuntimeError("boom")
    if code == "slow":  # GET /v1/codes/slow?seconds=1: a handler that takes its time
        print("slow handler started", flush=True)
        time.sleep(float((event.get("queryStringParameters") or {}).get("seconds", "1")))
        return {"statusCode": 200, "body": json.dumps({"slept": True})}
    if code == "malformed":
        return "not a proxy response"
    return {"statusCode": 200, "headers": {"Content-Type": "application/json", "X-Fake": "storefront"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
            "body": json.dumps({"event": event, "context": {
                "function_name": context.function_name, "aws_request_id": context.aws_request_id,
                "invoked_function_arn": context.invoked_function_arn,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "remaining": context.get_remaining_time_in_millis()},
                "env": {k: os.environ.get(k) for k in ("TABLE_NAME", "CONFIG_SOURCE", "DYNAMODB_ENDPOINT",
                        "OPERATOR_API_KEY_IDS", "FUNCTIONS_DIR", "LOCAL_OUTBOX_DIR",
                        "INCENTIVES_CONFIG_DIR", "POWERTOOLS_TRACE_DISABLED", "AWS_REGION")},
                "wired": {"bus": type(wiring.bus()).__name__, "dispatcher": type(wiring.dispatcher()).__name__},
                "service": SERVICE})}

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME")
'''

FAKE_OPERATORS = '''
import json, os

def _error(status, code, message):
    return {"statusCode": status, "headers": {"Content-Type": "application/json"},
            "body": json.dumps({"error": {"code": code, "message": message, "details": {}}})}

def lambda_handler(event, context):
    if event["resource"] == "/v1/health":
        return {"statusCode": 200, "body": json.dumps({"status": "ok"})}
    key_id = event["requestContext"]["identity"]["apiKeyId"]
    if key_id not in os.environ.get("OPERATOR_API_KEY_IDS", "").split(","):
        return _error(403, "forbidden", "operator key required")
    return {"statusCode": 200, "body": json.dumps({"resource": event["resource"]})}
'''

FAKE_CLAIMS = '''
import json

def lambda_handler(event, context):
    return {"statusCode": 201, "body": json.dumps({"campaign_id": event["pathParameters"]["campaign_id"]})}
'''


def write_fake_functions(base: Path) -> Path:
    for folder, src in (("storefront", FAKE_STOREFRONT), ("operators", FAKE_OPERATORS), ("claims", FAKE_CLAIMS)):
        (base / folder).mkdir(parents=True, exist_ok=True)
        (base / folder / f"{folder}_handler.py").write_text(textwrap.dedent(src))
    return base


# --------------------------------------------------------------------------- the server in this process, load clients

@contextlib.contextmanager
def serving(api, **options) -> Iterator:
    """local/server.py's server for ``api`` on a free port in this process (``options``: threads, queue_size);
    yields it (``server.server_address``) and stops it afterwards."""
    from local.server import make_server, serve_in_thread

    server = make_server(api, "127.0.0.1", 0, **options)
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown(timeout=5)
        server.server_close()
        thread.join(5)


@dataclass
class Outcome:
    status: int | None
    seconds: float
    error: str | None = None
    headers: dict = field(default_factory=dict)


def _hostport(base_url: str) -> tuple[str, int]:
    u = urlsplit(base_url)
    return u.hostname or "127.0.0.1", u.port or 80


def fetch(base_url: str, path: str, headers: dict | None = None, timeout: float = 10) -> Outcome:
    """One GET on a new connection."""
    host, port = _hostport(base_url)
    t0 = time.perf_counter()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers=headers or {})
        r = conn.getresponse()
        r.read()
        return Outcome(r.status, time.perf_counter() - t0, None, dict(r.getheaders()))
    except (OSError, http.client.HTTPException) as e:
        return Outcome(None, time.perf_counter() - t0, f"{type(e).__name__}: {e}")
    finally:
        conn.close()


def simultaneous(base_url: str, path: str, clients: int, rounds: int = 1, headers: dict | None = None,
                 timeout: float = 10) -> list[Outcome]:
    """``rounds`` times: ``clients`` threads pass a barrier together and each sends one GET on a new connection."""
    out: list[Outcome] = []
    lock = threading.Lock()
    for _ in range(rounds):
        barrier = threading.Barrier(clients)

        def client(barrier: threading.Barrier) -> None:
            barrier.wait(30)
            o = fetch(base_url, path, headers, timeout)
            with lock:
                out.append(o)

        threads = [threading.Thread(target=client, args=(barrier,)) for _ in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 30)
    return out


@dataclass
class LoadResult:
    statuses: Counter
    errors: list[str]
    per_client: list[int]


def keep_alive_load(base_url: str, path: str, clients: int, seconds: float, timeout: float = 10) -> LoadResult:
    """``clients`` threads, each on one keep-alive connection, send GETs back to back for ``seconds``."""
    host, port = _hostport(base_url)
    statuses: Counter = Counter()
    errors: list[str] = []
    per_client = [0] * clients
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    deadline: list[float] = []

    def client(i: int) -> None:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
        local: Counter = Counter()
        try:
            barrier.wait(30)
            with lock:
                if not deadline:
                    deadline.append(time.monotonic() + seconds)
            while time.monotonic() < deadline[0]:
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                local[r.status] += 1
                per_client[i] += 1
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as e:
            with lock:
                errors.append(f"{type(e).__name__}: {e}")
        finally:
            conn.close()
            with lock:
                statuses.update(local)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + timeout + 30)
    return LoadResult(statuses, errors, per_client)
