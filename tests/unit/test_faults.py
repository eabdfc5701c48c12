"""The fault injector's settings and its cost: parsed strictly, reproducible per seed, never loaded when off."""
from __future__ import annotations

import pytest

from incentives.adapters.faults import KINDS, FaultSpec, _Injector


def test_the_spec_is_parsed_strictly():
    assert FaultSpec.parse("rate=0.1,seed=7") == FaultSpec(0.1, 7, KINDS)
    assert FaultSpec.parse("rate=1,seed=2,kinds=throttle+conflict").kinds == ("throttle", "conflict")
    for bad in ("rate=2", "rate=0.1,kinds=flood", "rate=0.1,speed=3", "rate=0.1,kinds="):
        with pytest.raises(ValueError):
            FaultSpec.parse(bad)


def test_the_same_seed_draws_the_same_faults_and_reads_get_no_write_faults():
    def draws(seed: int) -> list[str | None]:
        injector = _Injector(client=None, spec=FaultSpec(0.5, seed))
        return [injector.draw(op) for op in ["GetItem", "TransactWriteItems", "UpdateItem", "Query"] * 50]

    first = draws(3)
    assert first == draws(3) and first != draws(4)
    assert {d for d in first if d} == set(KINDS)
    reads = first[0::4] + first[3::4]
    assert {d for d in reads if d} <= {"throttle", "throughput"}  # nothing to commit: no conflict, no lost answer
    assert 0.35 < sum(d is not None for d in first) / len(first) < 0.65


def test_no_handler_loads_the_injector_when_it_is_off():
    from tests.support import modules_loaded_by_every_handler

    assert modules_loaded_by_every_handler("m.endswith('adapters.faults')") == []


def test_faults_fall_only_on_the_named_operations_and_never_on_a_spared_thread():
    import threading

    from incentives.adapters import faults

    injector = _Injector(client=None, spec=FaultSpec.parse("rate=1,seed=1,ops=TransactWriteItems"))
    assert injector.draw("PutItem") is None and injector.draw("TransactWriteItems") in KINDS
    with faults.sparing_this_thread():
        assert injector.draw("TransactWriteItems") is None  # the test's own thread: set-up and read-back
        other: list[str | None] = []
        worker = threading.Thread(target=lambda: other.append(injector.draw("TransactWriteItems")))
        worker.start()
        worker.join()
        assert other[0] in KINDS  # a client thread
    assert injector.draw("TransactWriteItems") in KINDS  # the filter ends with the block
    with pytest.raises(ValueError):
        FaultSpec.parse("rate=1,ops=Flood")


def test_a_batch_write_in_conflict_answers_its_items_unprocessed_as_dynamodb_does():
    """BatchWriteItem never raises TransactionConflictException: its conflicting items come back unprocessed."""
    import json

    from botocore.awsrequest import AWSRequest

    injector = _Injector(client=None, spec=FaultSpec.parse("rate=1,seed=1,kinds=conflict"))
    items = {"t": [{"PutRequest": {"Item": {"pk": {"S": "a"}, "sk": {"S": "b"}}}}]}
    request = AWSRequest("POST", "http://localhost", data=json.dumps({"RequestItems": items}).encode())
    response = injector.before_send(request.prepare(), event_name="before-send.dynamodb.BatchWriteItem")
    assert response.status_code == 200 and json.loads(response.content) == {"UnprocessedItems": items}
