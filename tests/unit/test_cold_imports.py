"""Deployed functions import neither pydantic nor YAML (config files are validated at synth; see schema.py) nor
the local run (local/ is not shipped): each handler module imports with all three blocked and local/ off
sys.path, as in Lambda, with the deployed environment (infra/stack.py). And each checks its settings at init: a
missing one fails the import, naming it."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from incentives.settings import CONFIG, DISPATCH, NEEDS
from tests.support import DEPLOYED, ROOT

FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / f"{p.name}_handler.py").exists())
BLOCKER = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pydantic", "pydantic_core", "yaml", "local"):
            raise ImportError(f"{name} imported by a deployed function")
sys.meta_path.insert(0, Block())
import %s
from incentives import wiring
print(type(wiring.bus()).__name__, type(wiring.dispatcher()).__name__)
"""
LOCAL_ONLY = ("INCENTIVES_CONFIG_DIR", "LOCAL_OUTBOX_DIR", "FUNCTIONS_DIR", "DYNAMODB_ENDPOINT", "JOB_DISPATCH")


def _import(function: str, tmp_path, **changes) -> subprocess.CompletedProcess:
    """Import the handler in a fresh interpreter as Lambda would: its folder and the layer on sys.path, started
    outside the repository (no local/ to find), the deployed environment with ``changes`` (None: unset)."""
    env = {k: v for k, v in os.environ.items() if k not in (*DEPLOYED, *LOCAL_ONLY)}
    env.update(DEPLOYED, PYTHONPATH=os.pathsep.join([str(ROOT / "functions" / function),
                                                     str(ROOT / "layers" / "core" / "python")]))
    for k, v in changes.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return subprocess.run([sys.executable, "-c", BLOCKER % f"{function}_handler"], env=env, capture_output=True,
                          text=True, timeout=60, cwd=tmp_path)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_handler_imports_without_pydantic_yaml_or_the_local_run(function, tmp_path):
    r = _import(function, tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["EventBridgeBus", "LambdaDispatcher"]  # deployed: nothing installed


def _missing_cases():
    for function in FUNCTIONS:
        for need in NEEDS[function]:
            yield function, need
        if CONFIG in NEEDS[function] and function in ("storefront", "loyalty_events"):
            yield function, "APPCONFIG_PROFILE"  # appconfig needs its three ids


@pytest.mark.parametrize(("function", "name"), list(_missing_cases()))
def test_a_missing_setting_fails_the_handler_at_init_naming_it(function, name, tmp_path):
    r = _import(function, tmp_path, **{name: None})
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("incentives.settings.MissingSetting: ") and f"functions/{function}" in last, last
    assert f"{name} is not set" in last, last


def test_a_malformed_setting_is_named_too(tmp_path):
    r = _import("operators", tmp_path, **{DISPATCH: "bulk-codes", CONFIG: "file", "CONFIG_MAX_AGE_SECONDS": "30s"})
    last = r.stderr.strip().splitlines()[-1]
    assert "JOB_FUNCTIONS is not a JSON object" in last and "CONFIG_SOURCE is 'file'" in last, last
    assert "CONFIG_MAX_AGE_SECONDS is '30s'" in last, last


def test_every_function_declares_its_settings():
    assert sorted(NEEDS) == FUNCTIONS
