"""DELETE /v1/customers/{customer_id} (GDPR erasure) through the real handlers against DynamoDB Local: no trace
of the person stays, counters and ledgers stay what they were, and a later rollback still balances."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from incentives.adapters import keys
from incentives.domain.customers import email_hash
from tests.support import OPERATOR_KEY_ID, campaign, retry_503, scan_all

CUSTOMER = "cust-erase-7q"
EMAIL = "Erin.Erase@Example.com"
BIRTHDAY = "1987-06-15"
OP = {"key_id": OPERATOR_KEY_ID}
ERASE = ("operators", "DELETE", "/v1/customers/{customer_id}")
EVENTS = ("events", "POST", "/v1/events")
REDEEM = ("storefront", "POST", "/v1/redemptions")
ROLLBACK = ("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback")
CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")
CAMPAIGNS = ("welcome", "sorry", "pub")


@pytest.fixture
def api(handlers, config_dir):
    config_dir(
        campaign("welcome", codes={"type": "unique", "pattern": "WELC-####-####", "bind_to_customer": True},
                 claims={"allowed_origins": ["https://shop.example"]}),
        campaign("sorry", codes={"type": "unique", "pattern": "SORR-####-####", "bind_to_customer": True},
                 limits={"per_code": 1}),
        campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100, "per_customer": 1}),
    )
    return handlers


def erase(api, customer=CUSTOMER, **kw):
    return api.call(*ERASE, path_params={"customer_id": customer}, **({**OP, **kw}))


def redeem(api, code, customer=CUSTOMER):
    status, out, _ = api.call(*REDEEM, body={"code": code, "customer": {"id": customer, "country": "DE"},
                                             "order": {"id": f"o-{code}", "currency": "EUR", "amount": 5_000}})
    assert status == 201, out
    return out


def build_customer(api) -> dict:
    """Events with PII, a landing-page claim by e-mail, a sorry code bound to the id (redeemed), a redemption of
    a public code with a per-customer limit."""
    created = {"id": "ev-created-1", "type": "customer.created", "occurred_at": "2026-11-01T09:00:00Z",
               "customer": {"id": CUSTOMER, "email": EMAIL, "country": "DE", "timezone": "Europe/Berlin"},
               "data": {"birthday": BIRTHDAY, "consents": {"email": True, "sms": False}}}
    paid = {"id": "ev-paid-1", "type": "order.paid", "occurred_at": "2026-12-03T10:00:00Z",
            "customer": {"id": CUSTOMER},
            "order": {"id": "order-1", "currency": "EUR", "items": [
                {"sku": "mug", "category": "kitchen", "quantity": 2, "unit_price": 2_000}]}}
    assert api.call(*EVENTS, body=created)[0] == 202
    assert api.call(*EVENTS, body=paid)[0] == 202
    status, claimed, _ = api.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None,
                                  body={"email": EMAIL, "country": "DE", "consent": True})
    assert status == 201
    status, issued, _ = api.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                 path_params={"campaign_id": "sorry"}, body={"customer": {"id": CUSTOMER}}, **OP)
    assert status == 201
    sorry = issued["codes"][0]["code"]
    return {"claimed": claimed["code"], "sorry": sorry, "sorry_redemption": redeem(api, sorry),
            "pub_redemption": redeem(api, "PUBCODE")}


def numbers(api, codes) -> tuple[dict, dict]:
    stats = {c: campaign_stats(api, c) for c in CAMPAIGNS}
    lookups = {c: api.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": c})[1] for c in codes}
    return stats, lookups


def campaign_stats(api, campaign_id):
    status, out, _ = api.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                              path_params={"campaign_id": campaign_id}, **OP)
    assert status == 200
    return out["stats"]


def traces(items) -> list[dict]:
    needles = (CUSTOMER.lower(), EMAIL.lower(), email_hash(EMAIL), BIRTHDAY)
    return [i for i in items if any(n in repr(i).lower() for n in needles)]


def test_erasure_removes_the_person_and_keeps_counters_and_ledgers(api, table):
    built = build_customer(api)
    codes = (built["claimed"], built["sorry"], "PUBCODE")
    before = numbers(api, codes)
    assert traces(scan_all(table))  # the fixture really stored the person

    status, out, _ = erase(api)
    assert status == 200, out
    assert out == {"customer_id": CUSTOMER, "status": "erased",
                   "erased": {"profile": 1, "redemptions": 2, "events": 2, "codes": 2, "claims": 1, "usage": 1,
                              "consents": 2}}
    items = scan_all(table)
    assert traces(items) == []
    assert numbers(api, codes) == before  # issued, redeemed, discount_total, claims; code counts and statuses
    assert before[1][built["sorry"]]["status"] == "redeemed"  # a redeemed code stays redeemed

    record = table.get(*keys.redemption(built["pub_redemption"]["id"]), consistent=True)
    anon = record["customer_id"]
    assert anon.startswith("anon_") and record["status"] == "succeeded"
    assert record["gsi1pk"] == keys.customer_gsi(anon) and record["discount_amount"] == 500
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == 1
    profile = table.get(*keys.customer_profile(anon), consistent=True)
    assert (profile["order_count"], profile["total_spent"], profile["first_order_at"]) == \
        (1, {"EUR": 4_000}, "2026-12-01T00:00:00Z")
    assert not {"email", "birthday", "consents", "country", "timezone", "signed_up_at"} & set(profile)
    (erasure,) = [i for i in items if i["sk"] == "ERASURE"]
    assert erasure["pk"] == f"ERASURE#{anon}" and erasure["status"] == "completed" and erasure["erased_at"]
    assert (erasure["redemptions"], erasure["claims"], erasure["codes"]) == (2, 1, 2)
    codes_items = {i["code"]: i for i in items if i["sk"] == "CODE" and i.get("holder")}
    assert {codes_items[c]["holder"] for c in codes[:2]} == {f"id:{anon}"}
    assert not [i for i in items if i["sk"] == "CLAIM"]

    # the anonymised redemption still rolls back, and its usage counter goes back to 0
    status, out, _ = api.call(*ROLLBACK, path_params={"redemption_id": built["pub_redemption"]["id"]},
                              body={"reason": "refund"})
    assert (status, out["status"]) == (200, "rolled_back")
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == 0
    assert campaign_stats(api, "pub")["redeemed"] == 0
    assert table.get(*keys.customer_usage("pub", CUSTOMER), consistent=True) is None

    # a second DELETE answers 200 and changes nothing
    snapshot = sorted(map(repr, scan_all(table)))
    status, out, _ = erase(api)
    assert status == 200 and out["status"] == "erased" and not any(out["erased"].values())
    assert sorted(map(repr, scan_all(table))) == snapshot

    # the e-mail may claim again: a new code, since the old claim is gone
    status, again, _ = api.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None,
                                body={"email": EMAIL, "country": "DE"})
    assert status == 201 and again["code"] != built["claimed"]


def test_only_operator_keys_may_erase(api, table):
    build_customer(api)
    status, out, _ = erase(api, key_id="key-storefront")
    assert status == 403 and out["error"]["code"] == "forbidden"
    status, out, _ = erase(api, key_id=None)
    assert status == 401 and out["error"]["code"] == "unauthorized"
    assert traces(scan_all(table))  # nothing erased


def test_a_customer_with_nothing_stored_answers_200_and_writes_nothing(api, table):
    status, out, _ = erase(api, customer="never-seen")
    assert status == 200 and out["status"] == "erased" and not any(out["erased"].values())
    assert scan_all(table) == []


def test_an_interrupted_erasure_resumes_with_the_same_anonymised_id(api, table, monkeypatch):
    """Out of time after the redemptions and events moved: the answer is 202; a rollback in between decrements
    the anonymised usage counter; the repeated DELETE moves the rest, and the counter balances."""
    from incentives.services import erasure as erasure_module

    built = build_customer(api)
    ticks = {"n": 0}

    def tick(deadline):
        ticks["n"] += 1
        if ticks["n"] > 4:  # 2 redemptions + 2 events, then the time is up
            raise erasure_module._OutOfTime()

    monkeypatch.setattr(erasure_module.Erasure, "_tick", staticmethod(tick))
    status, out, _ = erase(api)
    assert status == 202 and out["status"] == "in_progress"
    assert out["erased"] == {"profile": 0, "redemptions": 2, "events": 2, "codes": 0, "claims": 0, "usage": 0,
                             "consents": 0}
    marker = table.get(*keys.erasure_marker(CUSTOMER), consistent=True)
    anon = marker["anonymised_id"]
    assert table.get(*keys.redemption(built["pub_redemption"]["id"]), consistent=True)["customer_id"] == anon

    status, _, _ = api.call(*ROLLBACK, path_params={"redemption_id": built["pub_redemption"]["id"]}, body={})
    assert status == 200
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == -1

    monkeypatch.undo()
    status, out, _ = erase(api)
    assert status == 200 and out["status"] == "erased"
    assert out["erased"] == {"profile": 1, "redemptions": 0, "events": 0, "codes": 2, "claims": 1, "usage": 1,
                             "consents": 2}
    items = scan_all(table)
    assert traces(items) == []
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == 0
    (record,) = [i for i in items if i["sk"] == "ERASURE"]
    assert record["pk"] == f"ERASURE#{anon}" and record["status"] == "completed"
    assert (record["redemptions"], record["events"], record["codes"], record["usage"]) == (2, 2, 2, 1)


@pytest.mark.concurrency(not_under_faults=(
    "it adds up what each DELETE answered it erased; an erasure whose answer is lost after it deleted (a 503) "
    "is retried and finds nothing left, so the sum misses what only the lost answer counted, while the table "
    "(each item changed once, no trace left) is right"))
def test_concurrent_deletes_change_each_item_once(api, table):
    built = build_customer(api)
    before = numbers(api, (built["claimed"], built["sorry"], "PUBCODE"))
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: retry_503(lambda: erase(api)), range(4)))
    assert {s for s, _, _ in answers} == {200}
    totals = {k: sum(b["erased"][k] for _, b, _ in answers) for k in answers[0][1]["erased"]}
    assert totals == {"profile": 1, "redemptions": 2, "events": 2, "codes": 2, "claims": 1, "usage": 1,
                      "consents": 2}
    items = scan_all(table)
    assert traces(items) == []
    assert numbers(api, (built["claimed"], built["sorry"], "PUBCODE")) == before
    anon = table.get(*keys.redemption(built["pub_redemption"]["id"]), consistent=True)["customer_id"]
    assert table.get(*keys.customer_usage("pub", anon), consistent=True)["redeemed"] == 1
