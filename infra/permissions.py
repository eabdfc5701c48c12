"""Least privilege, declared per function folder. A function that is missing here fails synth on purpose."""
from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from incentives.http.routes import JOBS
from incentives.subscriptions import FANOUT_FUNCTION

# TransactWriteItems is authorised per action inside it (Put/Update/Delete/ConditionCheck), so the
# transactional writers list ConditionCheckItem and no dynamodb:TransactWriteItems action exists.
_READ = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query"]
_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]

TABLE_ACTIONS: dict[str, list[str]] = {
    "storefront": [*_READ, *_WRITE, "dynamodb:ConditionCheckItem"],
    "claims": [*_READ, *_WRITE, "dynamodb:ConditionCheckItem"],
    "operators": [*_READ, *_WRITE],
    # Activation: the status items (Query), each change and its event (a transaction of an update and a put), the
    # public code (a conditional put).
    "campaign_activation": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"],
    # The bulk planner: the job item (read, marked running); the slices go to the work queue (BULK_STATEMENTS).
    "bulk_codes": ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    # Bulk workers: the job and the code space's key (GetItem), chunk claims, releases and the counting
    # transaction (updates only), progress (Query), a retried chunk's existing codes (BatchGetItem), the codes
    # themselves with BatchWriteItem: unique by construction (decision log).
    "bulk_codes_worker": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:UpdateItem",
                          "dynamodb:BatchWriteItem"],
    # Whole-campaign exports: the export's job item (GetItem, UpdateItem), the campaign's codes on gsi2 (Query).
    "code_exports": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem"],
    # Events: the profile read and the transaction of two conditional puts (event record, profile).
    "events": ["dynamodb:GetItem", "dynamodb:PutItem"],
    # The fan-out reads only the table's stream (STREAM_READERS), never the table; it writes only the quarantine
    # item of a record it cannot read (services/quarantine.py), held to those items by LEADING_KEYS.
    FANOUT_FUNCTION: ["dynamodb:PutItem"],
    # Refunds: the order's redemptions on gsi1, each record read again (consistent), its rollback (updates) and
    # the consumer's marker (a conditional put) in one transaction.
    "refunds": ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:UpdateItem", "dynamodb:PutItem"],
    # Referrals: enrolment and attribution (reads, code-space reservation, transactions of puts and updates,
    # idempotency release), referrer/leaderboard/held/payout queries, review decisions (deletes of held items).
    "referrals": [*_READ, *_WRITE],
    # Referral conversions: referee lock + profile (BatchGetItem), referral and referrer reads, one transaction of
    # updates, puts (marker, due/held items, reward codes, outbox events) and deletes (due/held on reversal).
    "referral_events": ["dynamodb:GetItem", "dynamodb:BatchGetItem", *_WRITE],
    # Referral payouts: the due items (Query), each referral read, its payout transaction.
    "referral_rewards": ["dynamodb:GetItem", "dynamodb:Query", *_WRITE],
    # Loyalty API: member (GetItem), lots and ledger (Query), code-space reservation, the spend's transaction
    # (ConditionCheck on the member, updates of balance and lots, puts of entry and code), idempotency release.
    "loyalty": ["dynamodb:GetItem", "dynamodb:Query", *_WRITE, "dynamodb:ConditionCheckItem"],
    # Loyalty consumer: member + order (BatchGetItem), lots (Query), code-space reservation, one transaction of
    # puts (member, lot, entry, order, codes, outbox events, marker) and updates (balance, lots, order).
    "loyalty_events": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                       "dynamodb:UpdateItem"],
    # Points expiry: due lots and members on gsi1 (Query), balances for the warnings (BatchGetItem), the member
    # re-read of a tier review, updates of lots/balances and puts of entries, members and outbox events.
    "points_expiry": ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                      "dynamodb:UpdateItem"],
    # Journey index: the profile (GetItem), one transaction of index puts and the consumer's marker.
    "journey_events": ["dynamodb:GetItem", "dynamodb:PutItem"],
    # Retention metrics consumer: the order item (GetItem), one transaction of puts (order, day index, marker)
    # and the day index item's update on a refund.
    "metrics_events": ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
    # Journey jobs: index buckets and pending deliveries (Query), profiles, frequency and message items
    # (BatchGetItem), the lease, the code-space reservation, one transaction per send (puts, updates, deletes).
    "journeys": [*_READ, *_WRITE],
}

# Function folders whose table rights are limited to items whose partition key matches one of these.
LEADING_KEYS: dict[str, list[str]] = {FANOUT_FUNCTION: ["QUARANTINE#*"]}

# Function folders whose event source mapping reads the table's stream.
STREAM_READERS = frozenset({FANOUT_FUNCTION})
_STREAM_READ = ["dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"]

# Function folders that never read campaign config: no AppConfig rights.
WITHOUT_CONFIG = frozenset({"events", FANOUT_FUNCTION, "metrics_events"})

# Function folder -> job names (routes.JOBS) whose functions it may invoke: operators start bulk runs and exports
# and run jobs on demand.
INVOKES: dict[str, tuple[str, ...]] = {
    "operators": tuple(JOBS),
}


def bulk_statements(folder: str, queue_arn: str, exports_arn: str) -> list[iam.PolicyStatement]:
    """The bulk planner sends to the work queue (SendMessageBatch is authorised as sqs:SendMessage); the export
    job writes export objects; the operators function reads them, which is what its pre-signed links need.
    (The worker's rights on the queue come with its event source mapping.)"""
    if folder == "bulk_codes":
        return [iam.PolicyStatement(actions=["sqs:SendMessage"], resources=[queue_arn])]
    if folder == "code_exports":
        return [iam.PolicyStatement(actions=["s3:PutObject"], resources=[exports_arn])]
    if folder == "operators":
        return [iam.PolicyStatement(actions=["s3:GetObject"], resources=[exports_arn])]
    return []

# Function folders that publish on the engine's bus: only the fan-out. Every other function's events are outbox
# items (services/outbox.py) the fan-out publishes.
PUBLISHES_EVENTS = frozenset({FANOUT_FUNCTION})


# Function folders that send messages: journeys (SES raw e-mail from the configured identity, and SNS SMS) and
# claims (landing-page codes delivered by e-mail: SES only).
SENDS_MESSAGES = frozenset({"journeys", "claims"})
SENDS_SMS = frozenset({"journeys"})


def messaging_statements(stack, identity: str, configuration_set: str, sms: bool = True) -> list[iam.PolicyStatement]:
    """SES sending limited to the identity (and its configuration set); SNS Publish to phone numbers only: a
    direct SMS publish names no resource, so NotResource on every topic ARN leaves nothing but SMS."""
    out = [iam.PolicyStatement(actions=["sns:Publish"], not_resources=["arn:aws:sns:*:*:*"])] if sms else []
    if identity:
        out.append(iam.PolicyStatement(
            actions=["ses:SendEmail", "ses:SendRawEmail"],
            resources=[stack.format_arn(service="ses", resource="identity", resource_name=identity),
                       stack.format_arn(service="ses", resource="configuration-set",
                                        resource_name=configuration_set)]))
    return out


# Indexes that only some functions read (every other index is open to every function with table rights): gsi2
# files a campaign's codes for the export: the paged GET /v1/campaigns/{id}/codes (operators) and the
# whole-campaign file (code_exports).
INDEX_READERS: dict[str, frozenset[str]] = {"gsi2": frozenset({"operators", "code_exports"})}


def table_statement(folder: str, table: dynamodb.ITable, index_names: list[str]) -> iam.PolicyStatement | None:
    try:
        actions = TABLE_ACTIONS[folder]
    except KeyError:
        raise KeyError(f"functions/{folder} has no DynamoDB permissions: add it to infra/permissions.py") from None
    if not actions:
        return None
    if folder in LEADING_KEYS:
        return iam.PolicyStatement(actions=actions, resources=[table.table_arn], conditions={
            "ForAllValues:StringLike": {"dynamodb:LeadingKeys": LEADING_KEYS[folder]}})
    return iam.PolicyStatement(
        actions=actions,
        # Named indexes rather than index/*: nothing to suppress and nothing more than needed.
        resources=[table.table_arn, *(f"{table.table_arn}/index/{name}" for name in index_names
                                      if folder in INDEX_READERS.get(name, (folder,)))],
    )


def stream_statement(table: dynamodb.ITable) -> iam.PolicyStatement:
    """What Lambda's event source mapping needs of the function's role, on this table's stream only."""
    return iam.PolicyStatement(actions=_STREAM_READ, resources=[table.table_stream_arn])
