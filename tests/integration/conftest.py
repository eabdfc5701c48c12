"""Fixtures for tests against DynamoDB Local: the table, campaign config written as YAML files, and the real
Lambda handlers called in-process with API Gateway REST proxy events."""
from __future__ import annotations

import sys

import pytest
import yaml


from tests.support import OPERATOR_KEY_ID, ROOT, HandlerClient


@pytest.fixture
def table(table_name, ddb_endpoint):
    from incentives.adapters.dynamo import Table, dynamodb_client

    return Table(table_name, dynamodb_client(ddb_endpoint, max_pool=64))


@pytest.fixture
def config_dir(tmp_path, monkeypatch):
    """write(*campaign_dicts) writes config/campaigns/<id>.yaml and returns a fresh config source."""
    d = tmp_path / "config"
    (d / "campaigns").mkdir(parents=True)
    monkeypatch.setenv("INCENTIVES_CONFIG_DIR", str(d))
    monkeypatch.setenv("CONFIG_SOURCE", "files")

    def write(*campaigns: dict):
        from incentives.adapters.config_source import FileConfig

        for c in campaigns:
            (d / "campaigns" / f"{c['id']}.yaml").write_text(yaml.safe_dump(c), encoding="utf-8")
        return FileConfig(str(d), max_age=0)

    write.path = d
    return write


@pytest.fixture
def handlers(table_name, config_dir, monkeypatch, tmp_path):
    """Call a function's real lambda_handler with a REST proxy event: handlers.call(function, method, path, ...)."""
    monkeypatch.setenv("OPERATOR_API_KEY_IDS", OPERATOR_KEY_ID)
    monkeypatch.setenv("FUNCTIONS_DIR", str(ROOT / "functions"))
    monkeypatch.setenv("LOCAL_OUTBOX_DIR", str(tmp_path / "outbox"))
    monkeypatch.setenv("LOCAL_EXPORT_DIR", str(tmp_path / "exports"))
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "true")
    monkeypatch.setenv("CONFIG_MAX_AGE_SECONDS", "0")
    monkeypatch.setenv("JOBS_ALLOW_NOW", "true")  # as make run: tests run jobs as of another moment
    from incentives.adapters import config_source
    from incentives.settings import get_settings

    get_settings.cache_clear()
    monkeypatch.setattr(config_source, "_default", None)
    # Fresh handler modules per test: they keep warm-container state (clients, config cache) in globals.
    for name in [m for m in sys.modules if m.startswith("fn_")]:
        del sys.modules[name]
    return HandlerClient()


@pytest.fixture
def fan_out(handlers, ddb_endpoint, table_name):
    """fan_out(): now, what `make run` does in the background: the table's stream so far -> the real event_fanout
    handler -> the local bus -> the consumer handlers. Returns once every consumer has run."""
    from local import lambdas
    from local.bus import local_bus
    from local.stream import StreamPump

    pump = StreamPump(ddb_endpoint, table_name, lambdas.invoke, from_start=True)

    def drain() -> None:
        while pump.poll():
            pass
        assert local_bus().wait_idle(30), "the consumers did not finish"

    return drain


LOST_WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})


@pytest.fixture
def answers_lost_after_commit(ddb_endpoint):
    """While armed, each write request is sent to DynamoDB and applied, then its answer is lost (ReadTimeoutError);
    botocore retries the same request (same body, same ClientRequestToken), whose answer arrives."""
    from botocore.exceptions import ReadTimeoutError

    from incentives.adapters.dynamo import dynamodb_client

    client = dynamodb_client(ddb_endpoint)
    seen: set[bytes] = set()
    lost: list[str] = []
    armed: list[bool] = []

    def before_send(request, event_name="", **_):
        operation = event_name.rsplit(".", 1)[-1]
        if not armed or operation not in LOST_WRITES or request.body in seen:
            return None
        seen.add(request.body)
        response = client._endpoint.http_session.send(request)
        if response.status_code != 200:  # not applied: the answer is the answer
            return response
        lost.append(operation)
        raise ReadTimeoutError(endpoint_url=request.url, error="test: the write applied, its answer was lost")

    client.meta.events.register("before-send.dynamodb", before_send, unique_id="test-lost-answers")
    yield lambda: armed.append(True), lost
    client.meta.events.unregister("before-send.dynamodb", unique_id="test-lost-answers")
