"""Builds the dependency layer for real (pip, arm64 wheels) - what `make synth` and `cdk deploy` do."""
from __future__ import annotations

from pathlib import Path

import pytest

from infra import REPO_ROOT
from infra.layers import PipLayerBundling


@pytest.mark.slow
def test_dependency_layer_holds_arm64_cp312_wheels_and_no_boto(tmp_path: Path):
    assert PipLayerBundling(REPO_ROOT / "layers" / "deps").try_bundle(str(tmp_path))
    site = tmp_path / "python"
    assert (site / "aws_lambda_powertools").is_dir()
    binaries = list(site.glob("numpy/_core/_multiarray_umath.*.so"))
    assert [b.name for b in binaries] == ["_multiarray_umath.cpython-312-aarch64-linux-gnu.so"]
    assert not list(site.glob("pydantic*"))  # config files are validated at synth; functions do not need it
    assert not list(site.glob("botocore*")) and not list(site.glob("boto3*"))  # the runtime's own
    assert not list(site.rglob("__pycache__"))
