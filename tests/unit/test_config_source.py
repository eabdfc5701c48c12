"""Config sources: AppConfig polling keeps the last document when nothing changed, and both sources cache
for their max age so an operator's switch lands within a minute. A new document that does not parse or validate
never replaces the last good one: it is logged (version and field paths, no values) and counted."""
from __future__ import annotations

import io
import json
import logging

import pytest
import yaml
from incentives.adapters.config_source import REJECTED_METRIC, AppConfigSource, FileConfig
from incentives.domain.errors import ConfigError

from tests.support import campaign


class FakeAppConfigData:
    """The two appconfigdata calls the engine makes, with AppConfig's semantics: an empty body when the
    configuration did not change since the token was issued."""

    def __init__(self, doc: dict | bytes):
        self.doc, self.version, self.seen, self.calls = doc, 1, {}, 0

    def publish(self, doc: dict | bytes) -> None:
        """A new hosted version deployed (a dict is sent as JSON, bytes as they are)."""
        self.doc, self.version = doc, self.version + 1

    def start_configuration_session(self, **ids):
        assert set(ids) >= {"ApplicationIdentifier", "EnvironmentIdentifier", "ConfigurationProfileIdentifier"}
        return {"InitialConfigurationToken": "t0"}

    def get_latest_configuration(self, ConfigurationToken):
        self.calls += 1
        changed = self.seen.get(ConfigurationToken) != self.version
        token = f"t{self.calls}"
        self.seen[token] = self.version
        body = self.doc if isinstance(self.doc, bytes) else json.dumps(self.doc).encode()
        return {"NextPollConfigurationToken": token, "Configuration": io.BytesIO(body if changed else b""),
                "VersionLabel": f"v{self.version}", "ContentType": "application/json"}


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


# ---- a broken document keeps the last good config ---------------------------------------------------------

class FakeMetrics:
    def __init__(self):
        self.added = []

    def add_metric(self, name, unit, value):
        self.added.append((name, str(unit), value))


def _source(fake, metrics=None) -> AppConfigSource:
    src = AppConfigSource("app", "env", "profile", max_age=0, metrics=metrics)
    src._client = fake
    return src


def _rejections(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.getMessage().startswith("config document rejected")]


def test_a_document_that_fails_validation_keeps_the_last_good_config_and_is_logged_and_counted(caplog):
    fake, metrics = FakeAppConfigData(doc(True)), FakeMetrics()
    src = _source(fake, metrics)
    assert src.bundle().campaigns["a"].enabled is True

    broken = {"campaigns": {"b": campaign("b", limits={"per_customer": "customer@example.com"})}}
    fake.publish(broken)
    with caplog.at_level(logging.ERROR):
        assert set(src.bundle().campaigns) == {"a"}  # the old campaigns, not an error
        assert set(src.bundle().campaigns) == {"a"}  # and the next poll ("unchanged") does not count it again
    assert metrics.added == [(REJECTED_METRIC, "MetricUnit.Count", 1)]
    (record,) = _rejections(caplog)
    assert record.levelno == logging.ERROR
    assert record.config_version == "v2"
    assert record.fields == ["b.limits.per_customer"]
    assert "customer@example.com" not in caplog.text  # a field path, never the value

    fake.publish({"campaigns": {"c": campaign("c")}})
    assert set(src.bundle().campaigns) == {"c"}  # a good version is picked up again
    assert len(metrics.added) == 1


@pytest.mark.parametrize("body,reason", [(b'{"campaigns": {', "not JSON at line 1 column 16"),
                                         (b"[1, 2]", "not a JSON object"),
                                         (b"\xff\xfe", "not JSON at line 1 column 1")])
def test_a_document_that_is_not_a_json_object_keeps_the_last_good_config(caplog, body, reason):
    fake, metrics = FakeAppConfigData(doc(False)), FakeMetrics()
    src = _source(fake, metrics)
    assert src.bundle().campaigns["a"].enabled is False
    fake.publish(body)
    with caplog.at_level(logging.ERROR):
        assert src.bundle().campaigns["a"].enabled is False
    (record,) = _rejections(caplog)
    assert record.reason == reason and record.config_version == "v2"
    assert len(metrics.added) == 1


def test_a_document_with_a_broken_reference_keeps_the_last_good_config(caplog):
    fake, metrics = FakeAppConfigData(doc(True)), FakeMetrics()
    src = _source(fake, metrics)
    src.bundle()
    fake.publish({"campaigns": {"a": campaign("a", eligibility={"segments": ["vip"]})}})  # no such segment
    with caplog.at_level(logging.ERROR):
        assert src.bundle().campaigns["a"].eligibility.segments == []
    (record,) = _rejections(caplog)
    assert "unknown segments ['vip']" in record.reason
    assert len(metrics.added) == 1


def test_without_a_good_config_ever_the_function_fails_and_keeps_trying():
    fake = FakeAppConfigData({"campaigns": {"a": campaign("a", enabled="yes")}})
    src = _source(fake, FakeMetrics())
    with pytest.raises(ConfigError, match=r"AppConfig version v1: config document: a\.enabled") as e:
        src.bundle()
    assert e.value.details["fields"] == ["a.enabled"]
    with pytest.raises(ConfigError):  # fetched again (a new session), not "unchanged" and no config at all
        src.bundle()
    fake.publish(doc(True))
    assert src.bundle().campaigns["a"].enabled is True


def test_the_rejection_is_a_powertools_metric_in_the_handlers_metric_set(capsys):
    from aws_lambda_powertools import Metrics

    fake = FakeAppConfigData(doc(True))
    src = _source(fake)  # no metrics given: Powertools' shared metric set, flushed by the handler
    src.bundle()
    fake.publish(b"not json")
    src.bundle()
    capsys.readouterr()
    Metrics(namespace="Incentives", service="test").flush_metrics()
    emf = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert emf[REJECTED_METRIC] == [1.0] or emf[REJECTED_METRIC] == 1.0
    (directive,) = emf["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Incentives"
    assert {"Name": REJECTED_METRIC, "Unit": "Count"} in directive["Metrics"]
