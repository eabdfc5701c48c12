"""Checks that need no synthesized template: the route table's shape and config failures at synth time."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from incentives.http.routes import OPERATOR, PUBLIC, ROUTES, Route

from infra import REPO_ROOT
from infra.api import RouteTableError, check_routes


def test_the_route_table_is_deployable_on_api_gateway():
    # API Gateway rejects two different {variables} under one parent at deploy time; synth checks it first.
    check_routes(ROUTES)


def test_sibling_path_variables_with_different_names_are_rejected():
    routes = (
        Route("GET", "/v1/jobs/{job_id}", "operators", OPERATOR, "get_job"),
        Route("POST", "/v1/jobs/{job_name}/run", "operators", OPERATOR, "run_job"),
    )
    with pytest.raises(RouteTableError, match=r"\{job_id\} and \{job_name\}"):
        check_routes(routes)


def test_unknown_roles_and_duplicates_are_rejected():
    with pytest.raises(RouteTableError, match="unknown role"):
        check_routes((Route("GET", "/v1/x", "operators", "admin", "x"),))
    twice = (Route("GET", "/v1/x", "operators", PUBLIC, "x"),) * 2
    with pytest.raises(RouteTableError, match="twice"):
        check_routes(twice)


def test_a_broken_campaign_file_stops_synth_with_its_name(tmp_path: Path):
    campaigns = tmp_path / "campaigns"
    campaigns.mkdir()
    (campaigns / "broken-sale.yaml").write_text("id: broken-sale\nname: Broken\nenabled: maybe\n")
    env = {**os.environ, "INCENTIVES_CONFIG_DIR": str(tmp_path), "CDK_OUTDIR": str(tmp_path / "cdk.out"),
           "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20"}
    result = subprocess.run([sys.executable, "app.py"], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode != 0
    assert "broken-sale.yaml" in result.stderr
    assert "Traceback" not in result.stderr  # a message for the operator, not a stack trace
    assert not (tmp_path / "cdk.out" / "manifest.json").exists()
