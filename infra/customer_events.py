"""The event fan-out (incentives/subscriptions.py): the table's stream -> event_fanout -> the engine's bus (the
shop's customer events with source incentives.customers, the engine's own with incentives.engine) -> one rule per
consumer function and source. Every way to fail for good ends in an encrypted, alarmed dead-letter queue:
- the stream mapping retries a failing batch (bisected, from the first failed record) and then puts the batch's
  location (shard, sequence numbers) on the fan-out's queue;
- a consumer's rule retries delivering to it and then puts the event on the consumer's queue;
- a consumer that raises is retried by Lambda (it is invoked asynchronously) and then its invocation record,
  which holds the event, goes to the same queue.
"""
from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from incentives.subscriptions import CUSTOMERS, FANOUT_BATCH_SIZE, FANOUT_FUNCTION, STREAM_FILTER, SUBSCRIPTIONS

from .lambda_factory import LambdaFactory, camel, fixed_function_name
from .queues import dead_letter_queue

FANOUT_TIMEOUT = Duration.seconds(60)
FANOUT_RETRY_ATTEMPTS = 10  # then the batch's location goes to the queue (the records stay 24 h in the stream)
FANOUT_MAX_RECORD_AGE = Duration.hours(6)  # a stuck stream reports to the queue long before records expire
CONSUMER_TIMEOUT = Duration.seconds(30)
DELIVERY_RETRY_ATTEMPTS = 10  # EventBridge -> a consumer that is throttled or cannot be invoked
CONSUMER_RETRY_ATTEMPTS = 2  # Lambda's retries of a consumer that raised
MAX_EVENT_AGE = Duration.hours(6)


class CustomerEvents(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        factory: LambdaFactory,
        table: dynamodb.ITable,
        bus: events.IEventBus,
    ) -> None:
        super().__init__(scope, construct_id)
        self.functions: dict[str, lambda_.Function] = {}  # by folder
        self.failure_queues: dict[str, sqs.Queue] = {}  # by folder

        fanout = self._function(factory, FANOUT_FUNCTION, FANOUT_TIMEOUT, "publishes new events on the engine's bus")
        self.stream_mapping = lambda_.EventSourceMapping(
            self,
            "FanoutStream",
            target=fanout,
            event_source_arn=table.table_stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=FANOUT_BATCH_SIZE,
            bisect_batch_on_error=True,
            retry_attempts=FANOUT_RETRY_ATTEMPTS,
            max_record_age=FANOUT_MAX_RECORD_AGE,
            report_batch_item_failures=True,
            filters=[lambda_.FilterCriteria.filter(STREAM_FILTER)],
            on_failure=sources.SqsDlq(self._queue(FANOUT_FUNCTION, "the locations of stream batches the fan-out "
                                                                   "could not publish")),
        )
        for subscription in SUBSCRIPTIONS:
            folder = subscription.function
            types = (*subscription.detail_types, *subscription.engine_types)
            fn = self._function(factory, folder, CONSUMER_TIMEOUT, f"consumes {', '.join(types)}")
            queue = self._queue(folder, f"{folder}: customer events it could not be given or could not handle")
            fn.configure_async_invoke(on_failure=destinations.SqsDestination(queue),
                                      retry_attempts=CONSUMER_RETRY_ATTEMPTS, max_event_age=MAX_EVENT_AGE)
            for source, pattern in subscription.patterns().items():
                # the customer-events rule keeps its construct id (no replacement of a deployed rule)
                suffix = "" if source == CUSTOMERS else "Engine"
                events.Rule(
                    self,
                    f"{camel(folder)}{suffix}Rule",
                    event_bus=bus,
                    description=f"{source} events for the {folder} consumer",
                    event_pattern=events.EventPattern(source=pattern["source"], detail_type=pattern["detail-type"]),
                    targets=[targets.LambdaFunction(fn, dead_letter_queue=queue,
                                                    retry_attempts=DELIVERY_RETRY_ATTEMPTS,
                                                    max_event_age=MAX_EVENT_AGE)],
                )

    def _function(self, factory: LambdaFactory, folder: str, timeout: Duration, what: str) -> lambda_.Function:
        fn = factory.create(
            folder,
            function_name=fixed_function_name(Stack.of(self).stack_name, folder.replace("_", "-")),
            timeout=timeout,
            description=f"incentives {folder}: {what}",
        )
        self.functions[folder] = fn
        return fn

    def _queue(self, folder: str, holds: str) -> sqs.Queue:
        queue = dead_letter_queue(self, f"{camel(folder)}Failures", holds=holds)
        self.failure_queues[folder] = queue
        return queue
