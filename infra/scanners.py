"""checkov's per-resource skips, each with its reason, written into the template's Metadata (checkov reads
``Metadata.checkov.skip``). What holds for every resource of a kind is skipped in .checkov.yaml instead.

Each reason states what stands in for the check; tests/infra/test_scanners.py verifies that it does (e.g. a
function skipped for CKV_AWS_116 because of its on-failure destination really has one), so a skip cannot
outlive its reason.
"""
from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import CfnResource
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from incentives.http.routes import PUBLIC, ROUTES

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
