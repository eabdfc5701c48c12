"""The code space grows with the codes a campaign issues: a guess succeeds with probability <= 1e-6, for bearer
money (gift cards, store credit) <= 1e-9; config validation refuses a pattern too small and says what it needs.
Claims never hand out bearer money."""
from __future__ import annotations

import pytest

from incentives.domain.config import BEARER_GUESS_PROBABILITY, GUESS_PROBABILITY, Campaign
from incentives.domain.config_files import validate
from incentives.domain.errors import ConfigError
from tests.support import campaign

CARD = {"type": "gift_card", "balance": {"amount": 5000, "currency": "EUR"}}


def test_capacity_keeps_a_guess_below_one_in_a_million():
    c = validate(Campaign, campaign("pct", codes={"type": "unique", "pattern": "PCT-####-####"}))
    assert c.guess_probability == GUESS_PROBABILITY
    assert c.code_capacity == 31 ** 8 // 10 ** 6  # 852,891 codes of 852 billion combinations
    assert c.code_capacity / c.codes.combinations <= 1e-6


def test_a_pattern_too_small_for_max_codes_is_refused_with_the_size_it_needs():
    with pytest.raises(ConfigError) as e:
        validate(Campaign, campaign("big", codes={"type": "unique", "pattern": "BIG-####-####",
                                                  "max_codes": 1_000_000}))
    msg = str(e.value)
    assert "codes.pattern" in msg and "1,000,000 codes" in msg
    assert "at least 1,000,000,000,000 combinations (9 '#'" in msg
    ok = validate(Campaign, campaign("big", codes={"type": "unique", "pattern": "BIG-#####-####",
                                                   "max_codes": 1_000_000}))
    assert ok.code_capacity >= 1_000_000


def test_max_claims_counts_as_codes_issued():
    with pytest.raises(ConfigError, match=r"claims\.max_claims"):
        validate(Campaign, campaign("land", codes={"type": "unique", "pattern": "LAND-###-####"},
                                    claims={"max_claims": 100_000}))


def test_bearer_money_needs_a_thousand_times_more_room():
    card = validate(Campaign, campaign("card", codes={"type": "unique", "pattern": "CARD-####-####"}, reward=CARD))
    assert card.guess_probability == BEARER_GUESS_PROBABILITY
    assert card.code_capacity == 31 ** 8 // 10 ** 9  # 852 cards
    with pytest.raises(ConfigError) as e:
        validate(Campaign, campaign("card", codes={"type": "unique", "pattern": "CARD-####-####",
                                                   "max_codes": 10_000}, reward=CARD))
    assert "1e-09" in str(e.value) and "(9 '#'" in str(e.value)
    credit = {"type": "store_credit", "balance": {"amount": 5000, "currency": "EUR"}}
    with pytest.raises(ConfigError, match="bearer money"):
        validate(Campaign, campaign("cred", codes={"type": "unique", "pattern": "CR-#######"}, reward=credit))


@pytest.mark.parametrize("reward", [CARD, {"type": "store_credit", "balance": {"amount": 500, "currency": "EUR"}}])
def test_claims_on_bearer_money_are_refused(reward):
    with pytest.raises(ConfigError, match="cannot be claimed on a landing page"):
        validate(Campaign, campaign("gc", codes={"type": "unique", "pattern": "GC-######-####"}, reward=reward,
                                    claims={"allowed_origins": ["https://shop.example"]}))
