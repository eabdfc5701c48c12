"""Campaign config validation: a broken file is rejected with a message naming the file and the field."""
from __future__ import annotations

from datetime import datetime, UTC

import pytest
import yaml

from incentives.domain.campaigns import effective_status
from incentives.domain.config import Campaign, ConfigBundle
from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.errors import ConfigError
from tests.support import ROOT, campaign


def write(tmp_path, *campaigns, names=None):
    d = tmp_path / "campaigns"
    d.mkdir(exist_ok=True)
    for i, c in enumerate(campaigns):
        name = names[i] if names else c["id"]
        (d / f"{name}.yaml").write_text(c if isinstance(c, str) else yaml.safe_dump(c))
    return tmp_path


def test_the_shipped_config_is_valid():
    bundle = load_config_dir(ROOT / "config")
    assert {"welcome10", "blackfriday", "sorry"} <= set(bundle.campaigns)


@pytest.mark.parametrize("patch,field", [
    ({"reward": {"type": "percent_off", "percent": 120}}, "reward.percent_off.percent"),
    ({"reward": {"type": "amount_off", "amount": {"amount": 5, "currency": "EURO"}}},
     "reward.amount_off.amount.currency"),
    ({"limits": {"per_code": 0}}, "limits.per_code"),
    ({"limits": {"per_code": "1"}}, "limits.per_code"),
    ({"schedule": {"timezone": "Mars/Olympus"}}, "schedule.timezone"),
    ({"codes": {"type": "unique", "pattern": "AB-##"}}, "codes"),
    ({"codes": {"type": "public"}}, "codes"),
    ({"eligibility": {"countries": ["Germany"]}}, "eligibility.countries"),
    ({"claims": {"allowed_origins": ["https://shop.example/path"]}}, "claims.allowed_origins"),
    ({"colour": "red"}, "colour"),
])
def test_a_broken_file_names_the_file_and_the_field(tmp_path, patch, field):
    root = write(tmp_path, campaign("broken", **patch))
    with pytest.raises(ConfigError) as e:
        load_config_dir(root)
    assert "broken.yaml" in str(e.value) and field in str(e.value)


def test_file_name_must_match_id_and_yaml_must_parse(tmp_path):
    with pytest.raises(ConfigError, match="must equal the file name"):
        load_config_dir(write(tmp_path, campaign("one"), names=["two"]))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_dir(write(tmp_path, "id: [unclosed", names=["bad"]))


def test_overlapping_code_spaces_and_public_codes_are_rejected(tmp_path):
    a = campaign("a", codes={"type": "unique", "pattern": "X-########"})
    b = campaign("b", codes={"type": "unique", "pattern": "#-########"})
    with pytest.raises(ConfigError, match="can produce the same code"):
        ConfigBundle({c["id"]: validate(Campaign, c) for c in (a, b)})
    same = campaign("c", codes={"type": "unique", "pattern": "X-########"})
    assert ConfigBundle({c["id"]: validate(Campaign, c) for c in (a, same)})  # one shared space is fine
    pub = campaign("p", codes={"type": "public", "code": "X-ABCDEFGH"})
    with pytest.raises(ConfigError, match="matches the code pattern"):
        ConfigBundle({c["id"]: validate(Campaign, c) for c in (a, pub)})


def test_mixed_currencies_in_one_campaign_are_rejected():
    with pytest.raises(ConfigError, match="one currency"):
        validate(Campaign, campaign("m", reward={"type": "amount_off", "amount": {"amount": 5, "currency": "EUR"}},
                                         limits={"budget": {"amount": 5, "currency": "USD"}}))


def test_schedule_is_read_in_the_campaign_time_zone():
    c = validate(Campaign, campaign("tz", schedule={"starts_at": "2026-12-01T00:00:00",
                                                          "ends_at": "2026-12-02T00:00:00",
                                                          "timezone": "America/New_York"}))
    at = lambda s: datetime.fromisoformat(s).replace(tzinfo=UTC)  # noqa: E731
    assert effective_status(c, at("2026-12-01T04:59:59")) == "scheduled"  # 23:59:59 in New York
    assert effective_status(c, at("2026-12-01T05:00:00")) == "active"
    assert effective_status(c, at("2026-12-02T05:00:00")) == "ended"
    off = validate(Campaign, campaign("off", enabled=False))
    assert effective_status(off, at("2026-12-01T12:00:00")) == "disabled"


def test_code_pattern_names_its_campaign_without_io():
    a = validate(Campaign, campaign("abc", codes={"type": "unique", "pattern": "ABC-####-####"}))
    p = validate(Campaign, campaign("pub", codes={"type": "public", "code": "SUMMER"}))
    bundle = ConfigBundle({"abc": a, "pub": p})
    assert bundle.campaign_for_code("ABC-2345-6789") == "abc"
    assert bundle.campaign_for_code("ABC-2345-678I") is None  # I is not in the charset
    assert bundle.campaign_for_code("SUMMER") == "pub"
    assert ConfigBundle.from_document(bundle.to_document()).campaigns == bundle.campaigns


def test_campaigns_may_only_name_known_segments(tmp_path):
    root = write(tmp_path, campaign("s", eligibility={"segments": ["big-spenders"]}))
    with pytest.raises(ConfigError, match="unknown segments"):
        load_config_dir(root)
    (tmp_path / "segments").mkdir()
    (tmp_path / "segments" / "big-spenders.yaml").write_text(yaml.safe_dump(
        {"id": "big-spenders", "min_total_spent": {"amount": 100_000, "currency": "EUR"}}))
    bundle = load_config_dir(root)
    assert set(bundle.segments) == {"big-spenders"}
    assert ConfigBundle.from_document(bundle.to_document()).segments == bundle.segments
