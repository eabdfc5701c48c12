"""Each function's IAM, asserted against a table: function -> the actions it may have and on what. Any action or
resource not in the table fails (a new permission is a reviewed change of this table), and so does one the
table expects but the role lacks (the table stays the truth about what each function can do)."""
from __future__ import annotations

import re

TABLE = "table"  # the engine's table; "index:<name>" its indexes; "stream" its stream
OWN_LOGS = "own-logs"  # the function's own log group
OWN_FAILURES = "own-failures"  # the queue its failed asynchronous invocations or stream batches go to
CONFIG = "config"  # the AppConfig configuration profile of the campaigns document
BUS = "bus"  # the engine's event bus
SMS_ONLY = "sms-only"  # sns:Publish on anything that is not a topic: SMS to phone numbers
WORK_QUEUE = "${BulkWorkQueue0D05578F.Arn}"  # the bulk runs' slices (infra/bulk.py)
EXPORT_OBJECTS = "${BulkExportsFAC8C841.Arn}/exports/*"  # the code export files (infra/bulk.py)
PSEUDONYM_KEY = "${PseudonymKey2CD808DE}"  # the secret that keys e-mail and IP pseudonyms

BASE = {"logs:CreateLogStream": {OWN_LOGS}, "logs:PutLogEvents": {OWN_LOGS},
        # X-Ray's PutTraceSegments/PutTelemetryRecords have no resource-level permissions (cdk-nag acknowledged)
        "xray:PutTelemetryRecords": {"*"}, "xray:PutTraceSegments": {"*"}}
READS_CONFIG = {"appconfig:GetLatestConfiguration": {CONFIG}, "appconfig:StartConfigurationSession": {CONFIG}}
FAILURES = {f"sqs:{a}": {OWN_FAILURES} for a in ("GetQueueAttributes", "GetQueueUrl", "SendMessage")}
GSI1 = {TABLE, "index:gsi1"}
READS_KEY = {f"secretsmanager:{a}": {PSEUDONYM_KEY} for a in ("DescribeSecret", "GetSecretValue")}


def table_actions(*actions: str, on: set[str] = GSI1) -> dict[str, set[str]]:
    return {f"dynamodb:{a}": on for a in actions}


JOBS = {f"fn:{name}" for name in ("bulk-codes", "campaign-activation", "code-export", "journeys", "points-expiry",
                                  "referral-rewards")}

ALLOWED: dict[str, dict[str, set[str]]] = {
    # API functions
    "storefront": {**BASE, **READS_CONFIG, **READS_KEY,
                   **table_actions("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
                                   "ConditionCheckItem")},
    "claims": {**BASE, **READS_CONFIG, **READS_KEY,
               **table_actions("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
                               "ConditionCheckItem")},
    "events": {**BASE, **table_actions("GetItem", "PutItem")},
    "operators": {**BASE, **READS_CONFIG, **READS_KEY, "lambda:InvokeFunction": JOBS,
                  "s3:GetObject": {EXPORT_OBJECTS},
                  **table_actions("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
                                  on=GSI1 | {"index:gsi2"})},
    "referrals": {**BASE, **READS_CONFIG, **READS_KEY, **table_actions("GetItem", "BatchGetItem", "Query", "PutItem",
                                                         "UpdateItem", "DeleteItem")},
    "loyalty": {**BASE, **READS_CONFIG, **table_actions("GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem",
                                                       "ConditionCheckItem")},
    # jobs
    "campaign_activation": {**BASE, **READS_CONFIG, **table_actions("GetItem", "Query", "PutItem", "UpdateItem")},
    # the planner: marks the job running and queues its slices
    "bulk_codes": {**BASE, **READS_CONFIG, **FAILURES, "sqs:SendMessage": {WORK_QUEUE, OWN_FAILURES},
                   **table_actions("GetItem", "UpdateItem")},
    # the workers: write the slices' codes (a retried chunk reads which exist first), count them
    "bulk_codes_worker": {**BASE, **READS_CONFIG,
                          **{f"sqs:{a}": {WORK_QUEUE} for a in ("ChangeMessageVisibility", "DeleteMessage",
                                                                 "GetQueueAttributes", "GetQueueUrl",
                                                                 "ReceiveMessage")},
                          **table_actions("GetItem", "BatchGetItem", "Query", "UpdateItem", "BatchWriteItem")},
    "code_exports": {**BASE, **READS_CONFIG, **FAILURES, "s3:PutObject": {EXPORT_OBJECTS},
                     **table_actions("GetItem", "Query", "UpdateItem", on=GSI1 | {"index:gsi2"})},
    "referral_rewards": {**BASE, **READS_CONFIG, **table_actions("GetItem", "Query", "PutItem", "UpdateItem",
                                                                "DeleteItem")},
    "points_expiry": {**BASE, **READS_CONFIG, **table_actions("GetItem", "BatchGetItem", "Query", "PutItem",
                                                             "UpdateItem")},
    "journeys": {**BASE, **READS_CONFIG, **FAILURES, "sns:Publish": {SMS_ONLY},
                 **table_actions("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem", "DeleteItem")},
    # the stream and the event consumers
    "event_fanout": {**BASE, **FAILURES, "events:PutEvents": {BUS},
                     "dynamodb:PutItem": {TABLE},  # quarantine items only (a LeadingKeys condition, test_stack.py)
                     **{f"dynamodb:{a}": {"stream"} for a in ("DescribeStream", "GetRecords", "GetShardIterator",
                                                              "ListStreams")}},
    "refunds": {**BASE, **READS_CONFIG, **FAILURES, **table_actions("GetItem", "Query", "PutItem", "UpdateItem")},
    "referral_events": {**BASE, **READS_CONFIG, **FAILURES,
                        **table_actions("GetItem", "BatchGetItem", "PutItem", "UpdateItem", "DeleteItem")},
    "loyalty_events": {**BASE, **READS_CONFIG, **FAILURES,
                       **table_actions("GetItem", "BatchGetItem", "Query", "PutItem", "UpdateItem")},
    "journey_events": {**BASE, **READS_CONFIG, **FAILURES, **table_actions("GetItem", "PutItem")},
    "metrics_events": {**BASE, **FAILURES, **table_actions("GetItem", "PutItem", "UpdateItem")},
}


def _own_queues(synth, logical_id: str) -> set[str]:
    """The on-failure destinations of the function's asynchronous invocations and event source mappings."""
    out = set()
    for res in (*synth.of_type("AWS::Lambda::EventInvokeConfig").values(),
                *synth.of_type("AWS::Lambda::EventSourceMapping").values()):
        p = res["Properties"]
        if synth.flatten(p.get("FunctionName")) in (f"${{{logical_id}}}", f"${{{logical_id}.Arn}}"):
            dest = p.get("DestinationConfig", {}).get("OnFailure", {}).get("Destination")
            if dest:
                out.add(synth.flatten(dest))
    return out


_CONFIG_ARN = re.compile(r"arn:\$\{AWS::Partition\}:appconfig:.*/configuration/\$\{Config\w+\.ConfigurationProfileId\}")
_JOB_ARN = re.compile(r"arn:\$\{AWS::Partition\}:lambda:\$\{AWS::Region\}:\$\{AWS::AccountId\}:function:"
                      r"IncentivesEngine-([a-z-]+)")


def _symbol(arn: str, names: dict[str, str]) -> str:
    """A statement's resource as one of the symbols above (``names``: the flattened ARNs this function's own
    resources have); an unknown one as itself, so it shows in the failure."""
    if arn in names:
        return names[arn]
    if arn.startswith(names["table-prefix"]):
        return "index:" + arn.rsplit("/", 1)[1]
    if _CONFIG_ARN.fullmatch(arn):
        return CONFIG
    m = _JOB_ARN.fullmatch(arn)
    return f"fn:{m.group(1)}" if m else arn


def _symbols(synth, folder: str) -> dict[str, set[str]]:
    """The role's statements as action -> symbolic resources (see the constants above)."""
    logical_id, props = synth.functions()[folder]
    table_id = next(iter(synth.of_type("AWS::DynamoDB::Table")))
    names = {"*": "*", "not:arn:aws:sns:*:*:*": SMS_ONLY, f"${{{table_id}.Arn}}": TABLE,
             f"${{{table_id}.StreamArn}}": "stream", f"${{{props['LoggingConfig']['LogGroup']['Ref']}.Arn}}": OWN_LOGS,
             **{f"${{{b}.Arn}}": BUS for b in synth.of_type("AWS::Events::EventBus")},
             **dict.fromkeys(_own_queues(synth, logical_id), OWN_FAILURES),
             "table-prefix": f"${{{table_id}.Arn}}/index/"}
    found: dict[str, set[str]] = {}
    for statement in synth.role_statements(folder):
        assert statement.get("Effect", "Allow") == "Allow", (folder, statement)
        for action in synth.actions(statement):
            found.setdefault(action, set()).update(_symbol(a, names) for a in synth.arns(statement))
    return found


def test_every_function_is_in_the_table(synth):
    assert set(synth.functions()) == set(ALLOWED)


def test_each_function_has_exactly_the_actions_and_resources_of_the_table(synth):
    problems = {}
    for folder, allowed in ALLOWED.items():
        found = _symbols(synth, folder)
        extra = {a: sorted(r - allowed.get(a, set())) for a, r in found.items() if r - allowed.get(a, set())}
        missing = {a: sorted(r - found.get(a, set())) for a, r in allowed.items() if r - found.get(a, set())}
        if extra or missing:
            problems[folder] = {"extra": extra, "missing": missing}
    assert problems == {}


def test_the_table_check_fails_on_an_extra_action(synth, monkeypatch):
    """The check above is not vacuous: a role with one more action than its row is reported."""
    real = synth.role_statements

    def with_extra(folder):
        statements = real(folder)
        if folder == "storefront":
            statements = [*statements, {"Effect": "Allow", "Action": "dynamodb:Scan",
                                        "Resource": statements[0]["Resource"]}]
        return statements

    monkeypatch.setattr(synth, "role_statements", with_extra)
    found = _symbols(synth, "storefront")
    assert "dynamodb:Scan" in found and "dynamodb:Scan" not in ALLOWED["storefront"]
