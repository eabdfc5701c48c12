"""Over HTTP against `python -m local.run`: consent statements from events, the operators' consents view, the
one-click unsubscribe (form POST through the local API Gateway emulation), and a claim mailed as an .eml with
its QR code into $INCENTIVES_DATA_DIR/outbox/messages."""
from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
import yaml

from tests.e2e.localrun import OPERATOR_KEY, STOREFRONT_KEY, start_local_run
from tests.unit.test_delivery import inline_qr

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
STORE = {"x-api-key": STOREFRONT_KEY}
OPS = {"x-api-key": OPERATOR_KEY}
TABLE = f"e2e-consent-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def run(tmp_path_factory, ddb_endpoint):
    workdir = tmp_path_factory.mktemp("run")
    config = workdir / "config"
    (config / "campaigns").mkdir(parents=True)
    (config / "messaging.yaml").write_text("from_email: Shop <shop@example.com>\n")
    (config / "campaigns" / "mailed.yaml").write_text(yaml.safe_dump({
        "id": "mailed", "name": "Mailed", "enabled": True,
        "codes": {"type": "unique", "pattern": "MAIL-####-####", "expires_in_days": 30, "bind_to_customer": True},
        "reward": {"type": "percent_off", "percent": 10}, "eligibility": {"locales": ["de"]},
        "claims": {"allowed_origins": ["https://shop.example"], "delivery": "email"}}))
    # our DynamoDB Local (the run creates its table in it), so the test can put an unsubscribe token as a send would
    r = start_local_run(workdir, INCENTIVES_CONFIG_DIR=str(config), LOCAL_SCHEDULES="off",
                        DYNAMODB_ENDPOINT=ddb_endpoint, TABLE_NAME=TABLE)
    r.data_dir = workdir / "data"
    yield r
    assert r.stop() == 0, r.log()


def test_consent_from_events_and_one_click_unsubscribe_over_http(run, ddb_endpoint):
    from incentives.adapters.dynamo import Table, dynamodb_client
    from incentives.adapters.unit_of_work import UnitOfWork
    from incentives.services.unsubscribe import unsubscribe_token_item

    event = {"id": "e1", "type": "customer.created", "occurred_at": "2026-12-01T10:00:00Z",
             "customer": {"id": "c1", "email": "ann@example.com", "phone": "+4915112345678", "locale": "de-AT"},
             "data": {"consents": {"email": True, "sms": True}, "consent_source": "signup_form",
                      "consent_text": "Offers by e-mail and SMS"}}
    assert run.request("POST", "/v1/events", body=event, headers=STORE).status == 202
    view = run.request("GET", "/v1/customers/c1/consents", headers=OPS)
    assert view.status == 200 and view.json()["consents"]["email"] == {
        "granted": True, "at": "2026-12-01T10:00:00Z", "source": "signup_form"}
    assert run.request("GET", "/v1/customers/c1/consents", headers=STORE).status == 403

    token, item = unsubscribe_token_item("c1", "email", "win-back-60", datetime.now(UTC))
    UnitOfWork(Table(TABLE, dynamodb_client(ddb_endpoint))).put(item).commit()
    page = run.request("GET", f"/v1/public/unsubscribe/{token}")
    assert page.status == 200 and page.headers["Content-Type"].startswith("text/html")
    assert b'name="List-Unsubscribe" value="One-Click"' in page.body
    assert run.request("GET", "/v1/customers/c1/consents", headers=OPS).json()["consents"]["email"]["granted"]

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for _ in range(2):  # a repeat is harmless
        done = run.request("POST", f"/v1/public/unsubscribe/{token}", body=b"List-Unsubscribe=One-Click",
                           headers=form)
        assert done.status == 200, done.body
    after = run.request("GET", "/v1/customers/c1/consents", headers=OPS).json()
    assert after["consents"]["email"]["granted"] is False and after["consents"]["sms"]["granted"] is True
    assert [h["source"] for h in after["history"]].count("one_click_unsubscribe") == 1
    unknown = run.request("POST", "/v1/public/unsubscribe/" + "A" * 32, body=b"List-Unsubscribe=One-Click",
                          headers=form)
    assert unknown.status == 404 and unknown.json()["error"]["code"] == "not_found"


def test_a_mailed_claim_lands_in_the_outbox_with_its_qr_code(run):
    headers = {"Origin": "https://shop.example"}
    out = run.request("POST", "/v1/public/campaigns/mailed/claims", headers=headers,
                      body={"email": "bea@example.com", "locale": "de-DE"})
    assert out.status == 201 and "code" not in out.json()
    (eml,) = (run.data_dir / "outbox" / "messages").glob("*.eml")
    msg, qr = inline_qr(eml.read_bytes())
    assert qr.startswith("MAIL-") and qr in msg.get_body(("plain",)).get_content()
    wrong = run.request("POST", "/v1/public/campaigns/mailed/claims", headers=headers,
                        body={"email": "cem@example.com", "locale": "en"})
    assert wrong.status == 422 and wrong.json()["error"]["code"] == "locale_not_eligible"
