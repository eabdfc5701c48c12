"""Dead-letter queues: where work that failed for good waits (encrypted, TLS only, 14 days, alarmed in
monitoring.py) until an operator redrives it (docs/runbook.md)."""
from __future__ import annotations

from aws_cdk import Acknowledgment, Duration, Validations
from aws_cdk import aws_sqs as sqs
from constructs import Construct


def dead_letter_queue(scope: Construct, construct_id: str, *, holds: str) -> sqs.Queue:
    """``holds``: what lands here, for the cdk-nag acknowledgment (the queue is itself the dead letter)."""
    queue = sqs.Queue(
        scope,
        construct_id,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=Duration.days(14),
    )
    Validations.of(queue).acknowledge(
        Acknowledgment(
            id="AwsSolutions-SQS3",
            reason=f"This queue is itself a dead-letter destination ({holds}); cdk-nag only recognises queues "
            "used in another queue's redrive policy.",
        )
    )
    return queue
