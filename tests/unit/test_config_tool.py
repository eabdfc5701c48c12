"""tools/config.py, the runbook's emergency path: it builds the AppConfig document from config/ as synth does,
refuses a broken file naming file and field before any AWS call, and deploys with the exact appconfig calls
(against botocore's Stubber: no AWS here)."""
from __future__ import annotations

import json
import shutil

import boto3
import pytest
from botocore.stub import ANY, Stubber
from incentives.domain.config_files import load_config_dir

from tests.support import ROOT
from tools.config import EXIT_AWS, EXIT_INVALID, main, render

APP, ENV, PROFILE, STRATEGY = "app1234", "env1234", "prof123", "strat12"
SHIPPED_CAMPAIGNS = len(list((ROOT / "config" / "campaigns").glob("*.yaml")))  # one file per campaign


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    return target


def _break(config_dir):
    f = config_dir / "campaigns" / "welcome10.yaml"
    f.write_text(f.read_text() + "limits:\n  per_customer: once\n")


def test_check_accepts_the_shipped_config(capsys):
    assert main(["check"]) == 0
    assert f"config is valid: {SHIPPED_CAMPAIGNS} campaigns, 1 segments" in capsys.readouterr().out


def test_build_writes_the_document_synth_deploys(config_dir, tmp_path):
    out = tmp_path / "document.json"
    assert main(["build", "--config-dir", str(config_dir), "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == json.loads(json.dumps(load_config_dir(ROOT / "config").to_document()))


@pytest.mark.parametrize("command", ["check", "build", "deploy"])
def test_a_broken_file_is_refused_with_file_and_field_and_nothing_is_uploaded(config_dir, tmp_path, capsys,
                                                                              command):
    _break(config_dir)
    client = boto3.client("appconfig", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")
    out = tmp_path / "document.json"
    extra = {"build": ["--out", str(out)], "deploy": ["--application", APP]}.get(command, [])
    with Stubber(client) as stub:  # no responses queued: any AWS call would fail the test
        assert main([command, "--config-dir", str(config_dir), *extra], client=client) == EXIT_INVALID
        stub.assert_no_pending_responses()
    err = capsys.readouterr().err
    assert "welcome10.yaml" in err and "limits.per_customer" in err and "nothing was uploaded" in err
    assert not out.exists()


def test_a_document_the_json_schema_refuses_is_refused(monkeypatch, capsys):
    # a decimal in exponent notation passes pydantic and schema.parse but not the profile's validator
    from incentives.domain import config_files

    real = config_files.load_config_dir

    def with_exponent(path):
        bundle = real(path)
        doc = bundle.to_document()
        doc["campaigns"]["welcome10"]["reward"]["percent"] = "1E+1"
        return type("B", (), {"to_document": lambda self: doc})()

    monkeypatch.setattr(config_files, "load_config_dir", with_exponent)
    assert main(["check"]) == EXIT_INVALID
    assert "campaigns.welcome10.reward" in capsys.readouterr().err


def _stub_lookups(stub):
    stub.add_response("list_applications", {"Items": [{"Id": "other01", "Name": "Other"},
                                                      {"Id": APP, "Name": "IncentivesEngine"}]}, {})
    stub.add_response("list_environments", {"Items": [{"Id": ENV, "Name": "live", "ApplicationId": APP}]},
                      {"ApplicationId": APP})
    stub.add_response("list_configuration_profiles", {"Items": [{"Id": PROFILE, "Name": "campaigns"}]},
                      {"ApplicationId": APP})
    stub.add_response("list_deployment_strategies",
                      {"Items": [{"Id": "AppConfig.AllAtOnce", "Name": "AppConfig.AllAtOnce"}], "NextToken": "p2"}, {})
    stub.add_response("list_deployment_strategies",
                      {"Items": [{"Id": STRATEGY, "Name": "IncentivesEngine-all-at-once"}]}, {"NextToken": "p2"})


def _client():
    return boto3.client("appconfig", region_name="eu-central-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_deploy_uploads_the_validated_document_and_deploys_it(capsys, monkeypatch):
    import tools.config

    slept = []
    monkeypatch.setattr(tools.config.time, "sleep", slept.append)
    client = _client()
    content = render(load_config_dir(ROOT / "config").to_document())
    with Stubber(client) as stub:
        _stub_lookups(stub)
        stub.add_response("create_hosted_configuration_version", {"ApplicationId": APP, "VersionNumber": 3},
                          {"ApplicationId": APP, "ConfigurationProfileId": PROFILE, "Content": content.encode(),
                           "ContentType": "application/json", "Description": ANY})
        stub.add_response("start_deployment", {"DeploymentNumber": 9, "State": "DEPLOYING"},
                          {"ApplicationId": APP, "EnvironmentId": ENV, "DeploymentStrategyId": STRATEGY,
                           "ConfigurationProfileId": PROFILE, "ConfigurationVersion": "3", "Description": ANY})
        stub.add_response("get_deployment", {"DeploymentNumber": 9, "State": "COMPLETE"},
                          {"ApplicationId": APP, "EnvironmentId": ENV, "DeploymentNumber": 9})
        assert main(["deploy", "--application", "IncentivesEngine"], client=client) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert "created hosted configuration version 3" in out and "deployment 9 COMPLETE" in out
    assert slept == [2.0]  # polled once after DEPLOYING


def test_deploy_dry_run_resolves_the_ids_and_uploads_nothing(capsys):
    client = _client()
    with Stubber(client) as stub:
        _stub_lookups(stub)
        assert main(["deploy", "--application", APP, "--dry-run"], client=client) == 0
        stub.assert_no_pending_responses()
    out = capsys.readouterr().out
    assert f"application {APP}, environment {ENV}, profile {PROFILE}, strategy {STRATEGY}" in out
    assert f"dry run: would deploy {SHIPPED_CAMPAIGNS} campaigns" in out


def test_a_rolled_back_or_refused_deployment_fails_the_command(capsys):
    client = _client()
    with Stubber(client) as stub:
        _stub_lookups(stub)
        stub.add_client_error("create_hosted_configuration_version", service_error_code="BadRequestException",
                              service_message="Configuration data failed validation against JSON Schema validator",
                              http_status_code=400)
        assert main(["deploy", "--application", APP], client=client) == EXIT_AWS
        stub.assert_no_pending_responses()
    assert "BadRequestException" in capsys.readouterr().err

    client = _client()
    with Stubber(client) as stub:
        _stub_lookups(stub)
        stub.add_response("create_hosted_configuration_version", {"ApplicationId": APP, "VersionNumber": 4})
        stub.add_response("start_deployment", {"DeploymentNumber": 10, "State": "ROLLED_BACK"})
        assert main(["deploy", "--application", APP], client=client) == EXIT_AWS
    assert "deployment 10 ended ROLLED_BACK" in capsys.readouterr().err


def test_an_unknown_application_names_what_exists(capsys):
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("list_applications", {"Items": [{"Id": APP, "Name": "IncentivesEngine"}]}, {})
        assert main(["deploy", "--application", "Nope"], client=client) == EXIT_AWS
    assert "no application 'Nope'; found ['IncentivesEngine']" in capsys.readouterr().err


def test_a_unique_campaign_without_per_code_is_valid_but_warned_about(config_dir, capsys):
    """Each of its codes could be redeemed any number of times: said before anything is uploaded, not refused
    (a personal reusable code is legitimate); gift cards and store credit (limited by their balance) are not
    warned about."""
    for name, extra in (("reusable", ""), ("bound", "  bind_to_customer: true\n"), ("single", "")):
        limits = "limits:\n  per_code: 1\n" if name == "single" else ""
        (config_dir / "campaigns" / f"{name}.yaml").write_text(
            f"id: {name}\nname: {name}\ncodes:\n  type: unique\n  pattern: \"{name[:3].upper()}-####-####\"\n"
            f"{extra}reward:\n  type: percent_off\n  percent: 10\n{limits}")
    (config_dir / "campaigns" / "card.yaml").write_text(
        "id: card\nname: card\ncodes:\n  type: unique\n  pattern: \"CRD-####-####\"\nreward:\n  type: gift_card\n"
        "  balance: {amount: 5000, currency: EUR}\n")
    assert main(["check", "--config-dir", str(config_dir)]) == 0
    out = capsys.readouterr()
    assert f"config is valid: {SHIPPED_CAMPAIGNS + 4} campaigns" in out.out
    warnings = [line for line in out.err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2
    assert warnings[0].startswith("warning: campaign bound: unique codes without limits.per_code: each code may be "
                                  "redeemed any number of times by its holder")
    assert warnings[1].startswith("warning: campaign reusable: unique codes without limits.per_code")
    assert "by anyone who has it" in warnings[1] and "Set limits.per_code: 1 for single-use codes" in warnings[1]
    assert main(["check"]) == 0 and "warning" not in capsys.readouterr().err  # the shipped config says what it means
