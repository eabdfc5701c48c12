"""Run the installed `incentives` console script (`make setup` installs it into .venv) as a subprocess.

PYTHONPATH points at this checkout, so the script runs this checkout's incentives_cli even when the venv's
editable install was made from another clone of the repository.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).parent / "incentives"
# Settings of the developer's shell that would change what the CLI does
CLEARED = ("INCENTIVES_URL", "INCENTIVES_OPERATOR_KEY", "INCENTIVES_CONFIG_DIR", "INCENTIVES_APPCONFIG_APPLICATION")


def has_route(method: str, path: str) -> bool:
    from incentives.http.routes import ROUTES

    return any(r.method == method and r.path == path for r in ROUTES)


def run_cli(*args: str, env: dict[str, str | None] | None = None, cwd: Path | None = None, timeout: float = 120,
            stdin: str | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    full_env.update(env or {})
    full_env = {k: v for k, v in full_env.items() if v is not None}  # None: unset it
    return subprocess.run([str(SCRIPT), *args], env=full_env, cwd=cwd or ROOT, capture_output=True, text=True,
                          timeout=timeout, input=stdin, check=False)
