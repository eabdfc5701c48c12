"""The two layers every function gets: the domain core and the third-party dependencies.

The dependency layer is built without Docker: CDK calls PipLayerBundling.try_bundle, which asks pip for
arm64 / CPython 3.12 wheels only (--only-binary), so a build host of any OS or architecture produces a layer
that matches the Lambda runtime.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling, RemovalPolicy
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from . import REPO_ROOT

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
PIP_PLATFORM = "manylinux2014_aarch64"
PIP_PYTHON_VERSION = "3.12"  # keep in step with RUNTIME

# The Lambda runtime ships these; a copy in the layer would shadow the runtime's boto3 with a mismatched
# botocore (aws-xray-sdk pulls botocore in).
RUNTIME_PROVIDED = ("boto3", "botocore", "s3transfer")

_ASSET_EXCLUDE = ["**/__pycache__", "**/*.pyc", ".pytest_cache"]


@jsii.implements(ILocalBundling)
class PipLayerBundling:
    """Installs requirements.txt into <output>/python with pip, for the Lambda platform."""

    def __init__(self, source_dir: Path) -> None:
        self._requirements = source_dir / "requirements.txt"

    def try_bundle(self, output_dir: str, *_args, **_options) -> bool:
        # CDK also passes the BundlingOptions; pip needs none of them.
        target = Path(output_dir) / "python"
        command = [
            sys.executable, "-m", "pip", "install",
            "--platform", PIP_PLATFORM,
            "--only-binary=:all:",
            "--implementation", "cp",
            "--python-version", PIP_PYTHON_VERSION,
            "--no-compile",  # .pyc files from the build host's Python would be dead weight
            "--disable-pip-version-check",
            "--quiet",
            "-r", str(self._requirements),
            "--target", str(target),
        ]
        # a fixed argument list (pip, this repository's requirements file), no shell
        result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
        if result.returncode != 0:
            raise RuntimeError(f"dependency layer build failed ({' '.join(command)}):\n{result.stderr}")
        for entry in target.iterdir():
            if entry.name == "bin" or entry.name.split("-")[0] in RUNTIME_PROVIDED:
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        return True


class Layers(Construct):
    def __init__(self, scope: Construct, construct_id: str) -> None:
        super().__init__(scope, construct_id)
        self.core = lambda_.LayerVersion(
            self,
            "Core",
            description="incentives domain core (layers/core/python/incentives)",
            code=lambda_.Code.from_asset(str(REPO_ROOT / "layers" / "core"), exclude=_ASSET_EXCLUDE),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=RemovalPolicy.DESTROY,
        )
        deps_dir = REPO_ROOT / "layers" / "deps"
        self.deps = lambda_.LayerVersion(
            self,
            "Deps",
            description="third-party dependencies (layers/deps/requirements.txt), arm64 wheels",
            code=lambda_.Code.from_asset(
                str(deps_dir),
                exclude=[*_ASSET_EXCLUDE, "python"],
                bundling=BundlingOptions(
                    # Never pulled: local bundling always succeeds or raises, so Docker is not needed.
                    image=DockerImage.from_registry("public.ecr.aws/sam/build-python3.12"),
                    local=PipLayerBundling(deps_dir),
                ),
            ),
            compatible_runtimes=[RUNTIME],
            compatible_architectures=[ARCHITECTURE],
            removal_policy=RemovalPolicy.DESTROY,
        )

    @property
    def all(self) -> list[lambda_.ILayerVersion]:
        return [self.core, self.deps]
