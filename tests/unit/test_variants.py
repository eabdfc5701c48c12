"""A/B variants, the pure part: config checks, deterministic assignment, the per-variant counters and the
two-proportion z-test."""
from __future__ import annotations

import shutil
from collections import Counter

import pytest
import yaml

from incentives.domain import variants
from incentives.domain.config import Campaign, ConfigBundle
from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.errors import ConfigError
from incentives.domain.json_schema import check_document
from incentives.domain.programs import ReferralProgram
from incentives.domain.schema import SchemaError, parse
from tests.support import ROOT, campaign


class Arm:
    def __init__(self, arm_id: str, weight: int):
        self.id, self.weight = arm_id, weight


def shares(arms: list[Arm], n: int = 10_000, owner: str = "spring-test") -> dict[str, float]:
    counts = Counter(variants.assign(owner, variants.subject_for_id(f"cust-{i}"), arms) for i in range(n))
    return {a.id: counts[a.id] / n for a in arms}


@pytest.mark.parametrize("weights", [(1, 1), (1, 3), (50, 30, 20), (5, 1, 1, 1)])
def test_assignment_follows_the_weights_within_two_percent_over_10000_customers(weights):
    arms = [Arm(f"v{i}", w) for i, w in enumerate(weights)]
    got = shares(arms)
    total = sum(weights)
    for arm in arms:
        assert abs(got[arm.id] - arm.weight / total) <= 0.02, (arm.id, got)


def test_assignment_is_stable_per_customer_and_independent_between_campaigns():
    arms = [Arm("a", 1), Arm("b", 1)]
    first = [variants.assign("spring", variants.subject_for_id(f"c{i}"), arms) for i in range(1000)]
    again = [variants.assign("spring", variants.subject_for_id(f"c{i}"), arms) for i in range(1000)]
    assert first == again
    other = [variants.assign("summer", variants.subject_for_id(f"c{i}"), arms) for i in range(1000)]
    same = sum(x == y for x, y in zip(first, other, strict=True))
    assert 400 < same < 600  # keyed by the campaign: one campaign's arm says nothing about another's


def test_an_email_is_assigned_by_its_mailbox():
    arms = [Arm("a", 1), Arm("b", 1)]
    one = variants.assign("spring", variants.subject_for_email("Jane.Doe+shop@GoogleMail.com"), arms)
    assert {variants.assign("spring", variants.subject_for_email(e), arms)
            for e in ("janedoe@gmail.com", " JANE.DOE@gmail.com ")} == {one}
    assert variants.subject_for_email("a@example.com") != variants.subject_for_id("a@example.com")


def test_per_variant_counters_are_summed_over_every_item():
    items = [{"sk": "COUNTERS", "redeemed": 3, "v_a_redeemed": 2, "v_b_redeemed": 1, "v_a_discount_EUR": 500},
             {"sk": "COUNTERS#01", "v_a_redeemed": 1, "v_a_discount_EUR": 100, "v_b_revenue_EUR": 7000},
             {"sk": "ISSUED#00", "issued": 9, "v_a_issued": 5, "v_b_issued": 4}]
    assert variants.sum_counters(items) == {
        "a": {"redeemed": 3, "discount_EUR": 600, "issued": 5},
        "b": {"redeemed": 1, "revenue_EUR": 7000, "issued": 4}}
    assert variants.counter("control", "discount_EUR") == "v_control_discount_EUR"


def test_the_z_test_matches_a_value_computed_by_hand():
    # 30/200 against 50/200: pooled p = 80/400 = 0.2, se = sqrt(0.2 * 0.8 * (1/200 + 1/200)) = 0.04,
    # z = (0.15 - 0.25) / 0.04 = -2.5, two-sided p = 2 * (1 - Phi(2.5)) = 2 * (1 - 0.9937903347) = 0.0124193306
    assert variants.two_proportion_p_value(30, 200, 50, 200) == pytest.approx(0.0124193306, abs=1e-9)
    # 10/100 against 12/100: pooled 0.11, se = sqrt(0.11 * 0.89 * 0.02) = 0.0442493, z = -0.4519848,
    # Phi(0.4519848) = Phi(0.45) + 0.0019848 * phi(0.45) = 0.6736447 + 0.0007156 = 0.6743603, p = 0.6512794
    assert variants.two_proportion_p_value(10, 100, 12, 100) == pytest.approx(0.6512794, abs=1e-5)
    cmp = variants.comparison("redemption_rate", [("a", 30, 200), ("b", 50, 200)])
    assert cmp == {"metric": "redemption_rate", "variants": ["a", "b"], "p_value": 0.012419, "significant": True}
    assert variants.comparison("redemption_rate", [("a", 10, 100), ("b", 12, 100)])["significant"] is False


@pytest.mark.parametrize("x1,n1,x2,n2", [(0, 0, 5, 10), (0, 10, 0, 10), (10, 10, 10, 10), (12, 10, 1, 10)])
def test_the_z_test_is_not_computable_without_trials_or_variance(x1, n1, x2, n2):
    assert variants.two_proportion_p_value(x1, n1, x2, n2) is None
    assert variants.comparison("redemption_rate", [("a", x1, n1), ("b", x2, n2)])["p_value"] is None


def test_more_than_two_variants_compare_the_control_with_the_farthest_arm_at_a_corrected_level():
    rows = [("control", 30, 200), ("near", 33, 200), ("far", 50, 200)]
    cmp = variants.comparison("redemption_rate", rows)
    assert cmp["variants"] == ["control", "far"]
    # p = 0.0124: below 0.05 / 2 with three arms; not below 0.05 / 5 with six
    assert cmp["significant"] is True
    six = variants.comparison("redemption_rate", [*rows, ("x", 30, 200), ("y", 31, 200), ("z", 29, 200)])
    assert six["p_value"] == cmp["p_value"] and six["significant"] is False


# ---- config ---------------------------------------------------------------------------------------------------

def write(tmp_path, data: dict):
    d = tmp_path / "campaigns"
    d.mkdir(exist_ok=True)
    (d / f"{data['id']}.yaml").write_text(yaml.safe_dump(data))
    return tmp_path


EUR5 = {"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}


@pytest.mark.parametrize("arms,field,message", [
    ([{"id": "a", "weight": 1}], "variants", "at least 2 variants"),
    ([{"id": "a", "weight": 1}, {"id": "a", "weight": 2}], "variants", "unique"),
    ([{"id": "a", "weight": 0}, {"id": "b", "weight": 1}], "variants.0.weight", "greater than or equal to 1"),
    ([{"id": "a", "weight": 1.5}, {"id": "b", "weight": 1}], "variants.0.weight", "integer"),
    ([{"id": "A_1", "weight": 1}, {"id": "b", "weight": 1}], "variants.0.id", "pattern"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "reward": {"type": "percent_off"}}],
     "variants.1.reward.percent_off.percent", "Field required"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "reward": {"type": "amount_off", "amount": {
        "amount": 500, "currency": "USD"}}}], "variants.1.reward", "one currency"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "reward": {"type": "gift_card", "balance": {
        "amount": 500, "currency": "EUR"}}}], "variants.1.reward", "cannot give gift_card"),
    ([{"id": "a", "weight": 1, "colour": "red"}, {"id": "b", "weight": 1}], "variants.0.colour", ""),
])
def test_broken_variants_name_the_file_and_the_field(tmp_path, arms, field, message):
    data = campaign("ab", reward=EUR5, variants=arms)
    with pytest.raises(ConfigError) as e:
        load_config_dir(write(tmp_path, data))
    assert "ab.yaml" in str(e.value) and f"{field}:" in str(e.value) and message in str(e.value)
    with pytest.raises(SchemaError):  # the deployed reader refuses it too
        parse(Campaign, data)


def test_a_variant_reward_replaces_the_campaigns_and_the_document_round_trips():
    c = validate(Campaign, campaign("ab", variants=[{"id": "ten", "weight": 1},
                                                    {"id": "five-eur", "weight": 1, "reward": EUR5}]))
    assert c.for_variant("ten") is c and c.for_variant("gone") is c
    assert c.for_variant("five-eur").reward.type == "amount_off" and c.for_variant("five-eur").id == "ab"
    bundle = ConfigBundle({"ab": c})
    doc = bundle.to_document()
    check_document(doc)  # the AppConfig JSON Schema knows the field
    assert ConfigBundle.from_document(doc).campaigns["ab"] == c
    doc["campaigns"]["ab"]["variants"][0]["weight"] = "1"
    with pytest.raises(ConfigError, match="variants"):
        check_document(doc)


@pytest.fixture
def config(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


def edit_friends(config, **changes):
    path = config / "referral-programs" / "friends.yaml"
    data = yaml.safe_load(path.read_text())
    data.update(changes)
    path.write_text(yaml.safe_dump(data))


@pytest.mark.parametrize("arms,message", [
    ([{"id": "a", "weight": 1}], "at least 2 variants"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "referee_reward": {"campaign": "nope"}}],
     "variants.1.referee_reward: campaign 'nope' does not exist"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "referrer_rewards": [
        {"from": 3, "campaign": "referrer-10"}, {"from": 1, "campaign": "referrer-20"}]}],
     "variants.1.referrer_rewards: tiers must be in ascending order"),
    ([{"id": "a", "weight": 1}, {"id": "b", "weight": 1, "referrer_rewards": [
        {"from": 1, "points": {"program": "nope", "points": 5}}]}], "variants.1.referrer_rewards from 1"),
])
def test_broken_program_variants_are_refused(config, arms, message):
    edit_friends(config, variants=arms)
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        load_config_dir(config)


def test_a_program_variant_picks_its_own_rewards():
    p = parse(ReferralProgram, {
        "id": "f", "link_template": "https://s.example/{code}", "referee_reward": {"campaign": "base"},
        "referrer_rewards": [{"from": 1, "campaign": "r10"}],
        "variants": [{"id": "a", "weight": 1},
                     {"id": "b", "weight": 1, "referee_reward": {"campaign": "rich"},
                      "referrer_rewards": [{"from": 2, "campaign": "r20"}]}]})
    assert p.referee_reward_for("a").campaign == "base" and p.referee_reward_for("b").campaign == "rich"
    assert p.tier_for(1, "a").campaign == "r10" and p.tier_for(1, "b") is None
    assert p.tier_for(2, "b").campaign == "r20" and p.tier_for(1, None).campaign == "r10"
