"""The DynamoDB requests of a claim and of an erasure, counted on the engine's client: moving claims and erasure
onto their repositories (adapters/claim_store.py, adapters/erasure_store.py) adds no request to either (issue 9:
requests per call stay at the floor)."""
from __future__ import annotations

import pytest

from tests.integration.test_erasure import build_customer, erase
from tests.support import campaign

CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")


@pytest.fixture
def requests(ddb_endpoint):
    """The operation names the engine's DynamoDB client sends, in order."""
    from incentives.adapters.dynamo import dynamodb_client

    calls: list[str] = []

    def record(model, **_):
        calls.append(model.name)

    events = dynamodb_client(ddb_endpoint).meta.events
    events.register("before-call.dynamodb", record)
    yield calls
    events.unregister("before-call.dynamodb", record)


@pytest.fixture
def api(handlers, config_dir):
    config_dir(
        campaign("welcome", codes={"type": "unique", "pattern": "WELC-####-####", "bind_to_customer": True},
                 claims={"allowed_origins": ["https://shop.example"], "max_claims": 5}),
        campaign("sorry", codes={"type": "unique", "pattern": "SORR-####-####", "bind_to_customer": True},
                 limits={"per_code": 1}),
        campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100, "per_customer": 1}),
    )
    return handlers


def claim(api, email):
    return api.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None,
                    body={"email": email, "country": "DE"}, headers={"Origin": "https://shop.example"})


def test_a_claim_and_its_repeat_make_the_same_requests_as_before(api, requests):
    assert claim(api, "warm@example.com")[0] == 201  # config and clients warm
    requests.clear()
    assert claim(api, "ann@example.com")[0] == 201
    # two rate-limit counters, the code space's counter, then the one transaction
    assert requests == ["UpdateItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]
    requests.clear()
    assert claim(api, "ann@example.com")[0] == 200
    # the repeat's transaction is cancelled by the claim's condition; its old image is the answer (no read)
    assert requests == ["UpdateItem", "UpdateItem", "UpdateItem", "TransactWriteItems"]


def test_an_erasure_makes_the_same_requests_as_before(api, requests):
    build_customer(api)
    requests.clear()
    status, out, _ = erase(api)
    assert status == 200 and out["status"] == "erased"
    # measured before the move (commit of this test): 12 reads (BatchGetItem x4: profile and marker, claims,
    # usage, loyalty members; Query x8: registries, gsi1 partitions, consent ledger, throttles) and 14 writes (one per
    # item changed, the marker, the record). The writes stay one request each; the conditional ones now go as
    # TransactWriteItems with a ClientRequestToken (adapters/erasure_store.py: a lost answer's retry is a no-op).
    reads = [r for r in requests if r in ("BatchGetItem", "Query", "GetItem")]
    assert (reads.count("BatchGetItem"), reads.count("Query"), reads.count("GetItem")) == (4, 8, 0)
    assert len(requests) == 26
    writes = [r for r in requests if r not in reads]
    assert (writes.count("PutItem"), writes.count("DeleteItem"), writes.count("TransactWriteItems")) == (1, 1, 12)
