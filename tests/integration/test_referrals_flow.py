"""Referrals end to end (POST /v1/events -> the table's stream -> fan-out -> bus -> referral_events; the
referral-rewards job run by an operator -> engine events on the bus), and GDPR erasure of referrer and referee."""
from __future__ import annotations

import json

from incentives.adapters import keys
from incentives.domain.referrals import mailbox_hash
from tests.integration.referral_support import PROGRAM, Shop, at, program, stamp, write_config
from tests.support import OPERATOR_KEY_ID, scan_all


def test_an_order_event_converts_through_the_stream_and_the_job_publishes_the_engine_events(
        handlers, config_dir, table, fan_out, tmp_path):
    write_config(config_dir, program(referrer_rewards=[{"from": 1, "points": {"program": "points", "points": 500}}]))
    shop = Shop(handlers, table)
    ref = shop.referred("ann", "bob")
    body = {"id": "pay-bob", "type": "order.paid", "occurred_at": stamp(at()), "customer": {"id": "bob"},
            "order": {"id": "o-bob", "currency": "EUR", "amount": 4200}}
    assert handlers.call("events", "POST", "/v1/events", body=body)[0] == 202
    fan_out()
    assert shop.referral(ref["id"])["status"] == "converted"
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", {"job": "referral-rewards"},
                                   body={"now": stamp(at(days=15))}, key_id=OPERATOR_KEY_ID)
    assert status == 200 and out["result"]["released"] == 1
    fan_out()  # the job's outbox events reach the bus like customer events
    published = [json.loads(p.read_text()) for p in (tmp_path / "outbox" / "events").glob("*.json")]
    by_type = {e["detail-type"]: e for e in published if e["detail-type"].startswith("referral.")}
    assert by_type["referral.converted"]["detail"]["data"] == {"program_id": PROGRAM, "referral_id": ref["id"],
                                                               "referee_id": "bob"}
    assert by_type["referral.reward_points"]["source"] == "incentives.engine"
    assert by_type["referral.reward_points"]["detail"]["customer_id"] == "ann"
    assert by_type["referral.reward_points"]["detail"]["data"]["points"] == 500


def ann_refers_bob_who_pays(handlers, config_dir, table):
    """ann (with an e-mail and an IP) refers bob (with an e-mail), whose paid order converts and pays ann's
    reward at once: every referral item erasure has to change. Answers the shop, ann's code and the referral."""
    write_config(config_dir, program(conversion={"return_window_days": 0}))
    shop = Shop(handlers, table)
    code = shop.enroll("ann", email="ann@example.com", ip="198.51.100.7")["referral_code"]
    ref = shop.refer(code, "bob", email="bob@gmail.com")[1]
    shop.paid("pay-bob", "bob", 5000, when=at())
    return shop, code, ref


def test_erasure_anonymises_referral_ledgers_and_removes_hashes(handlers, config_dir, table):
    shop, code, ref = ann_refers_bob_who_pays(handlers, config_dir, table)
    before = shop.counters()
    assert shop.referral(ref["id"])["payout_status"] == "paid"

    def erase(customer_id: str) -> dict:
        status, out, _ = handlers.call("operators", "DELETE", "/v1/customers/{customer_id}",
                                       {"customer_id": customer_id}, key_id=OPERATOR_KEY_ID)
        assert status == 200, out
        return out

    assert erase("bob")["erased"]["referrals"] == 4  # mailbox lock, referral, converted event, attribution lock
    referral = shop.referral(ref["id"])
    assert referral["referee_id"].startswith("anon_") and "mailbox_hash" not in referral
    assert table.get(*keys.referee(PROGRAM, "bob"), consistent=True) is None
    assert table.get(*keys.referee_mailbox(PROGRAM, mailbox_hash("bob@gmail.com")), consistent=True) is None
    converted = table.get(*keys.event(f"{ref['id']}.converted"), consistent=True)
    assert converted["data"]["referee_id"] == referral["referee_id"]

    assert erase("ann")["erased"]["referrals"] == 3  # code, referral, referrer record
    referral = shop.referral(ref["id"])
    anon = referral["referrer_id"]
    assert anon.startswith("anon_") and referral["gsi1pk"] == keys.referrals_gsi(PROGRAM, anon)
    assert table.get(*keys.referrer(PROGRAM, "ann"), consistent=True) is None
    moved = table.get(*keys.referrer(PROGRAM, anon), consistent=True)
    assert moved["converted"] == 1 and moved["customer_id"] == anon and "email_hash" not in moved
    assert moved["gsi1sk"].endswith(f"#{anon}")
    lookup = table.get(*keys.referral_code(PROGRAM, code), consistent=True)
    assert lookup["status"] == "erased" and "email_hash" not in lookup and "ip_hash" not in lookup
    status, out = shop.refer(code, "carl")
    assert status == 404 and out["error"]["code"] == "referral_code_not_found"
    assert shop.counters() == before  # the program's numbers do not change
    text = str(scan_all(table))
    assert "'ann'" not in text and "'bob'" not in text and mailbox_hash("ann@example.com") not in text
    assert erase("ann")["erased"]["referrals"] == 0  # a repeat changes nothing


def test_erasure_by_email_drops_the_referees_mailbox_lock_and_keeps_the_ledger(handlers, config_dir, table):
    """DELETE /v1/customers?email= for a referee known to the program only by the address they were referred
    with: the mailbox lock goes, the referral forgets the mailbox hash and keeps its ledger fields, once."""
    from tests.integration.test_erasure_links import _erase_email

    write_config(config_dir, program())
    shop = Shop(handlers, table)
    ref = shop.referred("ann", "bob", email="Bob.Smith@gmail.com")
    lock = keys.referee_mailbox(PROGRAM, mailbox_hash("bob.smith@gmail.com"))
    assert table.get(*lock, consistent=True)["referral_id"] == ref["id"]
    assert "mailbox_hash" in shop.referral(ref["id"])
    before = shop.counters()

    status, out, _ = _erase_email(handlers, "BOBSMITH@googlemail.com")  # the same mailbox, normalised
    assert status == 200 and out["erased"]["referrals"] == 1, out
    assert table.get(*lock, consistent=True) is None
    referral = shop.referral(ref["id"])
    assert "mailbox_hash" not in referral and referral["referee_id"] == "bob"  # the ledger fields stay
    assert shop.counters() == before
    assert _erase_email(handlers, "bob.smith@gmail.com")[1]["erased"]["referrals"] == 0  # a repeat: nothing
