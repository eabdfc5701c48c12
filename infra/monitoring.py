"""Alarms on what breaks a shop's checkout or loses work, all notifying one SNS topic."""
from __future__ import annotations

from aws_cdk import Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from .lambda_factory import METRICS_NAMESPACE, camel

PERIOD = Duration.minutes(5)
# The operations the functions use (permissions.py); CloudWatch alarms allow at most 10 metrics per expression.
TABLE_OPERATIONS = [
    dynamodb.Operation.GET_ITEM,
    dynamodb.Operation.BATCH_GET_ITEM,
    dynamodb.Operation.QUERY,
    dynamodb.Operation.PUT_ITEM,
    dynamodb.Operation.UPDATE_ITEM,
    dynamodb.Operation.DELETE_ITEM,
    dynamodb.Operation.TRANSACT_WRITE_ITEMS,
]
API_5XX_THRESHOLD = 5  # per 5 minutes; one failing function also raises its own Errors alarm
ITERATOR_AGE_THRESHOLD_MS = 5 * 60 * 1000  # customer events reach their consumers this late


class Monitoring(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        functions: dict[str, lambda_.IFunction],
        rest_api: apigw.RestApi,
        table: dynamodb.Table,
        dead_letter_queues: dict[str, sqs.IQueue],
        stream_readers: dict[str, lambda_.IFunction],
        alarm_email: str = "",
    ) -> None:
        super().__init__(scope, construct_id)
        # enforce_ssl: the topic policy denies publishing without TLS (AwsSolutions-SNS3).
        self.topic = sns.Topic(self, "AlarmTopic", display_name="incentives alarms", enforce_ssl=True)
        if alarm_email:
            self.topic.add_subscription(subscriptions.EmailSubscription(alarm_email))
        self.alarms: list[cloudwatch.Alarm] = []

        for folder, fn in functions.items():
            self._alarm(f"{camel(folder)}Errors", fn.metric_errors(period=PERIOD),
                        f"functions/{folder} raised unhandled errors")
            self._alarm(f"{camel(folder)}Throttles", fn.metric_throttles(period=PERIOD),
                        f"functions/{folder} was throttled (account or reserved concurrency)")
        self._alarm("Api5xx", rest_api.metric_server_error(period=PERIOD, statistic="Sum"),
                    "the API answered 5XX", threshold=API_5XX_THRESHOLD)
        self._alarm("TableThrottles",
                    table.metric_throttled_requests_for_operations(operations=TABLE_OPERATIONS, period=PERIOD),
                    "DynamoDB throttled requests")
        self._alarm("TableSystemErrors",
                    table.metric_system_errors_for_operations(operations=TABLE_OPERATIONS, period=PERIOD),
                    "DynamoDB system errors")
        for folder, queue in dead_letter_queues.items():
            self._alarm(f"{camel(folder)}DeadLetters",
                        queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1)),
                        f"work that functions/{folder} failed for good is waiting in its dead-letter queue")
        if "journeys" in functions:
            # journey messages the provider refused for good (recorded `failed` with the provider's error code)
            self._alarm("JourneySendsFailed",
                        cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name="JourneySendsFailed",
                                          dimensions_map={"service": "journeys"}, statistic="Sum", period=PERIOD),
                        "journey messages failed for good (SES/SNS refused them): see GET /v1/customers/{id}/messages "
                        "and docs/runbook.md")
        for folder, fn in stream_readers.items():
            self._alarm(f"{camel(folder)}IteratorAge",
                        fn.metric("IteratorAge", statistic="Maximum", period=PERIOD),
                        f"functions/{folder} is more than 5 minutes behind the table's stream",
                        threshold=ITERATOR_AGE_THRESHOLD_MS)

    def _alarm(self, construct_id: str, metric: cloudwatch.IMetric, description: str, *, threshold: float = 1) -> None:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            alarm_description=description,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        alarm.add_alarm_action(actions.SnsAction(self.topic))
        self.alarms.append(alarm)
