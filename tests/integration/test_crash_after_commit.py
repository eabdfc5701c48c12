"""The process dies after the use case's transaction committed and before it answered (the botocore call
succeeds, then the process is gone: no cleanup runs). A retry with the same Idempotency-Key gets the stored
answer, and nothing is applied twice: counters, code redemptions, records, points, codes, claims."""
from __future__ import annotations

import pytest

from incentives.adapters import keys
from tests.integration.loyalty_support import make_loyalty
from tests.support import campaign, scan_all

REDEEM = ("storefront", "POST", "/v1/redemptions")
CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")


class Died(BaseException):
    """Not an Exception: no handler, no `except Exception`, no idempotency release sees it, as with a crash."""


@pytest.fixture
def crash_after_commit(ddb_endpoint, monkeypatch):
    """Arms the engine's client: its next TransactWriteItems commits, then the process 'dies'."""
    from incentives.adapters.dynamo import dynamodb_client

    client = dynamodb_client(ddb_endpoint)
    real = client.transact_write_items
    armed = []

    def transact(**kw):
        out = real(**kw)
        if armed:
            armed.clear()
            raise Died()
        return out

    monkeypatch.setattr(client, "transact_write_items", transact)
    return lambda: armed.append(True)


def test_a_redemption_that_committed_before_the_crash_is_answered_from_its_key(handlers, config_dir, table,
                                                                               crash_after_commit):
    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"},
                        limits={"per_code": 100, "total_redemptions": 10, "per_customer": 5}))
    body = {"code": "PUBCODE", "customer": {"id": "c1", "country": "DE"},
            "order": {"id": "o1", "currency": "EUR", "amount": 10_000}}
    headers = {"Idempotency-Key": "o1-pay"}
    crash_after_commit()
    with pytest.raises(Died):
        handlers.call(*REDEEM, body=body, headers=headers)
    status, answer, out_headers = handlers.call(*REDEEM, body=body, headers=headers)
    assert status == 201 and out_headers.get("Idempotent-Replayed") == "true"
    assert answer["code"] == "PUBCODE" and answer["discount"] == {"amount": 1_000, "currency": "EUR"}
    records = [i for i in scan_all(table) if i["sk"] == "REDEMPTION"]
    assert [r["id"] for r in records] == [answer["id"]]
    assert table.get(*keys.code("PUBCODE"), consistent=True)["redemptions"] == 1
    counters = table.get(*keys.campaign_counters("pub"), consistent=True)
    assert (counters["redeemed"], counters["discount_total"]) == (1, 1_000)
    assert table.get(*keys.customer_usage("pub", "c1"), consistent=True)["redeemed"] == 1


def test_a_reward_spend_that_committed_before_the_crash_is_answered_from_its_key(handlers, table, config_dir,
                                                                                 crash_after_commit):
    loyalty = make_loyalty(handlers, table, config_dir)
    loyalty.adjust("c7", 700, "welcome back")
    crash_after_commit()
    with pytest.raises(Died):
        loyalty.redeem("c7", key="spend-1")
    status, answer, out_headers = loyalty.redeem("c7", key="spend-1")
    assert status == 201 and out_headers.get("Idempotent-Replayed") == "true"
    assert answer["points_spent"] == 500 and answer["balance"] == 200
    assert loyalty.view("c7")["points"]["balance"] == 200 and loyalty.lots_total("c7") == 200
    assert [e["type"] for e in loyalty.ledger("c7")].count("reward") == 1
    codes = [i for i in scan_all(table) if i["sk"] == "CODE" and i.get("campaign_id") == "club-5off"]
    assert [c["code"] for c in codes] == [answer["reward"]["code"]]
    assert table.get(*keys.campaign_issued_shard("club-5off", 0), consistent=True)["issued"] == 1


def test_a_claim_that_committed_before_the_crash_is_answered_from_its_key(handlers, config_dir, table,
                                                                          crash_after_commit):
    config_dir(campaign("welcome", codes={"type": "unique", "pattern": "WELC-####-####", "bind_to_customer": True},
                        claims={"allowed_origins": ["https://shop.example"], "max_claims": 5}))

    def claim():
        return handlers.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None,
                             body={"email": "ann@example.com", "country": "DE"},
                             headers={"Origin": "https://shop.example", "Idempotency-Key": "landing-1"})

    crash_after_commit()
    with pytest.raises(Died):
        claim()
    status, answer, out_headers = claim()
    assert status == 201 and out_headers.get("Idempotent-Replayed") == "true"
    items = scan_all(table)
    assert [i["code"] for i in items if i["sk"] == "CLAIM"] == [answer["code"]]
    assert [i["code"] for i in items if i["sk"] == "CODE"] == [answer["code"]]
    assert table.get(*keys.campaign_counters("welcome"), consistent=True)["claims"] == 1
    assert table.get(*keys.campaign_issued_shard("welcome", 0), consistent=True)["issued"] == 1
