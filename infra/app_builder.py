"""Builds the CDK app: used by app.py (cdk synth / deploy) and by tests/infra."""
from __future__ import annotations

import json
from typing import Any

from aws_cdk import App, Validations
from cdk_nag import AwsSolutionsChecks

from . import REPO_ROOT
from .config_store import config_dir, load_document
from .settings import InfraSettings
from .stack import IncentivesStack


def cdk_json_context() -> dict[str, Any]:
    """cdk.json's context, so `python app.py` and tests synthesize exactly what the CDK CLI does."""
    return json.loads((REPO_ROOT / "cdk.json").read_text())["context"]


def build_app(context: dict[str, Any] | None = None, outdir: str | None = None) -> tuple[App, IncentivesStack]:
    # The CLI's own context (CDK_CONTEXT_JSON, -c ...) is applied by App on top of this.
    app = App(context={**cdk_json_context(), **(context or {})}, outdir=outdir)
    settings = InfraSettings.from_context(app.node)
    document = load_document(config_dir(app))  # raises ConfigError: synth stops before any resource exists
    stack = IncentivesStack(app, "IncentivesEngine", settings=settings, config_document=document)
    # cdk-nag 3.x is a policy validation plugin: any unacknowledged finding fails synth.
    Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    return app, stack
