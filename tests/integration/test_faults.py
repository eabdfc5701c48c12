"""The contended writes under injected DynamoDB faults (throttling, ProvisionedThroughputExceeded,
TransactionConflict, a timeout after the write applied), then a Jepsen-style check of the invariants
(tools/faultrun.py): money given = money recorded, no balance below zero, counters = records, no limit exceeded,
no lost or doubled effect, every answer a success, a contract rejection or a 503 with Retry-After."""
from __future__ import annotations

from pathlib import Path

from tests.support import scan_all
from tools import faultrun


def test_contended_writes_keep_every_invariant_under_injected_faults(handlers, table, config_dir):
    run = faultrun.execute(table, Path(config_dir.path), size=120, rate=0.15, seed=11, threads=12)
    report = run.report
    summary = report.summary()
    assert report.violations == [], (summary, report.violations[:20])
    # the run was a real one: faults of every kind were injected and every limit was reached
    assert set(report.faults) == {"throttle", "throughput", "conflict", "timeout_after_commit"}, summary
    assert report.statuses[500] == 0
    for outcome in ("redeem_limit:ok", "redeem_budget:budget_exhausted", "spend_card:balance_exhausted",
                    "claim:claims_exhausted", "reward:insufficient_points"):
        assert report.outcomes[outcome] > 0, summary

    # the check sees a doubled effect, money not recorded and a balance that moved without its record
    from incentives.adapters import keys
    from incentives.adapters.dynamo import values

    table.update(*keys.campaign_counters("jlimit"), "ADD redeemed :one", vals=values(one=1))
    table.update(*keys.code(run.cards[0]), "ADD balance :d", vals=values(d=-100))
    record = next(i for i in faultrun._scan(table) if i["sk"] == "REDEMPTION" and i["campaign_id"] == "jbudget")
    table.put({**record, "pk": "REDEMPTION#r-doubled", "id": "r-doubled"})
    found = "\n".join(run.check().violations)
    assert "jlimit: counters 26/" in found
    assert f"card {run.cards[0]}: balance" in found
    assert "doubled effect: jbudget" in found and "jbudget: counters 14/9800 != records 15/10500" in found


def test_a_redemption_whose_answer_is_lost_after_the_commit_is_a_503_and_its_retry_replays_it(
        handlers, table, config_dir, monkeypatch):
    """Every write times out after it applied (botocore retries each, with the same ClientRequestToken): the
    client gets a 503 with Retry-After, never a 500; its retry with the Idempotency-Key gets the first answer,
    and the redemption, its counters and its code count happened once."""
    from incentives.adapters import faults, keys
    from tests.support import campaign, scan_all

    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 10}))
    body = {"code": "PUBCODE", "customer": {"id": "c1", "country": "DE"},
            "order": {"id": "o1", "currency": "EUR", "amount": 10_000}}
    headers = {"Idempotency-Key": "o1-pay"}
    monkeypatch.setenv("DYNAMODB_FAULTS", "rate=1,seed=1,kinds=timeout_after_commit")
    faults.INJECTED.clear()
    faultrun.reset_handlers()
    status, out, out_headers = handlers.call("storefront", "POST", "/v1/redemptions", body=body, headers=headers)
    assert (status, out["error"]["code"], out_headers["Retry-After"]) == (503, "contention", "1")
    assert faults.INJECTED["timeout_after_commit"] >= 3  # the claim of the key, the transaction and its retries

    monkeypatch.delenv("DYNAMODB_FAULTS")
    faultrun.reset_handlers()
    status, answer, out_headers = handlers.call("storefront", "POST", "/v1/redemptions", body=body, headers=headers)
    assert status == 201 and out_headers.get("Idempotent-Replayed") == "true"
    records = [i for i in scan_all(table) if i["sk"] == "REDEMPTION"]
    assert [r["id"] for r in records] == [answer["id"]]
    assert table.get(*keys.code("PUBCODE"), consistent=True)["redemptions"] == 1
    assert table.get(*keys.campaign_counters("pub"), consistent=True)["redeemed"] == 1


def test_a_throttled_single_item_write_is_a_503_with_retry_after_not_a_500(handlers, config_dir, monkeypatch):
    """TransactionConflictException on a single-item write is not retried by botocore: the engine answers 503."""
    from tests.support import campaign

    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}))
    monkeypatch.setenv("DYNAMODB_FAULTS", "rate=1,seed=1,kinds=conflict")
    faultrun.reset_handlers()
    body = {"code": "PUBCODE", "customer": {"id": "c1"}, "order": {"id": "o1", "currency": "EUR", "amount": 10_000}}
    status, out, out_headers = handlers.call("storefront", "POST", "/v1/redemptions", body=body,
                                             headers={"Idempotency-Key": "k-1"})
    assert (status, out["error"]["code"], out_headers.get("Retry-After")) == (503, "contention", "1")
    monkeypatch.delenv("DYNAMODB_FAULTS")
    faultrun.reset_handlers()


class _Scripted:
    """Faults in a given order on one operation (the injector's kinds; None lets a request through)."""

    def __init__(self, client, operation: str, script: list[str | None]):
        from incentives.adapters.faults import FaultSpec, _Injector

        self.injector = _Injector(client, FaultSpec(1, 0))
        self.injector.draw = self.draw
        self.operation, self.script, self.sent = operation, list(script), 0

    def draw(self, operation: str) -> str | None:
        if operation != self.operation or not self.script:
            return None
        self.sent += 1
        return self.script.pop(0)


def test_a_loyalty_reward_whose_answer_is_lost_after_the_commit_is_a_503_and_its_retry_replays_it(
        handlers, table, config_dir, monkeypatch):
    """The reward's transaction applies and its answer is lost; botocore re-sends it and is throttled 3 times (its
    4 attempts: max_attempts=3 retries), so Table.transact sends it again: with the same ClientRequestToken
    DynamoDB recognises it (with a new token it failed on its own conditions: a 500). Its answers are lost too:
    the client gets a 503 with Retry-After; its retry with the Idempotency-Key gets the first answer; the points
    were spent once."""
    from incentives.adapters import dynamo, keys
    from incentives.adapters.dynamo import dynamodb_client
    from incentives.adapters.retry import RetryPolicy
    from tests.integration.loyalty_support import make_loyalty

    monkeypatch.setattr(dynamo, "TRANSIENT", RetryPolicy(max_attempts=2))  # two sends of the loop, both lost
    loyalty = make_loyalty(handlers, table, config_dir)
    assert loyalty.adjust("c1", 1_000, "two rewards")[0] == 201
    client = dynamodb_client()  # the handlers' client (cached per endpoint)
    scripted = _Scripted(client, "TransactWriteItems",
                         ["timeout_after_commit", "throttle", "throttle", "throttle"] + ["timeout_after_commit"] * 4)
    client.meta.events.register("before-send.dynamodb", scripted.injector.before_send, unique_id="test-scripted")
    try:
        status, out, headers = loyalty.redeem("c1", key="reward-1")
    finally:
        client.meta.events.unregister("before-send.dynamodb", unique_id="test-scripted")
    assert (status, out["error"]["code"], headers.get("Retry-After")) == (503, "contention", "1"), out
    assert scripted.sent == 8 and not scripted.script  # botocore's 4 attempts, then Table.transact's 4 more

    status, answer, headers = loyalty.redeem("c1", key="reward-1")
    assert status == 201 and headers.get("Idempotent-Replayed") == "true", answer
    member = table.get(*keys.loyalty_member("club", "c1"), consistent=True)
    assert table.get(*keys.loyalty_balance(member["member_id"]), consistent=True)["lots_total"] == 500
    spends = [e for e in loyalty.ledger("c1") if e["type"] == "reward"]
    assert len(spends) == 1 and spends[0]["points"] in (500, -500)
    code = table.get(*keys.code(answer["reward"]["code"]), consistent=True)
    assert code["holder"] == "id:c1"
    assert len([i for i in scan_all(table) if i["sk"] == "CODE" and i.get("campaign_id") == "club-5off"]) == 1


def test_a_transaction_whose_answers_are_lost_is_sent_again_with_its_token_and_applies_once(table):
    """Table.transact without a token: botocore's 4 attempts all apply-or-find the transaction and lose the answer;
    the loop sends it once more with the same ClientRequestToken and gets the answer. The counter moved once (a
    token drawn per send would have added twice; without the loop's re-send the caller would not know)."""
    from incentives.adapters.dynamo import values

    ops = [table.update_op("TEST#tx", "ONCE", "ADD n :one", vals=values(one=1)),
           table.put_op({"pk": "TEST#tx", "sk": "RECORD"})]
    scripted = _Scripted(table.client, "TransactWriteItems", ["timeout_after_commit"] * 4)
    table.client.meta.events.register("before-send.dynamodb", scripted.injector.before_send,
                                      unique_id="test-scripted")
    try:
        table.transact(ops)
    finally:
        table.client.meta.events.unregister("before-send.dynamodb", unique_id="test-scripted")
    assert scripted.sent == 4 and not scripted.script
    assert table.get("TEST#tx", "ONCE", consistent=True)["n"] == 1
