"""Referral rules, pure: e-mail normalisation, the conversion decision, the period cap, rewards and the numbers."""
from __future__ import annotations

import pytest

from incentives.domain import referrals as rules
from incentives.domain.config import ConfigBundle
from incentives.domain.config_files import validate
from incentives.domain.errors import ConfigError
from incentives.domain.programs import ReferralProgram
from incentives.domain.schema import SchemaError, parse
from tests.support import campaign

EUR = "EUR"


def prog(**overrides) -> ReferralProgram:
    data = {"id": "friends", "link_template": "https://s.example/r/{code}",
            "conversion": {"min_order_amount": {"amount": 3000, "currency": EUR}, "within_days": 30}}
    data.update(overrides)
    return parse(ReferralProgram, data)


@pytest.mark.parametrize("a,b", [
    ("John.Doe+shop@GoogleMail.com", "johndoe@gmail.com"),
    (" j.o.h.n@gmail.com ", "john@gmail.com"),
    ("ann+x@outlook.com", "ann@outlook.com"),
    ("ann+x@icloud.com", "ann@icloud.com"),
    ("Ann.Lee+x@example.com", "ann.lee+x@example.com"),  # unknown provider: only the case
    ("ann.lee@outlook.com", "ann.lee@outlook.com"),  # dots only at Gmail
])
def test_normalise_email(a, b):
    assert rules.normalise_email(a) == b
    assert rules.mailbox_hash(a) == rules.mailbox_hash(b)


def code_of(referrer_id: str, email_hash: str | None = None) -> rules.ReferralCode:
    return rules.ReferralCode("friends", "FRIEND-1", referrer_id, email_hash=email_hash)


def test_self_referral_by_id_or_mailbox():
    owner = code_of("ann", rules.mailbox_hash("a.nn@gmail.com"))
    assert rules.self_referral(owner, "ann", None) == "id"
    assert rules.self_referral(owner, "x", rules.mailbox_hash("ann+1@googlemail.com")) == "email"
    assert rules.self_referral(owner, "x", rules.mailbox_hash("bob@gmail.com")) is None
    assert rules.self_referral(code_of("ann"), "x", rules.mailbox_hash("a@b.example")) is None


ATTRIBUTED = "2026-12-01T10:00:00Z"
REFERRAL = rules.Referral("rfl_1", "friends", "ann", "bob", "FRIEND-1", ATTRIBUTED)


@pytest.mark.parametrize("order_at,amount,currency,first,expected", [
    ("2026-12-02T10:00:00Z", 3000, EUR, None, ("convert", None)),
    ("2026-12-02T10:00:00Z", 2999, EUR, None, ("disqualify", "order_below_minimum")),
    ("2026-12-02T10:00:00Z", 9000, "USD", None, ("disqualify", "order_below_minimum")),
    ("2026-12-31T10:00:01Z", 9000, EUR, None, ("expire", "after_within_days")),
    ("2026-12-03T10:00:00Z", 9000, EUR, "2026-12-02T10:00:00Z", ("ignore", "not_first_order")),
    ("2026-12-03T10:00:00Z", 9000, EUR, "2026-11-30T10:00:00Z", ("disqualify", "not_first_order")),
    ("2026-11-30T10:00:00Z", 9000, EUR, None, ("disqualify", "not_first_order")),
])
def test_first_order_only_decisions(order_at, amount, currency, first, expected):
    d = rules.decide(prog(), REFERRAL, order_at, amount, currency, first)
    assert (d.action, d.reason) == expected


def test_without_first_order_only_nothing_closes_the_referral():
    p = prog(conversion={"min_order_amount": {"amount": 3000, "currency": EUR}, "within_days": 30,
                         "first_order_only": False})
    assert rules.decide(p, REFERRAL, "2026-12-02T00:00:00Z", 100, EUR, None).action == "ignore"
    assert rules.decide(p, REFERRAL, "2026-11-02T00:00:00Z", 9000, EUR, None).reason == "before_attribution"
    assert rules.decide(p, REFERRAL, "2027-01-02T00:00:00Z", 9000, EUR, None).reason == "after_within_days"
    assert rules.decide(p, REFERRAL, "2026-12-05T00:00:00Z", 9000, EUR, "2026-12-02T00:00:00Z").action == "convert"


def test_return_window_and_period():
    p = prog(conversion={"return_window_days": 14}, limits={"max_conversions_per_referrer": 2, "period_days": 30})
    assert rules.release_at(p, "2026-12-01T10:00:00Z") == "2026-12-15T10:00:00Z"
    assert rules.refund_in_window(p, "2026-12-01T10:00:00Z", "2026-12-15T10:00:00Z")
    assert not rules.refund_in_window(p, "2026-12-01T10:00:00Z", "2026-12-15T10:00:01Z")
    assert rules.period_after(rules.Referrer("friends", "ann", "FRIEND-1"), "2026-12-01T00:00:00Z", 30) == \
        ("2026-12-01T00:00:00Z", 0)
    ref = rules.Referrer("friends", "ann", "FRIEND-1", period_start="2026-12-01T00:00:00Z", period_conversions=2)
    assert rules.period_after(ref, "2026-12-30T23:59:59Z", 30) == ("2026-12-01T00:00:00Z", 2)
    assert rules.period_after(ref, "2026-12-31T00:00:00Z", 30) == ("2026-12-31T00:00:00Z", 0)
    assert rules.over_cap(p, 2) and not rules.over_cap(p, 1) and not rules.over_cap(prog(), 10**6)


def test_rewards_of_tiers_and_the_numbers():
    bundle = ConfigBundle({c["id"]: parse_campaign(c) for c in (
        campaign("ten", reward={"type": "amount_off", "amount": {"amount": 1000, "currency": EUR}}),
        campaign("pct", reward={"type": "percent_off", "percent": 10}))})
    p = prog(referrer_rewards=[{"from": 1, "campaign": "ten"}, {"from": 2, "campaign": "pct"},
                               {"from": 3, "cash": {"amount": 500, "currency": EUR}}])
    assert rules.reward_of(p.tier_for(1), bundle) == rules.Reward("code", tier_from=1, campaign_id="ten", value=1000,
                                                                  currency=EUR)
    assert rules.reward_of(p.tier_for(2), bundle).value is None  # an uncapped percentage has no face value
    assert rules.reward_of(p.tier_for(0), bundle) is None
    assert rules.next_tier(p, 1) == {"from": 2, "conversions_needed": 1} and rules.next_tier(p, 3) is None
    counters = {"referrers": 4, "referrals": 10, "conversions": 5, "referrer_cost_EUR": 5000,
                "referee_cost_EUR": 10000, "revenue_EUR": 40000}
    m = rules.metrics(p, counters, EUR)
    assert (m["invites_per_user"], m["conversion_rate"], m["k"]) == (2.5, 0.5, 1.25)
    assert m["ltv"] == {"amount": 8000, "currency": EUR, "source": "orders"}
    assert m["reward_per_conversion"] == {"amount": 3000, "currency": EUR}
    assert m["roi"] == round((8000 * 2.25 - 3000) / 3000, 4)
    given = prog(average_order_value={"amount": 6000, "currency": EUR})
    m = rules.metrics(given, {"referrers": 1, "referrals": 2, "conversions": 1, "referee_cost_EUR": 2000}, EUR)
    assert m["ltv"]["source"] == "config" and m["roi"] == round((6000 * (1 + 1.0) - 2000) / 2000, 4)
    assert rules.metrics(prog(), {}, EUR)["roi"] is None


def parse_campaign(data: dict):
    from incentives.domain.config import Campaign

    return parse(Campaign, data)


@pytest.mark.parametrize("change", [
    {"limits": {"over_limit": "pause"}},
    {"code_pattern": "REF-" + "#" * 30},
    {"code_pattern": "ref-####"},
])
def test_both_validators_reject_the_same_program_shapes(change):
    data = {"id": "friends", "link_template": "https://s.example/r/{code}", **change}
    with pytest.raises(SchemaError):
        parse(ReferralProgram, data)
    with pytest.raises(ConfigError):
        validate(ReferralProgram, data)


def test_both_validators_accept_the_extensions():
    data = {"id": "friends", "link_template": "https://s.example/r/{code}",
            "limits": {"over_limit": "reject", "max_referrals_per_ip_per_day": 3}}
    assert parse(ReferralProgram, data) == validate(ReferralProgram, data)


def test_a_referral_reward_campaign_must_issue_unique_codes(tmp_path):
    import shutil

    import yaml

    from incentives.domain.config_files import load_config_dir
    from tests.support import ROOT

    shutil.copytree(ROOT / "config", tmp_path / "config")
    path = tmp_path / "config" / "referral-programs" / "friends.yaml"
    data = yaml.safe_load(path.read_text())
    data["referee_reward"] = {"campaign": "blackfriday"}  # a public-code campaign
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="needs unique codes"):
        load_config_dir(tmp_path / "config")
