"""Config sources: AppConfig polling keeps the last document when nothing changed, and both sources cache
for their max age so an operator's switch lands within a minute."""
from __future__ import annotations

import io
import json

import yaml

from incentives.adapters.config_source import AppConfigSource, FileConfig
from tests.support import campaign


class FakeAppConfigData:
    """The two appconfigdata calls the engine makes, with AppConfig's semantics: an empty body when the
    configuration did not change since the token was issued."""

    def __init__(self, doc: dict):
        self.doc, self.version, self.seen, self.calls = doc, 1, {}, 0

    def start_configuration_session(self, **ids):
        assert set(ids) >= {"ApplicationIdentifier", "EnvironmentIdentifier", "ConfigurationProfileIdentifier"}
        return {"InitialConfigurationToken": "t0"}

    def get_latest_configuration(self, ConfigurationToken):
        self.calls += 1
        changed = self.seen.get(ConfigurationToken) != self.version
        token = f"t{self.calls}"
        self.seen[token] = self.version
        body = json.dumps(self.doc).encode() if changed else b""
        return {"NextPollConfigurationToken": token, "Configuration": io.BytesIO(body)}


def doc(enabled: bool) -> dict:
    return {"campaigns": {"a": campaign("a", enabled=enabled)}}


def test_appconfig_source_keeps_the_bundle_when_nothing_changed_and_picks_up_a_switch(monkeypatch):
    fake = FakeAppConfigData(doc(True))
    src = AppConfigSource("app", "env", "profile", max_age=0)
    src._client = fake
    assert src.bundle().campaigns["a"].enabled is True
    assert src.bundle().campaigns["a"].enabled is True  # empty body: the cached bundle stays
    fake.doc, fake.version = doc(False), 2
    assert src.bundle().campaigns["a"].enabled is False


def test_sources_cache_for_their_max_age(tmp_path):
    (tmp_path / "campaigns").mkdir()
    f = tmp_path / "campaigns" / "a.yaml"
    f.write_text(yaml.safe_dump(campaign("a", enabled=True)))
    cached = FileConfig(str(tmp_path), max_age=3600)
    fresh = FileConfig(str(tmp_path), max_age=0)
    assert cached.bundle().campaigns["a"].enabled and fresh.bundle().campaigns["a"].enabled
    f.write_text(yaml.safe_dump(campaign("a", enabled=False)))
    assert cached.bundle().campaigns["a"].enabled is True
    assert fresh.bundle().campaigns["a"].enabled is False

    fake = FakeAppConfigData(doc(True))
    src = AppConfigSource("app", "env", "profile", max_age=3600)
    src._client = fake
    src.bundle(), src.bundle(), src.bundle()
    assert fake.calls == 1
