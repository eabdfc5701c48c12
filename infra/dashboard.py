"""The operators' CloudWatch dashboard: checkout outcomes and refusals by reason, latency per route, throttles,
dead-letter queue depths, job results and sends by channel and skip reason.

Every engine metric here is one the functions really emit (Powertools EMF, namespace METRICS_NAMESPACE, one
dimension `service` = the function's folder with dashes); tests/infra/test_dashboard.py checks the names against
the handlers' add_metric calls. API Gateway's per-method metrics need the stage's detailed metrics (api.py).
"""
from __future__ import annotations

from collections.abc import Iterable

from aws_cdk import Aws, Duration
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct
from incentives.domain.errors import CHECKOUT_REJECTIONS
from incentives.domain.journeys import CHANNELS, SKIP_REASONS
from incentives.http.routes import ROUTES

from .lambda_factory import METRICS_NAMESPACE
from .monitoring import TABLE_OPERATIONS

PERIOD = Duration.minutes(5)
WIDTH, HEIGHT = 12, 6  # two graphs per row of the 24-column grid
REJECTION_REASONS = (*CHECKOUT_REJECTIONS, "other")  # errors.rejection_reason's names
LATENCY_STATISTICS = ("p50", "p99")

# (title, service, metric names): the engine's own counters, by the function (service) that emits them
ENGINE_GRAPHS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("Redemptions", "storefront", ("RedemptionSucceeded", "RedemptionRejected")),
    ("Validations and qualifications", "storefront", ("ValidationValid", "ValidationInvalid", "QualificationsOffered")),
    ("Redemptions refused, by reason", "storefront", tuple(f"RedemptionRejected_{r}" for r in REJECTION_REASONS)),
    ("Validations answered invalid, by reason", "storefront",
     tuple(f"ValidationInvalid_{r}" for r in REJECTION_REASONS)),
    ("Rollbacks on refund", "refunds", ("RedemptionsRolledBackOnRefund",)),
    ("Landing-page claims", "claims", ("ClaimIssued", "ClaimRepeated")),
    ("Sends by channel", "journeys", tuple(f"MessagesSent_{c}" for c in CHANNELS)),
    ("Sends failed by channel", "journeys", (*(f"MessagesFailed_{c}" for c in CHANNELS), "JourneySendsFailed")),
    ("Sends skipped, by reason", "journeys", tuple(f"MessagesSkipped_{r}" for r in SKIP_REASONS)),
    ("Sends deferred (quiet hours) and awaiting delivery", "journeys", ("MessagesDeferred", "MessagesPendingDelivery")),
    ("Job: campaign-activation", "campaign-activation", ("CampaignStatusChanges",)),
    ("Job: bulk-codes", "bulk-codes-worker", ("BulkJobSucceeded", "BulkJobFailed")),
    ("Bulk runs: slices queued and failed", "bulk-codes", ("BulkSlicesQueued",)),
    ("Bulk workers: slices failed", "bulk-codes-worker", ("BulkSliceFailed",)),
    ("Code exports to a file", "code-exports", ("CodesExportedToFile", "CodeExportFailed")),
    ("Operators: codes issued and exported, erasures", "operators",
     ("BulkJobStarted", "CodesIssued", "CodesExported", "CodeExportStarted", "CustomersErased", "EmailsErased")),
    ("Job: referral-rewards", "referral-rewards", ("ReferralRewardsPaidOut", "ReferralRewardsFailed",
                                                  "ReferralRewardsParked")),
    ("Job: points-expiry", "points-expiry", ("LoyaltyExpiryWarnings", "LoyaltyLotsExpired", "LoyaltyPointsExpired",
                                              "LoyaltyTierDowngrades", "LoyaltyExpiryBacklog")),
    ("Customer events", "events", ("EventAccepted", "EventDuplicate", "Unsubscribed")),
    ("Event fan-out", "event-fanout", ("CustomerEventsPublished", "CustomerEventsFailed", "EventsQuarantined")),
    ("Referrals", "referrals", ("ReferrersEnrolled", "ReferralsAttributed")),
    ("Referral conversions", "referral-events", ("ReferralsConverted", "ReferralConversionsHeld", "ReferralsReversed",
                                                 "ReferralConversionsRejected")),
    ("Loyalty: points earned and refunded", "loyalty-events", ("LoyaltyPointsEarned", "LoyaltyPointsRefunded")),
    ("Loyalty: rewards and adjustments", "loyalty", ("LoyaltyRewardsRedeemed", "LoyaltyPointsSpent",
                                                     "LoyaltyAdjustments")),
)


def engine_metric(service: str, name: str) -> cloudwatch.Metric:
    return cloudwatch.Metric(namespace=METRICS_NAMESPACE, metric_name=name, dimensions_map={"service": service},
                             statistic="Sum", period=PERIOD, label=name)


class OperationsDashboard(Construct):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        dashboard_name: str,
        functions: dict[str, lambda_.IFunction],
        job_functions: Iterable[str],
        rest_api: apigw.RestApi,
        table: dynamodb.ITable,
        dead_letter_queues: dict[str, sqs.IQueue],
        work_queues: dict[str, sqs.IQueue] | None = None,
    ) -> None:
        super().__init__(scope, construct_id)
        self.dashboard = cloudwatch.Dashboard(self, "Dashboard", dashboard_name=dashboard_name,
                                              default_interval=Duration.hours(24))
        graphs = {title: (service, names) for title, service, names in ENGINE_GRAPHS}

        def engine(*titles: str) -> list[cloudwatch.IWidget]:
            return [_graph(t, [engine_metric(graphs[t][0], n) for n in graphs[t][1]]) for t in titles]

        def text(markdown: str) -> cloudwatch.TextWidget:
            return cloudwatch.TextWidget(markdown=markdown, width=24, height=1)

        rows: list[list[cloudwatch.IWidget]] = [
            [text("## Checkout: redemptions and refusals by reason (docs/runbook.md, \"Dashboard\")")],
            engine("Redemptions", "Validations and qualifications"),
            engine("Redemptions refused, by reason", "Validations answered invalid, by reason"),
            engine("Rollbacks on refund", "Landing-page claims"),
            [text("## Latency per route (API Gateway, p50 and p99)")],
            *_pairs(self._latency(rest_api)),
            [text("## Throttles and errors")],
            [
                _graph("DynamoDB throttled requests",
                       [table.metric_throttled_requests_for_operations(operations=TABLE_OPERATIONS, period=PERIOD,
                                                                       label="throttled requests")]),
                _graph("Lambda throttles", [fn.metric_throttles(period=PERIOD, label=folder)
                                            for folder, fn in functions.items()]),
            ],
            [
                _graph("API 4XX / 5XX", [rest_api.metric_client_error(period=PERIOD, statistic="Sum", label="4XX"),
                                         rest_api.metric_server_error(period=PERIOD, statistic="Sum", label="5XX")]),
                _graph("Lambda errors", [fn.metric_errors(period=PERIOD, label=folder)
                                         for folder, fn in functions.items()]),
            ],
            [text("## Dead-letter queues: work that failed for good, waiting for a redrive (docs/runbook.md)")],
            [
                _graph("Dead-letter queue depths (messages visible)", [
                    queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                        statistic="Maximum", label=folder)
                    for folder, queue in dead_letter_queues.items()], width=24),
            ],
            [
                _graph("Work queue depths (messages waiting for a worker)", [
                    queue.metric_approximate_number_of_messages_visible(period=Duration.minutes(1),
                                                                        statistic="Maximum", label=name)
                    for name, queue in (work_queues or {}).items()], width=24),
            ],
            [text("## Jobs")],
            [
                _graph("Job function errors", [functions[f].metric_errors(period=PERIOD, label=f)
                                               for f in job_functions]),
                *engine("Job: campaign-activation"),
            ],
            engine("Job: bulk-codes", "Operators: codes issued and exported, erasures"),
            engine("Bulk runs: slices queued and failed", "Bulk workers: slices failed"),
            engine("Code exports to a file"),
            engine("Job: referral-rewards", "Job: points-expiry"),
            [text("## Sends (journeys)")],
            engine("Sends by channel", "Sends failed by channel"),
            engine("Sends skipped, by reason", "Sends deferred (quiet hours) and awaiting delivery"),
            [text("## Events, referrals, loyalty")],
            engine("Customer events", "Event fan-out"),
            engine("Referrals", "Referral conversions"),
            engine("Loyalty: points earned and refunded", "Loyalty: rewards and adjustments"),
        ]
        for row in rows:
            self.dashboard.add_widgets(*row)
        self.url = (f"https://{Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region={Aws.REGION}"
                    f"#dashboards:name={dashboard_name}")

    @staticmethod
    def _latency(rest_api: apigw.RestApi) -> list[cloudwatch.IWidget]:
        """One graph per function: p50 and p99 of each of its routes (API Gateway's Latency per method)."""
        by_function: dict[str, list[cloudwatch.IMetric]] = {}
        for route in ROUTES:
            if route.method == "OPTIONS":
                continue
            for statistic in LATENCY_STATISTICS:
                by_function.setdefault(route.function, []).append(cloudwatch.Metric(
                    namespace="AWS/ApiGateway",
                    metric_name="Latency",
                    dimensions_map={"ApiName": rest_api.rest_api_name, "Stage": rest_api.deployment_stage.stage_name,
                                    "Method": route.method, "Resource": route.path},
                    statistic=statistic,
                    period=PERIOD,
                    label=f"{statistic} {route.method} {route.path}",
                ))
        return [_graph(f"Latency: {function} routes (ms)", metrics) for function, metrics in by_function.items()]


def _graph(title: str, metrics: list[cloudwatch.IMetric], *, width: int = WIDTH) -> cloudwatch.GraphWidget:
    return cloudwatch.GraphWidget(title=title, left=metrics, width=width, height=HEIGHT,
                                  legend_position=cloudwatch.LegendPosition.RIGHT)


def _pairs(widgets: list[cloudwatch.IWidget]) -> list[list[cloudwatch.IWidget]]:
    return [widgets[i:i + 2] for i in range(0, len(widgets), 2)]
