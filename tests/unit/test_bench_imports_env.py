"""`make bench`'s import benchmark times each handler with a deployed function's environment: that environment
must pass the handler's own cold-start check, or the bench measures an import that stops at MissingSetting."""
from __future__ import annotations

import subprocess
import sys

import pytest

from bench.imports import FUNCTIONS, lambda_env
from incentives.settings import NEEDS

CHECK = "import sys; from incentives.settings import check; check(sys.argv[1]); print('ok')"


def _check(function: str, env: dict) -> subprocess.CompletedProcess:
    """The handler's cold-start check in a fresh interpreter with only ``env`` (nothing the tests install)."""
    return subprocess.run([sys.executable, "-c", CHECK, function], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize("function", FUNCTIONS)
def test_the_import_bench_gives_each_function_every_setting_it_checks_at_init(function, tmp_path):
    env = lambda_env(function)
    r = _check(function, env)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr[-1000:]
    last = NEEDS[function][-1]  # and the check is real: without one of them the same import stops, naming it
    r = _check(function, {k: v for k, v in env.items() if k != last})
    assert r.returncode != 0 and "MissingSetting" in r.stderr and last in r.stderr
