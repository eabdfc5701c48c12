"""config/journeys/<id>.yaml and config/messaging.yaml: validated like campaigns (both validators, the same
verdict), with the offer campaign, segments and programs checked across files; errors name file and field."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
import yaml

from incentives.domain.config import ConfigBundle
from incentives.domain.config_files import load_config_dir, validate
from incentives.domain.errors import ConfigError
from incentives.domain.journeys import Birthday, Journey, Messaging
from incentives.domain.schema import SchemaError, parse
from tests.support import ROOT


@pytest.fixture
def config(tmp_path):
    shutil.copytree(ROOT / "config", tmp_path / "config")
    return tmp_path / "config"


def write(config, name: str, data: dict) -> None:
    (config / name).write_text(yaml.safe_dump(data, allow_unicode=True))


def journey(**changes) -> dict:
    base = yaml.safe_load((ROOT / "config" / "journeys" / "birthday.yaml").read_text())
    base.update(changes)
    return base


def test_the_shipped_journey_and_messaging_load_and_read_back_from_the_deployed_document():
    bundle = load_config_dir(ROOT / "config")
    birthday = bundle.journeys["birthday"]
    assert birthday.trigger == Birthday(type="birthday", days_before=0)
    assert birthday.offer.campaign == "birthday-gift" and bundle.campaigns["birthday-gift"].codes.type == "unique"
    assert birthday.channels == ["email", "sms"] and birthday.quiet_hours.from_ == "21:00"
    assert bundle.messaging.frequency_cap.max_messages == 3
    doc = bundle.to_document()
    assert doc["journeys"]["birthday"]["quiet_hours"] == {"from": "21:00", "to": "08:00"}
    again = ConfigBundle.from_document(doc)
    assert again.journeys == bundle.journeys and again.messaging == bundle.messaging


def test_a_document_without_journeys_has_none_and_no_messaging():
    doc = load_config_dir(ROOT / "config").to_document()
    del doc["journeys"], doc["messaging"]
    bundle = ConfigBundle.from_document(doc)
    assert bundle.journeys == {} and bundle.messaging is None


def test_every_trigger_type_loads(config):
    triggers = [{"type": "win_back", "days_since_last_order": 60},
                {"type": "birthday", "days_before": 3},
                {"type": "signup_anniversary", "years": [1, 2, 5]},
                {"type": "signup_anniversary"},
                {"type": "replenishment", "lifespan_days": {"skus": {"COFFEE-1KG": 30}, "categories": {"coffee": 28}}},
                {"type": "post_purchase", "days_after_first_order": 14},
                {"type": "points_expiring", "program": "rewards"}]
    for i, t in enumerate(triggers):
        write(config, f"journeys/j{i}.yaml", journey(id=f"j{i}", trigger=t, audience={"countries": ["DE", "AT"],
                                                                                      "segments": ["big-spenders"]}))
    bundle = load_config_dir(config)
    assert [bundle.journeys[f"j{i}"].trigger.type for i in range(len(triggers))] == [t["type"] for t in triggers]
    assert bundle.journeys["j3"].trigger.years is None


@pytest.mark.parametrize("changes,field", [
    ({"trigger": {"type": "win_back"}}, "days_since_last_order"),
    ({"trigger": {"type": "post_purchase"}}, "days_after_first_order"),
    ({"trigger": {"type": "replenishment"}}, "lifespan_days"),
    ({"trigger": {"type": "replenishment", "lifespan_days": {}}}, "lifespan_days"),
    ({"trigger": {"type": "win_back", "days_since_last_order": 0}}, "days_since_last_order"),
    ({"trigger": {"type": "signup_anniversary", "years": [1, 1]}}, "years"),
    ({"trigger": {"type": "lottery"}}, "trigger: Input tag 'lottery'"),
    ({"trigger": {"type": "birthday", "days_before": 1, "hour": 9}}, "hour"),
    ({"timezone": "Europe/Atlantis"}, "timezone"),
    ({"send_at": "25:00"}, "send_at"),
    ({"send_at": "9:00"}, "send_at"),
    ({"quiet_hours": {"from": "21:00", "to": "8h"}}, "quiet_hours.to"),
    ({"quiet_hours": {"from": "21:00", "to": "21:00"}}, "quiet_hours.to"),
    ({"channels": ["email", "fax"]}, "channels"),
    ({"channels": ["email", "email"]}, "channels"),
    ({"channels": []}, "channels"),
    ({"audience": {"countries": ["Germany"]}}, "audience.countries"),
    ({"message": {"subject": "Hi {name}", "text": "Use {code}"}}, "message.subject"),
    ({"message": {"subject": "Hi", "text": "Use {code:>10}"}}, "message.text"),
    ({"message": {"subject": "Hi", "text": "Use {code"}}, "message.text"),
    ({"message": {"subject": "Hi", "text": "x", "locales": {"de": {"subject": "Hallo", "text": "{gutschein}"}}}},
     "message.locales.de.text"),
    ({"message": {"subject": "Hi", "text": "x", "locales": {"German": {"subject": "Hallo", "text": "x"}}}},
     "message.locales"),
    ({"offer": None}, "message"),  # {code} without an offer
    ({"message": {"subject": "Hi", "text": "{points} points"}}, "message"),  # {points}: points_expiring only
    ({"offer": {"campaign": "no-such-campaign"}}, "offer.campaign"),
    ({"offer": {"campaign": "blackfriday"}}, "offer.campaign"),  # one public code
    ({"audience": {"segments": ["whales"]}}, "audience.segments"),
    ({"trigger": {"type": "points_expiring", "program": "miles"}}, "trigger.program"),
    ({"id": "other-name"}, "id"),
    ({"colour": "red"}, "colour"),
])
def test_a_broken_journey_names_the_file_and_the_field(config, changes, field):
    data = {k: v for k, v in journey(**changes).items() if v is not None}
    write(config, "journeys/birthday.yaml", data)
    with pytest.raises(ConfigError) as e:
        load_config_dir(config)
    message = str(e.value)
    assert "journeys/birthday.yaml" in message and field in message, message


def test_a_points_expiring_journey_names_points_and_their_expiry_without_an_offer(config):
    data = journey(id="points-reminder", trigger={"type": "points_expiring", "program": "rewards"},
                   message={"subject": "{points} points expire on {expires_on}", "text": "Spend before {expires_on}."})
    del data["offer"]
    write(config, "journeys/points-reminder.yaml", data)
    assert load_config_dir(config).journeys["points-reminder"].offer is None


def test_expires_on_needs_an_offer_whose_codes_expire(config):
    campaign = yaml.safe_load((config / "campaigns" / "birthday-gift.yaml").read_text())
    del campaign["codes"]["expires_in_days"]
    write(config, "campaigns/birthday-gift.yaml", campaign)
    with pytest.raises(ConfigError, match=r"journeys/birthday.yaml: message: \{expires_on\} .* never expire"):
        load_config_dir(config)


@pytest.mark.parametrize("data,field", [
    ({"from_email": "not an address"}, "from_email"),
    ({"from_email": "a@shop.example", "frequency_cap": {"max_messages": 0, "per_days": 7}}, "max_messages"),
    ({"from_email": "a@shop.example", "frequency_cap": {"max_messages": 2}}, "per_days"),
    ({"from_email": "a@shop.example", "public_base_url": "ftp://x"}, "public_base_url"),
    ({"frequency_cap": {"max_messages": 2, "per_days": 7}}, "from_email"),
])
def test_a_broken_messaging_file_names_the_file_and_the_field(config, data, field):
    write(config, "messaging.yaml", data)
    with pytest.raises(ConfigError) as e:
        load_config_dir(config)
    assert "messaging.yaml" in str(e.value) and field in str(e.value), str(e.value)


def test_messaging_is_optional(config):
    (config / "messaging.yaml").unlink()
    assert load_config_dir(config).messaging is None


def test_both_validators_give_the_same_verdicts():
    good = journey(quiet_hours={"from": "22:00", "to": "07:30"})
    assert parse(Journey, good) == validate(Journey, good)
    for bad in (journey(trigger={"type": "win_back"}), journey(timezone="Mars/Olympus"), journey(send_at="10:60"),
                journey(message={"subject": "{x}", "text": "t"}), journey(channels=["pigeon"])):
        with pytest.raises(SchemaError):
            parse(Journey, bad)
        with pytest.raises(ConfigError):
            validate(Journey, bad)
    m = {"from_email": "Shop <a@shop.example>", "public_base_url": "https://shop.example/api"}
    assert parse(Messaging, m) == validate(Messaging, m)


def test_a_broken_deployed_document_is_a_config_error_naming_the_journey_and_field():
    doc = load_config_dir(ROOT / "config").to_document()
    doc["journeys"]["birthday"]["send_at"] = "noon"
    bundle = ConfigBundle.from_document(doc)  # checkout never reads journeys: parsed on first use
    with pytest.raises(ConfigError, match=r"birthday\.send_at"):
        _ = bundle.journeys
    doc = load_config_dir(ROOT / "config").to_document()
    doc["journeys"]["birthday"]["offer"] = {"campaign": "gone"}
    with pytest.raises(ConfigError, match=r"offer\.campaign"):
        _ = ConfigBundle.from_document(doc).messaging


def test_reading_the_deployed_document_leaves_journeys_unparsed_until_used():
    code = ("import json, sys; from incentives.domain.config import ConfigBundle; "
            "b = ConfigBundle.from_document(json.loads(sys.argv[1])); "
            "print('incentives.domain.journeys' in sys.modules, b.campaign('welcome10').id, "
            "'incentives.domain.journeys' in sys.modules, sorted(b.journeys), "
            "'incentives.domain.journeys' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, json.dumps(load_config_dir(ROOT / "config").to_document())],
                         capture_output=True, text=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT / "layers" / "core" / "python")})
    assert out.stdout.split() == ["False", "welcome10", "False", "['birthday']", "True"], out.stderr
