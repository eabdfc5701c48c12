"""Helpers shared by the integration tests: campaign dicts, the table scan, in-process handler calls, and the
contract's client for the concurrency tests (retry_503, retry_transient), which the fault run relies on."""
from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[1]
STOREFRONT_KEY_ID = "key-storefront"
OPERATOR_KEY_ID = "key-operator"


def campaign(cid: str, **overrides) -> dict:
    """A campaign config dict: 10 % off unique codes, no limits unless given."""
    base = {"id": cid, "name": cid, "enabled": True,
            "codes": {"type": "unique", "pattern": f"{cid[:4].upper()}-####-####"},
            "reward": {"type": "percent_off", "percent": 10}}
    for k, v in overrides.items():
        base[k] = v
    return base


class HandlerClient:
    def __init__(self):
        from local.lambdas import load_handler

        self._load = load_handler

    def call(self, function: str, method: str, resource: str, path_params: dict | None = None,
             body: object = None, headers: dict | None = None, key_id: str | None = STOREFRONT_KEY_ID,
             raw_body: str | None = None, source_ip: str = "203.0.113.9") -> tuple[int, dict | None, dict]:
        path = resource
        for k, v in (path_params or {}).items():
            path = path.replace("{" + k + "}", v)
        event = {
            "resource": resource, "path": path, "httpMethod": method, "headers": headers or {},
            "multiValueHeaders": {}, "queryStringParameters": None, "pathParameters": path_params,
            "requestContext": {"resourcePath": resource, "httpMethod": method, "stage": "v1",
                               "identity": {"sourceIp": source_ip, "apiKeyId": key_id}},
            "body": raw_body if raw_body is not None else (json.dumps(body) if body is not None else None),
            "isBase64Encoded": False,
        }
        handler = self._load(function, ROOT / "functions")
        out = handler(event, _Ctx(function))
        body = out.get("body")
        json_body = (out.get("headers") or {}).get("Content-Type", "application/json").startswith("application/json")
        parsed = (json.loads(body) if json_body else body) if body else None  # a page (HTML) stays text
        return out["statusCode"], parsed, out.get("headers", {})


class _Ctx:
    def __init__(self, name: str):
        self.function_name = name
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:eu-central-1:000000000000:function:{name}"
        self.aws_request_id = "test"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 300_000


def scan_all(table) -> list[dict]:
    """Every item of the test table (tests only: the engine itself never scans)."""
    from incentives.adapters.dynamo import from_item

    out, kwargs = [], {"TableName": table.name, "ConsistentRead": True}
    while True:
        r = table.client.scan(**kwargs)
        out.extend(from_item(i) for i in r["Items"])
        if "LastEvaluatedKey" not in r:
            return out
        kwargs["ExclusiveStartKey"] = r["LastEvaluatedKey"]


# what infra/stack.py and infra/config_store.py set (placeholders of the right shape)
DEPLOYED = {  # a deployed function's environment
    "TABLE_NAME": "IncentivesEngine-Table", "EVENT_BUS_NAME": "IncentivesEngine-Events", "CONFIG_SOURCE": "appconfig",
    "APPCONFIG_APPLICATION": "abc1234", "APPCONFIG_ENVIRONMENT": "def5678", "APPCONFIG_PROFILE": "ghi9012",
    "CONFIG_MAX_AGE_SECONDS": "30", "JOB_FUNCTIONS": '{"bulk-codes": "IncentivesEngine-bulk-codes"}',
    "OPERATOR_API_KEY_IDS": "abcdef1234", "AWS_DEFAULT_REGION": "eu-central-1",
    "BULK_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/000000000000/IncentivesEngine-BulkWork",
    "EXPORT_BUCKET": "incentivesengine-bulkexports",
    "HASH_KEY_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:IncentivesEngine-HashKey-AbCdEf",
}


def modules_loaded_by_every_handler(matching: str) -> list[str]:
    """Import every handler (functions/*/*_handler.py) in a fresh interpreter with a deployed environment and
    answer the loaded modules for which the Python expression ``matching`` (over ``m``, a module name) holds."""
    import os
    import subprocess
    import sys

    functions = sorted(p for p in (ROOT / "functions").iterdir() if (p / f"{p.name}_handler.py").exists())
    code = ("import sys\n" + "".join(f"import {p.name}_handler\n" for p in functions)
            + f"print(sorted(m for m in sys.modules if {matching}))\n")
    env = {**os.environ, **DEPLOYED,
           "PYTHONPATH": os.pathsep.join([*map(str, functions), str(ROOT / "layers" / "core" / "python")])}
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120,
                       check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().replace("'", '"'))


# --- the contract's client, for the concurrency tests (pytest -m concurrency --dynamodb-faults=...) -------------

T = TypeVar("T")
Answer = tuple[int, "dict | None", dict]
# what the concurrent clients of the tests met, for the fault run's summary (tests/conftest.py prints it):
# "503" answers, "500" answers, "transient" errors of a service call, "retries" sent after them
CLIENT_SEEN: Counter[str] = Counter()
_seen = threading.Lock()
RETRY_DEADLINE_S = 60.0  # a client gives up after this long and its test sees the last answer


def _note(what: str) -> None:
    with _seen:
        CLIENT_SEEN[what] += 1


def _pause(attempt: int, retry_after: float = 1.0) -> None:
    # Retry-After is in seconds; the tests scale it down (the retried effect, not the wait, is under test)
    time.sleep(min(retry_after, 1.0) * 0.02 * min(attempt, 5) * (1 + random.random()))  # nosec B311


def error_code(answer: Answer) -> str | None:
    status, body, _ = answer
    return ((body or {}).get("error") or {}).get("code") if status >= 400 and isinstance(body, dict) else None


def retry_503(call: Callable[[], Answer], in_progress: bool = False) -> Answer:
    """``call()`` (one HTTP request, the same body and the same Idempotency-Key each time) sent again while the
    answer is a 503, as the contract asks a client to; each 503 must carry Retry-After. ``in_progress``: also
    while it is 409 request_in_progress (another copy of the request holds its key). Without faults a test's
    requests get no 503: the first answer is the answer, exactly as before."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    attempt = 0
    while True:
        answer = call()
        status, _, headers = answer
        if status >= 500:
            _note(str(status))
        if status == 503:
            assert headers.get("Retry-After"), f"a 503 without Retry-After: {answer}"
        elif not (in_progress and error_code(answer) == "request_in_progress"):
            return answer
        if time.monotonic() > deadline:
            return answer
        attempt += 1
        _note("retries")
        _pause(attempt, float(headers.get("Retry-After", "1")))


def is_retry_later(e: BaseException) -> bool:
    """What the HTTP layer answers 503 with Retry-After: a transient DynamoDB error (adapters/dynamo.is_transient)
    or a domain error whose status is 503 (contention)."""
    from incentives.adapters.dynamo import is_transient
    from incentives.domain import errors
    from incentives.http.errors import status_for

    return is_transient(e) or (isinstance(e, errors.IncentiveError) and status_for(e.code) == 503)


def retry_transient(call: Callable[[], T]) -> T:
    """``call()`` (one use case of a service, no HTTP in between) called again while it raises what would be a
    503: the same request again, as a client retries it or a queue delivers it again. Without faults it is
    ``call()``."""
    deadline = time.monotonic() + RETRY_DEADLINE_S
    attempt = 0
    while True:
        try:
            return call()
        except Exception as e:
            if not is_retry_later(e) or time.monotonic() > deadline:
                raise
            _note("transient")
        attempt += 1
        _note("retries")
        _pause(attempt)

