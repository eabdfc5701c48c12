"""The sample config (config/) shows every capability and stays usable as time passes: the campaigns and programs
the "try it" block uses (local/tryit.py) are still active years from now, and the README shows that very block."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from incentives.domain.campaigns import ACTIVE, effective_status
from incentives.domain.config_files import load_config_dir
from local import tryit
from tests.support import ROOT

# a date of each of the next years (a campaign ending any time before the last would fail)
AS_OF = [datetime(2027, 6, 1, tzinfo=UTC), datetime(2029, 1, 1, tzinfo=UTC), datetime(2031, 12, 31, 23, tzinfo=UTC)]


@pytest.fixture(scope="module")
def bundle():
    return load_config_dir(ROOT / "config")


def test_the_sample_config_shows_claims_a_journey_a_referral_and_a_loyalty_program(bundle):
    assert any(c.claims is not None for c in bundle.campaigns.values())
    assert any(c.codes.type == "public" for c in bundle.campaigns.values())
    assert bundle.journeys and bundle.referral_programs and bundle.loyalty_programs
    # what the try-it block names exists
    assert set(tryit.CAMPAIGNS) <= set(bundle.campaigns)
    assert set(tryit.REFERRAL_PROGRAMS) <= set(bundle.referral_programs)
    assert set(tryit.LOYALTY_PROGRAMS) <= set(bundle.loyalty_programs)
    assert set(tryit.JOURNEYS) <= set(bundle.journeys)
    assert bundle.public_codes["SAVE5"] == "save5" and bundle.campaigns["welcome10"].claims is not None


@pytest.mark.parametrize("now", AS_OF, ids=lambda d: d.date().isoformat())
def test_the_try_it_campaigns_and_programs_are_still_active_years_ahead(bundle, now):
    for cid in tryit.CAMPAIGNS:
        campaign = bundle.campaigns[cid]
        assert effective_status(campaign, now) == ACTIVE, cid
        assert campaign.codes.expires_at is None or campaign.codes.expires_at > now, cid  # its codes still issue
    for pid in tryit.REFERRAL_PROGRAMS:
        program = bundle.referral_programs[pid]
        assert program.enabled, pid
    for pid in tryit.LOYALTY_PROGRAMS:
        assert bundle.loyalty_programs[pid].enabled, pid
    for jid in tryit.JOURNEYS:
        journey = bundle.journeys[jid]
        assert journey.enabled and (journey.offer is None
                                    or effective_status(bundle.campaigns[journey.offer.campaign], now) == ACTIVE), jid


def test_the_try_it_campaigns_are_the_ones_the_block_uses():
    block = tryit.render()
    for name in ("welcome10", "SAVE5", "sorry", "friends", "rewards", "birthdays"):
        assert name in block
    assert "BLACKFRIDAY" not in block  # seasonal (config/campaigns/blackfriday.yaml): not in the block


def test_blackfriday_says_it_is_seasonal_and_has_ended(bundle):
    text = (ROOT / "config" / "campaigns" / "blackfriday.yaml").read_text()
    assert "Seasonal" in text and "campaign_inactive" in text
    assert effective_status(bundle.campaigns["blackfriday"], AS_OF[0]) == "ended"


def test_the_readme_shows_the_generated_block():
    assert tryit.readme_block((ROOT / "README.md").read_text()) == tryit.render(), \
        "README.md's try-it block is stale: run `python -m local.tryit --write-readme`"


def test_the_block_uses_the_given_base_keys_and_program():
    block = tryit.render(base="localhost:4000", keys={"storefront": "sk", "operator": "ok"}, program="/x/incentives")
    assert "curl -s localhost:4000/v1/health" in block
    assert "-H 'x-api-key: sk' localhost:4000/v1/validations" in block
    assert "export INCENTIVES_URL=http://localhost:4000 INCENTIVES_OPERATOR_KEY=ok" in block
    assert "\n/x/incentives stats welcome10\n" in block and "local-" not in block
