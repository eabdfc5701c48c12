"""`incentives validate` and `incentives toggle` on config files: the installed console script as a subprocess
(deployed toggle in-process, with tools/config.py's appconfig calls against botocore's Stubber: no AWS here)."""
from __future__ import annotations

import difflib
import shutil

import boto3
import pytest
from botocore.stub import ANY, Stubber
from click.testing import CliRunner

from tests.e2e.clitool import ROOT, run_cli

APP, ENV, PROFILE, STRATEGY = "app1234", "env1234", "prof123", "strat12"


@pytest.fixture
def config_dir(tmp_path):
    target = tmp_path / "config"
    shutil.copytree(ROOT / "config", target)
    return target


def changed_lines(before: str, after: str) -> list[str]:
    return [d for d in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
            if d[:1] in "+-" and not d.startswith(("+++", "---"))]


def test_validate_the_shipped_config_from_the_environment_or_an_argument(config_dir, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = run_cli("validate", cwd=elsewhere)  # no ./config here: the checkout's
    assert out.returncode == 0, out.stderr
    campaigns = len(list((ROOT / "config" / "campaigns").glob("*.yaml")))
    assert out.stdout.startswith(f"{ROOT / 'config'}: config is valid: {campaigns} campaigns, 1 segments")
    out = run_cli("validate", env={"INCENTIVES_CONFIG_DIR": str(config_dir)}, cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.startswith(f"{config_dir}: config is valid")
    out = run_cli("validate", "config", cwd=tmp_path)  # DIR relative to the working directory
    assert out.returncode == 0 and out.stdout.startswith("config: config is valid")


def test_validate_names_the_file_and_the_field_of_a_broken_config(config_dir, tmp_path):
    f = config_dir / "campaigns" / "welcome10.yaml"
    f.write_text(f.read_text() + "limits:\n  per_customer: once\n")
    out = run_cli("validate", str(config_dir))
    assert out.returncode == 1 and out.stdout == ""
    err = out.stderr.strip()
    assert err.startswith("Error: config is invalid:") and "welcome10.yaml" in err and "limits.per_customer" in err
    out = run_cli("validate", str(tmp_path / "nowhere"))
    assert out.returncode == 1 and "no such directory" in out.stderr


def test_toggle_flips_enabled_and_keeps_comments_order_and_quoting(config_dir):
    path = config_dir / "campaigns" / "welcome10.yaml"
    original = path.read_text()
    env = {"INCENTIVES_CONFIG_DIR": str(config_dir)}
    out = run_cli("toggle", "welcome10", "off", env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"welcome10: enabled: false in {path}"
    edited = path.read_text()
    assert changed_lines(original, edited) == ["-enabled: true", "+enabled: false"]
    assert edited.startswith("# Landing-page welcome code")  # the comment
    assert 'pattern: "WELCOME-####-####"' in edited and "max_amount: {amount: 5000, currency: EUR}" in edited
    assert run_cli("validate", str(config_dir)).returncode == 0

    again = run_cli("toggle", "welcome10", "off", env=env)
    assert again.returncode == 0 and again.stdout.strip().endswith("(it was already)")
    assert run_cli("toggle", "welcome10", "on", env=env).returncode == 0
    assert path.read_text() == original


def test_toggle_keeps_an_end_of_line_comment_and_other_indentation(config_dir):
    path = config_dir / "campaigns" / "indented.yaml"
    text = ("# four-space indentation and sequences indented under their key\n"
            "id: indented\n"
            "name: 'Indented'   # single quotes\n"
            "enabled: true      # the operator's switch\n"
            "codes:\n"
            "    type: unique\n"
            "    pattern: \"IND-########\"\n"
            "reward:\n"
            "    type: percent_off\n"
            "    percent: 5\n"
            "eligibility:\n"
            "    countries:\n"
            "      - DE\n"
            "      - AT   # Austria too\n")
    path.write_text(text)
    out = run_cli("toggle", "indented", "off", "--config-dir", str(config_dir))
    assert out.returncode == 0, out.stderr
    assert changed_lines(text, path.read_text()) == ["-enabled: true      # the operator's switch",
                                                     "+enabled: false     # the operator's switch"]


def test_toggle_writes_enabled_after_the_name_when_the_file_has_none(config_dir):
    path = config_dir / "campaigns" / "sorry.yaml"
    original = path.read_text()
    path.write_text(original.replace("enabled: true\n", ""))
    out = run_cli("toggle", "sorry", "off", "--config-dir", str(config_dir))
    assert out.returncode == 0, out.stderr
    lines = path.read_text().splitlines()
    assert lines[lines.index("name: Sorry 15 %") + 1] == "enabled: false"
    assert path.read_text().replace("enabled: false\n", "enabled: true\n") == original


def test_toggle_refuses_and_restores_the_file_when_the_config_is_invalid(config_dir):
    broken = config_dir / "campaigns" / "blackfriday.yaml"
    broken.write_text(broken.read_text() + "reward:\n  percent: lots\n")
    path = config_dir / "campaigns" / "welcome10.yaml"
    before = path.read_bytes()
    out = run_cli("toggle", "welcome10", "off", "--config-dir", str(config_dir))
    assert out.returncode == 1
    err = out.stderr.strip()
    assert "\n" not in err and "blackfriday.yaml" in err and err.endswith("welcome10.yaml was left unchanged")
    assert path.read_bytes() == before
    assert not [p.name for p in path.parent.iterdir() if p.name.startswith(".")]  # no temp file left


def test_toggle_usage_and_unknown_campaigns(config_dir):
    env = {"INCENTIVES_CONFIG_DIR": str(config_dir)}
    out = run_cli("toggle", "welcome10", "maybe", env=env)
    assert out.returncode == 2 and "Usage: incentives toggle" in out.stderr and "'maybe' is not one of" in out.stderr
    out = run_cli("toggle", "no-such", "on", env=env)
    assert out.returncode == 1 and out.stderr.startswith("Error: no campaign no-such:")
    out = run_cli("toggle", "../referral-programs/friends", "off", env=env)
    assert out.returncode == 1 and "is not a campaign id" in out.stderr
    out = run_cli("toggle", "welcome10", "off", "--deployed", env=env)
    assert out.returncode == 2 and "--deployed needs --application" in out.stderr


def test_deployed_toggle_that_cannot_reach_aws_puts_the_file_back(config_dir, tmp_path):
    path = config_dir / "campaigns" / "welcome10.yaml"
    before = path.read_bytes()
    no_aws = {"INCENTIVES_CONFIG_DIR": str(config_dir), "INCENTIVES_APPCONFIG_APPLICATION": "IncentivesEngine",
              "AWS_REGION": "eu-central-1", "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
              "AWS_CONFIG_FILE": str(tmp_path / "none"), "AWS_EC2_METADATA_DISABLED": "true",
              "AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None, "AWS_SESSION_TOKEN": None,
              "AWS_PROFILE": None, "AWS_DEFAULT_PROFILE": None}
    out = run_cli("toggle", "welcome10", "off", env=no_aws)
    assert out.returncode == 1
    assert "deploy failed: NoCredentialsError" in out.stderr
    assert out.stderr.strip().splitlines()[-1] == f"Error: welcome10 was not deployed; {path} was put back as it was"
    assert path.read_bytes() == before


def _stubbed_deploy(stub, content: bytes) -> None:
    stub.add_response("list_applications", {"Items": [{"Id": APP, "Name": "IncentivesEngine"}]}, {})
    stub.add_response("list_environments", {"Items": [{"Id": ENV, "Name": "live", "ApplicationId": APP}]},
                      {"ApplicationId": APP})
    stub.add_response("list_configuration_profiles", {"Items": [{"Id": PROFILE, "Name": "campaigns"}]},
                      {"ApplicationId": APP})
    stub.add_response("list_deployment_strategies",
                      {"Items": [{"Id": STRATEGY, "Name": "IncentivesEngine-all-at-once"}]}, {})
    stub.add_response("create_hosted_configuration_version", {"ApplicationId": APP, "VersionNumber": 5},
                      {"ApplicationId": APP, "ConfigurationProfileId": PROFILE, "Content": content,
                       "ContentType": "application/json", "Description": "incentives toggle welcome10 off"})
    stub.add_response("start_deployment", {"DeploymentNumber": 11, "State": "COMPLETE"},
                      {"ApplicationId": APP, "EnvironmentId": ENV, "DeploymentStrategyId": STRATEGY,
                       "ConfigurationProfileId": PROFILE, "ConfigurationVersion": "5", "Description": ANY})


def test_deployed_toggle_uploads_the_edited_document_and_deploys_it(config_dir, monkeypatch):
    from incentives.domain.config_files import load_config_dir

    import incentives_cli.cli as cli_module
    from tools.config import render

    document = load_config_dir(ROOT / "config").to_document()
    document["campaigns"]["welcome10"]["enabled"] = False
    client = boto3.client("appconfig", region_name="eu-central-1", aws_access_key_id="x",
                          aws_secret_access_key="x")  # Stubber: never sent
    monkeypatch.setattr(cli_module, "_appconfig_client", lambda: client)
    monkeypatch.setenv("INCENTIVES_APPCONFIG_APPLICATION", "IncentivesEngine")
    with Stubber(client) as stub:
        _stubbed_deploy(stub, render(document).encode())
        result = CliRunner().invoke(cli_module.cli, ["toggle", "welcome10", "off", "--config-dir", str(config_dir)])
        stub.assert_no_pending_responses()
    assert result.exit_code == 0, result.output
    assert "created hosted configuration version 5" in result.output
    assert result.output.strip().endswith("welcome10 is off in AppConfig application IncentivesEngine")
    assert "enabled: false" in (config_dir / "campaigns" / "welcome10.yaml").read_text()

    # --local-only edits the file and deploys nothing, whatever the environment says
    with Stubber(client) as stub:  # no responses queued: any AWS call would fail the test
        result = CliRunner().invoke(cli_module.cli, ["toggle", "welcome10", "on", "--local-only",
                                                     "--config-dir", str(config_dir)])
    assert result.exit_code == 0, result.output
    assert (config_dir / "campaigns" / "welcome10.yaml").read_text() == (ROOT / "config/campaigns/welcome10.yaml"
                                                                          ).read_text()
