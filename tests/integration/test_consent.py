"""The consent ledger, GET /v1/customers/{id}/consents and one-click unsubscribe (RFC 8058), through the real
events and operators handlers against DynamoDB Local."""
from __future__ import annotations

from datetime import datetime, UTC

import pytest

from incentives.adapters import keys
from incentives.adapters.unit_of_work import UnitOfWork
from incentives.domain.consent import token_key
from incentives.services.unsubscribe import unsubscribe_token_item
from tests.support import OPERATOR_KEY_ID, scan_all

EVENTS = ("events", "POST", "/v1/events")
CONSENTS = ("operators", "GET", "/v1/customers/{customer_id}/consents")
UNSUB = "/v1/public/unsubscribe/{token}"
NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
TEXT = "Yes, e-mail me offers. Withdraw any time."


@pytest.fixture
def api(handlers, config_dir):
    config_dir()
    return handlers


def updated(eid, at, consents, customer="c1", **data):
    return {"id": eid, "type": "customer.updated", "occurred_at": at,
            "customer": {"id": customer, "email": "ann@example.com", "phone": "+4915112345678"},
            "data": {"consents": consents, **data}}


def ledger(table, customer="c1"):
    return table.query(keys.customer_profile(customer)[0], keys.CONSENT_PREFIX)


def consents(api, customer="c1"):
    status, body, _ = api.call(*CONSENTS, path_params={"customer_id": customer}, key_id=OPERATOR_KEY_ID)
    assert status == 200
    return body


def profile(table, customer="c1"):
    return table.get(*keys.customer_profile(customer), consistent=True)


def test_each_statement_of_an_event_is_a_ledger_item_written_with_the_profile(api, table):
    body = updated("e1", "2026-12-01T10:00:00Z", {"email": True, "sms": False},
                   consent_source="checkout", consent_text=TEXT)
    assert api.call(*EVENTS, body=body)[:2] == (202, {"id": "e1", "status": "accepted"})
    items = ledger(table)
    assert sorted((i["channel"], i["granted"], i["at"], i["source"], i.get("text")) for i in items) == [
        ("email", True, "2026-12-01T10:00:00Z", "checkout", TEXT),
        ("sms", False, "2026-12-01T10:00:00Z", "checkout", TEXT)]
    assert profile(table)["phone"] == "+4915112345678"
    # a duplicate delivery, even with other statements in it, writes no statement and no profile change
    version = profile(table)["version"]
    dup = updated("e1", "2026-12-02T10:00:00Z", {"email": False})
    assert api.call(*EVENTS, body=dup)[1]["status"] == "duplicate"
    assert len(ledger(table)) == 2 and profile(table)["version"] == version
    assert profile(table)["consents"]["email"]["given"] is True


def test_the_consents_view_shows_the_current_state_and_the_proof(api, table):
    api.call(*EVENTS, body=updated("e2", "2026-12-02T10:00:00Z", {"email": False}, consent_source="preferences"))
    api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True, "push": True},
                                   consent_source="signup_form", consent_text=TEXT))  # late: older statement
    view = consents(api)
    assert view["customer_id"] == "c1"
    assert view["consents"] == {
        "email": {"granted": False, "at": "2026-12-02T10:00:00Z", "source": "preferences"},
        "push": {"granted": True, "at": "2026-12-01T10:00:00Z", "source": "signup_form"}}  # sms: never stated
    assert view["history"] == [  # oldest first
        {"channel": "email", "granted": True, "at": "2026-12-01T10:00:00Z", "source": "signup_form", "text": TEXT},
        {"channel": "push", "granted": True, "at": "2026-12-01T10:00:00Z", "source": "signup_form", "text": TEXT},
        {"channel": "email", "granted": False, "at": "2026-12-02T10:00:00Z", "source": "preferences"}]
    assert profile(table)["consents"]["email"]["given"] is False
    assert consents(api, "nobody") == {"customer_id": "nobody", "consents": {}, "history": []}
    status, out, _ = api.call(*CONSENTS, path_params={"customer_id": "c1"})  # a storefront key
    assert status == 403 and out["error"]["code"] == "forbidden"


def token_for(table, customer="c1", channel="email"):
    token, item = unsubscribe_token_item(customer, channel, "win-back-60", NOW)
    UnitOfWork(table).put(item).commit()
    return token


def unsub(api, method, token, body="List-Unsubscribe=One-Click", headers=None):
    return api.call("events", method, UNSUB, path_params={"token": token}, key_id=None,
                    raw_body=body if method == "POST" else None,
                    headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})})


def test_one_click_post_withdraws_consent_and_a_repeat_changes_nothing(api, table):
    api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True, "sms": True}))
    token = token_for(table)
    stored = scan_all(table)
    assert not [i for i in stored if token in repr(i)]  # only the token's hash is kept
    assert table.get(*keys.unsubscribe(token_key(token)))["channel"] == "email"

    status, body, _ = unsub(api, "POST", token)
    assert status == 200 and body == {"status": "unsubscribed", "channel": "email"}
    p = profile(table)
    assert p["consents"]["email"]["given"] is False and p["consents"]["email"]["source"] == "one_click_unsubscribe"
    assert p["consents"]["sms"]["given"] is True  # only the link's channel
    view = consents(api)
    assert view["consents"]["email"]["granted"] is False
    assert view["history"][-1]["source"] == "one_click_unsubscribe"
    assert len(view["history"]) == 3

    version = profile(table)["version"]
    assert unsub(api, "POST", token)[0] == 200  # again: harmless
    assert profile(table)["version"] == version and len(ledger(table)) == 3


def test_a_later_grant_is_withdrawn_again_by_the_same_link(api, table):
    api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True}))
    token = token_for(table)
    unsub(api, "POST", token)
    api.call(*EVENTS, body=updated("e2", "2099-12-01T10:00:00Z", {"email": True}))  # a grant dated later
    assert profile(table)["consents"]["email"]["given"] is True
    unsub(api, "POST", token)
    p = profile(table)
    assert p["consents"]["email"] == {"given": False, "at": "2099-12-01T10:00:00Z", "source": "one_click_unsubscribe"}
    assert consents(api)["consents"]["email"]["granted"] is False


def test_get_shows_a_page_with_a_one_click_form_and_changes_nothing(api, table):
    api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True}))
    token = token_for(table)
    before = profile(table)
    for _ in range(2):
        status, page, headers = unsub(api, "GET", token)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert '<form method="post">' in page and 'name="List-Unsubscribe" value="One-Click"' in page
        assert "ann@example.com" not in page and "c1" not in page
    assert profile(table) == before and len(ledger(table)) == 1


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_an_unknown_token_is_not_found(api, table, method):
    real = token_for(table)
    near = real[:-1] + ("y" if real.endswith("x") else "x")  # one character off the real token
    for token in ("A" * 32, "not-a-token", near):
        status, body, _ = unsub(api, method, token)
        assert status == 404 and body["error"]["code"] == "not_found"
    assert ledger(table) == []


def test_a_withdrawal_without_a_profile_records_it(api, table):
    token = token_for(table, customer="c9", channel="sms")
    assert unsub(api, "POST", token)[0] == 200
    (channel, state), = profile(table, "c9")["consents"].items()
    assert (channel, state["given"], state["source"]) == ("sms", False, "one_click_unsubscribe")
    assert [i["granted"] for i in ledger(table, "c9")] == [False]


def test_erasure_deletes_the_ledger_and_the_unsubscribe_links(api, table):
    api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True}, consent_text=TEXT))
    token = token_for(table)
    status, out, _ = api.call("operators", "DELETE", "/v1/customers/{customer_id}",
                              path_params={"customer_id": "c1"}, key_id=OPERATOR_KEY_ID)
    assert status == 200 and out["erased"]["consents"] == 2  # one statement, one link
    assert ledger(table) == [] and consents(api)["history"] == []
    assert unsub(api, "GET", token)[0] == 404
    assert not [i for i in scan_all(table)
                if i.get("customer_id") == "c1" or i.get("gsi1pk") == keys.customer_gsi("c1")]


def test_a_bad_phone_or_consent_text_is_rejected_with_the_field(api, table):
    body = updated("e1", "2026-12-01T10:00:00Z", {"email": True})
    body["customer"]["phone"] = "015112345678"
    status, out, _ = api.call(*EVENTS, body=body)
    assert status == 422 and [f["field"] for f in out["error"]["details"]["fields"]] == ["customer.phone"]
    status, out, _ = api.call(*EVENTS, body=updated("e1", "2026-12-01T10:00:00Z", {"email": True},
                                                    consent_text="x" * 2001))
    assert status == 422 and [f["field"] for f in out["error"]["details"]["fields"]] == ["data.consent_text"]


def test_an_event_with_statements_stays_at_one_read_and_one_transaction(api, table):
    """The ledger items ride in the event's transaction: 1 GetItem (the profile) + 1 TransactWriteItems."""
    from incentives.adapters.dynamo import dynamodb_client

    api.call(*EVENTS, body=updated("e0", "2026-11-01T10:00:00Z", {"email": True}))  # warm: a profile exists
    calls: list[str] = []

    def after(http_response, parsed, model, **_):
        calls.append(model.name)

    client = dynamodb_client()
    client.meta.events.register("after-call.dynamodb", after, unique_id="consent-ingest")
    try:
        body = updated("e1", "2026-12-01T10:00:00Z", {"email": False, "sms": True, "push": True},
                       consent_text=TEXT)
        assert api.call(*EVENTS, body=body)[1]["status"] == "accepted"
    finally:
        client.meta.events.unregister("after-call.dynamodb", after, unique_id="consent-ingest")
    assert calls == ["GetItem", "TransactWriteItems"]
    assert len(ledger(table)) == 4
