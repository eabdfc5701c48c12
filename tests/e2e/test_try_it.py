"""The "try it" block (local/tryit.py; README.md and `make run` print it) run as shell commands against a local run
of the shipped config/: each curl line answers what the block promises, twice (the block can be repeated on the same
data), and each `incentives` line exits 0 with its output. A stale sample config fails here."""
from __future__ import annotations

import csv
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from local import tryit
from tests.e2e.clitool import CLEARED, ROOT, SCRIPT
from tests.e2e.localrun import OPERATOR_KEY, STOREFRONT_KEY, start_local_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

KEYS = {"storefront": STOREFRONT_KEY, "operator": OPERATOR_KEY}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    r = start_local_run(tmp_path_factory.mktemp("try-it"), INCENTIVES_CONFIG_DIR=str(ROOT / "config"),
                        LOCAL_SCHEDULES="off")
    yield r
    r.stop()


def base_of(run) -> str:
    return run.base_url.removeprefix("http://").replace("127.0.0.1", "localhost")


def shell(line: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in CLEARED}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.run(["bash", "-c", line], cwd=cwd, env=env, capture_output=True, text=True, timeout=120,
                          check=False)


def matches(expected, actual) -> bool:
    """``expected`` is a part of ``actual``; a string ending in "*" is a prefix."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and matches(v, actual[k]) for k, v in expected.items())
    if isinstance(expected, str) and expected.endswith("*"):
        return isinstance(actual, str) and actual.startswith(expected[:-1])
    return expected == actual


def call(line: str, cwd: Path) -> tuple[int, dict]:
    """The block's curl line as given, plus a write-out of the status code on its own last line."""
    out = shell(line + " -w '\\n%{http_code}'", cwd)
    assert out.returncode == 0, out.stderr
    body, status = out.stdout.rsplit("\n", 1)
    return int(status), json.loads(body)


def test_make_run_prints_the_block_with_its_own_port_and_keys(run):
    block = tryit.render(base=f"localhost:{run.base_url.rsplit(':', 1)[1]}", keys=KEYS)
    deadline = time.monotonic() + 10
    while block not in run.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert block in run.log()


def test_every_curl_line_answers_what_the_block_says_and_again_on_the_same_data(run, tmp_path):
    lines = [(c, tryit.curl(c, base_of(run), KEYS)) for c in tryit.CALLS]
    assert all(line in tryit.render(base=base_of(run), keys=KEYS) for _, line in lines)
    first = {}
    for attempt in (1, 2):
        for c, line in lines:
            deadline = time.monotonic() + (15 if c.settles else 0)
            while True:
                status, body = call(line, tmp_path)
                if (status in c.status and matches(c.expect, body)) or time.monotonic() >= deadline:
                    break
                time.sleep(0.3)
            assert status in c.status, (line, status, body)
            assert matches(c.expect, body), (line, body)
            if attempt == 1:
                first[c.path] = body
            elif c.path == "/v1/public/campaigns/welcome10/claims":
                assert status == 200 and body["code"] == first[c.path]["code"]  # the same e-mail: the same code
    campaigns = {c["id"]: c["status"] for c in first["/v1/campaigns"]["campaigns"]}
    assert {cid: campaigns[cid] for cid in tryit.CAMPAIGNS} == dict.fromkeys(tryit.CAMPAIGNS, "active")
    assert first["/v1/loyalty-programs/rewards/members/c-1"]["points"]["balance"] == 100  # sign-up welcome points


def test_every_cli_line_exits_0_with_what_it_promises(run, tmp_path):
    block = tryit.render(base=base_of(run), keys=KEYS, program=str(SCRIPT))
    (export,) = [line for line in block.splitlines() if line.startswith("export INCENTIVES_URL=")]
    for command in tryit.COMMANDS:
        line = tryit.cli(command, str(SCRIPT))
        assert line in block
        out = shell(f"{export}\n{line}", tmp_path)
        assert out.returncode == 0, (line, out.stdout, out.stderr)
        assert command.output in out.stdout, (line, out.stdout)
    with (tmp_path / "sorry.csv").open(newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert row["code"].startswith("SORRY-") and row["customer"] == "c-42"
