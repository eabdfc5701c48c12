"""CDK constructs of the incentives engine. app.py calls build_app(); stack.py composes the parts."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CORE_PYTHON = REPO_ROOT / "layers" / "core" / "python"
