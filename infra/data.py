"""State: the single DynamoDB table (keys and stream from incentives.adapters.schema) and the engine's event bus."""
from __future__ import annotations

from aws_cdk import RemovalPolicy
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from constructs import Construct
from incentives.adapters import schema

_TYPES = {"S": dynamodb.AttributeType.STRING, "N": dynamodb.AttributeType.NUMBER, "B": dynamodb.AttributeType.BINARY}
_ATTRIBUTE_TYPES = {a["AttributeName"]: _TYPES[a["AttributeType"]] for a in schema.ATTRIBUTE_DEFINITIONS}


def _key(key_schema: list[dict], key_type: str) -> dynamodb.Attribute:
    (name,) = [k["AttributeName"] for k in key_schema if k["KeyType"] == key_type]
    return dynamodb.Attribute(name=name, type=_ATTRIBUTE_TYPES[name])


class Data(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.table = dynamodb.Table(
            self,
            "Table",
            partition_key=_key(schema.KEY_SCHEMA, "HASH"),
            sort_key=_key(schema.KEY_SCHEMA, "RANGE"),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            time_to_live_attribute=schema.TTL_ATTRIBUTE,
            # New EVENT# items reach the customer-event fan-out through the stream (customer_events.py).
            stream=dynamodb.StreamViewType[schema.STREAM_VIEW_TYPE],
            # Ledgers and balances: a stack deletion or a replacement must never take the data with it.
            deletion_protection=True,
            removal_policy=RemovalPolicy.RETAIN,
        )
        for index in schema.GLOBAL_SECONDARY_INDEXES:
            self.table.add_global_secondary_index(
                index_name=index["IndexName"],
                partition_key=_key(index["KeySchema"], "HASH"),
                sort_key=_key(index["KeySchema"], "RANGE"),
                projection_type=dynamodb.ProjectionType[index["Projection"]["ProjectionType"]],
                non_key_attributes=index["Projection"].get("NonKeyAttributes"),
            )
        self.index_names = [index["IndexName"] for index in schema.GLOBAL_SECONDARY_INDEXES]
        # Engine events (campaign.activated, ...) and customer events (order.paid, ...); consumers have rules on
        # it, and shops add their own to react (ESP, analytics).
        self.event_bus = events.EventBus(self, "EngineEvents", description="incentives engine events")
