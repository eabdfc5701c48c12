"""Customer managed encryption (setting `encryption_key`, docs/runbook.md "Customer managed key").

"aws" (the default): every resource keeps the encryption it has always had (AWS owned or AWS managed keys).
"customer": the stack creates one KMS key (rotation on) whose policy lets the services it encrypts for use it.
A key ARN: that key is imported; its policy is the deployer's (the runbook says what it must allow).

With a key, `apply` puts it on every resource of the kinds below, after the whole stack is built, so a
resource added later cannot be forgotten (tests/infra/test_encryption.py asserts "every"):
the table (SSE with the key), every log group, every queue (dead letters too), the alarm topic, the pseudonym
secret, the export bucket (SSE-KMS with a bucket key) and each function's environment variables.

Roles get KMS rights on that key only, and only what their function does with it: kms:Decrypt for every
function's role (`apply`: Lambda decrypts the function's environment; table, stream, queue and secret reads
decrypt), kms:GenerateDataKey (`statements`) only for those that put messages on a queue or write the export
files, and only through SQS or S3 (kms:ViaService). The L2 constructs are not given the key: their automatic
grants would add kms:Encrypt and kms:ReEncrypt* to senders, more than SQS needs.
"""
from __future__ import annotations

import re

from aws_cdk import Aws, RemovalPolicy, Stack
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sqs as sqs
from constructs import Construct, IConstruct

AWS_KEYS = "aws"
CUSTOMER_KEY = "customer"
KEY_ARN = re.compile(r"arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+")

# The checkov checks a customer managed key fixes (scanners.py writes their skips only without one).
FIXED_BY_KEY = {
    "CKV_AWS_158": "log groups encrypted with KMS",
    "CKV_AWS_119": "DynamoDB with a customer managed key",
    "CKV_AWS_173": "environment variables encrypted with a customer managed key",
    "CKV_AWS_26": "SNS topic encrypted",
    "CKV_AWS_27": "SQS queue encrypted",
    "CKV_AWS_149": "secret encrypted with a customer managed key",
}


def check_setting(value: str) -> str:
    """The setting as given, or a ValueError that says what it may be."""
    if value in (AWS_KEYS, CUSTOMER_KEY) or KEY_ARN.fullmatch(value):
        return value
    raise ValueError(
        f"incentives:encryption_key must be 'aws', 'customer' or a KMS key ARN "
        f"(arn:aws:kms:<region>:<account>:key/<id>), not {value!r}"
    )


def engine_key(scope: Construct, setting: str) -> kms.IKey | None:
    """The key of the setting: None ("aws"), a new one ("customer") or the imported ARN."""
    check_setting(setting)
    if setting == AWS_KEYS:
        return None
    if setting != CUSTOMER_KEY:
        return kms.Key.from_key_arn(scope, "EngineKey", setting)
    key = kms.Key(
        scope,
        "EngineKey",
        description="incentives engine: table, logs, queues, alarm topic, secret, exports, function environments",
        enable_key_rotation=True,
        # the table, its backups and the retained log groups stay readable only while the key exists
        removal_policy=RemovalPolicy.RETAIN,
    )
    region, account, partition = Aws.REGION, Aws.ACCOUNT_ID, Aws.PARTITION
    # CloudWatch Logs encrypts with the key itself, for this account's and region's log groups only.
    key.add_to_resource_policy(iam.PolicyStatement(
        sid="CloudWatchLogsOfThisAccount",
        principals=[iam.ServicePrincipal(f"logs.{region}.amazonaws.com")],
        actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
        resources=["*"],
        conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                f"arn:{partition}:logs:{region}:{account}:log-group:*"}},
    ))
    # CloudWatch alarms publish to the encrypted alarm topic; EventBridge puts undeliverable customer events on
    # the consumers' encrypted dead-letter queues. Both act as themselves, not as a role of this stack.
    for sid, service in (("CloudWatchAlarmsToTheTopic", "cloudwatch.amazonaws.com"),
                         ("EventBridgeToTheDeadLetterQueues", "events.amazonaws.com")):
        key.add_to_resource_policy(iam.PolicyStatement(
            sid=sid,
            principals=[iam.ServicePrincipal(service)],
            actions=["kms:Decrypt", "kms:GenerateDataKey"],
            resources=["*"],
            conditions={"StringEquals": {"aws:SourceAccount": account}},
        ))
    # SQS, SNS, DynamoDB, Secrets Manager, S3 and Lambda use the key on behalf of the roles of this stack: the
    # key policy's account statement (CDK's default) lets IAM decide, and `statements` grants each role its part.
    return key


def apply(stack: Stack, key: kms.IKey, *, buckets: list[s3.IBucket]) -> None:
    """Puts the key on every resource of the stack that can take one (see the module's docstring); of the
    buckets, only ``buckets`` (the hosted pages' bucket is read by CloudFront, which would need the key too)."""
    kms_buckets = {b.node.path + "/Resource" for b in buckets}
    for construct in stack.node.find_all():
        _encrypt(construct, key, kms_buckets)


def _encrypt(construct: IConstruct, key: kms.IKey, kms_buckets: set[str]) -> None:
    if isinstance(construct, dynamodb.CfnTable):
        construct.sse_specification = dynamodb.CfnTable.SSESpecificationProperty(
            sse_enabled=True, sse_type="KMS", kms_master_key_id=key.key_arn)
    elif isinstance(construct, logs.CfnLogGroup):
        construct.kms_key_id = key.key_arn
    elif isinstance(construct, sqs.CfnQueue):
        construct.kms_master_key_id = key.key_arn
        construct.sqs_managed_sse_enabled = None
        construct.kms_data_key_reuse_period_seconds = DATA_KEY_REUSE_SECONDS
    elif isinstance(construct, sns.CfnTopic):
        construct.kms_master_key_id = key.key_arn
    elif isinstance(construct, secretsmanager.CfnSecret):
        construct.kms_key_id = key.key_arn
    elif isinstance(construct, lambda_.CfnFunction):
        construct.kms_key_arn = key.key_arn
        # Lambda decrypts the environment for the function: its role (CDK's own functions' too) needs kms:Decrypt
        function = construct.node.scope
        if isinstance(function, lambda_.Function):
            function.add_to_role_policy(iam.PolicyStatement(actions=["kms:Decrypt"], resources=[key.key_arn]))
    elif isinstance(construct, s3.CfnBucket) and construct.node.path in kms_buckets:
        construct.bucket_encryption = s3.CfnBucket.BucketEncryptionProperty(
            server_side_encryption_configuration=[s3.CfnBucket.ServerSideEncryptionRuleProperty(
                bucket_key_enabled=True,
                server_side_encryption_by_default=s3.CfnBucket.ServerSideEncryptionByDefaultProperty(
                    sse_algorithm="aws:kms", kms_master_key_id=key.key_arn),
            )])


# SQS asks KMS for a data key at most once per this many seconds per queue and caller (the default is 300):
# the maximum, 24 h, keeps KMS requests of the failure queues and the bulk work queue negligible.
DATA_KEY_REUSE_SECONDS = 86400


def statements(key: kms.IKey, *, sends_to_queues: bool, writes_objects: bool) -> list[iam.PolicyStatement]:
    """A function role's rights on the key beyond kms:Decrypt, which `apply` grants every function (module
    docstring)."""
    out: list[iam.PolicyStatement] = []
    services = [f"{service}.{Aws.REGION}.amazonaws.com"
                for service, needed in (("sqs", sends_to_queues), ("s3", writes_objects)) if needed]
    if services:
        out.append(iam.PolicyStatement(actions=["kms:GenerateDataKey"], resources=[key.key_arn],
                                       conditions={"StringEquals": {"kms:ViaService": services}}))
    return out
