"""The whole engine in one stack: data, config, functions, API, jobs, the customer-event fan-out, alarms."""
from __future__ import annotations

import json

from aws_cdk import Acknowledgment, CfnOutput, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ses as ses
from constructs import Construct
from incentives.http.routes import api_functions
from incentives.settings import HASH_KEY, NEEDS

from . import encryption, permissions, scanners
from .api import Api, ApiKeys
from .bulk import WORKER as BULK_WORKER
from .bulk import BULK_WORKERS, BulkWork
from .config_store import ConfigStore
from .customer_events import CustomerEvents
from .dashboard import OperationsDashboard
from .data import Data
from .jobs import Jobs, job_function_names
from .lambda_factory import LambdaFactory, camel, function_arn
from .layers import Layers
from .monitoring import Monitoring
from .pages import Pages
from .settings import InfraSettings

API_TIMEOUT = Duration.seconds(10)  # API Gateway gives up at 29 s; checkout calls must be fast anyway


class IncentivesStack(Stack):
    def __init__(
        self, scope: Construct, construct_id: str, *, settings: InfraSettings, config_document: dict, **kwargs
    ) -> None:
        super().__init__(scope, construct_id, stack_name=settings.stack_name, **kwargs)
        key = encryption.engine_key(self, settings.encryption_key)  # None: AWS owned and managed keys
        data = Data(self, "Data")
        config = ConfigStore(self, "Config", document=config_document)
        keys = ApiKeys(self, "ApiKeys")
        job_names = job_function_names(self.stack_name)
        log_retention = _retention(settings.log_retention_days)

        factory = LambdaFactory(
            scope=self,
            layers=Layers(self, "Layers"),
            log_retention=log_retention,
            common_environment={
                "TABLE_NAME": data.table.table_name,
                "EVENT_BUS_NAME": data.event_bus.event_bus_name,
                "CONFIG_MAX_AGE_SECONDS": str(settings.config_max_age_seconds),
                **config.environment_variables,
            },
        )
        # incentives/settings.py NEEDS: what each function checks at cold start (tests/infra asserts it is set)
        dispatch = {"JOB_FUNCTIONS": json.dumps(job_names, sort_keys=True)}
        bulk = BulkWork(self, "Bulk", factory=factory)  # the worker queue and function, the export bucket
        exports = {"EXPORT_BUCKET": bulk.exports.bucket_name}
        extra_environment = {
            "operators": {**dispatch, **exports, "OPERATOR_API_KEY_IDS": keys.operator.key_id,
                          "JOBS_ALLOW_NOW": "true" if settings.jobs_allow_now else "false"},
            "referrals": {"OPERATOR_API_KEY_IDS": keys.operator.key_id},  # review, payouts, metrics
            "loyalty": {"OPERATOR_API_KEY_IDS": keys.operator.key_id},  # point adjustments
            "bulk_codes": {"BULK_QUEUE_URL": bulk.queue.queue_url},  # the planner sends the slices
            "code_exports": exports,
        }
        # journey messages: SES configuration set (given, or made here), sender overrides
        configuration_set = settings.ses_configuration_set or ses.ConfigurationSet(
            self, "MessagesConfigurationSet").configuration_set_name
        extra_environment["journeys"] = {
            "SES_CONFIGURATION_SET": configuration_set,
            **({"SES_FROM_EMAIL": settings.ses_from_email} if settings.ses_from_email else {}),
            **({"SMS_SENDER_ID": settings.sms_sender_id} if settings.sms_sender_id else {}),
        }
        # landing-page claims with `claims.delivery: email` mail the code through the same identity and set
        extra_environment["claims"] = {key: value for key, value in extra_environment["journeys"].items()
                                       if key != "SMS_SENDER_ID"}

        api_fns = {
            folder: factory.create(folder, timeout=API_TIMEOUT, environment=extra_environment.get(folder))
            for folder in api_functions()
        }
        jobs = Jobs(self, "Jobs", factory=factory, environment=extra_environment)
        customer_events = CustomerEvents(self, "CustomerEvents", factory=factory, table=data.table,
                                         bus=data.event_bus)
        functions = {**api_fns, **jobs.functions, **customer_events.functions, BULK_WORKER: bulk.worker}
        failure_queues = {**jobs.failure_queues, **customer_events.failure_queues, BULK_WORKER: bulk.dead_letters}

        pseudonym_key = _pseudonym_key(self)
        for folder, fn in functions.items():
            # On the first deploy, no function goes live before a configuration is deployed to read.
            fn.node.add_dependency(config.deployment)
            if HASH_KEY in NEEDS.get(folder, ()):  # e-mail and IP pseudonyms (incentives/hash_key.py)
                fn.add_environment(HASH_KEY, pseudonym_key.secret_arn)
                pseudonym_key.grant_read(fn)
            table_statement = permissions.table_statement(folder, data.table, data.index_names)
            if table_statement:
                fn.add_to_role_policy(table_statement)
            if folder in permissions.STREAM_READERS:
                fn.add_to_role_policy(permissions.stream_statement(data.table))
            if folder not in permissions.WITHOUT_CONFIG:
                config.grant_read(fn)
            if folder in permissions.PUBLISHES_EVENTS:
                data.event_bus.grant_put_events_to(fn)
            if folder in permissions.SENDS_MESSAGES:
                for statement in permissions.messaging_statements(self, settings.ses_identity, configuration_set,
                                                                  sms=folder in permissions.SENDS_SMS):
                    fn.add_to_role_policy(statement)
            bulk_statements = permissions.bulk_statements(folder, bulk.queue.queue_arn, bulk.objects_arn())
            for statement in bulk_statements:
                fn.add_to_role_policy(statement)
                if statement.resources == [bulk.objects_arn()] and fn.role is not None:
                    bulk.acknowledge_objects(fn.role)
            if permissions.INVOKES.get(folder):
                fn.add_to_role_policy(
                    iam.PolicyStatement(
                        actions=["lambda:InvokeFunction"],
                        resources=list(dict.fromkeys(function_arn(self, job_names[job])
                                                    for job in permissions.INVOKES[folder])),
                    )
                )

            _grant_key(fn, key, sends_to_own_failures=folder in failure_queues and folder != BULK_WORKER,
                       bulk_statements=bulk_statements)
        reserved = _reserve_concurrency(functions, settings.reserved_concurrency_map())

        api = Api(self, "Api", functions=api_fns, keys=keys, settings=settings, log_retention=log_retention)
        # journeys' unsubscribe links point to the API (messaging.yaml overrides); claims' mails carry no such link
        # (and an API function naming the API's URL would be a circular dependency)
        functions["journeys"].add_environment("PUBLIC_BASE_URL", api.rest_api.url)
        # checkov's per-resource skips with their reasons (.checkov.yaml has the stack-wide ones)
        scanners.acknowledge(functions, set(api_fns), permissions.STREAM_READERS,
                             set(failure_queues) - {BULK_WORKER}, api.methods, queue_workers={BULK_WORKER})
        scanners.skip(bulk.exports, "CKV_AWS_18", "export files live 7 days (lifecycle rule) and are read only "
                      "through pre-signed links the operators function signs; an access-log bucket would keep the "
                      "same requests longer than the files (CloudTrail S3 data events are the deployer's choice)")
        scanners.skip(bulk.exports, "CKV_AWS_21", "every object is a regenerable export that expires after 7 days: "
                      "versions would keep customers' codes beyond that expiry")
        monitoring = Monitoring(
            self,
            "Monitoring",
            functions=functions,
            rest_api=api.rest_api,
            table=data.table,
            dead_letter_queues=failure_queues,
            stream_readers={folder: functions[folder] for folder in permissions.STREAM_READERS},
            alarm_email=settings.alarm_email,
        )

        dashboard = OperationsDashboard(
            self,
            "Dashboard",
            dashboard_name=f"{self.stack_name}-operations",
            functions=functions,
            job_functions=list(jobs.functions),
            rest_api=api.rest_api,
            table=data.table,
            dead_letter_queues=failure_queues,
            work_queues={"bulk work queue": bulk.queue},
        )

        # optional: the landing page and dashboard on S3 + CloudFront (docs/runbook.md, "Hosted pages")
        pages = None
        if settings.host_pages:
            pages = Pages(self, "Pages", rest_api=api.rest_api, stage_name=settings.stage_name,
                          claims_function=functions["claims"])

        _encrypt(self, key, buckets=[bulk.exports])  # last: every resource built so far
        scanners.skip_unreserved(functions, reserved)

        self.key = key
        self.data = data
        self.config = config
        self.api = api
        self.jobs = jobs
        self.bulk = bulk
        self.customer_events = customer_events
        self.monitoring = monitoring
        self.dashboard = dashboard
        self.pages = pages
        self.functions = functions  # by folder under functions/

        CfnOutput(self, "ApiUrl", value=api.rest_api.url, description="base URL; paths start with /v1")
        CfnOutput(self, "StorefrontApiKeyId", value=keys.storefront.key_id,
                  description="aws apigateway get-api-key --include-value --api-key <id>")
        CfnOutput(self, "OperatorApiKeyId", value=keys.operator.key_id,
                  description="aws apigateway get-api-key --include-value --api-key <id>")
        CfnOutput(self, "TableName", value=data.table.table_name)
        CfnOutput(self, "EventBusName", value=data.event_bus.event_bus_name)
        CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardUrl", value=dashboard.url, description="the operations dashboard (CloudWatch)")
        CfnOutput(self, "AppConfigApplicationId", value=config.application.attr_application_id)
        if pages:
            CfnOutput(self, "PagesUrl", value=pages.url,
                      description="the hosted pages: <url>/claim/<campaign_id>, <url>/dashboard/")
        for folder, queue in failure_queues.items():
            CfnOutput(self, f"{camel(folder)}DeadLetterQueueUrl", value=queue.queue_url)


def _encrypt(stack: Stack, key: kms.IKey | None, buckets: list) -> None:
    """The key on every resource that takes one; without a key, their encryption checks skipped with reasons."""
    if key is None:
        scanners.skip_without_key(stack)
    else:
        encryption.apply(stack, key, buckets=buckets)


def _grant_key(fn: lambda_.Function, key: kms.IKey | None, *, sends_to_own_failures: bool,
               bulk_statements: list[iam.PolicyStatement]) -> None:
    """The function's rights on the customer key. Its failure queue is its own to send to (a destination or a
    stream's on-failure), except the bulk worker's, which SQS itself redrives to."""
    if key is None:
        return
    sends = sends_to_own_failures or any("sqs:SendMessage" in s.actions for s in bulk_statements)
    writes = any("s3:PutObject" in s.actions for s in bulk_statements)
    for statement in encryption.statements(key, sends_to_queues=sends, writes_objects=writes):
        fn.add_to_role_policy(statement)


RESERVE_AT_LEAST = {BULK_WORKER: BULK_WORKERS}


def _reserve_concurrency(functions: dict, reserved: dict[str, int]) -> set[str]:
    """Applies the reserved_concurrency setting; a folder that is no function of the stack fails synth."""
    unknown = sorted(set(reserved) - set(functions))
    if unknown:
        raise ValueError(f"incentives:reserved_concurrency names no function folder: {', '.join(unknown)} "
                         f"(the folders are: {', '.join(sorted(functions))})")
    # the bulk worker's queue mapping runs up to BULK_WORKERS at once: fewer reserved would throttle its slices
    # until they land in the dead-letter queue
    short = sorted(f"{folder} (at least {least})" for folder, least in RESERVE_AT_LEAST.items()
                   if reserved.get(folder, least) < least)
    if short:
        raise ValueError(f"incentives:reserved_concurrency too small for {', '.join(short)}")
    for folder, count in reserved.items():
        functions[folder].node.default_child.reserved_concurrent_executions = count
    return set(reserved)


def _pseudonym_key(scope: Construct) -> secretsmanager.Secret:
    """The HMAC key of stored e-mail and IP pseudonyms: generated once, read once per container. Retained and
    never rotated by itself: a new key orphans every stored pseudonym (docs/runbook.md "Pseudonym key")."""
    secret = secretsmanager.Secret(
        scope, "PseudonymKey",
        description="HMAC key of the incentives engine's e-mail and IP pseudonyms (never rotate without a migration)",
        generate_secret_string=secretsmanager.SecretStringGenerator(password_length=64, exclude_punctuation=True),
        removal_policy=RemovalPolicy.RETAIN,
    )
    Validations.of(secret).acknowledge(
        Acknowledgment(
            id="AwsSolutions-SMG4",
            reason="The key of stored pseudonyms (claims, codes bound to an e-mail, referral hashes): rotating it "
            "makes every stored pseudonym unfindable, so a rotation is a planned migration (docs/runbook.md), "
            "not a schedule.",
        )
    )
    return secret


_RETENTION = {
    1: logs.RetentionDays.ONE_DAY, 3: logs.RetentionDays.THREE_DAYS, 5: logs.RetentionDays.FIVE_DAYS,
    7: logs.RetentionDays.ONE_WEEK, 14: logs.RetentionDays.TWO_WEEKS, 30: logs.RetentionDays.ONE_MONTH,
    60: logs.RetentionDays.TWO_MONTHS, 90: logs.RetentionDays.THREE_MONTHS, 180: logs.RetentionDays.SIX_MONTHS,
    365: logs.RetentionDays.ONE_YEAR, 731: logs.RetentionDays.TWO_YEARS,
}


def _retention(days: int) -> logs.RetentionDays:
    try:
        return _RETENTION[days]
    except KeyError:
        raise ValueError(f"incentives:log_retention_days must be one of {sorted(_RETENTION)}, not {days}") from None
