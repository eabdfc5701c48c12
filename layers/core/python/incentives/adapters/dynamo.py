"""A thin DynamoDB adapter over the low-level botocore client.

botocore, not boto3: importing boto3 pulls in s3transfer and costs ~3x more cold-start time for nothing the
engine uses. The client is built on first use, never at import time.
"""
from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any, Literal, NoReturn, overload
from collections.abc import Iterable

from botocore.exceptions import ClientError

from ..settings import get_settings
from .retry import BATCH, TRANSIENT, RetryPolicy

_lock = threading.Lock()
_clients: dict[tuple, Any] = {}


def dynamodb_client(endpoint: str | None = None, max_pool: int = 32, faults: str | None = None):
    """One shared client per endpoint (thread-safe; reused across warm invocations). ``faults``: a fault
    injection spec (adapters/faults.py), DYNAMODB_FAULTS by default; "" for a client without faults."""
    settings = get_settings()
    endpoint = endpoint if endpoint is not None else settings.dynamodb_endpoint
    faults = faults if faults is not None else settings.dynamodb_faults
    key = (endpoint, max_pool, faults)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key)
            if client is None:
                import botocore.session
                from botocore.config import Config

                import os

                session = botocore.session.get_session()
                # Lambda: fail fast and let botocore retry; DynamoDB Local under a concurrency test can need more.
                read_timeout = float(os.environ.get("DYNAMODB_READ_TIMEOUT", "5"))
                client = session.create_client(
                    "dynamodb", endpoint_url=endpoint,
                    config=Config(max_pool_connections=max_pool, connect_timeout=2, read_timeout=read_timeout,
                                  retries={"mode": "standard", "max_attempts": 3}, tcp_keepalive=True),
                )
                if faults:  # tests and drills only: the module is not even imported otherwise
                    from .faults import inject

                    inject(client, faults)
                _clients[key] = client
    return client


# --- (de)serialisation of the attribute-value wire format ------------------------------------------------

def to_av(v: Any) -> dict:
    if isinstance(v, bool):
        return {"BOOL": v}
    if isinstance(v, str):
        return {"S": v}
    if isinstance(v, (int, Decimal)):
        return {"N": str(v)}
    if v is None:
        return {"NULL": True}
    if isinstance(v, dict):
        return {"M": {k: to_av(x) for k, x in v.items()}}
    if isinstance(v, (list, tuple)):
        return {"L": [to_av(x) for x in v]}
    raise TypeError(f"cannot store {type(v).__name__}")


def from_av(av: dict) -> Any:
    (t, v), = av.items()
    if t == "S":
        return v
    if t == "N":
        return int(v) if "." not in v and "e" not in v.lower() else Decimal(v)
    if t == "BOOL":
        return v
    if t == "NULL":
        return None
    if t == "M":
        return {k: from_av(x) for k, x in v.items()}
    if t == "L":
        return [from_av(x) for x in v]
    if t == "SS":
        return set(v)
    raise TypeError(f"unsupported attribute type {t}")


def to_item(d: dict) -> dict:
    return {k: to_av(v) for k, v in d.items() if v is not None}


@overload
def from_item(item: dict) -> dict: ...
@overload
def from_item(item: None) -> None: ...
@overload
def from_item(item: dict | None) -> dict | None: ...
def from_item(item: dict | None) -> dict | None:
    return None if item is None else {k: from_av(v) for k, v in item.items()}


def key(pk: str, sk: str) -> dict:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def values(**kw: Any) -> dict:
    return {f":{k}": to_av(v) for k, v in kw.items()}


class TransactionCancelled(Exception):
    """A TransactWriteItems cancelled by conditions. ``reasons[i]`` is the code for item i, ``items[i]`` its
    old image when the condition failed (ReturnValuesOnConditionCheckFailure=ALL_OLD)."""

    def __init__(self, reasons: list[str], items: list[dict | None],
                 keys: list[tuple[str, str]] | None = None):
        super().__init__(",".join(reasons))
        self.reasons = reasons
        self.items = items
        self.keys = keys or []  # the (pk, sk) of each item, when a unit of work committed it

    def failed(self, index: int) -> bool:
        return self.reasons[index] == "ConditionalCheckFailed"

    def failed_keys(self) -> set[tuple[str, str]]:
        return {k for i, k in enumerate(self.keys) if self.failed(i)}


class BatchIncomplete(RuntimeError):
    """A batch request still had unprocessed items after its retries: what was not written is not written."""


class ConditionFailed(Exception):
    def __init__(self, item: dict | None):
        super().__init__("condition failed")
        self.item = item


_RETRYABLE = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
# DynamoDB's answers that say "not now" (nothing was decided): botocore retries most of them itself; what is
# still there after its retries (or its retry quota ran out) is the caller's 503, never a 500.
TRANSIENT_CODES = frozenset({
    "ThrottlingException", "ProvisionedThroughputExceededException", "RequestLimitExceeded",
    "TransactionConflictException", "TransactionInProgressException", "InternalServerError",
    "ServiceUnavailable", "LimitExceededException",
})


def is_transient(e: BaseException) -> bool:
    """Whether ``e`` is DynamoDB (or the network to it) saying "try again later": a throttle, a conflict with
    another transaction, a timeout or a lost connection; or a transaction cancelled only for such reasons.
    A timeout may hide a write that applied: the caller answers 503 and the client's retry with its
    Idempotency-Key gets the first answer."""
    from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

    if isinstance(e, ClientError):
        return e.response.get("Error", {}).get("Code") in TRANSIENT_CODES
    if isinstance(e, TransactionCancelled):
        return "ConditionalCheckFailed" not in e.reasons and any(r in _RETRYABLE for r in e.reasons)
    return isinstance(e, (BotoConnectionError, HTTPClientError, BatchIncomplete))


def request_token() -> str:
    """A ClientRequestToken (at most 36 characters): one per logical write, reused by all of its re-sends."""
    return str(uuid.uuid4())


class Table:
    """One table, the calls the engine makes, and a count of requests for the benchmarks."""

    batch_retry: RetryPolicy = BATCH

    def __init__(self, name: str | None = None, client: Any = None):
        self.name = name or get_settings().table_name
        self._client = client

    @property
    def client(self):
        if self._client is None:
            self._client = dynamodb_client()
        return self._client

    def get(self, pk: str, sk: str, consistent: bool = False) -> dict | None:
        r = self.client.get_item(TableName=self.name, Key=key(pk, sk), ConsistentRead=consistent)
        return from_item(r.get("Item"))

    def batch_get(self, keys: list[tuple[str, str]], consistent: bool = False) -> dict[tuple[str, str], dict]:
        """Items by (pk, sk); at most 100 distinct keys. Unprocessed keys are retried."""
        found: dict[tuple[str, str], dict] = {}
        request = {self.name: {"Keys": [key(pk, sk) for pk, sk in dict.fromkeys(keys)], "ConsistentRead": consistent}}
        for _ in self.batch_retry.attempts():
            r = self.client.batch_get_item(RequestItems=request)
            for raw in r["Responses"].get(self.name, []):
                item = from_item(raw)
                found[(item["pk"], item["sk"])] = item
            request = r.get("UnprocessedKeys") or {}
            if not request:
                return found
        raise BatchIncomplete("BatchGetItem kept returning unprocessed keys")

    def batch_get_many(self, keys: list[tuple[str, str]], consistent: bool = False) -> dict[tuple[str, str], dict]:
        """Any number of keys, 100 per BatchGetItem."""
        found: dict[tuple[str, str], dict] = {}
        wanted = list(dict.fromkeys(keys))
        for i in range(0, len(wanted), 100):
            found.update(self.batch_get(wanted[i:i + 100], consistent=consistent))
        return found

    def query(self, pk: str, sk_prefix: str | None = None, index: str | None = None, limit: int | None = None,
              forward: bool = True, consistent: bool = False) -> list[dict]:
        pk_name, sk_name = ("gsi1pk", "gsi1sk") if index else ("pk", "sk")
        kwargs: dict[str, Any] = {"TableName": self.name, "ScanIndexForward": forward}
        if consistent:  # the table only: an index is read eventually consistent
            kwargs["ConsistentRead"] = True
        cond = "#p = :p"
        vals = {":p": {"S": pk}}
        names = {"#p": pk_name}
        if sk_prefix is not None:
            cond += " AND begins_with(#s, :s)"
            vals[":s"] = {"S": sk_prefix}
            names["#s"] = sk_name
        kwargs.update(KeyConditionExpression=cond, ExpressionAttributeValues=vals, ExpressionAttributeNames=names)
        if index:
            kwargs["IndexName"] = index
        out: list[dict] = []
        while True:
            if limit:
                kwargs["Limit"] = limit - len(out)
            r = self.client.query(**kwargs)
            out.extend(from_item(i) for i in r["Items"])
            if "LastEvaluatedKey" not in r or (limit and len(out) >= limit):
                return out
            kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]

    def put(self, item: dict, condition: str | None = None, names: dict | None = None,
            vals: dict | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Item": to_item(item)}
        self._conditional(kwargs, condition, names, vals)
        try:
            self.client.put_item(**kwargs)
        except ClientError as e:
            self._raise_condition_failed(e)

    # ReturnValues=ALL_NEW: an update that succeeded always has an item to return.
    @overload
    def update(self, pk: str, sk: str, update: str, condition: str | None = None, names: dict | None = None,
               vals: dict | None = None, *, return_new: Literal[True]) -> dict: ...
    @overload
    def update(self, pk: str, sk: str, update: str, condition: str | None = None, names: dict | None = None,
               vals: dict | None = None, return_new: bool = False) -> dict | None: ...
    def update(self, pk: str, sk: str, update: str, condition: str | None = None, names: dict | None = None,
               vals: dict | None = None, return_new: bool = False) -> dict | None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk), "UpdateExpression": update}
        self._conditional(kwargs, condition, names, vals)
        if return_new:
            kwargs["ReturnValues"] = "ALL_NEW"
        try:
            r = self.client.update_item(**kwargs)
        except ClientError as e:
            self._raise_condition_failed(e)
        return from_item(r.get("Attributes"))

    def delete(self, pk: str, sk: str, condition: str | None = None, names: dict | None = None,
               vals: dict | None = None) -> None:
        kwargs: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        self._conditional(kwargs, condition, names, vals)
        try:
            self.client.delete_item(**kwargs)
        except ClientError as e:
            self._raise_condition_failed(e)

    @staticmethod
    def _conditional(kwargs: dict, condition: str | None, names: dict | None, vals: dict | None) -> None:
        if condition:
            kwargs["ConditionExpression"] = condition
            kwargs["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
        if names:
            kwargs["ExpressionAttributeNames"] = names
        if vals:
            kwargs["ExpressionAttributeValues"] = vals

    @staticmethod
    def _raise_condition_failed(e: ClientError) -> NoReturn:
        """A failed condition as ConditionFailed with the old item (caused by the ClientError); any other
        error as is."""
        if e.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            raise ConditionFailed(from_item(e.response.get("Item"))) from e
        raise e

    # --- transactions --------------------------------------------------------------------------------

    def update_op(self, pk: str, sk: str, update: str, condition: str | None = None, names: dict | None = None,
                  vals: dict | None = None) -> dict:
        op: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk), "UpdateExpression": update}
        self._conditional(op, condition, names, vals)
        return {"Update": op}

    def put_op(self, item: dict, condition: str | None = "attribute_not_exists(pk)", names: dict | None = None,
               vals: dict | None = None) -> dict:
        op: dict[str, Any] = {"TableName": self.name, "Item": to_item(item)}
        self._conditional(op, condition, names, vals)
        return {"Put": op}

    def condition_op(self, pk: str, sk: str, condition: str, names: dict | None = None,
                     vals: dict | None = None) -> dict:
        op: dict[str, Any] = {"TableName": self.name, "Key": key(pk, sk)}
        self._conditional(op, condition, names, vals)
        return {"ConditionCheck": op}

    def write_one(self, op: dict) -> None:
        """One Put / Update / Delete transaction item as a single-item write (half the capacity of a
        one-item transaction). Raises ConditionFailed with the old item."""
        (kind, body), = op.items()
        call = {"Put": self.client.put_item, "Update": self.client.update_item, "Delete": self.client.delete_item}
        try:
            call[kind](**body)
        except ClientError as e:
            self._raise_condition_failed(e)

    def transact(self, ops: list[dict], token: str | None = None, retry: RetryPolicy | None = None) -> None:
        """TransactWriteItems; retried with jittered backoff while the cancellation is only a conflict with
        another transaction (never when a condition failed). Raises TransactionCancelled.

        Every attempt carries one ClientRequestToken (``token``, or one drawn here): an attempt whose answer was
        lost after it committed is then recognised by DynamoDB on the re-send (botocore's and this loop's) and
        not applied twice nor failed on its own conditions. DynamoDB honours a token for 10 minutes with identical
        parameters, both of which a retry loop of seconds keeps. So a lost answer (a timeout, a dropped
        connection) is re-sent here too, within the deadline: the outcome is then known, not a 503 to resolve."""
        from botocore.exceptions import ConnectionError as BotoConnectionError, HTTPClientError

        kwargs: dict[str, Any] = {"TransactItems": ops, "ClientRequestToken": token or request_token()}
        cancelled: Exception | None = None
        for _ in (retry or TRANSIENT).attempts():
            try:
                self.client.transact_write_items(**kwargs)
                return
            except (BotoConnectionError, HTTPClientError) as e:  # the answer is lost, the write may have applied
                cancelled = e
                continue
            except ClientError as e:
                err = e.response.get("Error", {}).get("Code")
                if err != "TransactionCanceledException":
                    if err in ("TransactionInProgressException", "ThrottlingException"):
                        cancelled = e
                        continue
                    raise
                raw = e.response.get("CancellationReasons") or []
                reasons = [r.get("Code", "None") for r in raw]
                cancelled = TransactionCancelled(reasons, [from_item(r.get("Item")) for r in raw])
                if "ConditionalCheckFailed" not in reasons and any(r in _RETRYABLE for r in reasons):
                    continue
                raise cancelled from None
        if cancelled is None:  # unreachable: the first attempt always runs and every retry sets it
            raise RuntimeError("transact: the retry policy made no attempt")
        raise cancelled from None

    def batch_write(self, items: Iterable[dict]) -> None:
        """Unconditional puts, 25 per request, unprocessed items retried. Raises BatchIncomplete when items
        stay unprocessed after the retries (the caller must not count them as written)."""
        batch = [{"PutRequest": {"Item": to_item(i)}} for i in items]
        for i in range(0, len(batch), 25):
            request = {self.name: batch[i:i + 25]}
            for _ in self.batch_retry.attempts():
                r = self.client.batch_write_item(RequestItems=request)
                request = r.get("UnprocessedItems") or {}
                if not request:
                    break
            if request:
                left = sum(len(v) for v in request.values())
                raise BatchIncomplete(f"BatchWriteItem left {left} item(s) unprocessed after its retries")
