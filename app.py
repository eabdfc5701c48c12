#!/usr/bin/env python3
"""CDK entry point: `cdk synth` / `cdk deploy` (cdk.json runs it) or `make synth`."""
import sys
from pathlib import Path

# The domain core validates config/ at synth time; it is a layer, not an installed package.
sys.path.insert(0, str(Path(__file__).resolve().parent / "layers" / "core" / "python"))

from incentives.domain.config import ConfigError

from infra.api import RouteTableError
from infra.app_builder import build_app

try:
    app, _ = build_app()
except ConfigError as error:
    sys.exit(f"Campaign config is invalid, nothing was synthesized: {error}")
except RouteTableError as error:
    sys.exit(f"The route table cannot be deployed on API Gateway: {error}")
app.synth()
