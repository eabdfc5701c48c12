"""Shared fixtures for every test: one DynamoDB Local per test session (per xdist worker), a fresh table per test.

- ``ddb_endpoint`` (session): the endpoint URL of an in-memory DynamoDB Local started once for the session, or
  $DYNAMODB_ENDPOINT when set. Sets AWS_* (local_env()) and DYNAMODB_ENDPOINT in os.environ for the session.
- the local bus and job dispatcher are installed for the session (local/wiring.py), as `make run` does.
- ``table_name`` (function): a new table with the engine's schema (unique name, via ensure_table) that is
  deleted after the test. Also sets TABLE_NAME for the test and clears incentives.settings' cache before and
  after, so code that reads get_settings() sees this table and this endpoint. The table has the deployed
  table's stream only for tests that use the ``fan_out`` fixture or are marked ``stream``: every
  stream-enabled table makes DynamoDB Local slower for the rest of the session (bulk runs several times over).
"""
from __future__ import annotations

import os
import sys
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError, ClientError

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT / "layers" / "core" / "python", ROOT):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from local.dynamodb_local import DynamoDBLocal, client, ensure_table, local_env  # noqa: E402
from local.wiring import install  # noqa: E402

# As the local run does: the functions publish on the in-process bus and run jobs in-process (a deployed function
# has EVENT_BUS_NAME and JOB_FUNCTIONS instead; tests/unit/test_cold_imports.py imports them that way).
install(ROOT / "functions")


def _clear_settings_cache() -> None:
    try:
        from incentives.settings import get_settings
    except ImportError:
        return
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def ddb_endpoint():
    saved = {k: os.environ.get(k) for k in (*local_env(), "DYNAMODB_ENDPOINT")}
    os.environ.update(local_env())
    external = os.environ.get("DYNAMODB_ENDPOINT")
    db = None
    if external:
        endpoint = external
    else:
        db = DynamoDBLocal(die_with_parent=True).start(timeout=60)
        endpoint = db.endpoint
        os.environ["DYNAMODB_ENDPOINT"] = endpoint
    _clear_settings_cache()
    try:
        yield endpoint
    finally:
        if db:
            db.stop()
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        _clear_settings_cache()


@pytest.fixture
def table_name(ddb_endpoint, monkeypatch, request):
    name = f"test-{uuid.uuid4().hex[:16]}"
    stream = "fan_out" in request.fixturenames or request.node.get_closest_marker("stream") is not None
    ensure_table(ddb_endpoint, name, stream=stream)
    monkeypatch.setenv("TABLE_NAME", name)
    _clear_settings_cache()
    try:
        yield name
    finally:
        _clear_settings_cache()
        try:
            client(ddb_endpoint).delete_table(TableName=name)
        except (ClientError, BotoCoreError):
            pass  # the table or the whole database may already be gone at the end of the session
