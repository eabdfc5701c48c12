"""Million-code bulk runs and whole-campaign exports (docs/decision-log.md "Million-code bulk runs").

- The worker queue: the bulk_codes planner puts one message per slice of a job's chunks on it; the
  bulk_codes_worker function reads it through an event source mapping (one message per invocation, at most
  BULK_WORKERS at once: DynamoDB on-demand's write rate for a new table, not Lambda, bounds a run). A message
  that fails WORKER_MAX_RECEIVES times goes to the dead-letter queue (alarmed in monitoring.py).
- The export bucket: whole-campaign CSV files (code_exports writes exports/*, the operators function signs GET
  links to them). Encrypted, private (block public access, TLS only), objects expire after EXPORT_DAYS.
"""
from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_event_sources as sources
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from incentives.services.issuance import WORKER_MAX_RECEIVES, WORKER_TIMEOUT_S

from .lambda_factory import LambdaFactory, fixed_function_name
from .queues import dead_letter_queue

WORKER = "bulk_codes_worker"
BULK_WORKERS = 8  # the event source mapping's maximum concurrency
WORKER_TIMEOUT = Duration.seconds(WORKER_TIMEOUT_S)
# AWS's advice for SQS event sources: visibility at least 6x the function's timeout, so a message is not handed
# to a second worker while a throttled or retried batch still holds it (and chunk leases, timeout + 60 s, end
# before a message comes back).
VISIBILITY_TIMEOUT = Duration.seconds(WORKER_TIMEOUT_S * 6)
EXPORT_DAYS = 7  # exported files are deleted after this many days (a pre-signed link lasts an hour)
EXPORT_PREFIX = "exports/"


class BulkWork(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, factory: LambdaFactory) -> None:
        super().__init__(scope, construct_id)
        self.dead_letters = dead_letter_queue(
            self, "WorkerFailures",
            holds="bulk-run slices that failed at every delivery (redrive them to the work queue)")
        self.queue = sqs.Queue(
            self,
            "WorkQueue",
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            visibility_timeout=VISIBILITY_TIMEOUT,
            retention_period=Duration.days(4),
            dead_letter_queue=sqs.DeadLetterQueue(max_receive_count=WORKER_MAX_RECEIVES, queue=self.dead_letters),
        )
        self.worker = factory.create(
            WORKER,
            function_name=fixed_function_name(Stack.of(self).stack_name, "bulk-codes-worker"),
            timeout=WORKER_TIMEOUT,
            memory_size=1024,
            description="incentives bulk_codes_worker: writes the slices of bulk runs from the work queue",
        )
        self.worker.add_event_source(sources.SqsEventSource(
            self.queue, batch_size=1, max_concurrency=BULK_WORKERS, report_batch_item_failures=True))

        self.exports = s3.Bucket(
            self,
            "Exports",
            encryption=s3.BucketEncryption.S3_MANAGED,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            enforce_ssl=True,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(expiration=Duration.days(EXPORT_DAYS),
                                              abort_incomplete_multipart_upload_after=Duration.days(1))],
            removal_policy=RemovalPolicy.RETAIN,
        )
        Validations.of(self.exports).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Exports are short-lived files (deleted after 7 days) written by one function and read "
                "through pre-signed links the operators function signs; who asked for an export is in the API's "
                "access log, and a server access log bucket would outlive and outweigh the files.",
            )
        )

    def objects_arn(self) -> str:
        return self.exports.arn_for_objects(f"{EXPORT_PREFIX}*")

    def acknowledge_objects(self, role: iam.IRole) -> None:
        """A role granted one action on the export objects (exports/*: the object names are export ids)."""
        bucket_id = Stack.of(self).get_logical_id(self.exports.node.default_child)  # type: ignore[arg-type]
        Validations.of(role).acknowledge(
            Acknowledgment(
                id=f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{EXPORT_PREFIX}*]",
                reason="One action (s3:PutObject for the export job, s3:GetObject for the operators function's "
                "pre-signed links) on the export objects only: their names are export ids, not known in advance.",
            )
        )
