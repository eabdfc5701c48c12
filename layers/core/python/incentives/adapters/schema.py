"""The DynamoDB table's key schema: one source for the CDK stack, the local table creation and the tests.

Single-table design; every item has ``pk``/``sk``. docs/data-model.md lists every access pattern and its key.
"""
from __future__ import annotations

PK = "pk"
SK = "sk"
GSI1 = "gsi1"
GSI1_PK = "gsi1pk"
GSI1_SK = "gsi1sk"
# gsi2: the unique codes of a campaign, sharded (keys.campaign_codes_gsi); read by the code export only, so it
# projects only what the export shows (a redemption's other attributes do not rewrite the index).
GSI2 = "gsi2"
GSI2_PK = "gsi2pk"
GSI2_SK = "gsi2sk"
GSI2_ATTRIBUTES = ["code", "campaign_id", "status", "holder", "expires_at", "redemptions", "job_id"]
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
    {"AttributeName": GSI2_PK, "AttributeType": "S"},
    {"AttributeName": GSI2_SK, "AttributeType": "S"},
]
GLOBAL_SECONDARY_INDEXES = [
    {
        "IndexName": GSI1,
        "KeySchema": [
            {"AttributeName": GSI1_PK, "KeyType": "HASH"},
            {"AttributeName": GSI1_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "ALL"},
    },
    {
        "IndexName": GSI2,
        "KeySchema": [
            {"AttributeName": GSI2_PK, "KeyType": "HASH"},
            {"AttributeName": GSI2_SK, "KeyType": "RANGE"},
        ],
        "Projection": {"ProjectionType": "INCLUDE", "NonKeyAttributes": GSI2_ATTRIBUTES},
    },
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
