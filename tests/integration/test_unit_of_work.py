"""The unit of work against DynamoDB Local: changes to one item merge into one operation, one operation is one
single-item write, more are one TransactWriteItems, and a cancellation raises the failed item's own error."""
from __future__ import annotations

import pytest

from incentives.adapters.dynamo import TransactionCancelled
from incentives.adapters.unit_of_work import UnitOfWork, always


class Spy:
    """The botocore client, recording which operations were called."""

    def __init__(self, client):
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name):
        attr = getattr(self._client, name)
        if name in ("put_item", "update_item", "delete_item", "transact_write_items"):
            def call(**kw):
                self.calls.append(name)
                return attr(**kw)
            return call
        return attr


class Full(Exception):
    pass


class Taken(Exception):
    pass


@pytest.fixture
def spy(table):
    s = Spy(table.client)
    table._client = s
    return s


def test_changes_to_one_item_merge_into_one_operation(table, spy):
    k = ("TEST#1", "A")
    uow = UnitOfWork(table)
    uow.add(k, seen=1).add(k, seen=2, other=5).set(k, name="x").cond(k, "attribute_not_exists(closed)")
    uow.add(("TEST#1", "B"), seen=1)
    ops, order = uow.ops()
    assert order == [k, ("TEST#1", "B")]
    assert len(ops) == 2
    uow.commit()
    assert spy.calls == ["transact_write_items"]
    item = table.get(*k, consistent=True)
    assert (item["seen"], item["other"], item["name"]) == (3, 5, "x")


def test_one_operation_is_a_single_item_write_and_its_failure_explains_itself(table, spy):
    k = ("TEST#2", "A")
    UnitOfWork(table).put({"pk": k[0], "sk": k[1], "n": 1}).commit()
    assert spy.calls == ["put_item"]
    with pytest.raises(Taken):
        UnitOfWork(table).put({"pk": k[0], "sk": k[1], "n": 2}, explain=lambda old: Taken(old["n"])).commit()
    assert table.get(*k, consistent=True)["n"] == 1
    # With a request token, even one operation is a transaction (botocore's retry of it is then a no-op).
    spy.calls.clear()
    UnitOfWork(table).add(k, n=1).commit(token="tok-1")
    assert spy.calls == ["transact_write_items"]


def test_a_cancellation_raises_the_error_of_the_first_failed_item_in_the_order_added(table):
    counter, code = ("TEST#3", "COUNTER"), ("TEST#3", "CODE")
    UnitOfWork(table).set(counter, n=10).put({"pk": code[0], "sk": code[1]}).commit()

    def attempt():
        uow = UnitOfWork(table)
        uow.add(counter, n=1).cond(counter, "n < :c_max", explain=lambda old: Full(old["n"]), c_max=10)
        uow.put({"pk": code[0], "sk": code[1]}, explain=always(Taken))
        uow.add(("TEST#3", "OTHER"), n=1)
        return uow

    with pytest.raises(Full) as e:
        attempt().commit()
    assert e.value.args == (10,)  # explained from the item as it was
    assert table.get("TEST#3", "OTHER", consistent=True) is None  # nothing of the transaction was written


def test_what_nothing_explains_is_transaction_cancelled_with_its_keys_or_the_otherwise_error(table):
    a, b = ("TEST#4", "A"), ("TEST#4", "B")
    UnitOfWork(table).put({"pk": a[0], "sk": a[1]}).commit()
    uow = UnitOfWork(table).put({"pk": a[0], "sk": a[1]}).add(b, n=1)
    with pytest.raises(TransactionCancelled) as e:
        uow.commit()
    assert e.value.failed_keys() == {a}
    with pytest.raises(Taken):
        UnitOfWork(table).put({"pk": a[0], "sk": a[1]}).add(b, n=1).commit(otherwise=lambda e: Taken())


def test_writes_that_cannot_be_merged_are_refused():
    uow = UnitOfWork(table=type("T", (), {"name": "t", "put_op": None})())
    k = ("TEST#5", "A")
    uow.update(k, "SET a = :v", vals={":v": {"N": "1"}})
    with pytest.raises(ValueError):
        uow.add(k, n=1)
    with pytest.raises(ValueError):
        uow.check(k, "b = :v", vals={":v": {"N": "2"}})  # one placeholder, two values


def test_hooks_add_their_write_to_each_commit_and_see_the_result(table):
    uow = UnitOfWork(table)
    uow.on_commit(lambda u: u.set(("TEST#6", "ANSWER"), body=u.result))
    uow.result = "first"
    uow.add(("TEST#6", "A"), n=1).commit()
    assert table.get("TEST#6", "ANSWER", consistent=True)["body"] == "first"
    assert ("TEST#6", "ANSWER") not in uow  # the hook's write belongs to that commit only
