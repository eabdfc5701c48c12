"""The operations dashboard (infra/dashboard.py) on the synthesized template: it draws the metrics the functions
really emit (read from the handlers' add_metric calls), latency per route, throttles and every dead-letter queue."""
from __future__ import annotations

import ast
import json
import re

import pytest
from incentives.domain.errors import CHECKOUT_REJECTIONS
from incentives.domain.journeys import CHANNELS, SKIP_REASONS
from incentives.http.function import NAMESPACE
from incentives.http.routes import ROUTES

from infra import REPO_ROOT
from infra.lambda_factory import METRICS_NAMESPACE

CORE = REPO_ROOT / "layers" / "core" / "python" / "incentives"


@pytest.fixture(scope="module")
def body(synth) -> dict:
    (dashboard,) = synth.of_type("AWS::CloudWatch::Dashboard").values()
    return json.loads(synth.flatten(dashboard["Properties"]["DashboardBody"]))


def graphs(body: dict) -> dict[str, list[list]]:
    """title -> its metric rows (["Namespace", "Name", dim, value, ..., {options}])."""
    return {w["properties"]["title"]: w["properties"]["metrics"] for w in body["widgets"] if w["type"] == "metric"}


def rows(body: dict) -> list[list]:
    return [row for metrics in graphs(body).values() for row in metrics]


def engine_metrics(body: dict) -> set[tuple[str, str]]:
    """(service, metric name) of every engine metric drawn."""
    out = set()
    for row in rows(body):
        if row[0] == METRICS_NAMESPACE:
            dims = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
            assert set(dims) == {"service"}, row  # Powertools' only dimension (http/function.py)
            out.add((dims["service"], row[1]))
    return out


def emitted_by_handlers() -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """((service, name) for every literal metric name, (service, prefix) for every f-string one), read from the
    add_metric calls in functions/*/*_handler.py (ast: ternaries and a module-level name -> metric dict too)."""
    names, prefixes = set(), set()
    for path in sorted((REPO_ROOT / "functions").glob("*/*_handler.py")):
        tree = ast.parse(path.read_text())
        service = None
        dicts: dict[str, list[str]] = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "Observability":
                service = node.args[0].value
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict) and len(node.targets) == 1:
                dicts[getattr(node.targets[0], "id", "")] = [v.value for v in node.value.values
                                                             if isinstance(v, ast.Constant)]
        assert service, path
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_metric"):
                continue
            arg = node.args[0] if node.args else next(k.value for k in node.keywords if k.arg == "name")
            options = [arg.body, arg.orelse] if isinstance(arg, ast.IfExp) else [arg]
            for option in options:
                if isinstance(option, ast.Constant):
                    names.add((service, option.value))
                elif isinstance(option, ast.JoinedStr):
                    prefixes.add((service, option.values[0].value))
                elif isinstance(option, ast.Subscript):
                    names.update((service, n) for n in dicts[option.value.id])
                else:
                    raise AssertionError(f"{path}: an add_metric name this test cannot read: {ast.dump(option)}")
    return names, prefixes


def test_the_functions_and_the_dashboard_use_one_namespace():
    assert NAMESPACE == METRICS_NAMESPACE == "Incentives"


def test_the_dashboard_draws_every_metric_the_handlers_emit_under_their_service(body):
    names, prefixes = emitted_by_handlers()
    assert ("storefront", "RedemptionSucceeded") in names and ("journeys", "MessagesSkipped_") in prefixes
    drawn = engine_metrics(body)
    assert names - drawn == set()
    for service, prefix in prefixes:
        assert any(s == service and n.startswith(prefix) for s, n in drawn), (service, prefix)
    # nothing drawn that no function emits (a renamed metric would leave an empty line)
    literal_or_prefixed = {(s, n) for s, n in drawn if (s, n) in names
                           or any(s == ps and n.startswith(p) for ps, p in prefixes)}
    assert drawn == literal_or_prefixed


def test_refusals_are_drawn_by_each_reason_a_checkout_can_answer(body):
    by_title = graphs(body)
    redemptions = {row[1] for row in by_title["Redemptions refused, by reason"]}
    validations = {row[1] for row in by_title["Validations answered invalid, by reason"]}
    for reason in (*CHECKOUT_REJECTIONS, "other"):
        assert f"RedemptionRejected_{reason}" in redemptions
        assert f"ValidationInvalid_{reason}" in validations
    assert {"code_not_found", "campaign_inactive", "budget_exhausted", "rate_limited"} <= set(CHECKOUT_REJECTIONS)


def test_sends_are_drawn_by_channel_and_skip_reason(body):
    by_title = graphs(body)
    assert {row[1] for row in by_title["Sends by channel"]} == {f"MessagesSent_{c}" for c in CHANNELS}
    assert {f"MessagesFailed_{c}" for c in CHANNELS} <= {row[1] for row in by_title["Sends failed by channel"]}
    assert {row[1] for row in by_title["Sends skipped, by reason"]} == {f"MessagesSkipped_{r}" for r in SKIP_REASONS}


def test_skip_reasons_list_every_reason_the_journeys_record():
    """A new skip reason in the journeys code without SKIP_REASONS would be missing from the dashboard."""
    found = set()
    for path in (CORE / "services" / "journeys.py", CORE / "domain" / "journeys.py"):
        # reason = "x", reason="x", reason="x" if cond else "y"
        for assigned in re.findall(r'reason\s*=\s*("[a-z_]+"(?:\s+if\s+[\w.]+\s+else\s+"[a-z_]+")?)',
                                   path.read_text()):
            found |= set(re.findall(r'"([a-z_]+)"', assigned))
    assert {"frequency_capped", "offer_unavailable", "no_address", "no_consent"} <= found
    assert found <= set(SKIP_REASONS)


def test_latency_p50_and_p99_of_every_route(body, synth):
    (api,) = synth.of_type("AWS::ApiGateway::RestApi").values()
    ((stage_id, stage),) = synth.of_type("AWS::ApiGateway::Stage").items()
    seen = set()
    for row in rows(body):
        if row[:2] == ["AWS/ApiGateway", "Latency"]:
            dims = dict(zip(row[2:-1:2], row[3:-1:2], strict=True))
            assert dims["ApiName"] == api["Properties"]["Name"]
            assert dims["Stage"] == f"${{{stage_id}}}" and stage["Properties"]["StageName"] == "prod"  # Ref: its name
            seen.add((dims["Method"], dims["Resource"], row[-1]["stat"]))
    # the stage's detailed metrics: without them API Gateway has no per-method Latency
    assert {"HttpMethod": "*", "ResourcePath": "/*", "MetricsEnabled": True}.items() <= \
        next(s for s in stage["Properties"]["MethodSettings"]).items()
    for route in ROUTES:
        if route.method != "OPTIONS":
            assert {(route.method, route.path, "p50"), (route.method, route.path, "p99")} <= seen, route


def test_throttles_of_the_table_and_of_every_function(body, synth):
    expressions = [row for row in rows(body) if row and isinstance(row[0], dict) and "expression" in row[0]]
    table_rows = [row for row in rows(body) if row[:2] == ["AWS/DynamoDB", "ThrottledRequests"]]
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    assert expressions and table_rows and all(f"${{{table_id}}}" in row for row in table_rows)
    throttled = {row[row.index("FunctionName") + 1] for row in graphs(body)["Lambda throttles"]
                 if row[:2] == ["AWS/Lambda", "Throttles"]}
    assert throttled == {f"${{{logical_id}}}" for logical_id, _ in synth.functions().values()}


def test_every_dead_letter_queue_of_the_stack_has_its_depth_drawn(body, synth):
    queues = synth.of_type("AWS::SQS::Queue")
    assert len(queues) >= 5  # the fan-out's, each consumer's, the async workers' and the journeys'
    by_title = graphs(body)
    drawn = {row[row.index("QueueName") + 1]
             for title in ("Dead-letter queue depths (messages visible)",
                           "Work queue depths (messages waiting for a worker)")
             for row in by_title[title] if row[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}
    assert drawn == {f"${{{logical_id}.QueueName}}" for logical_id in queues}


def test_job_results_and_job_function_errors(body, synth):
    by_title = graphs(body)
    assert {row[1] for row in by_title["Job: bulk-codes"]} == {"BulkJobSucceeded", "BulkJobFailed"}
    assert "CampaignStatusChanges" in {row[1] for row in by_title["Job: campaign-activation"]}
    assert "LoyaltyPointsExpired" in {row[1] for row in by_title["Job: points-expiry"]}
    errors_of = {row[row.index("FunctionName") + 1] for row in by_title["Job function errors"]}
    functions = synth.functions()
    for folder in ("campaign_activation", "bulk_codes", "code_exports", "points_expiry", "referral_rewards",
                   "journeys"):
        assert f"${{{functions[folder][0]}}}" in errors_of, folder


def test_the_stack_outputs_the_dashboards_url(synth):
    url = synth.flatten(synth.template["Outputs"]["DashboardUrl"]["Value"])
    assert url.endswith("#dashboards:name=IncentivesEngine-operations")
