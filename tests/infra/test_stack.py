"""What a shop deploying the engine relies on, checked on the synthesized CloudFormation template."""
from __future__ import annotations

import json
import re

import pytest

from incentives.adapters import schema
from incentives.http.routes import JOBS, PUBLIC, ROUTES, api_functions
from incentives.subscriptions import (FANOUT_BATCH_SIZE, FANOUT_FUNCTION, STREAM_FILTER, SUBSCRIPTIONS,
                                      consumer_functions)

from infra import REPO_ROOT

ALL_FUNCTIONS = list(dict.fromkeys([*api_functions(), *(folder for folder, _ in JOBS.values()), FANOUT_FUNCTION,
                                    *consumer_functions(),  # and the bulk queue's worker (infra/bulk.py):
                                    "bulk_codes_worker"]))  # several jobs may share one function (journeys)


# --- data ------------------------------------------------------------------------------------------------


def test_table_is_built_from_the_schema_module(synth):
    (table,) = synth.of_type("AWS::DynamoDB::Table").values()
    props = table["Properties"]
    assert props["KeySchema"] == schema.KEY_SCHEMA
    assert sorted(props["AttributeDefinitions"], key=str) == sorted(schema.ATTRIBUTE_DEFINITIONS, key=str)
    assert props["GlobalSecondaryIndexes"] == schema.GLOBAL_SECONDARY_INDEXES
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["TimeToLiveSpecification"] == {"AttributeName": schema.TTL_ATTRIBUTE, "Enabled": True}
    assert props["StreamSpecification"] == {"StreamViewType": schema.STREAM_VIEW_TYPE}
    assert schema.create_table_kwargs("t")["StreamSpecification"] == {"StreamEnabled": True,
                                                                      "StreamViewType": schema.STREAM_VIEW_TYPE}
    assert props["DeletionProtectionEnabled"] is True
    assert table["DeletionPolicy"] == table["UpdateReplacePolicy"] == "Retain"


# --- API -------------------------------------------------------------------------------------------------


def _methods(synth) -> dict[tuple[str, str], dict]:
    """(HTTP method, resource path) -> method properties, paths rebuilt from the resource tree."""
    resources = synth.of_type("AWS::ApiGateway::Resource")

    def path_of(ref: dict) -> str:
        if "Fn::GetAtt" in ref:  # the root resource
            return ""
        res = resources[ref["Ref"]]["Properties"]
        return f"{path_of(res['ParentId'])}/{res['PathPart']}"

    return {
        (m["Properties"]["HttpMethod"], path_of(m["Properties"]["ResourceId"])): m["Properties"]
        for m in synth.of_type("AWS::ApiGateway::Method").values()
    }


def test_every_route_is_a_lambda_proxy_method_with_the_right_key_requirement(synth):
    methods = _methods(synth)
    functions = {logical_id: folder for folder, (logical_id, _) in synth.functions().items()}
    assert set(methods) == {(r.method, r.path) for r in ROUTES}
    for route in ROUTES:
        method = methods[(route.method, route.path)]
        assert method["ApiKeyRequired"] is (route.role != PUBLIC), route
        assert method["AuthorizationType"] == "NONE"
        assert method["Integration"]["Type"] == "AWS_PROXY", route
        target = re.search(r"\$\{(\w+)\.Arn\}", synth.flatten(method["Integration"]["Uri"])).group(1)
        assert functions[target] == route.function, route


def test_cors_preflight_is_served_by_the_function_without_a_key(synth):
    methods = _methods(synth)
    options = [r for r in ROUTES if r.method == "OPTIONS"]
    assert options, "ROUTES declares no OPTIONS route"
    for route in options:
        method = methods[("OPTIONS", route.path)]
        assert method["ApiKeyRequired"] is False
        assert method["Integration"]["Type"] == "AWS_PROXY"  # not a MOCK: CORS is per campaign


def test_two_generated_api_keys_in_two_throttled_usage_plans(synth):
    keys = synth.of_type("AWS::ApiGateway::ApiKey")
    assert len(keys) == 2
    assert all("Value" not in k["Properties"] for k in keys.values()), "key values must be generated"
    plans = {p["Properties"]["UsagePlanName"]: p["Properties"]
             for p in synth.of_type("AWS::ApiGateway::UsagePlan").values()}
    assert plans["IncentivesEngine-storefront"]["Throttle"] == {"RateLimit": 500, "BurstLimit": 1000}
    operator = plans["IncentivesEngine-operator"]["Throttle"]
    assert operator["RateLimit"] < 500
    links = {(p["Properties"]["KeyId"]["Ref"], p["Properties"]["UsagePlanId"]["Ref"])
             for p in synth.of_type("AWS::ApiGateway::UsagePlanKey").values()}
    assert {key for key, _ in links} == set(keys) and len({plan for _, plan in links}) == 2


def test_stage_traces_logs_and_throttles_the_public_claims_post(synth):
    (stage,) = synth.of_type("AWS::ApiGateway::Stage").values()
    props = stage["Properties"]
    assert props["TracingEnabled"] is True
    access_format = json.loads(props["AccessLogSetting"]["Format"])
    assert {"requestId", "status", "apiKeyId", "errorType"} <= set(access_format)
    settings = {(s["HttpMethod"], s["ResourcePath"]): s for s in props["MethodSettings"]}
    claims = settings[("POST", "/~1v1~1public~1campaigns~1{campaign_id}~1claims")]
    assert claims["ThrottlingRateLimit"] == 20 and claims["ThrottlingBurstLimit"] == 50
    assert settings[("*", "/*")]["LoggingLevel"] == "ERROR"
    assert settings[("*", "/*")]["DataTraceEnabled"] is False


def test_gateway_errors_use_the_contract_error_body(synth):
    responses = {r["Properties"]["ResponseType"]: r["Properties"]
                 for r in synth.of_type("AWS::ApiGateway::GatewayResponse").values()}
    expected = {
        "INVALID_API_KEY": ("401", "unauthorized"),  # missing and wrong x-api-key alike
        "MISSING_AUTHENTICATION_TOKEN": ("404", "not_found"),  # unknown path or method
        "THROTTLED": ("429", "rate_limited"),
        "QUOTA_EXCEEDED": ("429", "rate_limited"),
        "DEFAULT_5XX": (None, "internal_error"),
    }
    for response_type, (status, code) in expected.items():
        props = responses[response_type]
        assert props.get("StatusCode") == status, response_type
        # $context variables are substituted by API Gateway; with sample values the body is contract JSON.
        rendered = (props["ResponseTemplates"]["application/json"]
                    .replace("$context.error.messageString", '"Forbidden"')
                    .replace("$context.requestId", "req-1"))
        body = json.loads(rendered)
        assert set(body) == {"error"}
        assert body["error"]["code"] == code
        assert isinstance(body["error"]["message"], str) and isinstance(body["error"]["details"], dict)


# --- functions -------------------------------------------------------------------------------------------


def test_every_function_is_arm64_python312_traced_with_both_layers_and_own_logs(synth):
    functions = synth.functions()
    assert sorted(functions) == sorted(ALL_FUNCTIONS)
    log_groups = synth.of_type("AWS::Logs::LogGroup")
    for folder, (_, props) in functions.items():
        assert props["Architectures"] == ["arm64"], folder
        major, minor = map(int, props["Runtime"].removeprefix("python").split("."))
        assert (major, minor) >= (3, 12), folder
        assert props["TracingConfig"] == {"Mode": "Active"}, folder
        assert len(props["Layers"]) == 2, folder
        log_group = log_groups[props["LoggingConfig"]["LogGroup"]["Ref"]]
        assert log_group["Properties"]["RetentionInDays"] == 30, folder


def test_environment_matches_incentives_settings(synth):
    functions = synth.functions()
    api_keys = synth.of_type("AWS::ApiGateway::ApiKey")
    operator_key = next(k for k, v in api_keys.items() if "operator" in v["Properties"]["Description"])
    job_names = {folder: props.get("FunctionName") for folder, (_, props) in functions.items()}
    for folder, (_, props) in functions.items():
        env = props["Environment"]["Variables"]
        assert env["CONFIG_SOURCE"] == "appconfig"
        assert env["CONFIG_MAX_AGE_SECONDS"] == "30"
        for name in ("TABLE_NAME", "EVENT_BUS_NAME", "APPCONFIG_APPLICATION", "APPCONFIG_ENVIRONMENT",
                     "APPCONFIG_PROFILE"):
            assert env[name], (folder, name)
        assert env["POWERTOOLS_SERVICE_NAME"] == folder.replace("_", "-")
        assert env["POWERTOOLS_METRICS_NAMESPACE"] == "Incentives"
    operators = functions["operators"][1]["Environment"]["Variables"]
    assert operators["OPERATOR_API_KEY_IDS"] == {"Ref": operator_key}
    # deployed, POST /v1/jobs/{name}/run refuses `now` unless the stack was told otherwise (jobs_allow_now)
    assert operators["JOBS_ALLOW_NOW"] == "false"
    assert [f for f, (_, p) in functions.items() if "JOBS_ALLOW_NOW" in p["Environment"]["Variables"]] == ["operators"]
    env = functions["operators"][1]["Environment"]["Variables"]
    assert json.loads(env["JOB_FUNCTIONS"]) == {job: job_names[f] for job, (f, _) in JOBS.items()}
    assert "JOB_FUNCTIONS" not in functions["bulk_codes"][1]["Environment"]["Variables"]  # it sends to the queue


@pytest.mark.parametrize("given,allowed", [(None, False), (False, False), ("false", False), (True, True),
                                           ("true", True), ("TRUE", True)])
def test_jobs_allow_now_is_off_unless_the_context_turns_it_on(given, allowed):
    from aws_cdk import App

    from infra.settings import InfraSettings

    app = App(context={} if given is None else {"incentives:jobs_allow_now": given})
    assert InfraSettings.from_context(app.node).jobs_allow_now is allowed
    assert json.loads((REPO_ROOT / "cdk.json").read_text())["context"]["incentives:jobs_allow_now"] is False


def test_every_function_gets_each_setting_it_checks_at_cold_start(synth, monkeypatch):
    """incentives/settings.py NEEDS, checked as the handler checks it at init, against the deployed environment
    (no local bus or dispatcher installed: deployed, EVENT_BUS_NAME and JOB_FUNCTIONS must be there)."""
    from incentives import settings, wiring

    monkeypatch.setattr(wiring, "_bus", None)
    monkeypatch.setattr(wiring, "_dispatcher", None)
    monkeypatch.setattr(wiring, "_work_queue", None)
    monkeypatch.setattr(wiring, "_export_files", None)
    functions = synth.functions()
    assert sorted(settings.NEEDS) == sorted(functions)
    for folder, (_, props) in functions.items():
        # CloudFormation references (Ref, GetAtt) stand for the strings they resolve to
        env = {k: v if isinstance(v, str) else synth.flatten(v) for k, v in props["Environment"]["Variables"].items()}
        settings.check(folder, env)  # raises MissingSetting naming what is missing
        assert env["CONFIG_SOURCE"] == "appconfig", folder
    assert settings.NEEDS["event_fanout"] == (settings.TABLE, settings.BUS)
    assert settings.DISPATCH in settings.NEEDS["operators"] and settings.WORK_QUEUE in settings.NEEDS["bulk_codes"]
    assert settings.EXPORTS in settings.NEEDS["operators"] and settings.EXPORTS in settings.NEEDS["code_exports"]


def test_scheduled_jobs_run_on_their_schedule(synth):
    functions = synth.functions()
    rules = synth.of_type("AWS::Events::Rule").values()
    for job, (folder, schedule) in JOBS.items():
        if schedule is None:
            continue
        logical_id = functions[folder][0]
        shared = sum(1 for f, _ in JOBS.values() if f == folder) > 1  # one function for several jobs: by input
        (rule,) = [r for r in rules if any(t["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}
                                           and (not shared or json.loads(t["Input"]) == {"job": job})
                                           for t in r["Properties"]["Targets"])]
        assert rule["Properties"]["ScheduleExpression"] == schedule, job
        assert rule["Properties"].get("State", "ENABLED") == "ENABLED", job
    assert JOBS["campaign-activation"] == ("campaign_activation", "rate(1 minute)")


def _async_failure_queue(synth, folder: str) -> str:
    logical_id, _ = synth.functions()[folder]
    (config,) = [c["Properties"] for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()
                 if c["Properties"]["FunctionName"] == {"Ref": logical_id}]
    return config["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0]


def _assert_encrypted_alarmed_queue(synth, queue_id: str) -> None:
    queue = synth.resources[queue_id]
    assert queue["Type"] == "AWS::SQS::Queue"
    assert queue["Properties"]["SqsManagedSseEnabled"] is True
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "ApproximateNumberOfMessagesVisible"]
    assert any(d["Value"] == {"Fn::GetAtt": [queue_id, "QueueName"]} for a in alarms for d in a["Dimensions"])


def test_bulk_codes_failures_go_to_an_encrypted_alarmed_queue(synth):
    _assert_encrypted_alarmed_queue(synth, _async_failure_queue(synth, "bulk_codes"))


# --- customer events -------------------------------------------------------------------------------------


def test_only_new_event_items_of_the_stream_reach_the_fanout_and_failures_are_kept(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    (mapping,) = [m["Properties"] for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()
                  if "StreamArn" in synth.flatten(m["Properties"]["EventSourceArn"])]  # the other reads the bulk queue
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": [table_id, "StreamArn"]}
    assert mapping["FunctionName"] == {"Ref": synth.functions()[FANOUT_FUNCTION][0]}
    (only,) = mapping["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == STREAM_FILTER == {
        "eventName": ["INSERT"], "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "EVENT#"}]}}}}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"  # nothing written before the mapping exists is lost
    assert mapping["BatchSize"] == FANOUT_BATCH_SIZE
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10
    assert 0 < mapping["MaximumRecordAgeInSeconds"] < 24 * 3600  # reported before the stream drops the records
    _assert_encrypted_alarmed_queue(synth, mapping["DestinationConfig"]["OnFailure"]["Destination"]["Fn::GetAtt"][0])


def test_each_consumer_gets_its_event_types_from_the_bus_with_retries_and_a_dead_letter_queue(synth):
    (bus_id,) = synth.of_type("AWS::Events::EventBus")
    functions = synth.functions()
    rules = [r["Properties"] for r in synth.of_type("AWS::Events::Rule").values() if "EventPattern" in r["Properties"]]
    assert len(rules) == sum(len(s.patterns()) for s in SUBSCRIPTIONS)
    for subscription in SUBSCRIPTIONS:
        logical_id = functions[subscription.function][0]
        own = [r for r in rules if r["Targets"][0]["Arn"] == {"Fn::GetAtt": [logical_id, "Arn"]}]
        assert {r["EventPattern"]["source"][0]: r["EventPattern"] for r in own} == subscription.patterns()
        assert own[0]["EventPattern"]["source"] == ["incentives.customers"]  # every consumer takes shop events
        for rule in own:
            assert rule["EventBusName"] == {"Ref": bus_id}
            assert rule["EventPattern"]["source"] in (["incentives.customers"], ["incentives.engine"])
            (target,) = rule["Targets"]
            assert target["RetryPolicy"]["MaximumRetryAttempts"] > 0
            queue_id = target["DeadLetterConfig"]["Arn"]["Fn::GetAtt"][0]
            # a consumer that raises ends in the same queue as an event that could not be delivered
            assert _async_failure_queue(synth, subscription.function) == queue_id
            _assert_encrypted_alarmed_queue(synth, queue_id)
    assert {s.function: s.detail_types for s in SUBSCRIPTIONS}["refunds"] == ("order.refunded",)


def test_fanout_lag_is_alarmed(synth):
    logical_id = synth.functions()[FANOUT_FUNCTION][0]
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()
              if a["Properties"].get("MetricName") == "IteratorAge"]
    assert [a["Dimensions"] for a in alarms] == [[{"Name": "FunctionName", "Value": {"Ref": logical_id}}]]


# --- config ----------------------------------------------------------------------------------------------


def test_appconfig_hosts_the_validated_config_documents(synth):
    from incentives.domain.config_files import load_config_dir

    (version,) = synth.of_type("AWS::AppConfig::HostedConfigurationVersion").values()
    assert version["Properties"]["ContentType"] == "application/json"
    expected = load_config_dir(REPO_ROOT / "config").to_document()
    assert json.loads(version["Properties"]["Content"]) == json.loads(json.dumps(expected))
    (strategy,) = synth.of_type("AWS::AppConfig::DeploymentStrategy").values()
    assert strategy["Properties"]["GrowthFactor"] == 100
    assert strategy["Properties"]["DeploymentDurationInMinutes"] == 0
    assert strategy["Properties"]["FinalBakeTimeInMinutes"] == 0
    (deployment,) = synth.of_type("AWS::AppConfig::Deployment").values()
    version_id = next(iter(synth.of_type("AWS::AppConfig::HostedConfigurationVersion")))
    assert deployment["Properties"]["ConfigurationVersion"] == {"Fn::GetAtt": [version_id, "VersionNumber"]}


# --- IAM -------------------------------------------------------------------------------------------------


def _actions(synth, folder: str) -> dict[str, list[str]]:
    """action -> the ARNs it is allowed on, for one function's role."""
    out: dict[str, list[str]] = {}
    for statement in synth.role_statements(folder):
        assert statement["Effect"] == "Allow"
        for action in synth.actions(statement):
            out.setdefault(action, []).extend(synth.arns(statement))
    return out


def test_no_wildcard_actions_and_no_scans(synth):
    for folder in ALL_FUNCTIONS:
        actions = _actions(synth, folder)
        assert not [a for a in actions if "*" in a], folder
        assert "dynamodb:Scan" not in actions, folder
        wildcard = {a for a, arns in actions.items() if "*" in arns}
        assert wildcard <= {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, folder


def test_table_permissions_are_per_function(synth):
    expected = {
        "storefront": {"GetItem", "BatchGetItem", "Query", "UpdateItem", "PutItem", "DeleteItem", "ConditionCheckItem"},
        "claims": {"GetItem", "BatchGetItem", "Query", "UpdateItem", "PutItem", "DeleteItem", "ConditionCheckItem"},
        "operators": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
        "campaign_activation": {"GetItem", "Query", "UpdateItem", "PutItem"},
        "bulk_codes": {"GetItem", "UpdateItem"},  # plans; the workers write
        "bulk_codes_worker": {"GetItem", "BatchGetItem", "Query", "UpdateItem", "BatchWriteItem"},
        "code_exports": {"GetItem", "Query", "UpdateItem"},
        "events": {"GetItem", "PutItem"},  # no rollbacks in the request any more
        "refunds": {"GetItem", "Query", "UpdateItem", "PutItem"},
        "event_fanout": {"PutItem"},  # quarantine items only: test_the_fanout_writes_only_quarantine_items
        "referrals": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
        "referral_events": {"GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem"},
        "referral_rewards": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
        "loyalty": {"GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "ConditionCheckItem"},
        "loyalty_events": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"},
        "points_expiry": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem"},
        "journey_events": {"GetItem", "PutItem"},
        "metrics_events": {"GetItem", "PutItem", "UpdateItem"},
        "journeys": {"GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem"},
    }
    assert sorted(expected) == sorted(ALL_FUNCTIONS)
    stream_actions = {"DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"}
    for folder, allowed in expected.items():
        actions = _actions(synth, folder)
        table = {a.removeprefix("dynamodb:") for a in actions if a.startswith("dynamodb:")} - stream_actions
        assert table == allowed, folder
        appconfig = {"appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"}
        if folder in ("events", "event_fanout", "metrics_events"):  # they never read campaign config
            assert not appconfig & set(actions), folder
        else:
            assert appconfig <= set(actions), folder
            assert all("/configuration/" in arn for arn in actions["appconfig:StartConfigurationSession"])


def test_the_fanout_writes_only_quarantine_items(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    statements = [s for s in synth.role_statements(FANOUT_FUNCTION) if "dynamodb:PutItem" in synth.actions(s)]
    assert len(statements) == 1
    assert statements[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["QUARANTINE#*"]}}
    assert synth.arns(statements[0]) == [f"${{{table_id}.Arn}}"]


def test_only_the_fanout_reads_the_stream_and_only_this_table(synth):
    (table_id,) = synth.of_type("AWS::DynamoDB::Table")
    for folder in ALL_FUNCTIONS:
        actions = _actions(synth, folder)
        for action in ("dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator",
                       "dynamodb:ListStreams"):
            expected = [f"${{{table_id}.StreamArn}}"] if folder == FANOUT_FUNCTION else []
            assert actions.get(action, []) == expected, (folder, action)


def test_only_operators_invoke_functions_and_only_job_functions(synth):
    from infra.jobs import job_function_names

    names = job_function_names("IncentivesEngine")
    job_functions = {folder: names[job] for job, (folder, _) in JOBS.items()}
    deployed = {props.get("FunctionName") for _, props in synth.functions().values()}
    assert set(job_functions.values()) <= deployed
    for folder in ALL_FUNCTIONS:
        invoke = _actions(synth, folder).get("lambda:InvokeFunction", [])
        assert all(arn.startswith("arn:${AWS::Partition}:lambda:") for arn in invoke), folder
        targets = sorted(arn.split(":function:")[1] for arn in invoke)
        if folder == "operators":
            assert targets == sorted(set(job_functions.values()))
        else:
            assert targets == [], folder


def test_only_the_fanout_puts_events_and_only_on_the_engine_bus(synth):
    """Engine events (campaign.*, points.expiring, ...) are outbox items: no job calls PutEvents after a commit."""
    (bus_id,) = synth.of_type("AWS::Events::EventBus")
    for folder in ALL_FUNCTIONS:
        put = _actions(synth, folder).get("events:PutEvents", [])
        assert put == ([f"${{{bus_id}.Arn}}"] if folder == FANOUT_FUNCTION else []), folder


def test_the_pseudonym_key_is_a_generated_retained_secret_read_only_by_the_functions_that_hash(synth):
    from incentives.settings import HASH_KEY, NEEDS

    (secret_id, secret), = synth.of_type("AWS::SecretsManager::Secret").items()
    assert secret["Properties"]["GenerateSecretString"]["PasswordLength"] >= 32
    assert secret["DeletionPolicy"] == "Retain"
    functions = synth.functions()
    for folder in ALL_FUNCTIONS:
        env = functions[folder][1]["Environment"]["Variables"]
        reads = _actions(synth, folder).get("secretsmanager:GetSecretValue", [])
        if HASH_KEY in NEEDS[folder]:
            assert env[HASH_KEY] == {"Ref": secret_id}, folder
            assert reads == [f"${{{secret_id}}}"], folder
        else:
            assert HASH_KEY not in env and reads == [], folder


# --- monitoring ------------------------------------------------------------------------------------------


def test_alarms_cover_functions_api_table_and_notify_the_ssl_only_topic(synth):
    (topic_id,) = synth.of_type("AWS::SNS::Topic")
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    assert all(a["AlarmActions"] == [{"Ref": topic_id}] for a in alarms)
    for folder, (logical_id, _) in synth.functions().items():
        for metric in ("Errors", "Throttles"):
            dimensions = [{"Name": "FunctionName", "Value": {"Ref": logical_id}}]
            matching = [a for a in alarms if a.get("MetricName") == metric and a["Dimensions"] == dimensions]
            assert matching, (folder, metric)
    assert any(a.get("MetricName") == "5XXError" and a.get("Namespace") == "AWS/ApiGateway" for a in alarms)
    table_metrics = {m["MetricStat"]["Metric"]["MetricName"] for a in alarms for m in a.get("Metrics", [])
                     if "MetricStat" in m and m["MetricStat"]["Metric"]["Namespace"] == "AWS/DynamoDB"}
    assert table_metrics == {"ThrottledRequests", "SystemErrors"}
    (policy,) = synth.of_type("AWS::SNS::TopicPolicy").values()
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    tls_only = {"Bool": {"aws:SecureTransport": "false"}}
    assert any(s["Effect"] == "Deny" and s["Condition"] == tls_only for s in statements)


# --- checks ----------------------------------------------------------------------------------------------


# Every accepted cdk-nag finding; a new one must be added here, with its reason in the construct (docs/decision-log.md).
ACKNOWLEDGED = {
    "AwsSolutions-L1",  # python3.12 pinned with the cp312 dependency layer
    "AwsSolutions-IAM5[Resource::*]",  # X-Ray actions only
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]",
    "AwsSolutions-SQS3",  # the queue is itself a dead-letter destination
    "AwsSolutions-APIG2",  # bodies validated in the handlers (422 contract)
    "AwsSolutions-APIG3",  # no WAF by default
    "AwsSolutions-APIG4",  # x-api-key auth, public routes by design
    "AwsSolutions-COG4",  # no Cognito users
    "AwsSolutions-S1",  # the export bucket: short-lived files, no access log bucket
    "AwsSolutions-IAM5[Resource::<BulkExportsFAC8C841.Arn>/exports/*]",  # one action on export objects, by role
    "AwsSolutions-SMG4",  # the pseudonym key is not rotated on a schedule (a rotation is a migration)
}


def test_cdk_nag_passed_with_only_the_known_acknowledgments(synth):
    report = json.loads((synth.outdir / "validation-report.json").read_text())
    assert all(r["conclusion"] != "failure" for r in report["pluginReports"])
    metadata = json.loads((synth.outdir / f"{synth.stack.artifact_id}.metadata.json").read_text())
    acknowledged = {}
    for path, entries in metadata.items():
        for entry in entries:
            if entry["type"] == "aws:cdk:acknowledged-rules":
                for rule, reason in entry["data"].items():
                    acknowledged.setdefault(rule.removeprefix("Annotation::"), []).append((path, reason))
    assert set(acknowledged) == ACKNOWLEDGED
    for rule, uses in acknowledged.items():
        assert all(len(reason) > 40 for _, reason in uses), rule
    iam5 = {path for path, _ in acknowledged["AwsSolutions-IAM5[Resource::*]"]}
    assert all(path.endswith("/Role") for path in iam5)  # never on the whole stack
    exports = {path for path, _ in acknowledged["AwsSolutions-IAM5[Resource::<BulkExportsFAC8C841.Arn>/exports/*]"]}
    assert exports == {"/IncentivesEngine/Operators/Role", "/IncentivesEngine/CodeExports/Role"}


def test_cfn_lint_finds_no_errors(synth):
    from cfnlint.api import lint_file

    matches = lint_file(synth.outdir / f"{synth.stack.artifact_id}.template.json")
    # W3005 (a DependsOn that a GetAtt already implies) is how CDK orders a function after its role.
    findings = [f"{m.rule.id} {m.message}" for m in matches if m.rule.id != "W3005"]
    assert findings == []


def test_journeys_publish_sms_only_and_send_through_the_configuration_set(synth):
    statements = synth.role_statements("journeys")
    sns = [s for s in statements if "sns:Publish" in synth.actions(s)]
    assert [s.get("NotResource") for s in sns] == ["arn:aws:sns:*:*:*"]  # SMS only: no topic
    assert all("Resource" not in s for s in sns)
    _, props = synth.functions()["journeys"]
    env = props["Environment"]["Variables"]
    assert env["SES_CONFIGURATION_SET"] and env["PUBLIC_BASE_URL"]
    sets = synth.of_type("AWS::SES::ConfigurationSet")
    assert len(sets) == 1 and env["SES_CONFIGURATION_SET"] == {"Ref": next(iter(sets))}
    alarms = [a["Properties"] for a in synth.of_type("AWS::CloudWatch::Alarm").values()]
    assert any(a.get("MetricName") == "JourneySendsFailed" and a.get("Namespace") == "Incentives" for a in alarms)
    assert "journeys" in synth.stack.jobs.failure_queues


def test_claims_mail_through_the_configuration_set_and_publish_no_sms(synth):
    """Landing-page codes delivered by e-mail (claims.delivery: email) use the journeys' SES set; no SNS."""
    assert not [s for s in synth.role_statements("claims") if "sns:Publish" in synth.actions(s)]
    claims = synth.functions()["claims"][1]["Environment"]["Variables"]
    journeys = synth.functions()["journeys"][1]["Environment"]["Variables"]
    assert claims["SES_CONFIGURATION_SET"] == journeys["SES_CONFIGURATION_SET"]
