"""The JSON Schema AppConfig checks the config document with (domain/json_schema.py) agrees with schema.parse:
it accepts every document the runtime accepts (or AppConfig would refuse a good config), and refuses what the
runtime refuses, except for the rules JSON Schema cannot express (listed in json_schema's docstring)."""
from __future__ import annotations

import copy
import json
import re
from decimal import Decimal

import pytest
from incentives.domain.config import Campaign, Segment
from incentives.domain.config_files import load_config_dir
from incentives.domain.json_schema import decimal_pattern, document_schema, integer_pattern, model_schema, render
from incentives.domain.programs import LoyaltyProgram, ReferralProgram
from incentives.domain.schema import Dec, SchemaError, dump, parse
from jsonschema import Draft4Validator

from tests.support import ROOT, campaign, modules_loaded_by_every_handler
from tests.unit.test_schema import INVALID, VALID

APPCONFIG_VALIDATOR_MAX_CHARS = 32_768  # AppConfig API reference, Validator.Content: length 0..32768
# INVALID campaigns of test_schema.py whose fault only a class invariant (__post_init__) sees
RUNTIME_ONLY = {"x3", "y2", "y3", "y4", "y5", "y7", "y8", "z2", "z5", "z6"}
MODELS = {"campaigns": Campaign, "segments": Segment, "referral_programs": ReferralProgram,
          "loyalty_programs": LoyaltyProgram}


@pytest.fixture(scope="module")
def shipped() -> dict:
    return load_config_dir(ROOT / "config").to_document()


@pytest.fixture(scope="module")
def campaign_validator() -> Draft4Validator:
    return Draft4Validator(model_schema(Campaign))


def test_the_schema_is_valid_draft_04_and_fits_in_an_appconfig_validator():
    schema = document_schema()
    Draft4Validator.check_schema(schema)
    assert schema["$schema"] == "http://json-schema.org/draft-04/schema#"
    assert len(render(schema)) <= APPCONFIG_VALIDATOR_MAX_CHARS
    assert json.loads(render(schema)) == schema


def test_the_schema_covers_every_section_of_the_deployed_document(shipped):
    # journeys and messaging (domain/journeys.py) are checked as a whole document; the per-entity sweeps below
    # cover the four entity sections
    assert set(document_schema()["properties"]) == set(shipped) == {*MODELS, "journeys", "messaging"}


def test_the_document_built_from_config_is_valid(shipped):
    assert list(Draft4Validator(document_schema()).iter_errors(shipped)) == []


@pytest.mark.parametrize("data", VALID, ids=[c["id"] for c in VALID])
def test_every_valid_campaign_is_valid_as_written_and_as_deployed(data, campaign_validator):
    assert list(campaign_validator.iter_errors(data)) == []
    assert list(campaign_validator.iter_errors(dump(parse(Campaign, data)))) == []


@pytest.mark.parametrize("data", INVALID, ids=[c["id"] for c in INVALID])
def test_invalid_campaigns_are_refused_unless_only_an_invariant_sees_it(data, campaign_validator):
    with pytest.raises(SchemaError):
        parse(Campaign, data)
    refused = not campaign_validator.is_valid(data)
    assert refused == (data["id"] not in RUNTIME_ONLY)


def test_a_broken_deployed_document_is_refused_at_the_field(shipped):
    doc = copy.deepcopy(shipped)
    doc["campaigns"]["welcome10"]["limits"] = {"per_customer": "once"}
    errors = list(Draft4Validator(document_schema()).iter_errors(doc))
    assert [list(e.absolute_path) for e in errors] == [["campaigns", "welcome10", "limits", "per_customer"]]


def test_segments_and_programs_are_checked_too(shipped):
    v = Draft4Validator(document_schema())
    for section, entity, path, bad in (
            ("segments", "big-spenders", ["min_order_count"], -1),
            ("referral_programs", "friends", ["link_template"], "ftp://x/{code}"),
            ("referral_programs", "friends", ["referrer_rewards", 0, "from"], 0),
            ("loyalty_programs", "rewards", ["tiers", 0, "multiplier"], "10.5"),
            ("loyalty_programs", "rewards", ["expiry", "after_days"], 0)):
        doc = copy.deepcopy(shipped)
        target = doc[section][entity]
        for p in path[:-1]:
            target = target[p]
        target[path[-1]] = bad
        assert not v.is_valid(doc), (section, path)
        with pytest.raises(SchemaError):
            parse(MODELS[section], doc[section][entity])


# ---- no false refusals: mutate every leaf of the shipped document and of VALID --------------------------------

# one of each JSON type, and values near the declared bounds (jsonschema is slow with $ref: keep this short)
REPLACEMENTS = [None, "x", 0, -1, 101, 1.5, True, [], {}, "100.0001", "2026-12-01T00:00:00Z", "EUR"]


def _leaves(value, path=()):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _leaves(v, (*path, i))
    if path:
        yield path


def _replaced(value, path, new):
    out = copy.deepcopy(value)
    target = out
    for p in path[:-1]:
        target = target[p]
    target[path[-1]] = new
    return out


def _entities(shipped):
    for section, cls in MODELS.items():
        for entity in shipped[section].values():
            yield cls, entity
    for c in VALID:
        if c["id"] in ("pc", "bx", "sch", "cl"):  # the shapes the shipped campaigns do not have
            yield Campaign, c


def test_the_schema_never_refuses_what_the_runtime_accepts_and_catches_most_of_what_it_refuses(shipped):
    validators = {cls: Draft4Validator(model_schema(cls)) for cls in MODELS.values()}
    runtime_refused = both_refused = 0
    for cls, entity in _entities(shipped):
        for path in _leaves(entity):
            for new in REPLACEMENTS:
                mutated = _replaced(entity, path, new)
                try:
                    parse(cls, mutated)
                    runtime_ok = True
                except SchemaError:
                    runtime_ok = False
                schema_ok = validators[cls].is_valid(mutated)
                assert schema_ok or not runtime_ok, (cls.__name__, path, new)  # never stricter than parse
                runtime_refused += not runtime_ok
                both_refused += not runtime_ok and not schema_ok
    assert runtime_refused > 500
    assert both_refused / runtime_refused > 0.9, (both_refused, runtime_refused)


# ---- the pieces -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("lo,hi", [(0, 0), (1, 9), (1, 99), (7, 1234), (13, 2000), (0, None), (5, None)])
def test_integer_patterns_match_exactly_the_range(lo, hi):
    rx = re.compile(f"^({integer_pattern(lo, hi)})$")
    for n in range(3000):
        assert bool(rx.match(str(n))) == (lo <= n and (hi is None or n <= hi)), n


@pytest.mark.parametrize("dec", [Dec(gt=0, le=100, max_digits=6, decimal_places=3),
                                 Dec(gt=0, le=10, max_digits=5, decimal_places=2), Dec(gt=2, decimal_places=1),
                                 Dec(gt=0, le=1)])
def test_decimal_patterns_agree_with_the_runtime_check_on_plain_strings(dec):
    rx = re.compile(decimal_pattern(dec))
    samples = ["0", "0.0", "0.001", "0.0001", "00.5", "1", "1.", "2", "2.0", "2.05", "2.1", "9.99", "9.999",
               "10", "10.0", "10.00000", "10.01", "12.5", "7.125", "7.1250", "99.999", "100", "100.000", "100.001",
               "101", "1000", "-1", "-0.5", "1.23456"]
    for s in samples:
        expected = dec.check(Decimal(s)) is None
        assert bool(rx.search(s)) == expected, s


def test_datetimes_as_the_document_writes_them_are_valid(campaign_validator):
    c = parse(Campaign, campaign("sch", schedule={"starts_at": "2026-12-01T00:00:00.123456",
                                                  "ends_at": "2026-12-24T23:59:59+01:00"}))
    assert campaign_validator.is_valid(dump(c))
    bad = campaign("sch", schedule={"starts_at": "1 December 2026"})
    assert not campaign_validator.is_valid(bad)


def test_no_lambda_handler_loads_the_json_schema_or_jsonschema():
    """Synth- and tool-time code: deployed functions validate with schema.parse (cold start, no jsonschema)."""
    assert modules_loaded_by_every_handler("m == 'jsonschema' or m.endswith('json_schema')") == []
