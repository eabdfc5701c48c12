"""Benchmarks of the incentives engine: `python -m bench [checkout imports codegen bulk]` (see docs/benchmarks.md).

They print figures next to their targets (PASS/MISS) and assert nothing. Shared pieces live here: the run
context (one DynamoDB Local in memory for the whole run, a fresh table per benchmark), figures, percentiles,
temporary environment variables and a bare botocore client configured like the engine's.
"""
from __future__ import annotations

import contextlib
import math
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "layers" / "core" / "python"

PASS, MISS, INFO, ERROR = "PASS", "MISS", "-", "ERROR"


def setup_path() -> None:
    """The engine's layer and the repo root on sys.path, as in Lambda (layer) and the tests (repo root)."""
    for p in (str(CORE), str(ROOT)):
        if p not in sys.path:
            sys.path.insert(0, p)


@dataclass
class Figure:
    bench: str
    name: str
    value: str
    target: str = ""
    status: str = INFO  # PASS | MISS | - (informational) | ERROR

    def line(self) -> str:
        tail = f"   target {self.target}: {self.status}" if self.target else ""
        return f"  {self.name:<52} {self.value}{tail}"


def verdict(ok: bool) -> str:
    return PASS if ok else MISS


def say(fig: Figure) -> Figure:
    """Print a figure as soon as it is known (the summary repeats it at the end)."""
    print(fig.line(), flush=True)
    return fig


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty list."""
    s = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(s)))
    return s[rank - 1]


def median(values: list[float]) -> float:
    s = sorted(values)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


@contextlib.contextmanager
def env(**values: str | None) -> Iterator[None]:
    """Set (or with None: unset) environment variables for the block, then restore them."""
    saved = {k: os.environ.get(k) for k in values}
    try:
        _set_env(values)
        yield
    finally:
        _set_env(saved)


def _set_env(values: dict[str, str | None]) -> None:
    for k, v in values.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


def engine_client_config(max_pool: int = 32, read_timeout: float = 5):
    """The botocore Config the engine's dynamodb_client() uses (adapters/dynamo.py), for the bare baselines."""
    from botocore.config import Config

    return Config(max_pool_connections=max_pool, connect_timeout=2, read_timeout=read_timeout,
                  retries={"mode": "standard", "max_attempts": 3}, tcp_keepalive=True)


def bare_client(endpoint: str, max_pool: int = 32, read_timeout: float = 5):
    """A plain botocore DynamoDB client (own session: no hooks of the engine's client), configured alike
    (a longer read_timeout only for the benchmarks' own checks, e.g. counting items with Scan)."""
    import botocore.session

    from local.dynamodb_local import LOCAL_CREDENTIALS

    return botocore.session.Session().create_client(
        "dynamodb", endpoint_url=endpoint, config=engine_client_config(max_pool, read_timeout), **LOCAL_CREDENTIALS)


@dataclass
class Context:
    """What the benchmarks share in one run: DynamoDB Local (started on first use) and the tables made."""

    db: object | None = None
    endpoint: str | None = None
    tables: list[str] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)

    def ddb(self) -> str:
        if self.endpoint is None:
            from local.dynamodb_local import DynamoDBLocal, local_env

            os.environ.update(local_env())
            if os.environ.get("BENCH_DYNAMODB_ENDPOINT"):  # an already running DynamoDB Local
                self.endpoint = os.environ["BENCH_DYNAMODB_ENDPOINT"]
            else:
                print("starting DynamoDB Local (in memory) ...", flush=True)
                self.db = DynamoDBLocal(die_with_parent=True).start(timeout=60)
                self.endpoint = self.db.endpoint
        return self.endpoint

    def fresh_table(self, prefix: str) -> str:
        from local.dynamodb_local import ensure_table

        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        # No stream: DynamoDB Local's streams slow down every later write (AWS's do not touch write latency).
        ensure_table(self.ddb(), name, stream=False)
        self.tables.append(name)
        return name

    def drop_table(self, name: str) -> None:
        """Delete a benchmark's table once measured, so DynamoDB Local's heap does not grow run over run."""
        from local.dynamodb_local import client

        with contextlib.suppress(Exception):
            client(self.ddb()).delete_table(TableName=name)
        if name in self.tables:
            self.tables.remove(name)

    def close(self) -> None:
        for t in list(self.tables):
            self.drop_table(t)
        if self.db is not None:
            self.db.stop()
            self.db = None


Benchmark = Callable[[Context], list[Figure]]


# --- counting DynamoDB requests with botocore event hooks -----------------------------------------------------

READ_OPS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})


def capacity_units(consumed) -> float | None:
    """Total CapacityUnits of a response's ConsumedCapacity (a dict, or a list for batch/transaction calls)."""
    if consumed is None:
        return None
    entries = consumed if isinstance(consumed, list) else [consumed]
    return sum(float(e.get("CapacityUnits", 0.0)) for e in entries)


class RequestRecorder:
    """Hooks on a botocore DynamoDB client (the engine's shared one). For every API call it records the operation,
    a deep copy of the parameters exactly as the caller passed them, the HTTP attempts, the status and the
    ConsumedCapacity. With ``consumed=True`` it adds ReturnConsumedCapacity='TOTAL' to each call that takes it
    (after copying the parameters, so a replay sends what the engine sent). Use as a context manager: the
    hooks are unregistered on exit."""

    def __init__(self, client, capture_params: bool = True, consumed: bool = True):
        self.client = client
        self.capture_params = capture_params
        self.consumed = consumed
        self.calls: list[dict] = []
        self._uid = f"bench-{uuid.uuid4().hex}"
        self._hooks = [("provide-client-params.dynamodb", self._on_params),
                       ("before-send.dynamodb", self._on_send),
                       ("after-call.dynamodb", self._on_after)]

    def __enter__(self) -> RequestRecorder:
        for event, fn in self._hooks:
            self.client.meta.events.register(event, fn, unique_id=f"{self._uid}-{event}")
        return self

    def __exit__(self, *exc) -> None:
        for event, fn in self._hooks:
            self.client.meta.events.unregister(event, fn, unique_id=f"{self._uid}-{event}")

    def _on_params(self, params, model, context, **_):
        import copy

        rec = {"op": model.name, "params": copy.deepcopy(params) if self.capture_params else None,
               "attempts": 0, "status": None, "consumed": None}
        context["bench_rec"] = rec
        self.calls.append(rec)
        if self.consumed and "ReturnConsumedCapacity" in model.input_shape.members:
            params.setdefault("ReturnConsumedCapacity", "TOTAL")
        return None  # params were changed in place

    @staticmethod
    def _on_send(request, **_):
        rec = (getattr(request, "context", None) or {}).get("bench_rec")
        if rec is not None:
            rec["attempts"] += 1

    @staticmethod
    def _on_after(http_response, parsed, context, **_):
        rec = context.get("bench_rec")
        if rec is not None:
            rec["status"] = http_response.status_code
            rec["consumed"] = parsed.get("ConsumedCapacity")
            rec["error"] = (parsed.get("Error") or {}).get("Code")

    def mark(self) -> int:
        return len(self.calls)
