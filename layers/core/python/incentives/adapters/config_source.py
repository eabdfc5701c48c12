"""Where campaign config comes from: the files in config/ (local, tests) or AWS AppConfig (deployed).

Both sources are cached for CONFIG_MAX_AGE_SECONDS (30 s by default), so an operator's `enabled: false`
stops a campaign within a minute without a code deploy.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Protocol

from ..domain.config import ConfigBundle
from ..settings import get_settings


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

    def __init__(self, application: str, environment: str, profile: str, max_age: float = 30.0):
        super().__init__(max_age)
        self.ids = (application, environment, profile)
        self._client = None
        self._token: str | None = None

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
        return ConfigBundle.from_document(json.loads(content))


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
