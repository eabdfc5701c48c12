"""One place that decides how every function is built: runtime, architecture, tracing, logs, layers, role."""
from __future__ import annotations

from dataclasses import dataclass, field

from aws_cdk import Acknowledgment, ArnFormat, Duration, Stack, Validations
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from . import REPO_ROOT
from .layers import ARCHITECTURE, RUNTIME, Layers

METRICS_NAMESPACE = "Incentives"


def camel(folder: str) -> str:
    """bulk_codes -> BulkCodes, for construct ids."""
    return "".join(part.title() for part in folder.split("_"))


def handler_for(folder: str) -> str:
    """functions/<folder>/<folder>_handler.py exposes lambda_handler (unique module names: no clash on sys.path)."""
    return f"{folder}_handler.lambda_handler"


def fixed_function_name(stack_name: str, name: str) -> str:
    """A fixed name lets a function's ARN be known before it exists (self-invocation, JOB_FUNCTIONS) and the
    runbook name it (redrives)."""
    return f"{stack_name}-{name}"[:64]


def function_arn(scope: Construct, function_name: str) -> str:
    return Stack.of(scope).format_arn(
        service="lambda", resource="function", resource_name=function_name,
        arn_format=ArnFormat.COLON_RESOURCE_NAME,
    )


@dataclass
class LambdaFactory:
    scope: Construct
    layers: Layers
    log_retention: logs.RetentionDays
    common_environment: dict[str, str] = field(default_factory=dict)

    def create(
        self,
        folder: str,
        *,
        timeout: Duration,
        memory_size: int = 512,
        environment: dict[str, str] | None = None,
        function_name: str | None = None,
        description: str | None = None,
    ) -> lambda_.Function:
        scope = Construct(self.scope, camel(folder))
        log_group = logs.LogGroup(scope, "Logs", retention=self.log_retention)
        # An own role instead of AWSLambdaBasicExecutionRole: logs go to this function's group only.
        role = iam.Role(
            scope, "Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"incentives {folder} function",
        )
        log_group.grant_write(role)
        fn = lambda_.Function(
            scope,
            "Function",
            function_name=function_name,
            description=description or f"incentives {folder}",
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            handler=handler_for(folder),
            code=lambda_.Code.from_asset(
                str(REPO_ROOT / "functions" / folder), exclude=["**/__pycache__", "**/*.pyc", "tests"],
            ),
            layers=self.layers.all,
            role=role,
            memory_size=memory_size,
            timeout=timeout,
            tracing=lambda_.Tracing.ACTIVE,
            log_group=log_group,
            environment={
                **self.common_environment,
                "POWERTOOLS_SERVICE_NAME": folder.replace("_", "-"),
                "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
                # Responses carry codes and e-mail addresses: keep them out of X-Ray metadata.
                "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
                **(environment or {}),
            },
        )
        Validations.of(role).acknowledge(
            Acknowledgment(
                id="AwsSolutions-IAM5[Resource::*]",
                reason="X-Ray PutTraceSegments/PutTelemetryRecords (added by tracing=ACTIVE) support no "
                "resource-level permissions; every other statement of this role names its resources.",
            )
        )
        Validations.of(fn).acknowledge(
            Acknowledgment(
                id="AwsSolutions-L1",
                reason="python3.12 is pinned on purpose: the dependency layer is built from cp312 arm64 wheels "
                "(pip --python-version 3.12). Moving to a newer runtime is a deliberate change of both.",
            )
        )
        return fn
