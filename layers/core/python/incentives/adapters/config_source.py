"""Where campaign config comes from: the files in config/ (local, tests) or AWS AppConfig (deployed).

Both sources are cached for CONFIG_MAX_AGE_SECONDS (30 s by default), so an operator's `enabled: false`
stops a campaign within a minute without a code deploy.

A new AppConfig document that does not parse or validate never replaces a good one: the function keeps serving
the last good bundle, logs the rejection (version label and field paths, no values) and counts it as the
ConfigRejected metric. Only a function that never had a good document fails (ConfigError).
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any, Protocol

from ..domain.config import ConfigBundle
from ..domain.errors import ConfigError
from ..settings import get_settings

REJECTED_METRIC = "ConfigRejected"


class ConfigSource(Protocol):
    def bundle(self) -> ConfigBundle: ...


class StaticConfig:
    """A fixed bundle (tests, benchmarks)."""

    def __init__(self, bundle: ConfigBundle):
        self._bundle = bundle

    def bundle(self) -> ConfigBundle:
        return self._bundle


class _Cached:
    def __init__(self, max_age: float):
        self.max_age = max_age
        self._bundle: ConfigBundle | None = None
        self._loaded_at = 0.0
        self._lock = threading.Lock()

    def bundle(self) -> ConfigBundle:
        if self._bundle is None or time.monotonic() - self._loaded_at > self.max_age:
            with self._lock:
                if self._bundle is None or time.monotonic() - self._loaded_at > self.max_age:
                    fresh = self._load()
                    if fresh is not None:
                        self._bundle = fresh
                    self._loaded_at = time.monotonic()
        return self._bundle  # type: ignore[return-value]

    def _load(self) -> ConfigBundle | None:
        raise NotImplementedError


class FileConfig(_Cached):
    def __init__(self, directory: str, max_age: float = 30.0):
        super().__init__(max_age)
        self.directory = directory

    def _load(self) -> ConfigBundle:
        # pydantic and YAML: `make run` and tests only (a deployed function reads AppConfig's JSON document)
        from ..domain.config_files import load_config_dir

        return load_config_dir(self.directory)


class AppConfigSource(_Cached):
    """AppConfig's data plane: a session token, then GetLatestConfiguration, which returns an empty body when
    nothing changed since the last poll (so the cached bundle stays)."""

    def __init__(self, application: str, environment: str, profile: str, max_age: float = 30.0,
                 metrics: Any = None):
        super().__init__(max_age)
        self.ids = (application, environment, profile)
        self._client: Any = None
        self._token: str | None = None
        self._metrics = metrics  # Powertools Metrics; by default one that adds to the handler's metric set

    def _load(self) -> ConfigBundle | None:
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("appconfigdata")
        if self._token is None:
            app, env, profile = self.ids
            self._token = self._client.start_configuration_session(
                ApplicationIdentifier=app, EnvironmentIdentifier=env, ConfigurationProfileIdentifier=profile,
                RequiredMinimumPollIntervalInSeconds=15)["InitialConfigurationToken"]
        r = self._client.get_latest_configuration(ConfigurationToken=self._token)
        self._token = r["NextPollConfigurationToken"]
        content = r["Configuration"].read()
        if not content:
            return None
        try:
            return read_document(content)
        except ConfigError as e:
            version = r.get("VersionLabel") or "unlabelled"
            if self._bundle is None:
                # Nothing to fall back on. A new session, so the next call fetches the document again (polling
                # on with this token would answer "unchanged" and leave the function without any config).
                self._token = None
                raise ConfigError(f"AppConfig version {version}: {e.message}", details=e.details) from None
            self._reject(version, e)
            return None  # the last good bundle stays

    def _reject(self, version: str, error: ConfigError) -> None:
        from aws_lambda_powertools import Logger, Metrics
        from aws_lambda_powertools.metrics import MetricUnit

        fields = error.details.get("fields")
        context = {"config_version": version, "config_source": "appconfig",
                   # field paths only (values may not be logged); cross-file checks name config ids, no PII
                   **({"fields": fields[:20]} if fields else {"reason": error.details.get("reason", error.message)})}
        Logger(child=True).error("config document rejected: keeping the last good config", extra=context)
        metrics = self._metrics if self._metrics is not None else Metrics()
        metrics.add_metric(name=REJECTED_METRIC, unit=MetricUnit.Count, value=1)


def read_document(content: bytes) -> ConfigBundle:
    """The deployed JSON document as a bundle; anything wrong with it (JSON, shape, values, references) is a
    ConfigError."""
    try:
        doc = json.loads(content)
    except ValueError as e:  # JSONDecodeError, UnicodeDecodeError: the position, never the text
        pos = f" at line {e.lineno} column {e.colno}" if isinstance(e, json.JSONDecodeError) else ""
        raise ConfigError(f"config document is not JSON{pos}", details={"reason": "not JSON" + pos}) from None
    if not isinstance(doc, dict):
        raise ConfigError("config document is not a JSON object", details={"reason": "not a JSON object"})
    return ConfigBundle.from_document(doc)


_default: ConfigSource | None = None


def default_source() -> ConfigSource:
    global _default
    if _default is None:
        s = get_settings()
        if s.config_source == "appconfig":
            _default = AppConfigSource(s.appconfig_application, s.appconfig_environment, s.appconfig_profile,
                                       s.config_max_age_seconds)
        else:
            _default = FileConfig(s.config_dir, s.config_max_age_seconds)
    return _default
