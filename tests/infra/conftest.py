"""Synthesizes the stack once per test session (per xdist worker) and shares the template.

Bundling is skipped ("aws:cdk:bundling-stacks": []), so the dependency layer is staged from its source folder
instead of running pip; `make synth` builds it for real.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest


def _flatten(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "".join(_flatten(v) for v in value)
    if isinstance(value, dict):
        if "Fn::Join" in value:
            sep, parts = value["Fn::Join"]
            return sep.join(_flatten(p) for p in parts)
        if "Ref" in value:
            return "${" + value["Ref"] + "}"
        if "Fn::GetAtt" in value:
            return "${" + ".".join(value["Fn::GetAtt"]) + "}"
        return json.dumps(value, sort_keys=True)
    return str(value)


@dataclass
class Synth:
    outdir: Path
    template: dict
    stack: object

    @property
    def resources(self) -> dict:
        return self.template["Resources"]

    def of_type(self, cfn_type: str) -> dict[str, dict]:
        return {k: v for k, v in self.resources.items() if v["Type"] == cfn_type}

    def functions(self) -> dict[str, tuple[str, dict]]:
        """functions/<folder> -> (logical id, properties), identified by their handler module."""
        out = {}
        for logical_id, res in self.of_type("AWS::Lambda::Function").items():
            folder = res["Properties"]["Handler"].removesuffix("_handler.lambda_handler")
            out[folder] = (logical_id, res["Properties"])
        return out

    def role_statements(self, folder: str) -> list[dict]:
        """Every IAM statement of a function's role."""
        _, props = self.functions()[folder]
        role_id = props["Role"]["Fn::GetAtt"][0]
        role = self.resources[role_id]["Properties"]
        assert not role.get("ManagedPolicyArns"), f"{folder}: managed policies on its role"
        statements = [s for p in role.get("Policies", []) for s in p["PolicyDocument"]["Statement"]]
        for res in self.of_type("AWS::IAM::Policy").values():
            if {"Ref": role_id} in res["Properties"]["Roles"]:
                statements += res["Properties"]["PolicyDocument"]["Statement"]
        return statements

    @staticmethod
    def actions(statement: dict) -> list[str]:
        actions = statement["Action"]
        return [actions] if isinstance(actions, str) else list(actions)

    @staticmethod
    def arns(statement: dict) -> list[str]:
        """The statement's resources as strings (intrinsics flattened, e.g. ${Table.Arn}/index/gsi1); a NotResource
        statement's as "not:<arn>" (everything but those)."""
        if "Resource" not in statement:
            resources = statement["NotResource"]
            return ["not:" + _flatten(r) for r in (resources if isinstance(resources, list) else [resources])]
        resources = statement["Resource"]
        return [_flatten(r) for r in (resources if isinstance(resources, list) else [resources])]

    @staticmethod
    def flatten(value) -> str:
        return _flatten(value)


def synthesize(outdir: Path, settings: dict[str, object] | None = None) -> Synth:
    """The stack as `cdk synth -c incentives:<name>=<value> ...` would make it, cdk-nag included."""
    from infra import REPO_ROOT
    from infra.app_builder import build_app

    context = {
        "aws:cdk:bundling-stacks": [],
        # the repo's config/, whatever INCENTIVES_CONFIG_DIR another test left in the environment
        "incentives:config_dir": str(REPO_ROOT / "config"),
        **{f"incentives:{name}": value for name, value in (settings or {}).items()},
    }
    app, stack = build_app(context=context, outdir=str(outdir))
    app.synth()  # runs the cdk-nag plugin: an unacknowledged finding raises here
    template = json.loads((outdir / f"{stack.artifact_id}.template.json").read_text())
    return Synth(outdir=outdir, template=template, stack=stack)


def function_folders() -> list[str]:
    from infra import REPO_ROOT

    return sorted(p.parent.name for p in (REPO_ROOT / "functions").glob("*/*_handler.py"))


# The hardened deployment: a customer managed key created by the stack, and reserved concurrency for every
# function (tests/infra/test_encryption.py, test_scanners.py).
HARDENED = {"encryption_key": "customer",
            "reserved_concurrency": ",".join(f"{folder}={n}" for n, folder in enumerate(function_folders(), 10))}


@pytest.fixture(scope="session")
def synth(tmp_path_factory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out"))


@pytest.fixture(scope="session")
def synth_customer(tmp_path_factory) -> Synth:
    return synthesize(tmp_path_factory.mktemp("cdk.out.customer"), HARDENED)
