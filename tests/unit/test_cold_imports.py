"""Deployed functions never import pydantic or YAML (config files are validated at synth; see schema.py):
each handler module imports with both blocked, as in the dependency layer, which does not ship them."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.support import ROOT

FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / f"{p.name}_handler.py").exists())
BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pydantic", "pydantic_core", "yaml"):
            raise ImportError(f"{name} imported by a deployed function")
sys.meta_path.insert(0, Block())
import %s
"""


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_without_pydantic_or_yaml(function):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / function),
                                                        str(ROOT / "layers" / "core" / "python")]),
           "TABLE_NAME": "t", "CONFIG_SOURCE": "appconfig", "AWS_DEFAULT_REGION": "eu-central-1"}
    r = subprocess.run([sys.executable, "-c", BLOCKER % f"{function}_handler"], env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
