"""The DynamoDB table's key schema: one source for the CDK stack, the local table creation and the tests.

Single-table design; every item has ``pk``/``sk``. docs/data-model.md lists every access pattern and its key.
"""
from __future__ import annotations

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
TTL_ATTRIBUTE = "ttl"  # epoch seconds; housekeeping only, never relied on for correctness
# The table's stream feeds the event fan-out (incentives/subscriptions.py); new images are all it reads.
STREAM_VIEW_TYPE = "NEW_IMAGE"

KEY_SCHEMA = [
    {"AttributeName": PK, "KeyType": "HASH"},
    {"AttributeName": SK, "KeyType": "RANGE"},
]
ATTRIBUTE_DEFINITIONS = [
    {"AttributeName": PK, "AttributeType": "S"},
    {"AttributeName": SK, "AttributeType": "S"},
    {"AttributeName": GSI1_PK, "AttributeType": "S"},
    {"AttributeName": GSI1_SK, "AttributeType": "S"},
]
GLOBAL_SECONDARY_INDEXES = [
    {
        "IndexName": GSI1,
        "KeySchema": [
            {"AttributeName": GSI1_PK, "KeyType": "HASH"},
            {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    }
]

STREAM_SPECIFICATION = {"StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE}


def create_table_kwargs(table_name: str, stream: bool = True) -> dict:
    """Arguments for boto3 ``create_table``, matching the CDK definition in infra/data.py. ``stream=False`` is
    for tests that do not exercise the fan-out: DynamoDB Local gets slower with every stream-enabled table."""
    return {
        "TableName": table_name,
        "KeySchema": KEY_SCHEMA,
        "AttributeDefinitions": ATTRIBUTE_DEFINITIONS,
        "GlobalSecondaryIndexes": GLOBAL_SECONDARY_INDEXES,
        "BillingMode": "PAY_PER_REQUEST",
        **({"StreamSpecification": STREAM_SPECIFICATION} if stream else {}),
    }
