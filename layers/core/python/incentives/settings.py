"""Environment variables every function reads, parsed once per process (no pydantic: cold start matters)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import lru_cache


@dataclass(frozen=True)
class Settings:
    table_name: str
    config_source: str  # "files" (local, tests) | "appconfig" (deployed)
    config_dir: str
    appconfig_application: str
    appconfig_environment: str
    appconfig_profile: str
    config_max_age_seconds: int
    event_bus_name: str
    operator_api_key_ids: frozenset[str]
    job_functions: dict = field(default_factory=dict)  # job name -> Lambda function name (deployed)
    dynamodb_endpoint: str | None = None
    local_outbox_dir: str | None = None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    env = os.environ
    return Settings(
        table_name=env.get("TABLE_NAME", "incentives"),
        config_source=env.get("CONFIG_SOURCE", "files"),
        config_dir=env.get("INCENTIVES_CONFIG_DIR", "config"),
        appconfig_application=env.get("APPCONFIG_APPLICATION", ""),
        appconfig_environment=env.get("APPCONFIG_ENVIRONMENT", ""),
        appconfig_profile=env.get("APPCONFIG_PROFILE", ""),
        config_max_age_seconds=int(env.get("CONFIG_MAX_AGE_SECONDS", "30")),
        event_bus_name=env.get("EVENT_BUS_NAME", ""),
        operator_api_key_ids=frozenset(k for k in env.get("OPERATOR_API_KEY_IDS", "").split(",") if k),
        job_functions=json.loads(env.get("JOB_FUNCTIONS", "{}")),
        dynamodb_endpoint=env.get("DYNAMODB_ENDPOINT") or None,
        local_outbox_dir=env.get("LOCAL_OUTBOX_DIR") or None,
    )
