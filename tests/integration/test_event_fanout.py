"""The fan-out: new event items on the table's stream (DynamoDB Local) -> the real event_fanout handler -> PutEvents.
Only inserts of event items are published, with the event type as detail-type and no PII; a failed entry is
reported with every later record, so the retry publishes everything and loses nothing."""
from __future__ import annotations

import contextlib
import json
import uuid

import pytest

from incentives.adapters import keys
from incentives.services.fanout import Fanout, entry
from incentives.subscriptions import CUSTOMERS, SUBSCRIPTIONS, CustomerEvent
from local import lambdas
from local.stream import StreamPump
from tests.support import OPERATOR_KEY_ID, ROOT, campaign

pytestmark = pytest.mark.stream
EVENTS = ("events", "POST", "/v1/events")


class RecordingBus:
    """PutEvents that records every request; ``fail(entry_number)`` says which entries (counted over all
    requests, from 0) to refuse; ``down`` makes the call itself fail (nothing recorded)."""

    def __init__(self, fail=lambda n: False):
        self.requests: list[list[dict]] = []
        self.fail = fail
        self.down = False
        self.accepted: list[dict] = []

    def put_events(self, entries: list[dict]) -> list[str | None]:
        if self.down:
            raise ConnectionError("EventBridge unreachable")
        first = sum(len(r) for r in self.requests)
        self.requests.append(entries)
        errors = ["InternalException: try again" if self.fail(first + i) else None for i in range(len(entries))]
        self.accepted.extend(e for e, err in zip(entries, errors, strict=True) if not err)
        return errors

    @property
    def published(self) -> list[dict]:
        return [e for r in self.requests for e in r]


@pytest.fixture
def fanout(handlers, config_dir, monkeypatch):
    """publish(records) runs the real event_fanout handler on a stream event; it publishes to the RecordingBus.
    Returns (publish, bus)."""
    config_dir(campaign("back", codes={"type": "public", "code": "BACKAGAIN"}))
    module = lambdas.load_module("event_fanout", ROOT / "functions")
    bus = RecordingBus()
    monkeypatch.setattr(module, "fanout", lambda: Fanout(bus))
    return (lambda records: lambdas.invoke("event_fanout", {"Records": records})), bus


def stream_records(ddb_endpoint, table_name) -> list[dict]:
    """Every record the fan-out would get so far (the deployed mapping's filter applied), in stream order."""
    batches: list[dict] = []
    pump = StreamPump(ddb_endpoint, table_name, lambda folder, event: batches.extend(event["Records"]),
                      from_start=True)
    while pump.poll():
        pass
    return batches


def paid(eid: str, customer: str = "c1", amount: int = 4_000) -> dict:
    return {"id": eid, "type": "order.paid", "occurred_at": "2026-12-01T10:00:00Z",
            "customer": {"id": customer, "email": f"{customer}@example.com"},
            "order": {"id": f"o-{eid}", "currency": "EUR", "amount": amount,
                      "items": [{"sku": "mug", "quantity": 1, "unit_price": amount}]}}


def test_each_new_event_is_published_once_as_its_type_without_pii(handlers, fanout, table, ddb_endpoint, table_name):
    publish, bus = fanout
    created = {"id": "e0", "type": "customer.created", "occurred_at": "2026-11-01T09:00:00Z",
               "customer": {"id": "c1", "email": "ann@example.com", "country": "DE"},
               "data": {"birthday": "1990-04-02"}}
    refunded = {**paid("e2", amount=1_500), "type": "order.refunded", "occurred_at": "2026-12-03T10:00:00Z"}
    for body in (created, paid("e1"), refunded, paid("e1")):  # e1 twice: recorded once
        assert handlers.call(*EVENTS, body=body)[0] == 202
    # other inserts and updates of the same table: a redemption, its counters, the profile (updated 2x)
    assert handlers.call("storefront", "POST", "/v1/redemptions", body={
        "code": "BACKAGAIN", "customer": {"id": "c1"}, "order": {"currency": "EUR", "amount": 1_000}})[0] == 201

    records = stream_records(ddb_endpoint, table_name)
    assert publish(records) == {"batchItemFailures": []}
    assert [e["DetailType"] for e in bus.published] == ["customer.created", "order.paid", "order.refunded"]
    assert {e["Source"] for e in bus.published} == {CUSTOMERS} == {"incentives.customers"}
    detail = json.loads(bus.published[2]["Detail"])
    assert detail == {"id": "e2", "type": "order.refunded", "customer_id": "c1", "occurred_at": "2026-12-03T10:00:00Z",
                      "received_at": detail["received_at"], "order_id": "o-e2", "order_amount": 1_500,
                      "currency": "EUR"}
    assert json.loads(bus.published[0]["Detail"]) == {
        "id": "e0", "type": "customer.created", "customer_id": "c1", "occurred_at": "2026-11-01T09:00:00Z",
        "received_at": json.loads(bus.published[0]["Detail"])["received_at"]}
    assert "example.com" not in repr(bus.published) and "1990" not in repr(bus.published)

    # erasure rewrites the customer's event items (updates): they do not reach the fan-out again
    status, _, _ = handlers.call("operators", "DELETE", "/v1/customers/{customer_id}", {"customer_id": "c1"},
                                 key_id=OPERATOR_KEY_ID)
    assert status == 200
    assert table.get(*keys.event("e1"), consistent=True)["customer_id"] != "c1"
    assert stream_records(ddb_endpoint, table_name) == records


def test_the_handler_skips_what_is_not_a_new_event_item(fanout):
    """A hand-made redrive (docs/runbook.md) may hand over unfiltered stream records."""
    publish, bus = fanout
    image = {"pk": {"S": "EVENT#e9"}, "sk": {"S": "EVENT"}, "id": {"S": "e9"}, "type": {"S": "order.paid"},
             "customer_id": {"S": "c1"}, "occurred_at": {"S": "2026-12-01T10:00:00Z"},
             "received_at": {"S": "2026-12-01T10:00:01.000Z"}}
    records = [
        {"eventName": "MODIFY", "dynamodb": {"Keys": {"pk": image["pk"]}, "NewImage": image, "SequenceNumber": "1"}},
        {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": {"S": "CUSTOMER#c1"}}, "NewImage": image,
                                             "SequenceNumber": "2"}},
        {"eventName": "INSERT", "dynamodb": {"Keys": {"pk": image["pk"]}, "NewImage": image, "SequenceNumber": "3"}},
    ]
    assert publish(records) == {"batchItemFailures": []}
    assert [json.loads(e["Detail"])["id"] for e in bus.published] == ["e9"]


def test_a_refused_entry_is_reported_with_every_later_record_and_the_retry_loses_nothing(
        handlers, fanout, ddb_endpoint, table_name):
    publish, bus = fanout
    for i in range(23):
        handlers.call(*EVENTS, body=paid(f"e{i:02d}", customer=f"c{i}"))
    records = stream_records(ddb_endpoint, table_name)
    assert len(records) == 23
    ids = [r["dynamodb"]["NewImage"]["id"]["S"] for r in records]

    bus.fail = lambda n: n == 12  # the third entry of the second PutEvents
    answer = publish(records)
    assert [len(r) for r in bus.requests] == [10, 10]  # at most 10 per request; nothing sent after the failure
    assert answer["batchItemFailures"] == [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records[12:]]

    # Lambda retries from the first reported record
    bus.fail = lambda n: False
    assert publish(records[12:]) == {"batchItemFailures": []}
    published = [json.loads(e["Detail"])["id"] for e in bus.published]
    assert published[20:] == ids[12:]
    accepted = published[:12] + published[13:20] + published[20:]  # the refused 13th entry left out
    assert set(accepted) == set(ids)  # every event out at least once


def test_an_unreachable_bus_fails_the_whole_batch_for_a_retry(handlers, fanout, ddb_endpoint, table_name,
                                                              monkeypatch):
    publish, _ = fanout
    handlers.call(*EVENTS, body=paid("e1"))
    records = stream_records(ddb_endpoint, table_name)

    class Down:
        def put_events(self, entries):
            raise ConnectionError("bus unreachable")

    monkeypatch.setattr(lambdas.load_module("event_fanout", ROOT / "functions"), "fanout", lambda: Fanout(Down()))
    assert publish(records) == {
        "batchItemFailures": [{"itemIdentifier": records[0]["dynamodb"]["SequenceNumber"]}]}


@contextlib.contextmanager
def _consumer_rules_on_moto(monkeypatch, rules: dict[str, dict]):
    """moto's EventBridge with the engine's bus and ``rules`` (name -> event pattern, as CDK deploys a consumer's
    rules) targeting one SQS queue; yields (sqs client, queue url)."""
    moto = pytest.importorskip("moto")
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "eu-central-1"}.items():
        monkeypatch.setenv(k, v)
    import boto3

    with moto.mock_aws():
        events, sqs = boto3.client("events"), boto3.client("sqs")
        events.create_event_bus(Name="engine")
        queue_url = sqs.create_queue(QueueName="consumer")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        for name, pattern in rules.items():
            events.put_rule(Name=name, EventBusName="engine", EventPattern=json.dumps(pattern))
            events.put_targets(Rule=name, EventBusName="engine", Targets=[{"Id": "q", "Arn": queue_arn}])
        yield sqs, queue_url


def test_eventbridge_gets_the_entries_on_the_engine_bus_and_routes_them_by_the_subscriptions(monkeypatch):
    """The deployed adapter against moto's EventBridge: the rule pattern of a consumer (as CDK deploys it)
    receives the published event, detail intact."""
    from incentives.adapters.events import EventBridgeBus

    (refunds,) = [s for s in SUBSCRIPTIONS if s.function == "refunds"]
    with _consumer_rules_on_moto(monkeypatch, {"refunds": refunds.patterns()[CUSTOMERS]}) as (sqs, queue_url):

        event = CustomerEvent(id="e1", type="order.refunded", customer_id="c1", occurred_at="2026-12-01T10:00:00Z",
                              received_at="2026-12-01T10:00:01.000Z", order_id="o-1", order_amount=500,
                              currency="EUR")
        paid_event = CustomerEvent(**{**event.detail(), "id": "e2", "type": "order.paid"})
        assert EventBridgeBus("engine").put_events([entry(event), entry(paid_event)]) == [None, None]

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        delivered = [json.loads(m["Body"]) for m in messages]
        assert [(d["source"], d["detail-type"], d["detail"]) for d in delivered] == \
            [(CUSTOMERS, "order.refunded", event.detail())]  # order.paid: no rule of this consumer


def test_a_table_from_before_the_fanout_gets_its_stream_when_the_local_run_starts(ddb_endpoint):
    from incentives.adapters.schema import STREAM_VIEW_TYPE, create_table_kwargs
    from local.dynamodb_local import client, ensure_table

    ddb, name = client(ddb_endpoint), f"old-{uuid.uuid4().hex[:12]}"
    ddb.create_table(**create_table_kwargs(name, stream=False))
    try:
        ensure_table(ddb_endpoint, name)
        assert ddb.describe_table(TableName=name)["Table"]["StreamSpecification"] == {
            "StreamEnabled": True, "StreamViewType": STREAM_VIEW_TYPE}
    finally:
        ddb.delete_table(TableName=name)


# --- engine events: outbox items of the job's transaction, published by the fan-out, never by the job ----------


def _retried_until_published(publish, bus, records) -> None:
    """The first fan-out attempt fails as a whole; Lambda retries the same records until the bus takes them."""
    failed = publish(records)["batchItemFailures"]
    assert failed == [{"itemIdentifier": r["dynamodb"]["SequenceNumber"]} for r in records]
    assert bus.accepted == []
    bus.down, bus.fail = False, (lambda n: False)
    assert publish(records) == {"batchItemFailures": []}


def test_put_events_failing_during_the_activation_job_loses_no_event_and_sends_none_twice(
        handlers, fanout, config_dir, table, ddb_endpoint, table_name):
    publish, bus = fanout
    config_dir(campaign("back", codes={"type": "public", "code": "BACKAGAIN"}),
               campaign("soon", schedule={"starts_at": "2027-01-01T00:00:00", "timezone": "Europe/Berlin"}))
    bus.down = True  # EventBridge is down while the job runs
    first = lambdas.invoke("campaign_activation", {"now": "2026-12-02T10:00:00Z"})
    assert sorted(c["event"] for c in first["changes"]) == ["campaign.activated", "campaign.registered"]
    again = lambdas.invoke("campaign_activation", {"now": "2026-12-02T10:01:00Z"})  # the next tick
    assert again["changes"] == []  # the changes were committed once, with their events

    records = stream_records(ddb_endpoint, table_name)
    assert len(records) == 2  # one event item per change, nothing else
    _retried_until_published(publish, bus, records)

    assert sorted((e["Source"], e["DetailType"], json.loads(e["Detail"])["id"]) for e in bus.accepted) == [
        ("incentives.engine", "campaign.activated", "campaign.back.active.2026-12-02T10:00:00Z"),
        ("incentives.engine", "campaign.registered", "campaign.soon.scheduled.2026-12-02T10:00:00Z")]
    statuses = {i["campaign_id"]: (i["status"], i["changed_at"])
                for i in table.query(keys.CAMPAIGN_STATUS_PK, "STATUS#")}
    assert statuses == {"back": ("active", "2026-12-02T10:00:00Z"), "soon": ("scheduled", "2026-12-02T10:00:00Z")}
    assert table.get(*keys.code("BACKAGAIN"), consistent=True)["redemptions"] == 0
    assert stream_records(ddb_endpoint, table_name) == records  # the retries wrote nothing


def test_put_events_failing_during_the_expiry_job_loses_no_warning_and_sends_none_twice(
        handlers, fanout, config_dir, table, ddb_endpoint, table_name):
    from datetime import timedelta

    from incentives.adapters.loyalty_store import EXPIRE
    from incentives.domain.clock import iso, parse_rfc3339
    from tests.integration.loyalty_support import PROGRAM_ID, make_loyalty

    publish, bus = fanout
    loyalty = make_loyalty(handlers, table, config_dir)
    loyalty.configure(pending_days=0, expiry={"after_days": 30}, expiry_warning_days=7)
    loyalty.send("review.submitted", "w1")
    (lot,) = loyalty.lots("w1")
    before = {r["dynamodb"]["SequenceNumber"] for r in stream_records(ddb_endpoint, table_name)}

    bus.fail = lambda n: True  # EventBridge refuses every entry while the job runs
    expires = parse_rfc3339(lot["expires_at"])
    run = lambda at: lambdas.invoke("points_expiry", {"now": iso(at)})["programs"][PROGRAM_ID]  # noqa: E731
    assert run(expires - timedelta(days=6))["warned"] == 1
    assert run(expires - timedelta(days=5))["warned"] == 0  # the next run: warned once, the lot moved on once

    records = [r for r in stream_records(ddb_endpoint, table_name) if r["dynamodb"]["SequenceNumber"] not in before]
    assert [r["dynamodb"]["NewImage"]["type"]["S"] for r in records] == ["points.expiring"]
    _retried_until_published(publish, bus, records)

    (warning,) = bus.accepted
    detail = json.loads(warning["Detail"])
    assert (warning["Source"], warning["DetailType"]) == ("incentives.engine", "points.expiring")
    assert detail["customer_id"] == "w1" and detail["data"]["lot_id"] == lot["lot_id"]
    assert detail["data"]["points"] == 50 and detail["data"]["expires_at"] == lot["expires_at"]
    (moved,) = loyalty.lots("w1")
    assert moved["gsi1pk"].startswith(f"LOYALTY#{PROGRAM_ID}#{EXPIRE}#") and moved["remaining"] == 50
    assert len(loyalty.engine_events("points.expiring")) == 1


def test_eventbridge_routes_engine_events_by_their_source(monkeypatch):
    """The loyalty consumer's two rules (as CDK deploys them) against moto's EventBridge: referral.converted from
    the engine reaches it; the same type posted by the shop (source incentives.customers) does not."""
    from incentives.adapters.events import EventBridgeBus
    from incentives.services.fanout import entry_of
    from incentives.subscriptions import ENGINE, detail_of

    (loyalty,) = [s for s in SUBSCRIPTIONS if s.function == "loyalty_events"]
    with _consumer_rules_on_moto(monkeypatch, loyalty.patterns()) as (sqs, queue_url):

        item = {"pk": "EVENT#r1.converted", "sk": "EVENT", "id": "r1.converted", "type": "referral.converted",
                "customer_id": "ann", "occurred_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:01.000Z",
                "data": {"program_id": "friends", "referral_id": "r1", "referee_id": "bob"}, "source": ENGINE}
        faked = {**detail_of(item), "id": "shop-1"}
        assert EventBridgeBus("engine").put_events([entry_of(detail_of(item), ENGINE),
                                                    entry_of(faked, CUSTOMERS)]) == [None, None]

        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
        delivered = [json.loads(m["Body"]) for m in messages]
        assert [(d["source"], d["detail"]["id"]) for d in delivered] == [(ENGINE, "r1.converted")]
        assert delivered[0]["detail"]["data"]["referee_id"] == "bob" and "source" not in delivered[0]["detail"]
