"""One unreadable record never holds up the others: the fan-out quarantines it (an item with its id, no PII) and
publishes the records after it, with no batch failure to retry; a consumer quarantines an event it cannot read and
answers, while a transient failure still raises for Lambda's retry."""
from __future__ import annotations

import pytest
from incentives.adapters.dynamo import to_item
from incentives.services.fanout import Fanout
from local import lambdas

from tests.integration.test_event_fanout import RecordingBus
from tests.support import ROOT


def record(seq: int, image: dict) -> dict:
    return {"eventName": "INSERT", "eventID": f"r{seq}",
            "dynamodb": {"Keys": to_item({"pk": image["pk"], "sk": "EVENT"}), "NewImage": to_item(image),
                         "SequenceNumber": f"{seq:021d}"}}


def event_image(eid: str, customer: str, **over) -> dict:
    return {"pk": f"EVENT#{eid}", "sk": "EVENT", "id": eid, "type": "order.paid", "customer_id": customer,
            "occurred_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:00.000Z", "order_id": f"o-{eid}",
            "order_amount": 4000, "currency": "EUR", "source": "incentives.customers", **over}


@pytest.fixture
def publish(handlers, monkeypatch):
    module = lambdas.load_module("event_fanout", ROOT / "functions")
    bus = RecordingBus()
    monkeypatch.setattr(module, "fanout", lambda: Fanout(bus))
    return (lambda records: lambdas.invoke("event_fanout", {"Records": records})), bus


def quarantined(table, where: str) -> list[dict]:
    return table.query(f"QUARANTINE#{where}")


@pytest.mark.parametrize("broken", [{"occurred_at": "not a time"}, {"occurred_at": "9999-12-31T23:59:59-05:00"},
                                    {"type": None}, {"occurred_at": None}])
def test_an_unreadable_record_is_quarantined_and_the_records_after_it_are_published(publish, table, broken):
    run, bus = publish
    records = [record(1, event_image("e1", "c1")), record(2, event_image("e2", "c2", **broken)),
               record(3, event_image("e3", "c3")), record(4, event_image("e4", "c1"))]
    out = run(records)
    assert out == {"batchItemFailures": []}  # nothing to retry: the shard moves on
    assert [e["DetailType"] for e in bus.published] == ["order.paid"] * 3
    assert ['"id": "e1"' in e["Detail"] or '"id": "e3"' in e["Detail"] or '"id": "e4"' in e["Detail"]
            for e in bus.published] == [True] * 3
    (item,) = quarantined(table, "event_fanout")
    assert item["event_id"] == "e2" and item["sequence_number"] == f"{2:021d}"
    assert item["error_type"] in ("ValueError", "KeyError", "TypeError")
    assert set(item) == {"pk", "sk", "where", "event_id", "sequence_number", "error_type", "quarantined_at"}
    run(records[1:2])  # the stream delivers it again (a retry after a later failure): still one item
    assert len(quarantined(table, "event_fanout")) == 1


def test_a_publishing_failure_is_still_retried_not_quarantined(publish, table):
    run, bus = publish
    bus.down = True
    out = run([record(1, event_image("e1", "c1")), record(2, event_image("e2", "c2"))])
    assert [f["itemIdentifier"] for f in out["batchItemFailures"]] == [f"{1:021d}", f"{2:021d}"]
    assert quarantined(table, "event_fanout") == []


def test_a_consumer_quarantines_an_event_it_cannot_read_and_goes_on(handlers, table):
    bad = {"source": "incentives.customers", "detail-type": "order.paid",
           "detail": {"id": "e9", "type": "order.paid", "occurred_at": "2026-12-01T10:00:00Z"}}  # no customer_id
    assert lambdas.invoke("loyalty_events", bad) == {"event_id": "e9", "status": "quarantined"}
    (item,) = quarantined(table, "loyalty_events")
    assert item["event_id"] == "e9" and item["error_type"] == "KeyError"
    good = {"source": "incentives.customers", "detail-type": "customer.created",
            "detail": {"id": "e10", "type": "customer.created", "customer_id": "c1",
                       "occurred_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:00.000Z"}}
    assert lambdas.invoke("loyalty_events", good)["event_id"] == "e10"


def test_a_consumer_failure_that_is_not_about_the_event_still_raises(handlers, table, monkeypatch):
    from incentives.domain import errors

    module = lambdas.load_module("refunds", ROOT / "functions")

    class Busy:
        def handle(self, event, now):
            raise errors.Contention("busy")

    monkeypatch.setattr(module, "refunds", lambda: Busy())
    event = {"detail": {"id": "e1", "type": "order.refunded", "customer_id": "c1",
                        "occurred_at": "2026-12-01T10:00:00Z", "received_at": "2026-12-01T10:00:00.000Z"}}
    with pytest.raises(errors.Contention):
        lambdas.invoke("refunds", event)
    assert quarantined(table, "refunds") == []
