"""GuessStore against DynamoDB Local: hits up to the limit, then AtLimit with the counter unchanged; the
redemption's ConditionCheck fails the whole unit of work at the limit; erasure finds every window's counter."""
from __future__ import annotations

import pytest

from incentives.adapters.guess_store import AtLimit, GuessStore, counter_keys, customer_scope
from incentives.adapters.unit_of_work import UnitOfWork


class Throttled(Exception):
    pass


def test_hits_stop_at_the_limit_and_the_condition_check_refuses_the_whole_write(table):
    store = GuessStore(table)
    (k,) = counter_keys([customer_scope("c1")], 7)
    for _ in range(3):
        store.hit(k, 3, ttl=100)
    with pytest.raises(AtLimit):
        store.hit(k, 3, ttl=100)
    assert table.get(*k, consistent=True)["hits"] == 3
    uow = UnitOfWork(table).add(("TEST#redemption", "R"), n=1)
    GuessStore.below_limit(uow, k, 3, Throttled)
    with pytest.raises(Throttled):
        uow.commit()
    assert table.get("TEST#redemption", "R", consistent=True) is None


def test_erasure_finds_the_customers_counters_of_every_window(table):
    store = GuessStore(table)
    for window in (7, 8):
        store.hit(counter_keys([customer_scope("c1")], window)[0], 3, ttl=100)
    store.hit(counter_keys([customer_scope("c2")], 7)[0], 3, ttl=100)
    assert sorted(sk for _pk, sk in store.of_customer("c1")) == ["W#7", "W#8"]
