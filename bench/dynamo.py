"""What the handler benchmarks (checkout, events, qualify) share: the engine's environment and state reset, API
Gateway proxy events, the Lambda context, the floor table (copy, retargeted replay of recorded requests, timing
handler and floor alternately), capacity per call (as DynamoDB Local reports it and per DynamoDB's documented
rules) and the latency figures.
"""
from __future__ import annotations

import contextlib
import copy
import json
import math
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from . import INFO, READ_OPS, ROOT, Figure, bare_client, capacity_units, env, ms, percentile, say, verdict

# --- the engine in-process ----------------------------------------------------------------------------------------


@contextlib.contextmanager
def engine_env(tmp: str, table_name: str, endpoint: str, service: str) -> Iterator[None]:
    """The environment the functions see in Lambda (config from files under tmp; the bus and job
    dispatcher of the local run are installed by load_handler)."""
    with env(TABLE_NAME=table_name, DYNAMODB_ENDPOINT=endpoint, INCENTIVES_CONFIG_DIR=str(Path(tmp) / "config"),
             CONFIG_SOURCE="files", CONFIG_MAX_AGE_SECONDS="30", OPERATOR_API_KEY_IDS="key-operator",
             POWERTOOLS_TRACE_DISABLED="true", POWERTOOLS_METRICS_DISABLED=None,
             POWERTOOLS_METRICS_NAMESPACE="Incentives", POWERTOOLS_SERVICE_NAME=service,
             FUNCTIONS_DIR=str(ROOT / "functions"), LOCAL_OUTBOX_DIR=str(Path(tmp) / "outbox")):
        yield


def reset_engine_state() -> None:
    """Fresh settings, config source and handler modules (they keep warm-container state in globals)."""
    from incentives.adapters import config_source
    from incentives.settings import get_settings

    get_settings.cache_clear()
    config_source._default = None
    for name in [m for m in sys.modules if m.startswith("fn_")]:
        del sys.modules[name]


def load_handler(folder: str):
    """The function's real lambda_handler (functions/<folder>/<folder>_handler.py, imported as local/ does)."""
    from local.lambdas import load_handler as load
    from local.wiring import install

    install(ROOT / "functions")  # the local bus and job dispatcher, as `make run` has them
    return load(folder, ROOT / "functions")


class LambdaContext:
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    log_group_name = log_stream_name = "bench"

    def __init__(self, function_name: str):
        self.function_name = function_name
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:000000000000:function:{function_name}"
        self.aws_request_id = "bench"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def proxy_event(resource: str, body: dict, api_key_id: str, headers: dict | None = None) -> dict:
    """An API Gateway REST proxy event, shaped as tests/support.py's HandlerClient builds it (a fresh requestId
    per delivery)."""
    return {
        "resource": resource, "path": resource, "httpMethod": "POST",
        "headers": {"Content-Type": "application/json", **(headers or {})}, "multiValueHeaders": {},
        "queryStringParameters": None, "pathParameters": None,
        "requestContext": {"resourcePath": resource, "httpMethod": "POST", "stage": "v1",
                           "requestId": str(uuid.uuid4()),
                           "identity": {"sourceIp": "203.0.113.9", "apiKeyId": api_key_id}},
        "body": json.dumps(body), "isBase64Encoded": False,
    }


def record(rec, calls: list[Callable[[], object]]) -> list[list[dict]]:
    """Run each call under a RequestRecorder; the requests each one made, in order."""
    groups: list[list[dict]] = []
    for fn in calls:
        start = rec.mark()
        fn()
        groups.append(rec.calls[start:])
    return groups


# --- the floor: the recorded requests replayed with a bare botocore client ---------------------------------------

def copy_table(client, src: str, dst: str) -> int:
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


def retarget(params: dict, src: str, dst: str) -> dict:
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


class Floor:
    """Replays recorded requests with a bare botocore client: ``plan`` turns recorded groups into botocore calls
    (retargeted to the floor table if one is given), ``call`` times one group and counts error codes."""

    def __init__(self, bare):
        self.bare = bare
        self.api_to_method = {v: k for k, v in bare.meta.method_to_api_mapping.items()}

    def plan(self, groups: list[list[dict]], src: str | None = None, dst: str | None = None) -> list[list[tuple]]:
        return [[(self.api_to_method[r["op"]], retarget(r["params"], src, dst) if dst else r["params"]) for r in g]
                for g in groups]

    def call(self, requests: list[tuple], errs: Counter) -> float:
        t = time.perf_counter()
        for method, params in requests:
            try:
                getattr(self.bare, method)(**params)
            except self.bare.exceptions.ClientError as e:
                errs[e.response.get("Error", {}).get("Code", "?")] += 1
        return time.perf_counter() - t


def clients(endpoint: str) -> tuple:
    """The engine's shared client (the one the handler's Table() will use), a bare botocore client and the
    floor replaying with it."""
    from incentives.adapters.dynamo import dynamodb_client

    engine_client = dynamodb_client()
    bare = bare_client(endpoint)
    return engine_client, bare, Floor(bare)


def alternate(n: int, handler_call, floor_call, keep_from: int) -> tuple[list[float], list[float]]:
    """Handler and floor timed alternately (floor first on odd calls, handler first on even ones), so both see
    the same JVM, GC and machine noise; the latencies from call keep_from on."""
    h_lat: list[float] = []
    f_lat: list[float] = []
    for i in range(n):
        if i % 2:
            fl = floor_call(i)
            hd = handler_call(i)
        else:
            hd = handler_call(i)
            fl = floor_call(i)
        if i >= keep_from:
            h_lat.append(hd)
            f_lat.append(fl)
    return h_lat, f_lat


# --- figures ------------------------------------------------------------------------------------------------------

def shapes(groups: list[list[dict]], op=lambda r: r["op"], sep: str = "+") -> str:
    """The three most common request sequences per call, e.g. 'GetItem+TransactWriteItems x200'."""
    per = Counter(tuple(op(r) for r in g) for g in groups)
    return ", ".join(f"{sep.join(k) or '(none)'} x{v}" for k, v in per.most_common(3))


def requests_and_attempts(groups: list[list[dict]]) -> tuple[float, float]:
    """DynamoDB requests and HTTP attempts per call."""
    return (sum(len(g) for g in groups) / len(groups),
            sum(r["attempts"] for g in groups for r in g) / len(groups))


def capacity_source(computed_ops: set[str]) -> str:
    return "reported by DynamoDB Local" if not computed_ops else \
        f"computed from item sizes: DynamoDB Local returned none for {', '.join(sorted(computed_ops))}"


def latency_figures(bench: str, prefix: str, h_lat: list[float], f_lat: list[float],
                    max_overhead: float | None = None, note: str = "") -> list[Figure]:
    """Handler and floor p50 / p99 and the overhead handler_p50 / floor_p50 (judged if max_overhead is given)."""
    hp50, hp99 = percentile(h_lat, 50), percentile(h_lat, 99)
    fp50, fp99 = percentile(f_lat, 50), percentile(f_lat, 99)
    overhead = (f"<= {max_overhead}x{note}", verdict(hp50 / fp50 <= max_overhead)) if max_overhead else ("", INFO)
    return [say(Figure(bench, f"{prefix}handler p50 / p99", f"{ms(hp50)} / {ms(hp99)}")),
            say(Figure(bench, f"{prefix}floor (same requests, bare botocore) p50 / p99", f"{ms(fp50)} / {ms(fp99)}")),
            say(Figure(bench, f"{prefix}overhead handler_p50 / floor_p50", f"{hp50 / fp50:.2f}x", *overhead))]


# --- capacity per DynamoDB's documented rules (used only where DynamoDB Local returns no ConsumedCapacity) -----

def item_lookup(bare) -> Callable[[str, dict], dict | None]:
    """A cached strongly consistent GetItem (the items a recorded request touched, for pricing it)."""
    cache: dict = {}

    def lookup(table: str, key: dict):
        k = (table, json.dumps(key, sort_keys=True))
        if k not in cache:
            cache[k] = bare.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return cache[k]
    return lookup


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


@dataclass
class Capacity:
    """Read and write capacity of the measured calls: as DynamoDB Local reports it (computed where it reports
    none), and on a sample per the documented rules (item sizes), with the GSI writes those rules leave out."""
    calls: int
    rcu: float
    wcu: float
    computed_ops: set[str]
    sample: int
    doc_rcu: float
    doc_wcu: float
    gsi_writes: int

    @classmethod
    def of(cls, measured: list[list[dict]], lookup, sample_size: int) -> Capacity:
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
        sample = measured[:sample_size]
        doc_r = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] in READ_OPS)
        doc_w = sum(computed_capacity(r, lookup) for g in sample for r in g if r["op"] not in READ_OPS)
        gsi = sum(1 for g in sample for r in g for a in (r["params"].get("TransactItems") or [])
                  if "gsi1pk" in (a.get("Put") or {}).get("Item", {}))
        return cls(len(measured), rcu, wcu, computed_ops, len(sample), doc_r, doc_w, gsi)

    def figures(self, bench: str, prefix: str, unit: str) -> list[Figure]:
        gsi_note = f" + {self.gsi_writes / self.sample:.0f} GSI write (not priced)" if self.gsi_writes else ""
        return [say(Figure(bench, f"{prefix}capacity/{unit} ({capacity_source(self.computed_ops)})",
                           f"{self.rcu / self.calls:.2f} RCU + {self.wcu / self.calls:.2f} WCU")),
                say(Figure(bench, f"{prefix}capacity/{unit} per documented rules (item sizes)",
                           f"{self.doc_rcu / self.sample:.2f} RCU + {self.doc_wcu / self.sample:.2f} WCU{gsi_note}"))]
