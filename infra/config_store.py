"""Campaign config: validated at synth time, deployed as an AWS AppConfig hosted configuration.

Functions read it with appconfigdata (StartConfigurationSession / GetLatestConfiguration) and cache it for
CONFIG_MAX_AGE_SECONDS, so `cdk deploy` of a config change switches a campaign without a code deploy.

The configuration profile carries a JSON_SCHEMA validator generated from the same declarations the functions'
validator reads (incentives.domain.json_schema), so AppConfig refuses a malformed version whoever uploads it.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from aws_cdk import Stack
from aws_cdk import aws_appconfig as appconfig
from aws_cdk import aws_iam as iam
from constructs import Construct

from . import REPO_ROOT

CONFIG_DIR_CONTEXT = "incentives:config_dir"
# CloudFormation templates are limited to 1 MB and the document is inlined in the template.
MAX_DOCUMENT_BYTES = 512 * 1024
# AppConfig's limit on a validator's content (API reference, Validator.Content: 0..32768 characters).
MAX_VALIDATOR_CHARS = 32_768


def config_dir(scope: Construct) -> Path:
    """Context incentives:config_dir, else $INCENTIVES_CONFIG_DIR, else config/ (relative to the repo)."""
    raw = scope.node.try_get_context(CONFIG_DIR_CONTEXT) or os.environ.get("INCENTIVES_CONFIG_DIR") or "config"
    path = Path(raw)
    return path if path.is_absolute() else REPO_ROOT / path


def load_document(path: Path) -> dict:
    """Validate every file under path; a broken file raises incentives ConfigError naming file and field. The
    document is then checked against the profile's JSON Schema, so AppConfig cannot refuse it at deploy time."""
    from incentives.domain.config_files import load_config_dir  # the layer's path is set up by app.py

    document = load_config_dir(path).to_document()
    check_document(document)
    return document


def validator_schema() -> str:
    """The JSON Schema of the document, minified, as the profile's validator content."""
    from incentives.domain.json_schema import document_schema
    from incentives.domain.json_schema import render as render_schema

    content = render_schema(document_schema())
    if len(content) > MAX_VALIDATOR_CHARS:
        raise ValueError(f"the config document's JSON Schema is {len(content)} characters; AppConfig takes at most "
                         f"{MAX_VALIDATOR_CHARS} in a validator (share more definitions in json_schema.py)")
    return content


def check_document(document: dict) -> None:
    """Raise ConfigError naming each field of `document` the JSON Schema refuses."""
    from incentives.domain.json_schema import check_document as check

    check(document)


def render(document: dict) -> str:
    content = json.dumps(document, sort_keys=True, separators=(",", ":"))
    if len(content.encode()) > MAX_DOCUMENT_BYTES:
        raise ValueError(
            f"the campaign config document is {len(content.encode())} bytes; more than {MAX_DOCUMENT_BYTES} "
            "does not fit in the CloudFormation template (see docs/runbook.md)"
        )
    return content


class ConfigStore(Construct):
    def __init__(self, scope: Construct, construct_id: str, *, document: dict) -> None:
        super().__init__(scope, construct_id)
        name = Stack.of(self).stack_name
        self.application = appconfig.CfnApplication(self, "Application", name=name)
        self.environment = appconfig.CfnEnvironment(
            self, "Environment", application_id=self.application.attr_application_id, name="live"
        )
        self.profile = appconfig.CfnConfigurationProfile(
            self,
            "Campaigns",
            application_id=self.application.attr_application_id,
            name="campaigns",
            location_uri="hosted",
            type="AWS.Freeform",
            validators=[appconfig.CfnConfigurationProfile.ValidatorsProperty(
                type="JSON_SCHEMA", content=validator_schema())],
        )
        self.version = appconfig.CfnHostedConfigurationVersion(
            self,
            "Version",
            application_id=self.application.attr_application_id,
            configuration_profile_id=self.profile.attr_configuration_profile_id,
            content=render(document),
            content_type="application/json",
            description="config/ as validated by incentives.domain.config at synth time",
        )
        # All at once, no bake time: an operator's switch must take effect within a minute.
        self.strategy = appconfig.CfnDeploymentStrategy(
            self,
            "AllAtOnce",
            name=f"{name}-all-at-once",
            deployment_duration_in_minutes=0,
            final_bake_time_in_minutes=0,
            growth_factor=100,
            growth_type="LINEAR",
            replicate_to="NONE",
        )
        self.deployment = appconfig.CfnDeployment(
            self,
            "Deployment",
            application_id=self.application.attr_application_id,
            environment_id=self.environment.attr_environment_id,
            configuration_profile_id=self.profile.attr_configuration_profile_id,
            configuration_version=self.version.attr_version_number,
            deployment_strategy_id=self.strategy.attr_id,
        )

    @property
    def environment_variables(self) -> dict[str, str]:
        return {
            "CONFIG_SOURCE": "appconfig",
            "APPCONFIG_APPLICATION": self.application.attr_application_id,
            "APPCONFIG_ENVIRONMENT": self.environment.attr_environment_id,
            "APPCONFIG_PROFILE": self.profile.attr_configuration_profile_id,
        }

    def grant_read(self, grantee: iam.IGrantable) -> None:
        grantee.grant_principal.add_to_principal_policy(
            iam.PolicyStatement(
                actions=["appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"],
                resources=[
                    Stack.of(self).format_arn(
                        service="appconfig",
                        resource="application",
                        resource_name=(
                            f"{self.application.attr_application_id}/environment/"
                            f"{self.environment.attr_environment_id}/configuration/"
                            f"{self.profile.attr_configuration_profile_id}"
                        ),
                    )
                ],
            )
        )
