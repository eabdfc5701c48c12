"""Fault injection for the DynamoDB client: test and drill machinery, off unless DYNAMODB_FAULTS is set.

``DYNAMODB_FAULTS="rate=0.05,seed=7[,kinds=throttle+throughput+conflict+timeout_after_commit]"`` makes
``adapters.dynamo.dynamodb_client`` call ``inject`` on the client it builds; this module is never imported
otherwise (no cold-start cost on the checkout path). Faults are injected at the HTTP layer of botocore (its
``before-send`` event), so botocore's own retries, retry quota and timeouts see them exactly as they would see
DynamoDB's answers:

- ``throttle``: ThrottlingException (400), any operation;
- ``throughput``: ProvisionedThroughputExceededException (400), any operation;
- ``conflict``: a write that collides with another transaction: TransactWriteItems is cancelled with
  TransactionConflict on one item, a single-item write gets TransactionConflictException, a BatchWriteItem
  (which never raises it) answers every item unprocessed;
- ``timeout_after_commit``: a write is really sent and applied, then the client sees a read timeout instead of
  the answer (botocore retries it: the retry must not apply the effect twice).

The i-th request of a client draws from ``random.Random(seed)``: the same seed gives the same fault sequence
for the same request order. ``INJECTED`` counts what was injected, per kind, for the reports.

Two filters narrow where faults fall: ``ops=TransactWriteItems+UpdateItem`` (the spec's operations, all by
default) and a thread filter (``sparing_this_thread()``: the tests' own thread sets up and reads back the truth
without faults while the threads that play the concurrent clients get them).
"""
from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

KINDS = ("throttle", "throughput", "conflict", "timeout_after_commit")
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"})
OPERATIONS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems", *WRITES})
INJECTED: Counter[str] = Counter()  # kind -> faults injected in this process
_counted = threading.Lock()
_thread_filter: Callable[[], bool] | None = None  # faults only where it answers True (None: every thread)


@contextmanager
def sparing_this_thread() -> Iterator[None]:
    """Within the block, no fault on the calling thread: only the other threads (the concurrent clients a test
    starts) get them. Restores the previous filter after."""
    global _thread_filter
    spared = threading.get_ident()
    saved = _thread_filter
    _thread_filter = lambda: threading.get_ident() != spared  # noqa: E731 - a one-line predicate
    try:
        yield
    finally:
        _thread_filter = saved


@dataclass(frozen=True)
class FaultSpec:
    rate: float
    seed: int
    kinds: tuple[str, ...] = KINDS
    ops: frozenset[str] | None = None  # the operations that may get a fault (None: every one)

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """``rate=0.05,seed=7,kinds=throttle+conflict,ops=TransactWriteItems+PutItem``; raises ValueError on
        anything else."""
        try:
            fields = dict(part.strip().split("=", 1) for part in text.split(",") if part.strip())
        except ValueError:
            raise ValueError(f"DYNAMODB_FAULTS: {text!r} is not field=value,...") from None
        unknown = set(fields) - {"rate", "seed", "kinds", "ops"}
        if unknown:
            raise ValueError(f"DYNAMODB_FAULTS: unknown field(s) {sorted(unknown)}")
        rate = float(fields.get("rate", "0"))
        if not 0 <= rate <= 1:
            raise ValueError("DYNAMODB_FAULTS: rate must be between 0 and 1")
        kinds = tuple(k for k in fields.get("kinds", "+".join(KINDS)).split("+") if k)
        if not kinds or set(kinds) - set(KINDS):
            raise ValueError(f"DYNAMODB_FAULTS: kinds must be some of {'+'.join(KINDS)}")
        ops = None
        if "ops" in fields:
            ops = frozenset(o for o in fields["ops"].split("+") if o)
            if not ops or ops - OPERATIONS:
                raise ValueError(f"DYNAMODB_FAULTS: ops must be some of {'+'.join(sorted(OPERATIONS))}")
        return cls(rate, int(fields.get("seed", "0")), kinds, ops)


class _Raw:
    """The raw stream botocore reads an HTTP response body from."""

    def __init__(self, body: bytes):
        self._body = body

    def stream(self, **_kw: Any):
        yield self._body


def _error(url: str, code: str, message: str, **extra: Any):
    from botocore.awsrequest import AWSResponse

    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": message, **extra})
    return AWSResponse(url, 400, {"Content-Type": "application/x-amz-json-1.0",
                                  "x-amzn-RequestId": "injected-fault"}, _Raw(body.encode()))


class _Injector:
    def __init__(self, client: Any, spec: FaultSpec):
        self.client = client
        self.spec = spec
        self.rand = random.Random(spec.seed)  # noqa: S311 - reproducible faults, no secret  # nosec B311
        self.lock = threading.Lock()

    def draw(self, operation: str) -> str | None:
        if self.spec.ops is not None and operation not in self.spec.ops:
            return None
        if _thread_filter is not None and not _thread_filter():
            return None
        kinds = [k for k in self.spec.kinds
                 if operation in WRITES or k in ("throttle", "throughput")]
        with self.lock:
            hit = self.rand.random() < self.spec.rate
            kind = self.rand.choice(kinds) if kinds else None
        return kind if hit else None

    def before_send(self, request: Any, event_name: str = "", **_kw: Any):
        operation = event_name.rsplit(".", 1)[-1]
        kind = self.draw(operation)
        if kind is None:
            return None
        if kind == "throttle":
            response = _error(request.url, "ThrottlingException", "Rate of requests exceeds the allowed throughput.")
        elif kind == "throughput":
            response = _error(request.url, "ProvisionedThroughputExceededException",
                              "The level of configured provisioned throughput for the table was exceeded.")
        elif kind == "conflict":
            response = self._conflict(request, operation)
        else:
            return self._timeout_after_commit(request)
        _count(kind)
        return response

    def _conflict(self, request: Any, operation: str):
        if operation == "BatchWriteItem":
            from botocore.awsrequest import AWSResponse

            unprocessed = json.loads(request.body).get("RequestItems", {}) if request.body else {}
            return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0",
                                                  "x-amzn-RequestId": "injected-fault"},
                               _Raw(json.dumps({"UnprocessedItems": unprocessed}).encode()))
        if operation == "TransactWriteItems":
            n = len(json.loads(request.body).get("TransactItems", [])) if request.body else 1
            victim = self.rand.randrange(max(n, 1))
            reasons = [{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}
                       if i == victim else {"Code": "None"} for i in range(max(n, 1))]
            return _error(request.url, "TransactionCanceledException",
                          "Transaction cancelled, please refer cancellation reasons for specific reasons",
                          CancellationReasons=reasons)
        return _error(request.url, "TransactionConflictException",
                      "Transaction is ongoing for the item")

    def _timeout_after_commit(self, request: Any):
        from botocore.exceptions import ReadTimeoutError

        response = self.client._endpoint.http_session.send(request)
        if response.status_code != 200:  # the write did not apply: nothing happened "after the commit"
            return response
        _count("timeout_after_commit")
        raise ReadTimeoutError(endpoint_url=request.url, error="injected: the write applied, its answer was lost")


def _count(kind: str) -> None:
    with _counted:
        INJECTED[kind] += 1


def inject(client: Any, spec: FaultSpec | str) -> Any:
    """Registers the injector on ``client`` (a botocore DynamoDB client) and returns the client."""
    if isinstance(spec, str):
        spec = FaultSpec.parse(spec)
    if spec.rate > 0:
        injector = _Injector(client, spec)
        client.meta.events.register("before-send.dynamodb", injector.before_send,
                                    unique_id="incentives-fault-injection")
    return client
