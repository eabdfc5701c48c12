"""The loyalty resources in the synthesized template: the API function and its routes, the consumer's rule and
dead-letter queue, the points-expiry schedule, and least privilege for all three."""
from __future__ import annotations

from incentives.http.routes import JOBS, OPERATOR, ROUTES, RUNNABLE_JOBS
from incentives.subscriptions import SUBSCRIPTIONS

from tests.infra.test_stack import _actions

LOYALTY_FUNCTIONS = ("loyalty", "loyalty_events", "points_expiry")


def test_the_loyalty_routes_are_served_by_the_loyalty_function_with_adjustments_for_operators(synth):
    routes = [r for r in ROUTES if r.function == "loyalty"]
    assert {(r.method, r.path.removeprefix("/v1/loyalty-programs/{program_id}")) for r in routes} == {
        ("GET", ""), ("GET", "/members/{customer_id}"), ("GET", "/members/{customer_id}/transactions"),
        ("POST", "/members/{customer_id}/rewards"), ("POST", "/members/{customer_id}/adjustments")}
    assert [r.name for r in routes if r.role == OPERATOR] == ["adjust_loyalty_points"]
    methods = {(m["Properties"]["HttpMethod"], m["Properties"].get("OperationName")): m["Properties"]
               for m in synth.of_type("AWS::ApiGateway::Method").values()}
    logical_id, props = synth.functions()["loyalty"]
    for r in routes:
        method = methods[(r.method, r.name)]
        assert method["ApiKeyRequired"] is True
        assert f"${{{logical_id}.Arn}}" in synth.flatten(method["Integration"]["Uri"])
    # the role check of the operator route needs the operator key's id
    api_keys = synth.of_type("AWS::ApiGateway::ApiKey")
    operator_key = next(k for k, v in api_keys.items() if "operator" in v["Properties"]["Description"])
    assert props["Environment"]["Variables"]["OPERATOR_API_KEY_IDS"] == {"Ref": operator_key}


def test_the_consumer_gets_earning_refund_and_referral_events_with_a_dead_letter_queue(synth):
    (subscription,) = [s for s in SUBSCRIPTIONS if s.function == "loyalty_events"]
    assert {"order.paid", "order.refunded", "customer.created", "review.submitted"} <= set(subscription.detail_types)
    assert {"referral.converted", "referral.reward_points"} <= set(subscription.engine_types)  # the engine's own
    logical_id, props = synth.functions()["loyalty_events"]
    assert props["FunctionName"] == "IncentivesEngine-loyalty-events"
    rules = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
             if r["Properties"].get("Targets", [{}])[0].get("Arn") == {"Fn::GetAtt": [logical_id, "Arn"]}]
    patterns = {r["EventPattern"]["source"][0]: r["EventPattern"] for r in rules}
    assert patterns == subscription.patterns()
    assert patterns["incentives.engine"]["detail-type"] == ["referral.converted", "referral.reward_points"]
    assert "referral.converted" not in patterns["incentives.customers"]["detail-type"]  # the shop cannot fake it
    (queue_id,) = {r["Targets"][0]["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0] for r in rules}
    assert synth.resources[queue_id]["Properties"]["SqsManagedSseEnabled"] is True
    (invoke_config,) = [c["Properties"] for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
                        if c["Properties"]["FunctionName"] == {"Ref": logical_id}]
    assert invoke_config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": [queue_id, "Arn"]}
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    assert any(d["Value"] == {"Fn::GetAtt": [queue_id, "QueueName"]} for a in alarms for d in a.get("Dimensions", []))


def test_points_expiry_runs_hourly_can_be_run_by_operators_and_never_calls_put_events(synth):
    assert JOBS["points-expiry"] == ("points_expiry", "cron(5 * * * ? *)")
    assert "points-expiry" in RUNNABLE_JOBS
    logical_id, props = synth.functions()["points_expiry"]
    assert props["FunctionName"] == "IncentivesEngine-points-expiry"
    assert props["Timeout"] == 60
    (rule,) = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values()
               if any(t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]} for t in r["Properties"].get("Targets", []))]
    assert rule["ScheduleExpression"] == "cron(5 * * * ? *)"
    # its warnings (points.expiring) are outbox items of the lot's move: the fan-out publishes them
    assert "events:PutEvents" not in _actions(synth, "points_expiry")
    invoke = _actions(synth, "operators")["lambda:InvokeFunction"]
    assert any(arn.endswith(":function:IncentivesEngine-points-expiry") for arn in invoke)
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    dims = [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
    assert {a["MetricName"] for a in alarms if a.get("Dimensions") == dims} >= {"Errors", "Throttles"}


def test_loyalty_functions_touch_only_the_table_and_gsi1_and_never_scan_or_delete_ledgers(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    for folder in LOYALTY_FUNCTIONS:
        actions = _actions(synth, folder)
        table_actions = {a: arns for a, arns in actions.items() if a.startswith("dynamodb:")}
        assert "dynamodb:Scan" not in table_actions, folder
        for action, arns in table_actions.items():
            assert sorted(set(arns)) == [f"${{{table_id}.Arn}}", f"${{{table_id}.Arn}}/index/gsi1"], (folder, action)
        assert not any(a.startswith("dynamodb:GetRecords") for a in actions), folder
    # the job and the consumer never delete (a ledger only grows); the API deletes only idempotency claims
    assert "dynamodb:DeleteItem" not in _actions(synth, "points_expiry")
    assert "dynamodb:DeleteItem" not in _actions(synth, "loyalty_events")
    for folder in LOYALTY_FUNCTIONS:  # programs come from AppConfig: that one configuration only
        sessions = _actions(synth, folder)["appconfig:StartConfigurationSession"]
        assert sessions and all("/configuration/" in arn for arn in sessions), folder
