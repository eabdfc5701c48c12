"""Erasure follows what it can link: the e-mail addresses a customer is known by (profile, referral records,
before and after the key), a person known only by e-mail (DELETE /v1/customers?email=), programs and campaigns
removed from config, Idempotency-Key records and guessing counters. Through the real handlers, DynamoDB Local."""
from __future__ import annotations

import hashlib

import pytest
import yaml

from tests.support import OPERATOR_KEY_ID, campaign, scan_all

OP = {"key_id": OPERATOR_KEY_ID}
ERASE = ("operators", "DELETE", "/v1/customers/{customer_id}")
EVENTS = ("events", "POST", "/v1/events")
REDEEM = ("storefront", "POST", "/v1/redemptions")
VALIDATE = ("storefront", "POST", "/v1/validations")
CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")
ISSUE = ("operators", "POST", "/v1/campaigns/{campaign_id}/codes")
RUN = ("operators", "POST", "/v1/jobs/{job}/run")


@pytest.fixture
def api(handlers, config_dir):
    config_dir(
        campaign("land", codes={"type": "unique", "pattern": "LAND-####-####", "bind_to_customer": True},
                 claims={}),
        campaign("sorry", codes={"type": "unique", "pattern": "SORR-####-####", "bind_to_customer": True}),
        campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100}),
    )
    return handlers


def claim(api, email, campaign_id="land", headers=None):
    status, out, _ = api.call(*CLAIM, path_params={"campaign_id": campaign_id}, key_id=None,
                              body={"email": email}, headers=headers or {})
    assert status in (200, 201), out
    return out["code"]


def issue_to_email(api, email):
    status, out, _ = api.call(*ISSUE, path_params={"campaign_id": "sorry"}, body={"customer": {"email": email}},
                              **OP)
    assert status == 201, out
    return out["codes"][0]["code"]


def leftovers(table, *needles):
    text = repr(scan_all(table)).lower()
    return [n for n in needles if n.lower() in text]


def test_a_person_known_only_by_email_is_erased(api, table):
    code = claim(api, "Only.Mail+news@gmail.com", headers={"Idempotency-Key": "claim-1"})
    bound = issue_to_email(api, "onlymail@gmail.com")
    from incentives.domain.customers import email_hash

    h = email_hash("onlymail@gmail.com")
    assert leftovers(table, h) == [h]
    status, out, _ = _erase_email(api, "ONLYMAIL@googlemail.com")
    assert status == 200 and out["status"] == "erased"
    assert out["erased"]["claims"] == 1 and out["erased"]["codes"] == 2 and out["erased"]["idempotency"] == 1
    assert leftovers(table, h) == []
    # the codes stay issued and counted, bound to nobody who can present them
    for c in (code, bound):
        status, view, _ = api.call("storefront", "GET", "/v1/codes/{code}", path_params={"code": c})
        assert status == 200 and view["status"] == "active"
        assert table.get(f"CODE#{c}", "CODE", consistent=True)["holder"].startswith("id:anon_")
    assert _erase_email(api, "onlymail@gmail.com")[1]["erased"] == dict.fromkeys(
        ("codes", "claims", "idempotency", "referrals"), 0)
    # the address may claim anew: a new code
    assert claim(api, "onlymail@gmail.com") not in (code, bound)


def _erase_email(api, email):
    from local.lambdas import load_handler
    from tests.support import ROOT, _Ctx

    event = {"resource": "/v1/customers", "path": "/v1/customers", "httpMethod": "DELETE", "headers": {},
             "queryStringParameters": {"email": email}, "pathParameters": None,
             "requestContext": {"identity": {"sourceIp": "203.0.113.9", "apiKeyId": OPERATOR_KEY_ID}},
             "body": None, "isBase64Encoded": False}
    out = load_handler("operators", ROOT / "functions")(event, _Ctx("operators"))
    import json

    return out["statusCode"], json.loads(out["body"]), out["headers"]


def test_customer_erasure_follows_the_linked_emails_also_legacy_ones(api, table):
    cid = "cust-link-1"
    event = {"id": "ev-1", "type": "customer.created", "occurred_at": "2026-11-01T09:00:00Z",
             "customer": {"id": cid, "email": "Link.Me@example.com", "country": "DE"}}
    assert api.call(*EVENTS, body=event)[0] == 202
    code = claim(api, "link.me@example.com")
    bound = issue_to_email(api, "LINK.ME@example.com")
    # a claim and a bound code written before the key existed: bare SHA-256 of the trimmed, lower-cased address
    legacy = hashlib.sha256(b"link.me@example.com").hexdigest()
    table.put({"pk": "CLAIM#sorry#" + legacy, "sk": "CLAIM", "campaign_id": "sorry", "email_hash": legacy,
               "code": "SORR-LEGA-CY00", "created_at": "2026-10-01T00:00:00Z"})
    table.put({"pk": "CODE#SORR-LEGA-CY01", "sk": "CODE", "code": "SORR-LEGA-CY01", "campaign_id": "sorry",
               "status": "active", "redemptions": 0, "holder": f"email:{legacy}",
               "gsi1pk": f"HOLDER#email:{legacy}", "gsi1sk": "CODE#SORR-LEGA-CY01"})
    # an Idempotency-Key answer that names the customer, and a guessing counter
    body = {"code": "PUBCODE", "customer": {"id": cid, "country": "DE"},
            "order": {"id": "o-1", "currency": "EUR", "amount": 5_000}}
    assert api.call(*REDEEM, body=body, headers={"Idempotency-Key": "redeem-1"})[0] == 201
    assert api.call(*VALIDATE, body={**body, "code": "NOPE-0000"})[1]["reason"] == "code_not_found"

    status, out, _ = api.call(*ERASE, path_params={"customer_id": cid}, **OP)
    assert status == 200, out
    erased = out["erased"]
    assert erased["claims"] == 2 and erased["codes"] == 3
    assert erased["idempotency"] == 1 and erased["throttles"] == 1
    from incentives.domain.customers import email_hash

    assert leftovers(table, cid, email_hash("link.me@example.com"), legacy, "redeem-1") == []
    assert not [i for i in scan_all(table) if i["pk"].startswith("GUESS#")]
    assert code and bound


def test_data_of_programs_removed_from_config_is_erased(api, table, config_dir):
    program = {"id": "gone", "enabled": True, "timezone": "Europe/Berlin",
               "earning": [{"event": "customer.created", "points": 100}], "expiry": {"after_days": 365}}
    d = config_dir.path
    (d / "loyalty-programs").mkdir(exist_ok=True)
    (d / "loyalty-programs" / "gone.yaml").write_text(yaml.safe_dump(program), encoding="utf-8")
    assert api.call(*RUN, path_params={"job": "campaign-activation"}, body={}, **OP)[0] == 200  # records programs
    cid = "cust-gone-1"
    event = {"id": "ev-gone-1", "type": "customer.created", "occurred_at": "2026-11-01T09:00:00Z",
             "customer": {"id": cid}}
    assert api.call(*EVENTS, body=event)[0] == 202
    member_pk = f"LOYALTY#gone#CUSTOMER#{cid}"
    table.put({"pk": member_pk, "sk": "MEMBER", "program_id": "gone", "customer_id": cid, "member_id": "m-gone-1",
               "version": 1, "lifetime_points": 100})
    (d / "loyalty-programs" / "gone.yaml").unlink()  # the program leaves the config; its data stays

    status, out, _ = api.call(*ERASE, path_params={"customer_id": cid}, **OP)
    assert status == 200 and out["erased"]["loyalty"] == 1
    assert table.get(member_pk, "MEMBER", consistent=True) is None
    assert leftovers(table, cid) == []
