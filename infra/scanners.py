"""checkov's per-resource skips, each with its reason, written into the template's Metadata (checkov reads
``Metadata.checkov.skip``). What holds for every resource of a kind is skipped in .checkov.yaml instead.

Each reason states what stands in for the check; tests/infra/test_scanners.py verifies that it does (e.g. a
function skipped for CKV_AWS_116 because of its on-failure destination really has one), so a skip cannot
outlive its reason.
"""
from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource, Stack
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from incentives.http.routes import PUBLIC, ROUTES

CONCURRENCY = "CKV_AWS_115"  # "Ensure that AWS Lambda function is configured for function-level concurrent ..."
DLQ = "CKV_AWS_116"  # "Ensure that AWS Lambda function is configured for a Dead Letter Queue (DLQ)"
OPEN_METHOD = "CKV_AWS_59"  # "Ensure there is no open access to back-end resources through API"

WHY_NO_DLQ = {
    "api": "invoked synchronously by API Gateway: the caller gets the error and retries; a function DLQ only "
           "ever receives asynchronous invocations",
    "stream": "invoked by the DynamoDB stream's event source mapping, whose on-failure destination (an SQS "
              "queue) keeps the failed batches; a function DLQ never sees stream invocations",
    "destination": "asynchronous invocations that fail after their retries go to the function's on-failure "
                   "destination (EventInvokeConfig -> an encrypted, alarmed SQS queue), the successor of a DLQ "
                   "that also keeps the error; checkov only recognises DeadLetterConfig",
    "queue": "invoked by an SQS event source mapping; its queue's redrive policy moves a message that fails "
             "every delivery to a dead-letter queue (alarmed), so the failed work is kept there, not in a "
             "function DLQ (which only receives asynchronous invocations)",
    "scheduled": "only invoked by its schedule with retry_attempts=0: the next tick is the retry and a failed "
                 "run is alarmed (Errors alarm); a DLQ would keep stale ticks nobody should redrive",
}

# What each setting-dependent check is skipped for while its setting is off (incentives:encryption_key=aws,
# no incentives:reserved_concurrency for the function). Turning the setting on fixes the finding: the skip is
# not written and checkov passes the resource (tests/infra/test_scanners.py scans both templates).
KEY_OFF = "incentives:encryption_key=aws (docs/runbook.md \"Customer managed key\"): "
WITHOUT_KEY = {
    (logs.CfnLogGroup, "CKV_AWS_158"): "CloudWatch Logs encrypts at rest with its own keys; the engine logs no PII "
                                       "(Logger keys: route, error codes, ids)",
    (dynamodb.CfnTable, "CKV_AWS_119"): "encrypted at rest with the AWS owned key; a customer managed key costs KMS "
                                        "requests and a key policy, a deployer's choice",
    (lambda_.CfnFunction, "CKV_AWS_173"): "the variables hold names and ids only (table, bus, AppConfig ids, API key "
                                          "ids, function names), no secret; Lambda encrypts them with its AWS "
                                          "managed key",
    (sns.CfnTopic, "CKV_AWS_26"): "the alarm topic carries alarm names and states, no customer data, and is "
                                  "SSL-only; CloudWatch alarms cannot publish under the AWS managed aws/sns key",
    (sqs.CfnQueue, "CKV_AWS_27"): "encrypted with SSE-SQS (SqsManagedSseEnabled, asserted by "
                                  "tests/infra/test_scanners.py); this checkov version only recognises KmsMasterKeyId",
    (secretsmanager.CfnSecret, "CKV_AWS_149"): "encrypted with the AWS managed key aws/secretsmanager; read only "
                                               "by the roles granted it (tests/infra/test_iam.py)",
}
WHY_UNRESERVED = ("no incentives:reserved_concurrency for this function (docs/runbook.md): API functions are "
                  "throttled by the stage and the usage plans, the fan-out by its event source mapping, the bulk "
                  "worker by its mapping's maximum concurrency, scheduled jobs by their job lease in the table; "
                  "reserved concurrency takes from the account's pool (deploys fail on accounts with the default "
                  "limit of 10)")


def skip_without_key(stack: Stack) -> None:
    """The encryption checks, skipped on every resource of their kind while the stack has no customer key."""
    for construct in stack.node.find_all():
        for (kind, check_id), reason in WITHOUT_KEY.items():
            if isinstance(construct, kind):
                skip(construct, check_id, KEY_OFF + reason)


def skip_unreserved(functions: Mapping[str, lambda_.Function], reserved: set[str]) -> None:
    for folder, fn in functions.items():
        if folder not in reserved:
            skip(fn, CONCURRENCY, WHY_UNRESERVED)


def skip(construct: Construct, check_id: str, comment: str) -> None:
    """Adds a checkov skip with its reason to the construct's CloudFormation resource."""
    cfn = construct.node.default_child if not isinstance(construct, CfnResource) else construct
    if not isinstance(cfn, CfnResource):
        raise TypeError(f"{construct.node.path}: no CloudFormation resource to skip {check_id} on")
    current = cfn.get_metadata("checkov") or {}
    skips = [s for s in current.get("skip", []) if s["id"] != check_id]
    cfn.add_metadata("checkov", {"skip": [*skips, {"id": check_id, "comment": comment}]})


def invocation(folder: str, api_folders: set[str], stream_readers: frozenset[str],
               with_destination: set[str], queue_workers: frozenset[str] | set[str] = frozenset()) -> str:
    """How a function is invoked, as far as failures are concerned (a key of WHY_NO_DLQ)."""
    if folder in api_folders:
        return "api"
    if folder in queue_workers:
        return "queue"
    if folder in stream_readers:
        return "stream"
    return "destination" if folder in with_destination else "scheduled"


def acknowledge(functions: Mapping[str, lambda_.Function], api_folders: set[str], stream_readers: frozenset[str],
                with_destination: set[str], methods: Mapping[tuple[str, str], apigw.Method],
                queue_workers: frozenset[str] | set[str] = frozenset()) -> None:
    for folder, fn in functions.items():
        skip(fn, DLQ, WHY_NO_DLQ[invocation(folder, api_folders, stream_readers, with_destination, queue_workers)])
    public = {(r.method, r.path): r.name for r in ROUTES if r.role == PUBLIC}
    for (method, path), m in methods.items():
        if (method, path) in public:
            skip(m, OPEN_METHOD, f"{public[(method, path)]} is public by contract (docs/api.md): no API key, "
                                 "throttled by the stage's method settings and the function's own limits")
