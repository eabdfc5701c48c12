"""The API fuzzer: schemathesis over the generated OpenAPI document, against the local stack in this process.

``local_stack(ddb_endpoint, workdir)`` serves the real handlers (local/server.py's LocalApi) on a free port with a
fresh table on DynamoDB Local and the repository's config/; ``fuzz(base_url, budget)`` sends generated requests
(valid and invalid ones: schemathesis's positive and negative modes) to every operation of docs/openapi.json's
source (http/openapi.py) and checks each answer: no 5xx, a status the document declares for the operation, a
declared content type and a body that matches the declared schema. Used by tests/e2e/test_api_fuzz.py; run it
with a larger budget by hand: ``FUZZ_EXAMPLES=200 .venv/bin/python -m pytest tests/e2e/test_api_fuzz.py -n0 -s``.
"""
from __future__ import annotations

import contextlib
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.e2e.localrun import serving

ROOT = Path(__file__).resolve().parents[2]
STOREFRONT_KEY = "fuzz-storefront-key"
OPERATOR_KEY = "fuzz-operator-key"
MAX_FAILURES_KEPT = 50


@contextlib.contextmanager
def local_stack(ddb_endpoint: str, workdir: Path) -> Iterator[str]:
    """The local API (every function's real handler) on a free port over a new table; yields its base URL."""
    import pytest
    from incentives.adapters import config_source
    from incentives.settings import get_settings
    from local.dynamodb_local import client, ensure_table
    from local.server import OPERATOR_KEY_ID, LocalApi

    table = f"fuzz-{uuid.uuid4().hex[:12]}"
    ensure_table(ddb_endpoint, table)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in {"TABLE_NAME": table, "CONFIG_SOURCE": "files", "INCENTIVES_CONFIG_DIR": str(ROOT / "config"),
                     "OPERATOR_API_KEY_IDS": OPERATOR_KEY_ID, "FUNCTIONS_DIR": str(ROOT / "functions"),
                     "LOCAL_OUTBOX_DIR": str(workdir / "outbox"), "POWERTOOLS_TRACE_DISABLED": "true",
                     "POWERTOOLS_METRICS_DISABLED": "true", "CONFIG_MAX_AGE_SECONDS": "30",
                     "LOG_LEVEL": "CRITICAL", "POWERTOOLS_LOG_LEVEL": "CRITICAL"}.items():
            mp.setenv(k, v)
        get_settings.cache_clear()
        mp.setattr(config_source, "_default", None)
        for name in [m for m in sys.modules if m.startswith("fn_")]:
            mp.delitem(sys.modules, name)
        api = LocalApi(functions_dir=ROOT / "functions", storefront_key=STOREFRONT_KEY, operator_key=OPERATOR_KEY)
        assert not api.load_all(), api.load_errors
        api.ready.set()
        try:
            with serving(api) as server:
                yield "http://{}:{}".format(*server.server_address)
        finally:
            for name in [m for m in sys.modules if m.startswith("fn_")]:
                del sys.modules[name]
            get_settings.cache_clear()
            with contextlib.suppress(Exception):
                client(ddb_endpoint).delete_table(TableName=table)


@dataclass
class FuzzResult:
    requests: int = 0
    seconds: float = 0.0
    statuses: Counter = field(default_factory=Counter)
    per_operation: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    @property
    def server_errors(self) -> int:
        return sum(n for s, n in self.statuses.items() if s >= 500)

    def summary(self) -> str:
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(self.statuses.items()))
        return (f"{self.requests} requests to {len(self.per_operation)} operations in {self.seconds:.0f} s; "
                f"statuses {statuses}; 5xx: {self.server_errors}; failed checks: {len(self.failures)}")


def _key_for(operation) -> str | None:
    """The key a caller of the operation holds: none on a public route, else the one its first scheme names."""
    security = operation.definition.raw.get("security")
    if not security:
        return None
    return OPERATOR_KEY if "operatorKey" in security[0] else STOREFRONT_KEY


def _negatable(operation) -> bool:
    """Whether a request can break the declaration: a body, or a parameter with more than "any string" (an
    operation with only free-form path parameters has no invalid request, and hypothesis would search in vain)."""
    raw = operation.definition.raw
    return "requestBody" in raw or any(p.get("schema") not in ({"type": "string"}, {"type": "string", "minLength": 1})
                                       for p in raw.get("parameters", []) if p.get("in") != "header")


# Half the requests name what exists in config/ (and a customer), so they get past "not found" into the rules.
KNOWN = {"campaign_id": ["welcome10", "blackfriday", "sorry", "birthday-gift"], "program_id": ["friends", "rewards"],
         "job": ["campaign-activation", "points-expiry", "win-back", "birthdays"], "code": ["BLACKFRIDAY"],
         "customer_id": ["c-1"]}


def _strategy(operation, mode, headers: dict):
    from hypothesis import strategies as st

    names = [p["name"] for p in operation.definition.raw.get("parameters", []) if p.get("in") == "path"]
    generated = operation.as_strategy(generation_mode=mode, headers=headers or None)
    if not names or not all(n in KNOWN for n in names):
        return generated
    known = st.fixed_dictionaries({n: st.sampled_from(KNOWN[n]) for n in names})
    return st.one_of(generated, known.flatmap(lambda pp: operation.as_strategy(
        generation_mode=mode, headers=headers or None, path_parameters=pp)))


class _OutOfTime(Exception):
    pass


def fuzz(base_url: str, examples: int, seconds: float, seed: int | None = None) -> FuzzResult:
    """Up to ``examples`` generated requests per operation and mode (positive; negative where a request can be
    invalid), each mode of each operation given an equal share of ``seconds``; every answer checked.
    Derandomized (the same requests every run) unless a ``seed`` is given."""
    import requests
    import schemathesis
    from hypothesis import HealthCheck, Phase, given, settings
    from hypothesis import seed as seeded
    from hypothesis.errors import Unsatisfiable
    from incentives.http.openapi import document
    from schemathesis import GenerationMode
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (
        content_type_conformance, response_schema_conformance, status_code_conformance,
    )

    schema = schemathesis.openapi.from_dict(document())
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    if os.environ.get("FUZZ_STRICT"):  # exploration: an invalid request must also be refused, a valid one accepted
        from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance
        checks += [negative_data_rejection, positive_data_acceptance]
    result = FuzzResult()
    session = requests.Session()
    runs = [(op, mode) for op in (r.ok() for r in schema.get_all_operations())
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
            if mode is GenerationMode.POSITIVE or _negatable(op)]
    share = seconds / len(runs)

    def run(operation, mode) -> None:
        key = _key_for(operation)
        headers = {"x-api-key": key} if key else {}
        strategy = _strategy(operation, mode, headers)
        until = time.monotonic() + share

        @settings(max_examples=examples, deadline=None, database=None, derandomize=seed is None,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck),
                  report_multiple_bugs=False)
        @given(case=strategy)
        def one(case) -> None:
            if time.monotonic() > until:
                raise _OutOfTime
            if headers:  # a negative case may have replaced the key; the auth matrix covers wrong keys
                case.headers = {**(case.headers or {}), **headers}
            response = case.call(base_url=base_url, session=session, timeout=30)
            result.requests += 1
            result.statuses[response.status_code] += 1
            result.per_operation[operation.label] += 1
            try:
                case.validate_response(response, checks=checks)
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - every failed check is reported
                if len(result.failures) < MAX_FAILURES_KEPT:
                    result.failures.append(f"{operation.label} [{mode.value}] -> {response.status_code} "
                                           f"{response.text[:300]}\n  {case.as_curl_command()}\n  {str(e)[:600]}")

        if seed is not None:
            one = seeded(seed)(one)
        try:
            one()
        except (_OutOfTime, Unsatisfiable):
            pass

    started = time.monotonic()
    for operation, mode in runs:
        run(operation, mode)
    result.seconds = time.monotonic() - started
    return result


def budget_from_env(examples: int, seconds: float) -> tuple[int, float, int | None]:
    """FUZZ_EXAMPLES, FUZZ_SECONDS and FUZZ_SEED override the test's budget (a longer run by hand)."""
    seed = os.environ.get("FUZZ_SEED")
    return (int(os.environ.get("FUZZ_EXAMPLES") or examples), float(os.environ.get("FUZZ_SECONDS") or seconds),
            int(seed) if seed else None)
