"""The AppConfig profile refuses a malformed config version: its JSON_SCHEMA validator is the schema generated
from the declarations the functions read (incentives.domain.json_schema), within AppConfig's size limit, and
synth checks the document it deploys against that same schema."""
from __future__ import annotations

import copy
import json

import pytest
from incentives.domain.errors import ConfigError
from incentives.domain.json_schema import document_schema
from jsonschema import Draft4Validator

from infra import REPO_ROOT, config_store
from infra.config_store import MAX_VALIDATOR_CHARS, check_document, load_document, validator_schema


def test_the_profile_validates_versions_with_the_generated_schema(synth):
    (profile,) = synth.of_type("AWS::AppConfig::ConfigurationProfile").values()
    (validator,) = profile["Properties"]["Validators"]
    assert validator["Type"] == "JSON_SCHEMA"
    assert json.loads(validator["Content"]) == document_schema()
    assert len(validator["Content"]) <= MAX_VALIDATOR_CHARS

    schema = Draft4Validator(json.loads(validator["Content"]))
    (version,) = synth.of_type("AWS::AppConfig::HostedConfigurationVersion").values()
    deployed = json.loads(version["Properties"]["Content"])
    assert schema.is_valid(deployed)  # the version synth makes passes AppConfig's check
    deployed["campaigns"]["welcome10"]["enabled"] = "no"
    assert not schema.is_valid(deployed)  # and a hand-edited one with a wrong type would not


def test_a_schema_over_appconfigs_limit_stops_synth(monkeypatch):
    assert len(validator_schema()) <= MAX_VALIDATOR_CHARS
    monkeypatch.setattr(config_store, "MAX_VALIDATOR_CHARS", 1000)
    with pytest.raises(ValueError, match=r"characters; AppConfig takes at most 1000"):
        validator_schema()


def test_synth_checks_the_document_against_the_schema_and_names_the_field():
    document = load_document(REPO_ROOT / "config")
    check_document(document)
    broken = copy.deepcopy(document)
    broken["campaigns"]["welcome10"]["reward"]["percent"] = "1e1"  # parse would take it; AppConfig would not
    with pytest.raises(ConfigError, match=r"campaigns\.welcome10\.reward"):
        check_document(broken)
