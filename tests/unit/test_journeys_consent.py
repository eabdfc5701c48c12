"""The consent ledger (every statement kept, the newest per channel counts) and one-click unsubscribe tokens."""
from __future__ import annotations

import re
from datetime import datetime, UTC

import pytest

from incentives.domain.consent import (
    ONE_CLICK_UNSUBSCRIBE, Statement, consents_view, current, has_consent, new_unsubscribe_token,
    statements_from_event, token_key, unsubscribe_url, well_formed_token, withdrawal,
)

T1 = datetime(2027, 1, 10, 9, 0, tzinfo=UTC)
T2 = datetime(2027, 2, 1, 9, 0, tzinfo=UTC)


def test_an_event_states_consent_per_channel_with_its_source_and_wording():
    data = {"consents": {"email": True, "sms": False, "fax": True, "push": "yes"}, "consent_source": "checkout",
            "consent_text": "Send me offers by e-mail."}
    assert statements_from_event(data, T1, "customer.created") == [
        Statement("email", True, "2027-01-10T09:00:00Z", "checkout", "Send me offers by e-mail."),
        Statement("sms", False, "2027-01-10T09:00:00Z", "checkout", "Send me offers by e-mail.")]
    assert statements_from_event({"consents": {"email": True}}, T1, "customer.updated")[0].source == \
        "customer.updated"
    assert statements_from_event({}, T1, "order.paid") == []


def test_the_newest_statement_counts_whatever_order_they_arrive_in():
    given = statements_from_event({"consents": {"email": True}, "consent_source": "signup"}, T1, "customer.created")
    withdrawn = [withdrawal("email", T2)]
    for ledger in (given + withdrawn, withdrawn + given):
        assert not has_consent(ledger, "email")
        assert current(ledger)["email"].source == ONE_CLICK_UNSUBSCRIBE
    assert has_consent(given, "email") and not has_consent(given, "sms") and not has_consent([], "email")


def test_a_grant_and_a_withdrawal_at_the_same_instant_resolve_to_the_withdrawal():
    grant, withdraw = Statement("sms", True, "2027-01-10T09:00:00Z", "a"), withdrawal("sms", T1, "b")
    assert not has_consent([grant, withdraw], "sms") and not has_consent([withdraw, grant], "sms")


def test_the_consents_view_has_the_current_state_and_the_whole_history():
    ledger = [withdrawal("email", T2),
              *statements_from_event({"consents": {"email": True}, "consent_text": "Offers by e-mail"}, T1,
                                     "customer.created")]
    view = consents_view("c1", ledger)
    assert view == {
        "customer_id": "c1",
        "consents": {"email": {"granted": False, "at": "2027-02-01T09:00:00Z", "source": "one_click_unsubscribe"}},
        "history": [{"channel": "email", "granted": True, "at": "2027-01-10T09:00:00Z", "source": "customer.created",
                     "text": "Offers by e-mail"},
                    {"channel": "email", "granted": False, "at": "2027-02-01T09:00:00Z",
                     "source": "one_click_unsubscribe"}]}
    assert [Statement.from_dict(h) for h in view["history"]] == sorted(ledger, key=lambda s: s.at)


def test_unsubscribe_tokens_are_random_url_safe_and_name_no_one():
    tokens = {new_unsubscribe_token() for _ in range(1000)}
    assert len(tokens) == 1000
    for t in list(tokens)[:50]:
        assert re.fullmatch(r"[A-Za-z0-9_-]{32}", t) and well_formed_token(t)  # 32 x 6 = 192 random bits
        assert len(token_key(t)) == 64 and t not in token_key(t)
    t = next(iter(tokens))
    assert unsubscribe_url("https://api.shop.example/", t) == f"https://api.shop.example/v1/public/unsubscribe/{t}"
    assert unsubscribe_url("http://localhost:3000", t) == f"http://localhost:3000/v1/public/unsubscribe/{t}"
    for bad in ("anna@example.com", "c1", "../../etc", t + "x"):
        assert not well_formed_token(bad)
    with pytest.raises(ValueError):
        unsubscribe_url("https://api.shop.example", "c1")
