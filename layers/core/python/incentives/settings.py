"""Environment variables the functions read, parsed once per process (no pydantic: cold start matters).

Deployed, infra/ sets them (infra/stack.py, infra/config_store.py). Each handler checks the ones it needs
(NEEDS) when it is imported: ``check("<folder>")`` raises MissingSetting naming every one that is missing or
malformed, so a function that lacks one fails at init, not on some later request. There are no local defaults
here: the local run (local/run.py) and the tests set their own values, and install their bus and job dispatcher
(incentives/wiring.py) instead of EVENT_BUS_NAME and JOB_FUNCTIONS.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache
from collections.abc import Mapping

# What a function may need; each stands for the variables below.
TABLE = "TABLE_NAME"
CONFIG = "CONFIG_SOURCE"  # appconfig: APPCONFIG_APPLICATION, _ENVIRONMENT, _PROFILE; files: INCENTIVES_CONFIG_DIR
BUS = "EVENT_BUS_NAME"  # or a bus installed with wiring.use_bus
DISPATCH = "JOB_FUNCTIONS"  # {job name: function name}; or a dispatcher installed with wiring.use_dispatcher
OPERATOR_KEYS = "OPERATOR_API_KEY_IDS"  # the API key ids that may call operator routes
WORK_QUEUE = "BULK_QUEUE_URL"  # the bulk worker queue; or a queue installed with wiring.use_work_queue
EXPORTS = "EXPORT_BUCKET"  # the code export bucket; or files installed with wiring.use_export_files
HASH_KEY = "HASH_KEY_SECRET_ARN"  # the key of e-mail/IP pseudonyms (hash_key.py); locally INCENTIVES_HASH_KEY

APPCONFIG = ("APPCONFIG_APPLICATION", "APPCONFIG_ENVIRONMENT", "APPCONFIG_PROFILE")
CONFIG_SOURCES = ("appconfig", "files")

# Function folder -> the settings it cannot run without (tests/infra asserts the stack sets each).
NEEDS: dict[str, tuple[str, ...]] = {
    "storefront": (TABLE, CONFIG, HASH_KEY),
    "claims": (TABLE, CONFIG, HASH_KEY),
    "operators": (TABLE, CONFIG, DISPATCH, OPERATOR_KEYS, EXPORTS, HASH_KEY),
    "events": (TABLE,),
    "campaign_activation": (TABLE, CONFIG),
    "bulk_codes": (TABLE, CONFIG, WORK_QUEUE),
    "bulk_codes_worker": (TABLE, CONFIG),
    "code_exports": (TABLE, CONFIG, EXPORTS),
    "event_fanout": (TABLE, BUS),  # the table: quarantine items only (services/quarantine.py)
    "refunds": (TABLE, CONFIG),
    "referrals": (TABLE, CONFIG, HASH_KEY, OPERATOR_KEYS),
    "referral_events": (TABLE, CONFIG),
    "referral_rewards": (TABLE, CONFIG),
    "loyalty": (TABLE, CONFIG, OPERATOR_KEYS),
    "loyalty_events": (TABLE, CONFIG),
    "points_expiry": (TABLE, CONFIG),
    "journeys": (TABLE, CONFIG),
    "journey_events": (TABLE, CONFIG),
    "metrics_events": (TABLE,),
}


class MissingSetting(RuntimeError):
    """A function's required setting is missing or malformed; ``names`` lists them."""

    def __init__(self, function: str, problems: dict[str, str]):
        self.names = tuple(problems)
        super().__init__(f"functions/{function} cannot start: "
                         + "; ".join(f"{name} {why}" for name, why in problems.items()))


@dataclass(frozen=True)
class Settings:
    table_name: str
    config_source: str  # "appconfig" (deployed) | "files" (local run, tests)
    config_dir: str
    appconfig_application: str
    appconfig_environment: str
    appconfig_profile: str
    config_max_age_seconds: int
    event_bus_name: str
    operator_api_key_ids: frozenset[str]
    job_functions: dict = field(default_factory=dict)  # job name -> Lambda function name
    dynamodb_endpoint: str | None = None  # DynamoDB Local (local run, tests); deployed: the regional endpoint
    # ENGINE_ORIGINS (optional, comma-separated): the origins of the engine's own pages (/claim/...), which may
    # always claim without an entry in a campaign's claims.allowed_origins; local/run.py sets its own origin.
    engine_origins: frozenset[str] = frozenset()
    # JOBS_ALLOW_NOW ("true" | "false", default false): may POST /v1/jobs/{name}/run take `now` (run a job as of
    # another moment)? Off when deployed unless the stack is told otherwise (a test or staging stack): an operator
    # key could otherwise expire every point lot or pay every held reward early. make run and the tests turn it on.
    jobs_allow_now: bool = False
    # Guessing (services/guessing.py): more than guess_limit unknown codes per customer id or shopper IP in a
    # fixed window of guess_window_seconds are throttled (GUESS_LIMIT, GUESS_WINDOW_SECONDS).
    guess_limit: int = 100
    guess_window_seconds: int = 600
    # Lookups also try the bare SHA-256 pseudonyms written before the key existed (LEGACY_HASH_LOOKUPS=off ends
    # the transition; docs/runbook.md).
    legacy_hash_lookups: bool = True
    # DYNAMODB_FAULTS (tests and drills only, never set by infra/): fault injection in the DynamoDB client,
    # e.g. "rate=0.05,seed=7"; see adapters/faults.py.
    dynamodb_faults: str = ""


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get(TABLE, ""),
        config_source=env.get(CONFIG, ""),
        config_dir=env.get("INCENTIVES_CONFIG_DIR", ""),
        appconfig_application=env.get("APPCONFIG_APPLICATION", ""),
        appconfig_environment=env.get("APPCONFIG_ENVIRONMENT", ""),
        appconfig_profile=env.get("APPCONFIG_PROFILE", ""),
        config_max_age_seconds=int(env.get("CONFIG_MAX_AGE_SECONDS", "30")),
        event_bus_name=env.get(BUS, ""),
        operator_api_key_ids=frozenset(k for k in env.get(OPERATOR_KEYS, "").split(",") if k),
        job_functions=_json_object(env.get(DISPATCH)) or {},
        dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT") or None,
        engine_origins=frozenset(o.strip().rstrip("/") for o in env.get("ENGINE_ORIGINS", "").split(",") if o.strip()),
        jobs_allow_now=env.get("JOBS_ALLOW_NOW", "").strip().lower() == "true",
        guess_limit=_positive(env.get("GUESS_LIMIT"), 100),
        guess_window_seconds=_positive(env.get("GUESS_WINDOW_SECONDS"), 600),
        legacy_hash_lookups=env.get("LEGACY_HASH_LOOKUPS", "on").strip().lower() not in ("off", "false", "0", "no"),
        dynamodb_faults=env.get("DYNAMODB_FAULTS", ""),
    )


def _positive(raw: str | None, default: int) -> int:
    return int(raw) if raw and raw.strip().isdigit() and int(raw) > 0 else default


def _json_object(raw: str | None) -> dict | None:
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def check(function: str, env: Mapping[str, str] | None = None) -> Settings:
    """The cold-start check of functions/<function>: its NEEDS are all there (in ``env``, os.environ by default),
    or MissingSetting names them."""
    env = os.environ if env is None else env
    problems: dict[str, str] = {}
    for need in NEEDS[function]:
        if need == CONFIG:
            source = env.get(CONFIG, "")
            if source not in CONFIG_SOURCES:
                problems[CONFIG] = f"is {source!r}, not one of {', '.join(CONFIG_SOURCES)}" if source else "is not set"
            names = APPCONFIG if source == "appconfig" else ("INCENTIVES_CONFIG_DIR",) if source == "files" else ()
            problems.update({name: "is not set" for name in names if not env.get(name)})
            age = env.get("CONFIG_MAX_AGE_SECONDS")
            if age is not None and not age.isdigit():
                problems["CONFIG_MAX_AGE_SECONDS"] = f"is {age!r}, not a number of seconds"
        elif need == BUS:
            from . import wiring

            if not env.get(BUS) and not wiring.has_bus():
                problems[BUS] = "is not set"
        elif need == DISPATCH:
            from . import wiring

            if not wiring.has_dispatcher() and not _json_object(env.get(DISPATCH)):
                problems[DISPATCH] = "is not a JSON object of job names to function names" if env.get(DISPATCH) \
                    else "is not set"
        elif need in (WORK_QUEUE, EXPORTS):
            from . import wiring

            installed = wiring.has_work_queue() if need == WORK_QUEUE else wiring.has_export_files()
            if not installed and not env.get(need):
                problems[need] = "is not set"
        elif need == HASH_KEY:
            from . import hash_key
            from .domain import pseudonyms

            if not hash_key.configured(env) and not pseudonyms.has_key():
                problems[HASH_KEY] = "is not set (nor INCENTIVES_HASH_KEY): e-mail and IP pseudonyms need their key"
        elif not env.get(need, "").strip(" ,"):
            problems[need] = "is not set"
    if problems:
        raise MissingSetting(function, problems)
    return get_settings()
