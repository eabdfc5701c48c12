"""Referral and loyalty program files: validated like campaigns, with references checked across files."""
from __future__ import annotations

import shutil

import pytest
import yaml

from incentives.domain.config import ConfigBundle
from incentives.domain.config_files import load_config_dir
from incentives.domain.errors import ConfigError
from incentives.domain.programs import LoyaltyProgram, ReferralProgram
from incentives.domain.schema import SchemaError, parse
from tests.support import ROOT


@pytest.fixture
def config(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


def edit(config, kind: str, pid: str, **changes):
    path = config / kind / f"{pid}.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


def test_the_shipped_programs_load_and_read_back_from_the_deployed_document():
    bundle = load_config_dir(ROOT / "config")
    friends, rewards = bundle.referral_programs["friends"], bundle.loyalty_programs["rewards"]
    assert [t.from_ for t in friends.referrer_rewards] == [1, 5, 10]
    assert friends.tier_for(0) is None and friends.tier_for(4).campaign == "referrer-10"
    assert friends.tier_for(12).points.points == 1000
    assert rewards.reward("five-off").points == 500
    again = ConfigBundle.from_document(bundle.to_document())
    assert again.referral_programs == bundle.referral_programs and again.loyalty_programs == bundle.loyalty_programs


@pytest.mark.parametrize("kind,pid,changes,message", [
    ("referral-programs", "friends", {"referee_reward": {"campaign": "nope"}}, "campaign 'nope' does not exist"),
    ("referral-programs", "friends", {"referrer_rewards": [{"from": 1, "points": {"program": "x", "points": 5}}]},
     "loyalty program 'x' does not exist"),
    ("referral-programs", "friends", {"referrer_rewards": [{"from": 5, "campaign": "referrer-10"},
                                                           {"from": 1, "campaign": "referrer-20"}]}, "ascending"),
    ("referral-programs", "friends", {"referrer_rewards": [{"from": 1}]}, "exactly one of"),
    ("referral-programs", "friends", {"link_template": "https://shop.example/r/"}, "link_template"),
    ("loyalty-programs", "rewards", {"timezone": "Berlin"}, "timezone"),
    ("loyalty-programs", "rewards", {"earning": [{"event": "order.shipped", "points": 5}]}, "order.shipped"),
    ("loyalty-programs", "rewards", {"earning": [{"event": "review.submitted", "points_per_unit": 1,
                                                  "unit_amount": {"amount": 100, "currency": "EUR"}}]},
     "only order.paid"),
    ("loyalty-programs", "rewards", {"tiers": [{"id": "gold", "min_points": 100}]}, "the first 0"),
    ("loyalty-programs", "rewards", {"milestones": [{"points": 10, "reward": "free-car"}]}, "free-car"),
    ("loyalty-programs", "rewards", {"rewards": [{"id": "x", "points": 5, "campaign": "nope"}], "milestones": []},
     "campaign 'nope' does not exist"),
    ("loyalty-programs", "rewards", {"milestones": [{"points": 1000, "reward": "five-off"}, {"points": 500},
                                                    {"points": 1000}]},
     r"milestones.*each points threshold once; repeated: \[1000\]"),
    ("loyalty-programs", "rewards", {"pending_days": 30, "expiry": {"after_days": 30}},
     r"pending_days.*30 days pending is not below expiry.after_days \(30\)"),
    ("loyalty-programs", "rewards", {"pending_days": 60, "expiry": {"after_days": 30}}, "before its points could"),
])
def test_a_broken_program_names_the_file_or_program_and_the_field(config, kind, pid, changes, message):
    edit(config, kind, pid, **changes)
    with pytest.raises(ConfigError, match=message):
        load_config_dir(config)


def test_both_validators_reject_a_broken_program():
    with pytest.raises(SchemaError):
        parse(ReferralProgram, {"id": "f", "link_template": "https://s.example/{code}",
                                "referrer_rewards": [{"from": 0, "campaign": "c"}]})
    with pytest.raises(SchemaError):
        parse(LoyaltyProgram, {"id": "l", "earning": [{"event": "order.paid", "points": 1, "max_per_day": 0}]})


def test_pending_days_just_below_the_expiry_and_distinct_milestones_are_accepted(config):
    edit(config, "loyalty-programs", "rewards", pending_days=29, expiry={"after_days": 30},
         milestones=[{"points": 500}, {"points": 1000, "reward": "five-off"}])
    program = load_config_dir(config).loyalty_programs["rewards"]
    assert program.pending_days == 29 and [m.points for m in program.milestones] == [500, 1000]
