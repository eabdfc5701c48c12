"""Landing-page claims with `claims.delivery: email` (the code is mailed with its QR code, never answered) and
campaigns' `eligibility.locales`, through the real claims and storefront handlers against DynamoDB Local; the
e-mail lands in the local outbox (local/wiring.py installs it as the e-mail port)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from incentives.adapters.delivery import DeliveryResult
from incentives.services.claims import Claims
from tests.support import campaign, scan_all
from tests.unit.test_delivery import inline_qr

CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")
VALIDATE = ("storefront", "POST", "/v1/validations")


def mailed(**extra):
    return campaign("mailed", codes={"type": "unique", "pattern": "MAIL-####-####", "expires_in_days": 30,
                                     "bind_to_customer": True},
                    claims={"allowed_origins": ["https://shop.example"], "delivery": "email"}, **extra)


@pytest.fixture
def api(handlers, config_dir):
    (config_dir.path / "messaging.yaml").write_text("from_email: Shop <shop@example.com>\n", encoding="utf-8")
    config_dir(mailed(), campaign("german", eligibility={"locales": ["de", "fr-CH"]},
                                  codes={"type": "public", "code": "HALLO"},
                                  claims=None))
    return handlers


def outbox() -> list[Path]:
    d = Path(os.environ["LOCAL_OUTBOX_DIR"]) / "messages"
    return sorted(d.glob("*.eml")) if d.exists() else []


def claim(api, email="ann@example.com", campaign_id="mailed", **extra):
    return api.call(*CLAIM, path_params={"campaign_id": campaign_id}, key_id=None,
                    body={"email": email, **extra}, headers={"Origin": "https://shop.example"})


def codes(table):
    return [i["pk"].removeprefix("CODE#") for i in scan_all(table) if i["sk"] == "CODE"]


def test_the_code_arrives_by_email_with_its_qr_code_and_not_in_the_answer(api, table):
    status, body, _ = claim(api)
    assert status == 201 and "code" not in body and body["delivery"] == "email"
    (code,) = codes(table)
    (eml,) = outbox()
    msg, qr_text = inline_qr(eml.read_bytes())
    assert msg["To"] == "ann@example.com" and code in msg.get_body(("plain",)).get_content()
    assert qr_text == code

    status, again, _ = claim(api, email="ANN@example.com")  # the same mailbox again: the same code, mailed again
    assert status == 200 and again == body
    assert codes(table) == [code] and len(outbox()) == 2
    assert all(inline_qr(p.read_bytes())[1] == code for p in outbox())


def test_a_failed_delivery_is_retried_without_a_second_code(api, table, monkeypatch):
    results = iter([DeliveryResult("retry", error="Throttling")])
    real = Claims.send

    def flaky(message, from_email):
        return next(results, None) or real(message, from_email)

    monkeypatch.setattr(Claims, "send", staticmethod(flaky))
    status, body, _ = claim(api)
    assert status == 503 and body["error"]["code"] == "delivery_failed" and body["error"]["details"]["retry"]
    assert outbox() == [] and len(codes(table)) == 1
    status, body, _ = claim(api)
    assert status == 200 and "code" not in body
    (code,) = codes(table)
    (eml,) = outbox()
    assert inline_qr(eml.read_bytes())[1] == code


def test_delivery_email_needs_messaging_config(handlers, config_dir):
    from incentives.domain.config import ConfigError

    with pytest.raises(ConfigError, match=r"mailed: claims\.delivery: email needs config/messaging\.yaml"):
        config_dir(mailed()).bundle()


def validate(api, locale):
    customer = {"id": "c1", **({"locale": locale} if locale else {})}
    return api.call(*VALIDATE, body={"code": "HALLO", "customer": customer,
                                     "order": {"currency": "EUR", "amount": 1000}})[1]


@pytest.mark.parametrize("locale,ok", [("de", True), ("de-AT", True), ("de_CH", True), ("fr-CH", True),
                                       ("fr", False), ("fr-FR", False), ("en", False), (None, False)])
def test_locales_eligibility_at_checkout(api, table, locale, ok):
    out = validate(api, locale)
    assert out["valid"] is ok, out
    if not ok:
        assert out["reason"] == "locale_not_eligible"


def test_locales_eligibility_of_claims(api, table, config_dir):
    config_dir(mailed(eligibility={"locales": ["de"]}))
    status, body, _ = claim(api, locale="en-GB")
    assert status == 422 and body["error"]["code"] == "locale_not_eligible"
    assert codes(table) == [] and outbox() == []
    assert claim(api, locale="de-AT")[0] == 201


def test_locales_must_be_language_tags(config_dir):
    from incentives.domain.config import ConfigError

    with pytest.raises(ConfigError, match="locales"):
        config_dir(campaign("bad", eligibility={"locales": ["Deutsch!"]})).bundle()
