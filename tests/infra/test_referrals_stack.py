"""The referral programs' resources in the synthesized template: the referrals API function (storefront and
operator routes), the referral_events consumer (rule, retries, dead-letter queue, alarms), the referral-rewards
schedule, and each function's least-privilege rights."""
from __future__ import annotations

from incentives.http.routes import JOBS, OPERATOR, ROUTES
from incentives.subscriptions import SUBSCRIPTIONS

from tests.infra.test_stack import _actions, _async_failure_queue, _assert_encrypted_alarmed_queue, _methods

REFERRAL_FUNCTIONS = ("referrals", "referral_events", "referral_rewards")


def test_referral_routes_are_served_by_the_referrals_function_with_keys(synth):
    routes = [r for r in ROUTES if r.function == "referrals"]
    paths = {(r.method, r.path) for r in routes}
    assert ("POST", "/v1/referral-programs/{program_id}/referrals") in paths
    assert ("GET", "/v1/referral-programs/{program_id}/leaderboard") in paths
    assert ("GET", "/v1/metrics/referrals/{program_id}") in paths
    methods = _methods(synth)
    for route in routes:
        assert methods[(route.method, route.path)]["ApiKeyRequired"] is True, route
    operator_only = {r.name for r in routes if r.role == OPERATOR}
    assert operator_only == {"list_held_conversions", "approve_conversion", "reject_conversion", "list_payouts",
                             "mark_payout_paid", "referral_metrics"}
    env = synth.functions()["referrals"][1]["Environment"]["Variables"]
    api_keys = synth.of_type("AWS::ApiGateway::ApiKey")
    operator_key = next(k for k, v in api_keys.items() if "operator" in v["Properties"]["Description"])
    assert env["OPERATOR_API_KEY_IDS"] == {"Ref": operator_key}  # the function checks the operator role itself


def test_order_events_reach_the_referral_consumer_with_retries_and_a_dead_letter_queue(synth):
    (subscription,) = [s for s in SUBSCRIPTIONS if s.function == "referral_events"]
    assert subscription.detail_types == ("order.paid", "order.refunded")
    logical_id, props = synth.functions()["referral_events"]
    assert props["FunctionName"] == "IncentivesEngine-referral-events"
    rules = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
             if r["Properties"].get("Targets", [{}])[0].get("Arn") == {"Fn::GetAtt": [logical_id, "Arn"]}]
    (rule,) = rules
    assert rule["EventPattern"] == {"source": ["incentives.customers"],
                                    "detail-type": ["order.paid", "order.refunded"]}
    queue = rule["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
    assert _async_failure_queue(synth, "referral_events") == queue
    _assert_encrypted_alarmed_queue(synth, queue)


def test_the_referral_rewards_job_runs_every_ten_minutes_and_operators_may_run_it(synth):
    assert JOBS["referral-rewards"] == ("referral_rewards", "rate(10 minutes)")
    logical_id, props = synth.functions()["referral_rewards"]
    assert props["FunctionName"] == "IncentivesEngine-referral-rewards"
    (rule,) = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
               if any(t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]} for t in r["Properties"]["Targets"])]
    assert rule["ScheduleExpression"] == "rate(10 minutes)"
    invoke = _actions(synth, "operators")["lambda:InvokeFunction"]
    assert any(arn.endswith(":function:IncentivesEngine-referral-rewards") for arn in invoke)


def test_referral_functions_have_least_privilege(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    expected = {
        "referrals": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
        "referral_events": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"},
        "referral_rewards": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
    }
    for folder, allowed in expected.items():
        actions = _actions(synth, folder)
        assert {a.removeprefix("dynamodb:") for a in actions if a.startswith("dynamodb:")} == allowed, folder
        for action in (f"dynamodb:{a}" for a in allowed):
            assert all(arn.startswith(f"${{{table_id}.Arn}}") for arn in actions[action]), (folder, action)
        # engine events go through the table (outbox), never PutEvents; no function invokes another
        assert "events:PutEvents" not in actions and "lambda:InvokeFunction" not in actions, folder
        assert "dynamodb:Scan" not in actions and "dynamodb:BatchWriteItem" not in actions, folder


def test_every_referral_function_is_alarmed(synth):
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    for folder in REFERRAL_FUNCTIONS:
        logical_id, _ = synth.functions()[folder]
        dims = [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
        assert {a["MetricName"] for a in alarms if a.get("Dimensions") == dims} >= {"Errors", "Throttles"}, folder
