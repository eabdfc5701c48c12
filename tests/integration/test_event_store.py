"""EventStore against DynamoDB Local: a consumer's marker makes a second copy AlreadyApplied with nothing of
its unit of work written; an engine event's id is written once."""
from __future__ import annotations

import pytest

from incentives.adapters.dynamo import TransactionCancelled
from incentives.adapters.event_store import AlreadyApplied, EventStore, event_item
from incentives.adapters.unit_of_work import UnitOfWork

AT = "2026-12-04T10:00:00.000Z"


def apply(table, n: int) -> None:
    uow = UnitOfWork(table).add(("TEST#counter", "C"), n=n)
    EventStore.mark_consumed(uow, "retention", "ev-1", "CONSUMED", AT)
    uow.commit()


def test_a_second_copy_of_an_event_is_already_applied_and_changes_nothing(table):
    apply(table, 1)
    with pytest.raises(AlreadyApplied):
        apply(table, 5)
    assert table.get("TEST#counter", "C", consistent=True)["n"] == 1


def test_an_engine_events_id_is_written_once(table):
    store = EventStore(table)
    item = event_item("campaign.x.active.t", "campaign.activated", None, "t", AT, {}, "incentives.engine")
    UnitOfWork(table).op(store.event_put(item)).add(("TEST#c", "C"), n=1).commit()
    with pytest.raises(TransactionCancelled):
        UnitOfWork(table).op(store.event_put({**item, "data": {"again": True}})).add(("TEST#c", "C"), n=1).commit()
    assert table.get("TEST#c", "C", consistent=True)["n"] == 1
    assert table.get(item["pk"], item["sk"], consistent=True)["data"] == {}


def test_quarantine_puts_the_same_item_for_the_same_record(table):
    store = EventStore(table)
    first = store.quarantine("fanout", "42#ev-1", {"where": "fanout", "error_type": "KeyError"})
    store.quarantine("fanout", "42#ev-1", {"where": "fanout", "error_type": "KeyError"})
    assert table.query(first["pk"]) == [first]
