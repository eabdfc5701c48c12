"""`python -m local.run` over HTTP with stand-in handlers: the local API Gateway's own behaviour and shutdown."""
from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from tests.e2e.localrun import (
    OPERATOR_KEY,
    STOREFRONT_KEY,
    alive,
    keep_alive_load,
    simultaneous,
    start_local_run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(fake_functions, tmp_path_factory):
    r = start_local_run(tmp_path_factory.mktemp("run"), fake_functions)
    yield r
    r.stop()


def test_health_is_served_by_the_operators_function(run):
    reply = run.request("GET", "/v1/health")
    assert reply.status == 200 and reply.json() == {"status": "ok"}
    assert reply.headers.get("x-amzn-RequestId")


def test_missing_or_wrong_key_is_401(run):
    for headers in ({}, {"x-api-key": "nope"}):
        reply = run.request("GET", "/v1/codes/ABC", headers=headers)
        assert reply.status == 401
        assert reply.json() == {"error": {"code": "unauthorized", "message": reply.json()["error"]["message"],
                                          "details": {}}}


def test_storefront_key_on_operator_route_reaches_the_handler_which_answers_403(run):
    assert run.request("GET", "/v1/campaigns", headers={"x-api-key": STOREFRONT_KEY}).status == 403
    assert run.request("GET", "/v1/campaigns", headers={"x-api-key": OPERATOR_KEY}).status == 200


def test_unknown_path_404_wrong_method_405_big_body_413(run):
    assert run.request("GET", "/v1/unknown").json()["error"]["code"] == "not_found"
    reply = run.request("DELETE", "/v1/codes/ABC", headers={"x-api-key": STOREFRONT_KEY})
    assert reply.status == 405 and reply.json()["error"]["code"] == "method_not_allowed"
    reply = run.request("POST", "/v1/validations", body=b"x" * (1024 * 1024 + 1), headers={"x-api-key": STOREFRONT_KEY})
    assert reply.status == 413 and reply.json()["error"]["code"] == "payload_too_large"


def test_handler_exception_is_502_internal_error_and_the_server_keeps_serving(run):
    reply = run.request("GET", "/v1/codes/boom", headers={"x-api-key": STOREFRONT_KEY})
    assert reply.status == 502 and reply.json()["error"]["code"] == "internal_error"
    assert "RuntimeError: boom" in run.log()
    assert run.request("GET", "/v1/health").status == 200


def test_the_handler_gets_a_proxy_event_context_and_the_local_environment(run):
    reply = run.request("GET", "/v1/codes/WELCOME%2DAB?x=1&x=2", headers={"x-api-key": STOREFRONT_KEY})
    assert reply.status == 200
    assert reply.headers["X-Fake"] == "storefront"
    out = reply.json()
    event = out["event"]
    assert event["resource"] == "/v1/codes/{code}" and event["pathParameters"] == {"code": "WELCOME-AB"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["requestContext"]["identity"]["apiKeyId"] == "local-storefront"
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    env = out["env"]
    assert env["CONFIG_SOURCE"] == "files"
    assert out["wired"] == {"bus": "LocalBus", "dispatcher": "LocalDispatcher"}  # installed, not from settings
    assert env["OPERATOR_API_KEY_IDS"] == "local-operator" and env["TABLE_NAME"] == "incentives"
    assert env["DYNAMODB_ENDPOINT"].startswith("http://127.0.0.1:") and env["POWERTOOLS_TRACE_DISABLED"] == "true"
    assert env["LOCAL_OUTBOX_DIR"].endswith("outbox") and env["AWS_REGION"]
    assert out["service"] == "storefront"


def test_concurrent_requests(run):
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda _: run.request("GET", "/v1/health").status, range(64)))
    assert statuses == [200] * 64


def test_64_clients_connecting_at_the_same_moment_5_rounds_on_new_connections(run):
    """Past the old listen backlog of 5 the kernel dropped connection attempts: clients retried 1, 3, 7 s later."""
    out = simultaneous(run.base_url, "/v1/health", clients=64, rounds=5)
    assert len(out) == 320
    assert [o for o in out if o.error or o.status != 200] == []
    assert max(o.seconds for o in out) < 2.0


def test_256_keep_alive_clients_for_10_seconds(run):
    """Idle keep-alive connections wait in the selector without holding a worker: 256 of them, more than the 32
    workers, are all served, without an error or a 503."""
    result = keep_alive_load(run.base_url, "/v1/health", clients=256, seconds=10)
    assert result.errors == []
    assert set(result.statuses) == {200}
    assert min(result.per_client) >= 1  # every client was served, none starved


def test_sigint_and_persistence_in_the_data_dir(fake_functions, tmp_path):
    r = start_local_run(tmp_path, fake_functions)
    java = r.java_children()
    # Ctrl-C with a request in flight: it is answered before the server stops
    in_flight = []
    client = threading.Thread(target=lambda: in_flight.append(
        r.request("GET", "/v1/codes/slow?seconds=1", headers={"x-api-key": STOREFRONT_KEY})))
    client.start()
    deadline = time.monotonic() + 10
    while "slow handler started" not in r.log():
        assert time.monotonic() < deadline, r.log()
        time.sleep(0.02)
    assert r.stop(signal.SIGINT) == 0
    client.join(10)
    assert [(x.status, x.json(), x.headers.get("Connection")) for x in in_flight] == [(200, {"slept": True}, "close")]
    assert not [pid for pid in java if alive(pid)]
    assert (tmp_path / "data" / "shared-local-instance.db").exists()
    # a second run reuses the data dir (the table already exists)
    r2 = start_local_run(tmp_path, fake_functions)
    try:
        assert r2.request("GET", "/v1/health").status == 200
    finally:
        assert r2.stop() == 0


def test_an_existing_dynamodb_endpoint_is_used_and_not_stopped(fake_functions, tmp_path, ddb_endpoint):
    from local.dynamodb_local import client

    r = start_local_run(tmp_path, fake_functions, DYNAMODB_ENDPOINT=ddb_endpoint, TABLE_NAME="e2e-external")
    try:
        assert r.java_children() == []
        assert "e2e-external" in client(ddb_endpoint).list_tables()["TableNames"]
    finally:
        assert r.stop() == 0
    client(ddb_endpoint).list_tables()  # still up
    client(ddb_endpoint).delete_table(TableName="e2e-external")


def test_sigterm_stops_server_and_dynamodb_local(run):
    """Last in this module: it stops the module's run."""
    java = run.java_children()
    assert java, "local.run should have started DynamoDB Local"
    port = int(run.base_url.rsplit(":", 1)[1])
    assert run.stop(signal.SIGTERM) == 0
    assert not [pid for pid in java if alive(pid)]
    assert "stopped." in run.log()
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0
