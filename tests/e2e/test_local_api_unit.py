"""The local API Gateway emulation without a server: routing, the REST proxy event, keys, errors, schedules."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

from incentives.http.routes import JOBS, ROUTES, Route, api_functions
from local import lambdas
from local.scheduler import Scheduler, parse_schedule, scheduled_event
from local.server import LocalApi, build_event, match_route, to_response
from tests.e2e.localrun import write_fake_functions

DATA = Path(__file__).parent / "data"
# `sam local generate-event apigateway aws-proxy`
SAMPLE = json.loads((DATA / "sam_apigateway_aws_proxy.json").read_text())


@pytest.fixture(autouse=True)
def _forget_fake_handlers():
    """Handler modules loaded here (fakes) must not stay in sys.modules for other tests in this worker."""
    import sys

    before = {k: v for k, v in sys.modules.items() if k.startswith("fn_")}
    yield
    for k in [k for k in sys.modules if k.startswith("fn_")]:
        del sys.modules[k]
    sys.modules.update(before)


def _route(method, path):
    m = match_route(method, path, ROUTES)
    return m.status, (m.route.name if m.route else None), m.path_parameters


def test_routes_match_templates_and_decode_parameters():
    assert _route("GET", "/v1/health") == (200, "health", {})
    assert _route("GET", "/v1/health/") == (200, "health", {})
    assert _route("GET", "/v1/codes/WELCOME-AB%2BC") == (200, "get_code", {"code": "WELCOME-AB+C"})
    assert _route("POST", "/v1/redemptions/r-1/rollback") == (200, "rollback", {"redemption_id": "r-1"})
    assert _route("POST", "/v1/public/campaigns/welcome10/claims") == (200, "claim", {"campaign_id": "welcome10"})
    assert _route("OPTIONS", "/v1/public/campaigns/welcome10/claims")[1] == "claim_preflight"
    # parameter names come from the route table (API Gateway wants one name per path position)
    status, name, params = _route("POST", "/v1/jobs/campaign-activation/run")
    assert (status, name, list(params.values())) == (200, "run_job", ["campaign-activation"])
    status, name, params = _route("GET", "/v1/jobs/j-1")
    assert (status, name, list(params.values())) == (200, "get_job", ["j-1"])


def test_every_route_in_the_table_is_reachable():
    for r in ROUTES:
        concrete = re.sub(r"\{[^}]+\}", "x", r.path)
        m = match_route(r.method, concrete, ROUTES)
        assert m.status == 200 and m.route == r, r


def test_unknown_paths_are_404_and_other_methods_405():
    assert _route("GET", "/v1/nope")[0] == 404
    assert _route("GET", "/v2/health")[0] == 404
    assert _route("GET", "/v1/codes")[0] == 404
    assert _route("GET", "/v1/codes/")[0] == 404
    m = match_route("DELETE", "/v1/codes/X", ROUTES)
    assert m.status == 405 and m.allowed == ("GET",)
    assert _route("POST", "/v1/health")[0] == 405


def test_the_most_specific_literal_match_wins():
    routes = (
        Route("GET", "/v1/things/{id}", "f", "public", "by_id"),
        Route("GET", "/v1/things/special", "f", "public", "special"),
        Route("GET", "/v1/{kind}/special", "f", "public", "kind_special"),
    )
    assert match_route("GET", "/v1/things/special", routes).route.name == "special"
    assert match_route("GET", "/v1/things/other", routes).route.name == "by_id"
    assert match_route("GET", "/v1/cats/special", routes).route.name == "kind_special"
    # the literal resource exists, but not for POST: 405, not a fall-back to the parameter resource
    assert match_route("POST", "/v1/things/special", routes).status == 405


def _keys(d: dict) -> set[str]:
    return set(d)


def test_event_has_the_rest_proxy_shape():
    route = next(r for r in ROUTES if r.name == "get_code")
    now = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    event = build_event(
        route, "GET", "/v1/codes/AB%20C?x=1&x=2&y=", [("Host", "127.0.0.1:3000"), ("User-Agent", "ua"),
                                                        ("x-api-key", "k"), ("Accept", "a"), ("Accept", "b")],
        None, {"code": "AB C"}, "10.0.0.1", "k", "local-storefront", "v1", "req-1", now,
    )
    # every key of a genuine sample (SAM CLI) is present at each level
    assert _keys(SAMPLE) <= _keys(event)
    assert _keys(SAMPLE["requestContext"]) <= _keys(event["requestContext"])
    assert _keys(SAMPLE["requestContext"]["identity"]) <= _keys(event["requestContext"]["identity"])
    assert event["resource"] == "/v1/codes/{code}" == event["requestContext"]["resourcePath"]
    assert event["path"] == "/v1/codes/AB C"
    assert event["httpMethod"] == "GET" == event["requestContext"]["httpMethod"]
    assert event["pathParameters"] == {"code": "AB C"}
    assert event["queryStringParameters"] == {"x": "2", "y": ""}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": [""]}
    assert event["headers"]["Accept"] == "b" and event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["stageVariables"] is None and event["body"] is None and event["isBase64Encoded"] is False
    ctx = event["requestContext"]
    assert ctx["stage"] == "v1" and ctx["path"] == "/v1/v1/codes/AB C" and ctx["requestId"] == "req-1"
    assert build_event(route, "GET", "/v1/codes/X", [], None)["requestContext"]["stage"] == "local"
    assert ctx["requestTimeEpoch"] == int(now.timestamp() * 1000)
    assert ctx["requestTime"] == "01/Dec/2026:12:00:00 +0000"
    assert ctx["identity"]["sourceIp"] == "10.0.0.1" and ctx["identity"]["userAgent"] == "ua"
    assert ctx["identity"]["apiKey"] == "k" and ctx["identity"]["apiKeyId"] == "local-storefront"
    assert json.loads(json.dumps(event)) == event


def test_event_without_query_or_params_uses_nulls_and_keeps_the_body():
    route = next(r for r in ROUTES if r.name == "validate")
    event = build_event(route, "POST", "/v1/validations", [], b'{"code": "\xc3\xa4"}')
    assert event["queryStringParameters"] is None and event["multiValueQueryStringParameters"] is None
    assert event["pathParameters"] is None
    assert event["body"] == '{"code": "ä"}' and event["isBase64Encoded"] is False
    binary = build_event(route, "POST", "/v1/validations", [], b"\xff\xfe")
    assert binary["isBase64Encoded"] is True and binary["body"] == "//4="


def test_proxy_result_becomes_the_http_response():
    r = to_response({"statusCode": 201, "headers": {"X-A": "1", "Set-Cookie": "ignored"},
                     "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}, "body": "{}"}, "rid")
    assert r.status == 201 and r.body == b"{}"
    assert ("Set-Cookie", "a=1") in r.headers and ("Set-Cookie", "b=2") in r.headers
    assert ("Set-Cookie", "ignored") not in r.headers and ("X-A", "1") in r.headers
    assert ("Content-Type", "application/json") in r.headers
    assert to_response({"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}, "rid").body == b"hi"
    with pytest.raises(TypeError):
        to_response("nope", "rid")


@pytest.fixture
def api(tmp_path):
    api = LocalApi(functions_dir=write_fake_functions(tmp_path / "functions"),
                   storefront_key="sk", operator_key="ok")
    api.ready.set()
    return api


def _call(api, method, path, key=None, body=None):
    headers = [("x-api-key", key)] if key else []
    r = api.handle(method, path, headers, body)
    return r.status, (json.loads(r.body) if r.body else None)


def test_api_keys_errors_and_handler_invocation(api, monkeypatch):
    monkeypatch.setenv("OPERATOR_API_KEY_IDS", "local-operator")
    assert _call(api, "GET", "/v1/health") == (200, {"status": "ok"})
    status, body = _call(api, "GET", "/v1/codes/X")
    assert status == 401
    assert body["error"] == {"code": "unauthorized", "message": body["error"]["message"], "details": {}}
    assert _call(api, "GET", "/v1/codes/X", key="wrong")[0] == 401
    assert _call(api, "GET", "/v1/campaigns", key="sk") [1]["error"]["code"] == "forbidden"
    assert _call(api, "GET", "/v1/campaigns", key="ok") == (200, {"resource": "/v1/campaigns"})
    assert _call(api, "GET", "/v1/nope", key="ok")[1]["error"]["code"] == "not_found"
    assert _call(api, "PUT", "/v1/codes/X", key="ok") [1]["error"]["code"] == "method_not_allowed"
    status, body = _call(api, "GET", "/v1/codes/X", key="sk")
    assert status == 200
    assert body["event"]["requestContext"]["identity"]["apiKeyId"] == "local-storefront"
    assert body["context"]["function_name"] == "incentives-local-storefront"
    assert body["context"]["invoked_function_arn"].endswith(":function:incentives-local-storefront")
    assert 0 < body["context"]["remaining"] <= 29_000 and body["context"]["memory_limit_in_mb"] == 256
    assert body["service"] == "storefront"
    # the operator key also passes storefront routes
    identity = _call(api, "GET", "/v1/codes/X", key="ok")[1]["event"]["requestContext"]["identity"]
    assert identity["apiKeyId"] == "local-operator"
    # public routes need no key and get none in the identity
    assert _call(api, "POST", "/v1/public/campaigns/c1/claims", body=b"{}") == (201, {"campaign_id": "c1"})


def test_failures_become_gateway_errors(api):
    assert _call(api, "GET", "/v1/codes/boom", key="sk") [0] == 502
    assert _call(api, "GET", "/v1/codes/boom", key="sk")[1]["error"]["code"] == "internal_error"
    assert _call(api, "GET", "/v1/codes/malformed", key="sk")[1]["error"]["code"] == "internal_error"
    too_big = b"x" * (api.max_body_bytes + 1)
    assert _call(api, "POST", "/v1/validations", key="sk", body=too_big)[1]["error"]["code"] == "payload_too_large"
    api.ready.clear()
    assert _call(api, "GET", "/v1/health")[0] == 503


def test_missing_function_is_a_502_not_a_crash(tmp_path):
    api = LocalApi(functions_dir=tmp_path, storefront_key="sk", operator_key="ok")
    assert set(api.load_all(extra=["bulk_codes"])) == {*api_functions(), "bulk_codes"}
    api.ready.set()
    assert _call(api, "GET", "/v1/health") [1]["error"]["code"] == "internal_error"


def test_handlers_load_under_unique_module_names(tmp_path):
    base = write_fake_functions(tmp_path / "fns")
    mod = lambdas.load_module("storefront", base)
    assert mod.__name__ == "fn_storefront_handler"
    assert Path(mod.__file__) == base / "storefront" / "storefront_handler.py"
    assert str(base / "storefront") in __import__("sys").path


# ---------------------------------------------------------------- schedules

def test_every_job_schedule_in_routes_parses():
    for _folder, expr in JOBS.values():
        if expr:
            parse_schedule(expr)


def test_rate_and_cron_next_fire_times():
    t0 = datetime(2026, 12, 1, 10, 0, 30, tzinfo=UTC)
    assert parse_schedule("rate(1 minute)").next_after(t0) == t0 + timedelta(minutes=1)
    assert parse_schedule("rate(2 hours)").next_after(t0 + timedelta(hours=3), t0) == t0 + timedelta(hours=4)
    daily = parse_schedule("cron(0 3 * * ? *)")
    assert daily.next_after(t0) == datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
    every15 = parse_schedule("cron(0/15 * * * ? *)")
    assert every15.next_after(t0) == datetime(2026, 12, 1, 10, 15, tzinfo=UTC)
    mondays = parse_schedule("cron(30 8 ? * MON *)")  # 2026-12-01 is a Tuesday
    assert mondays.next_after(t0) == datetime(2026, 12, 7, 8, 30, tzinfo=UTC)
    weekdays = parse_schedule("cron(0 9 ? * 2-6 *)")
    assert weekdays.next_after(datetime(2026, 12, 5, 12, tzinfo=UTC)) == datetime(2026, 12, 7, 9, tzinfo=UTC)
    first = parse_schedule("cron(0 0 1 JAN,JUL ? *)")
    assert first.next_after(t0) == datetime(2027, 1, 1, tzinfo=UTC)
    for bad in ("rate(0 minutes)", "rate(5 weeks)", "cron(0 0 * *)", "cron(0 0 L * ? *)", "at(2026-01-01T00:00:00)"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


def test_scheduled_event_matches_an_eventbridge_scheduled_event():
    sample = json.loads((DATA / "sam_scheduled_event.json").read_text())
    event = scheduled_event("campaign-activation", datetime(2026, 12, 1, 10, 1, tzinfo=UTC))
    assert set(sample) <= set(event)
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events"
    assert event["time"] == "2026-12-01T10:01:00Z" and event["resources"][0].endswith("campaign-activation")


def test_scheduler_fires_due_jobs_with_scheduled_events():
    import threading

    clock = {"t": datetime(2026, 12, 1, 10, 0, tzinfo=UTC)}
    lock = threading.Lock()
    calls = []

    def now():
        with lock:
            clock["t"] += timedelta(seconds=20)  # time runs fast: every look at the clock is 20 s later
            return clock["t"]

    s = Scheduler({"tick": ("tick_fn", "rate(1 minute)"), "worker": ("w", None)},
                  invoke=lambda folder, event: calls.append((folder, event["detail-type"])), clock=now)
    s.start()
    import time
    deadline = time.monotonic() + 5
    while len(calls) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    s.stop()
    assert calls[:2] == [("tick_fn", "Scheduled Event")] * 2
    assert "worker" not in s.schedules
