"""Referral programs, enrolment and attribution, through the referrals function against DynamoDB Local: one code per
referrer (also under concurrent first calls), attribution once (also under concurrent attempts), self-referral by
id and by normalised e-mail, existing customers, the referee's reward, Idempotency-Key, the on/off switch."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from incentives.adapters import keys
from incentives.domain.referrals import mailbox_hash
from tests.integration.referral_support import PROGRAM, Shop, at, program, write_config
from tests.support import retry_503, scan_all


@pytest.fixture
def shop(handlers, config_dir, table):
    write_config(config_dir, program(limits={"max_conversions_per_referrer": 10, "period_days": 30,
                                             "max_referrals_per_ip_per_day": 2}))
    return Shop(handlers, table)


@pytest.mark.concurrency
def test_a_referrer_gets_one_stable_code_and_link_also_when_first_calls_race(shop):
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: retry_503(lambda: shop.request("POST", "/referrers",
                                                                         {"customer": {"id": "ann"}}))[:2],
                                range(8)))
    assert sorted(s for s, _ in answers).count(201) == 1 and {s for s, _ in answers} <= {200, 201}
    codes = {out["referral_code"] for _, out in answers}
    assert len(codes) == 1
    (code,) = codes
    assert code.startswith("REF-") and len(code) == len("REF-####-####")
    assert answers[0][1]["referral_link"] == f"https://shop.example/r/{code}"
    assert shop.enroll("ann")["referral_code"] == code  # and later
    lookup = shop.table.get(*keys.referral_code(PROGRAM, code), consistent=True)
    assert lookup["referrer_id"] == "ann"
    assert shop.counters()["referrers"] == 1


@pytest.mark.concurrency
def test_codes_of_many_referrers_never_collide(shop):
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda i: retry_503(lambda: shop.request(
            "POST", "/referrers", {"customer": {"id": f"r{i}"}}))[1]["referral_code"], range(40)))
    assert len(set(codes)) == 40


def test_attribution_records_the_referral_and_issues_the_referees_bound_code_once(shop):
    code = shop.enroll("ann", email="ann@example.com")["referral_code"]
    status, out = shop.refer(code.lower(), "bob", email="bob@example.com")
    assert status == 201, out
    assert out["status"] == "pending" and out["id"].startswith("rfl_")
    reward = out["referee_reward"]
    assert reward["campaign_id"] == "friend-welcome" and reward["code"].startswith("FRND-") and reward["expires_at"]
    stored = shop.table.get(*keys.code(reward["code"]), consistent=True)
    assert stored["holder"] == "id:bob"
    referral = shop.referral(out["id"])
    assert (referral["referrer_id"], referral["referee_id"], referral["status"]) == ("ann", "bob", "pending")
    assert "bob@example.com" not in str(scan_all(shop.table))  # only the normalised e-mail's hash is stored
    assert shop.referrer("ann")["pending"] == 1
    # once: the same referee again, with the same or another referrer's code
    other = shop.enroll("cid")["referral_code"]
    for again in (code, other):
        status, out2 = shop.refer(again, "bob")
        assert status == 409 and out2["error"]["code"] == "already_referred"
    assert len([i for i in scan_all(shop.table) if i["sk"] == "CODE" and i["campaign_id"] == "friend-welcome"]) == 1
    counters = shop.counters()
    assert (counters["referrals"], counters["pending"], counters["referee_rewards"]) == (1, 1, 1)


@pytest.mark.concurrency(faults_in_suite=True)
def test_two_concurrent_attributions_of_one_referee_exactly_one_wins(shop):
    codes = [shop.enroll(f"r{i}")["referral_code"] for i in range(6)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda c: retry_503(lambda: shop.request("POST", "/referrals", {
            "referral_code": c, "referee": {"id": "zoe"}}))[:2], codes * 2))
    statuses = sorted(s for s, _ in answers)
    assert statuses == [201] + [409] * 11, answers
    assert all(out["error"]["code"] == "already_referred" for s, out in answers if s == 409)
    referrals = [i for i in scan_all(shop.table) if i["sk"] == "REFERRAL"]
    assert len(referrals) == 1 and referrals[0]["referee_id"] == "zoe"
    assert shop.counters()["referrals"] == 1
    assert len([i for i in scan_all(shop.table) if i["sk"] == "CODE" and i["campaign_id"] == "friend-welcome"]) == 1


@pytest.mark.parametrize("referrer_email,referee_id,referee_email,matched", [
    (None, "ann", None, "id"),
    ("ann@example.com", "ann-2", "ann@example.com", "email"),
    ("ann@example.com", "ann-2", "ANN@Example.COM", "email"),
    ("ann.smith@gmail.com", "ann-2", "AnnSmith+friends@googlemail.com", "email"),
    ("a.n.n@gmail.com", "ann-2", "ann+1@gmail.com", "email"),
    ("ann@outlook.com", "ann-2", "ann+promo@outlook.com", "email"),
])
def test_self_referral_is_refused_by_id_and_by_normalised_email(shop, referrer_email, referee_id, referee_email,
                                                               matched):
    code = shop.enroll("ann", email=referrer_email)["referral_code"]
    status, out = shop.refer(code, referee_id, email=referee_email)
    assert status == 422 and out["error"]["code"] == "self_referral", out
    assert out["error"]["details"]["matched"] == matched
    assert not [i for i in scan_all(shop.table) if i["sk"] == "REFERRAL"]


def test_dots_count_outside_gmail_and_the_referrers_profile_email_is_used(shop):
    # the referrer's e-mail known only from their profile (a customer event)
    shop.handlers.call("events", "POST", "/v1/events", body={
        "id": "e-ann", "type": "customer.created", "occurred_at": "2026-01-01T00:00:00Z",
        "customer": {"id": "ann", "email": "Ann.Lee@Example.com"}})
    code = shop.enroll("ann")["referral_code"]
    assert shop.refer(code, "x1", email="annlee@example.com")[0] == 201  # dots matter at example.com
    status, out = shop.refer(code, "x2", email="ann.lee+2@example.com")
    assert status == 201  # unknown provider: +tags kept (could be two people)
    status, out = shop.refer(code, "x3", email="ANN.LEE@example.com")
    assert status == 422 and out["error"]["code"] == "self_referral"


def test_one_mailbox_is_referred_once_even_under_another_customer_id(shop):
    code = shop.enroll("ann")["referral_code"]
    assert shop.refer(code, "bob", email="bob.b@gmail.com")[0] == 201
    status, out = shop.refer(code, "bob-second-account", email="bobb+x@gmail.com")
    assert status == 409 and out["error"]["details"]["matched"] == "email"
    lock = shop.table.get(*keys.referee_mailbox(PROGRAM, mailbox_hash("bobb@gmail.com")), consistent=True)
    assert lock is not None


def test_a_customer_with_a_paid_order_cannot_be_referred_and_unknown_codes_are_404(shop):
    code = shop.enroll("ann")["referral_code"]
    shop.event("e-old", "order.paid", "old-customer", 4000, at(days=-10))
    status, out = shop.refer(code, "old-customer")
    assert status == 422 and out["error"]["code"] == "existing_customer"
    status, out = shop.refer("REF-2222-2222", "new")
    assert status == 404 and out["error"]["code"] == "referral_code_not_found"
    status, out = shop.call("POST", "/referrals", {"referral_code": code, "referee": {"id": "n"}}, )
    assert status == 201
    shop.program_id = "nope"
    status, out = shop.refer(code, "n2")
    assert status == 404 and out["error"]["code"] == "referral_program_not_found"


def test_idempotency_key_replays_the_first_answer(shop):
    code = shop.enroll("ann")["referral_code"]
    headers = {"Idempotency-Key": "signup-bob-1"}
    status, first, _ = shop.request("POST", "/referrals", {"referral_code": code, "referee": {"id": "bob"}},
                                     headers=headers)
    status2, second, h2 = shop.request("POST", "/referrals", {"referral_code": code, "referee": {"id": "bob"}},
                                       headers=headers)
    assert (status, status2) == (201, 201) and first == second and h2.get("Idempotent-Replayed") == "true"
    status3, third = shop.call("POST", "/referrals", {"referral_code": code, "referee": {"id": "eve"}},
                               headers=headers)
    assert status3 == 409 and third["error"]["code"] == "idempotency_key_reused"
    assert shop.counters()["referrals"] == 1


def test_ip_and_device_signals_are_hashed_and_flag_the_referral(shop):
    code = shop.enroll("ann", ip="198.51.100.7", device_id="dev-ann")["referral_code"]
    shop.refer(code, "b1", ip="198.51.100.7")
    shop.refer(code, "b2", device_id="dev-ann")
    shop.refer(code, "b3", ip="192.0.2.1")
    shop.refer(code, "b4", ip="192.0.2.1")
    shop.refer(code, "b5", ip="192.0.2.1")  # the third from one address today: over the program's 2
    signals = {i["referee_id"]: i.get("signals") for i in scan_all(shop.table) if i["sk"] == "REFERRAL"}
    assert signals == {"b1": ["same_ip_as_referrer"], "b2": ["same_device_as_referrer"], "b3": None, "b4": None,
                       "b5": ["ip_limit"]}
    text = str(scan_all(shop.table))
    assert "198.51.100.7" not in text and "192.0.2.1" not in text and "dev-ann" not in text


def test_a_program_switched_off_refuses_enrolment_and_attribution(shop, config_dir):
    code = shop.enroll("ann")["referral_code"]
    write_config(config_dir, program(enabled=False))
    for status, out in (shop.refer(code, "bob"), shop.call("POST", "/referrers", {"customer": {"id": "c"}})):
        assert status == 422 and out["error"]["code"] == "referral_program_inactive"
    assert shop.referrer("ann")["referral_code"] == code  # the numbers stay readable


def test_requests_are_validated_and_operator_routes_need_an_operator_key(shop):
    status, out = shop.call("POST", "/referrals", {"referral_code": "x y", "referee": {"id": "b"}})
    assert status == 422 and out["error"]["code"] == "invalid_request"
    status, out = shop.call("POST", "/referrers", {"customer": {"id": "b", "email": "nope"}})
    assert status == 422
    status, out = shop.call("GET", "/v1/metrics/referrals/{program_id}")
    assert status == 403
    status, out = shop.call("GET", "/v1/metrics/referrals/{program_id}", operator=True)
    assert status == 200 and out["program_id"] == PROGRAM
