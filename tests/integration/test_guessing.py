"""Guessing: unknown codes are counted per customer id and per forwarded shopper IP, never per storefront key;
past the limit the shopper gets 429 rate_limited with Retry-After on every checkout call (services/guessing.py).
Through the storefront function's real lambda_handler, against DynamoDB Local."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support import campaign, scan_all

VALIDATE = ("storefront", "POST", "/v1/validations")
REDEEM = ("storefront", "POST", "/v1/redemptions")
GET_CODE = ("storefront", "GET", "/v1/codes/{code}")
LIMIT = 5


def body(code="PUBCODE", customer="c1", country="DE"):
    return {"code": code, "customer": {"id": customer, "country": country},
            "order": {"id": f"o-{customer}", "currency": "EUR", "amount": 10_000}}


@pytest.fixture
def api(handlers, config_dir, monkeypatch):
    monkeypatch.setenv("GUESS_LIMIT", str(LIMIT))
    from incentives.settings import get_settings

    get_settings.cache_clear()
    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 1000},
                        eligibility={"countries": ["DE"]}))
    return handlers


def guess(api, n, customer="guesser", ip=None, route=VALIDATE, start=0):
    headers = {"X-Shopper-IP": ip} if ip else {}
    out = []
    for i in range(start, start + n):
        if route == GET_CODE:
            out.append(api.call(*GET_CODE, path_params={"code": f"NOPE-{i:04d}"}, headers=headers))
        else:
            out.append(api.call(*route, body=body(f"NOPE-{i:04d}", customer), headers=headers))
    return out


def test_a_guessing_customer_is_throttled_and_the_storefronts_other_shoppers_are_not(api, table):
    answers = guess(api, LIMIT)
    assert [(s, b["reason"]) for s, b, _ in answers] == [(200, "code_not_found")] * LIMIT
    # past the limit every call of this customer is throttled, a valid code too: nothing is learnt
    status, out, headers = api.call(*VALIDATE, body=body("NOPE-9999", "guesser"))
    assert status == 429 and out["error"]["code"] == "rate_limited"
    assert 1 <= int(headers["Retry-After"]) <= 600
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "guesser"))
    assert status == 429
    status, out, _ = api.call(*REDEEM, body=body("PUBCODE", "guesser"))
    assert status == 429 and out["error"]["code"] == "rate_limited"
    assert not [i for i in scan_all(table) if i["sk"] == "REDEMPTION"], "a throttled redemption writes nothing"
    # the same storefront key, another shopper: untouched
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "someone-else"))
    assert status == 200 and out["valid"] is True
    status, out, _ = api.call(*REDEEM, body=body("PUBCODE", "someone-else"))
    assert status == 201
    assert api.call(*VALIDATE, body=body("NOPE-0001", "someone-else"))[1]["reason"] == "code_not_found"


def test_other_rejections_do_not_count(api):
    for _ in range(LIMIT * 2):  # the code exists; the shopper's country does not qualify
        status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "traveller", country="FR"))
        assert (status, out["reason"]) == (200, "country_not_eligible")
    assert api.call(*VALIDATE, body=body("PUBCODE", "traveller"))[1]["valid"] is True


def test_failed_redemptions_count_and_the_limit_is_exact(api, table):
    answers = guess(api, LIMIT + 3, route=REDEEM)
    statuses = [s for s, _, _ in answers]
    assert statuses == [404] * LIMIT + [429] * 3
    assert all(b["error"]["code"] == "code_not_found" for _, b, _ in answers[:LIMIT])
    counters = [i for i in scan_all(table) if i["pk"].startswith("GUESS#")]
    assert [c["hits"] for c in counters] == [LIMIT], "a refused failure is not counted beyond the limit"
    assert "guesser" not in str(counters), "the counter names no one"


def test_a_shopper_ip_is_throttled_across_customer_ids_and_ipv6_counts_per_64(api):
    # one shopper rotating customer ids from one IPv6 line (/64): every address of it counts together
    for i in range(LIMIT):
        status, out, _ = api.call(*VALIDATE, body=body(f"NOPE-{i:04d}", f"fresh-{i}"),
                                  headers={"X-Shopper-IP": f"2001:db8:1:2::{i + 1:x}"})
        assert out["reason"] == "code_not_found"
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "fresh-new"),
                              headers={"X-Shopper-IP": "2001:db8:1:2:ffff::1"})
    assert status == 429
    # another line, another shopper, same storefront key
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "fresh-other"),
                              headers={"X-Shopper-IP": "2001:db8:1:3::1"})
    assert status == 200 and out["valid"] is True


def test_code_lookups_count_per_forwarded_ip_and_not_against_the_key(api):
    # without a shopper IP (a lookup carries no customer) nothing is counted: the key is shared
    assert [s for s, _, _ in guess(api, LIMIT + 2, route=GET_CODE)] == [404] * (LIMIT + 2)
    answers = guess(api, LIMIT + 1, route=GET_CODE, ip="198.51.100.7")
    assert [s for s, _, _ in answers] == [404] * LIMIT + [429]
    assert "Retry-After" in answers[-1][2]
    assert api.call(*GET_CODE, path_params={"code": "PUBCODE"}, headers={"X-Shopper-IP": "198.51.100.7"})[0] == 429
    assert api.call(*GET_CODE, path_params={"code": "PUBCODE"}, headers={"X-Shopper-IP": "198.51.100.8"})[0] == 200


def test_a_malformed_shopper_ip_is_422(api):
    status, out, _ = api.call(*VALIDATE, body=body(), headers={"X-Shopper-IP": "not-an-ip"})
    assert status == 422 and out["error"]["details"]["field"] == "X-Shopper-IP"


def test_the_throttle_ends_with_its_window(table):
    from incentives.domain import errors
    from incentives.services.guessing import GuessGuard, Shopper

    guard = GuessGuard(table, limit=2, window_seconds=600)
    shopper = Shopper.of("c1", "192.0.2.1")
    t = datetime(2026, 12, 3, 10, 0, 5, tzinfo=UTC)
    guard.failed(shopper, t)
    guard.failed(shopper, t)
    with pytest.raises(errors.RateLimited) as e:
        guard.failed(shopper, t)
    assert e.value.details["retry_after_seconds"] == 595
    got = table.batch_get(guard.keys(shopper, t))
    with pytest.raises(errors.RateLimited):
        guard.check(got, shopper, t)
    later = t + timedelta(seconds=600)
    guard.check(table.batch_get(guard.keys(shopper, later)), shopper, later)  # a new window: no throttle
    guard.failed(shopper, later)


def test_the_code_space_hands_out_no_more_codes_than_its_guess_bound(table):
    from incentives.adapters.codespace_store import CodeSpaceExhausted
    from incentives.domain.config import Campaign
    from incentives.domain.config_files import validate
    from incentives.services.code_issuer import CodeIssuer

    tiny = validate(Campaign, campaign("tiny", codes={"type": "unique", "pattern": "#" * 30, "charset": "AB"}))
    assert tiny.code_capacity == 2 ** 30 // 10 ** 6 == 1073
    issuer, now = CodeIssuer(table), datetime.now(UTC)
    codes = issuer.draw(tiny, now, count=1000) + issuer.draw(tiny, now, count=73)
    assert len({c.code for c in codes}) == 1073
    with pytest.raises(CodeSpaceExhausted, match="guess bound of 1,073 codes"):
        issuer.draw(tiny, now)


def test_a_successful_checkout_makes_the_same_requests_as_before(api):
    """The throttle state rides in the requests the checkout makes anyway: one BatchGetItem for a validation, one
    TransactWriteItems for a redemption, with a customer id and a shopper IP."""
    from incentives.adapters.dynamo import dynamodb_client

    calls: list[str] = []

    def record(model, **_):
        calls.append(model.name)

    events = dynamodb_client().meta.events
    events.register("before-call.dynamodb", record)
    try:
        headers = {"X-Shopper-IP": "2001:db8:9::1"}
        api.call(*VALIDATE, body=body("PUBCODE", "counted"), headers=headers)  # warm-up: config, handler import
        calls.clear()
        status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", "counted"), headers=headers)
        assert status == 200 and out["valid"] is True
        assert calls == ["BatchGetItem"]
        calls.clear()
        assert api.call(*REDEEM, body=body("PUBCODE", "counted"), headers=headers)[0] == 201
        assert calls == ["TransactWriteItems"]
    finally:
        events.unregister("before-call.dynamodb", record)


def test_a_throttled_shopper_learns_nothing_from_a_code_no_pattern_names(api, table):
    # a code of the campaign that its config does not describe (e.g. imported): the redemption reads it first
    table.put({"pk": "CODE#IMPORTED1", "sk": "CODE", "code": "IMPORTED1", "campaign_id": "pub", "status": "active",
               "redemptions": 0})
    assert api.call(*REDEEM, body=body("IMPORTED1", "tourist", country="FR"))[1]["error"]["code"] == \
        "country_not_eligible"
    guess(api, LIMIT, customer="tourist", route=REDEEM)
    status, out, _ = api.call(*REDEEM, body=body("IMPORTED1", "tourist", country="FR"))
    assert status == 429 and out["error"]["code"] == "rate_limited"  # not country_not_eligible: no existence leak
