"""Least privilege, declared per function folder. A function that is missing here fails synth on purpose."""
from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from incentives.http.routes import JOBS

# TransactWriteItems is authorised per action inside it (Put/Update/Delete/ConditionCheck), so the
# transactional writers list ConditionCheckItem and no dynamodb:TransactWriteItems action exists.
_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]

TABLE_ACTIONS: dict[str, list[str]] = {
    "storefront": [*_READ, *_WRITE, "dynamodb:ConditionCheckItem"],
    "claims": [*_READ, *_WRITE, "dynamodb:ConditionCheckItem"],
    "operators": [*_READ, *_WRITE],
    "campaign_activation": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"],
    # Bulk chunks go out with BatchWriteItem: codes are unique by construction (decision log).
    "bulk_codes": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:PutItem", "dynamodb:UpdateItem",
                   "dynamodb:ConditionCheckItem", "dynamodb:BatchWriteItem"],
    # Events: the profile read and the transaction of two conditional puts (event record, profile); a refund
    # finds the order's redemptions on gsi1 and rolls them back (updates in one transaction).
    "events": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"],
}

# Function folder -> job names (routes.JOBS) whose functions it may invoke: operators start bulk runs and run
# jobs on demand; bulk_codes re-invokes itself to continue a long run.
INVOKES: dict[str, tuple[str, ...]] = {
    "operators": tuple(JOBS),
    "bulk_codes": tuple(job for job, (folder, _) in JOBS.items() if folder == "bulk_codes"),
}

# Function folders that publish engine events on the custom bus.
PUBLISHES_EVENTS = frozenset({"campaign_activation"})


def table_statement(folder: str, table: dynamodb.ITable, index_names: list[str]) -> iam.PolicyStatement:
    try:
        actions = TABLE_ACTIONS[folder]
    except KeyError:
        raise KeyError(f"functions/{folder} has no DynamoDB permissions: add it to infra/permissions.py") from None
    return iam.PolicyStatement(
        actions=actions,
        # Named indexes rather than index/*: nothing to suppress and nothing more than needed.
        resources=[table.table_arn, *(f"{table.table_arn}/index/{name}" for name in index_names)],
    )
