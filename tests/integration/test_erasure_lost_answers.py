"""Erasure when DynamoDB's answers are lost after the writes applied: every write of the erasure is applied, its
answer is lost (a read timeout), and botocore sends the same request again, as it does for a real timeout. The
retries must neither fail nor count twice: the answer, the erasure record and the data are exactly those of an
erasure whose answers all arrived (tests/integration/test_erasure.py). The fixture answers_lost_after_commit is in
conftest.py."""
from __future__ import annotations

from incentives.adapters import keys
from tests.integration import test_erasure
from tests.integration.test_erasure import build_customer, erase, numbers, traces
from tests.support import campaign, scan_all

api = test_erasure.api  # the same customer and campaigns as test_erasure.py


def test_an_erasure_whose_answers_are_lost_after_each_write_applies_each_write_once(api, table,
                                                                                     answers_lost_after_commit):
    arm, lost = answers_lost_after_commit
    built = build_customer(api)
    codes = (built["claimed"], built["sorry"], "PUBCODE")
    before = numbers(api, codes)

    arm()
    status, out, _ = erase(api)
    assert len(lost) == 14  # every write of the erasure lost its first answer (and was sent again)
    assert status == 200, out
    assert out["erased"] == {"profile": 1, "redemptions": 2, "events": 2, "codes": 2, "claims": 1, "usage": 1,
                             "consents": 2}
    items = scan_all(table)
    assert traces(items) == []
    assert numbers(api, codes) == before
    (record,) = [i for i in items if i["sk"] == "ERASURE"]
    assert record["status"] == "completed"
    assert (record["profile"], record["redemptions"], record["events"], record["codes"], record["claims"],
            record["usage"], record["consents"]) == (1, 2, 2, 2, 1, 1, 2)  # counted once, not per request
    anon = record["pk"].removeprefix("ERASURE#")
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == 1
    assert table.get(*keys.customer_profile(anon), consistent=True)["order_count"] == 1
    assert table.get(*keys.erasure_marker("cust-erase-7q"), consistent=True) is None


def test_an_erasure_by_email_whose_answers_are_lost_counts_each_item_once(handlers, config_dir, table,
                                                                          answers_lost_after_commit):
    from tests.integration import test_erasure_links as links

    arm, lost = answers_lost_after_commit
    config_dir(campaign("land", codes={"type": "unique", "pattern": "LAND-####-####", "bind_to_customer": True},
                        claims={}),
               campaign("sorry", codes={"type": "unique", "pattern": "SORR-####-####", "bind_to_customer": True}))
    code = links.claim(handlers, "mail.only@example.com", headers={"Idempotency-Key": "claim-1"})
    bound = links.issue_to_email(handlers, "mail.only@example.com")
    arm()
    status, out, _ = links._erase_email(handlers, "mail.only@example.com")
    assert len(lost) == 5  # 2 codes rebound, the claim and its stored answer deleted, the erasure record
    assert status == 200 and out["erased"] == {"codes": 2, "claims": 1, "idempotency": 1, "referrals": 0}
    (record,) = [i for i in scan_all(table) if i["sk"] == "ERASURE"]
    assert (record["codes"], record["claims"], record["idempotency"]) == (2, 1, 1)
    for c in (code, bound):
        assert table.get(f"CODE#{c}", "CODE", consistent=True)["holder"] == f"id:{record['pk'][len('ERASURE#'):]}"


def test_a_referral_erasure_whose_answers_are_lost_counts_each_item_once(handlers, config_dir, table,
                                                                         answers_lost_after_commit):
    """The referee's and then the referrer's referral items (services/referral_erasure.py): each conditional write
    is re-sent after its lost answer and still counts once, as in test_referrals_flow.py without faults."""
    from tests.integration.referral_support import PROGRAM
    from tests.integration.test_referrals_flow import ann_refers_bob_who_pays
    from tests.support import OPERATOR_KEY_ID

    shop, _code, ref = ann_refers_bob_who_pays(handlers, config_dir, table)
    before = shop.counters()
    arm, lost = answers_lost_after_commit
    arm()

    def erase(customer_id: str) -> dict:
        status, out, _ = handlers.call("operators", "DELETE", "/v1/customers/{customer_id}",
                                       {"customer_id": customer_id}, key_id=OPERATOR_KEY_ID)
        assert status == 200, out
        return out["erased"]

    assert erase("bob")["referrals"] == 4  # mailbox lock, referral, converted event, attribution lock
    assert erase("ann")["referrals"] == 3  # code, referral, referrer record
    assert lost.count("TransactWriteItems") >= 7  # the referral items' writes, each lost once and sent again
    referral = shop.referral(ref["id"])
    assert referral["referee_id"].startswith("anon_") and referral["referrer_id"].startswith("anon_")
    assert table.get(*keys.referrer(PROGRAM, "ann"), consistent=True) is None
    assert shop.counters() == before
    assert erase("ann")["referrals"] == 0 and erase("bob")["referrals"] == 0
