"""Cold-start import time: each function's handler module next to `import boto3` alone.

Every measurement is a fresh `python -c` subprocess that times one import with time.perf_counter (the
interpreter's own start-up is not counted), with the environment a deployed function has (infra/stack.py and
infra/lambda_factory.py set TABLE_NAME, CONFIG_SOURCE=appconfig, POWERTOOLS_*, ...; Lambda itself sets
AWS_LAMBDA_FUNCTION_NAME, AWS_EXECUTION_ENV, the X-Ray daemon address, ...), and sys.path as in Lambda: the
function's folder first, then the layer (layers/core/python), then the venv's site-packages standing in for the
dependency layer. Runs are interleaved round-robin (one untimed round first writes the .pyc caches) and the
median of 7 is reported.
"""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

from . import CORE, ROOT, Context, Figure, median, ms, say, verdict

NAME = "imports"
RUNS = int(os.environ.get("BENCH_IMPORT_RUNS", "7"))
FUNCTIONS = ("storefront", "claims", "operators", "campaign_activation", "bulk_codes")
MAX_RATIO = 1.5
SNIPPET = ("import sys, time\n"
           "t = time.perf_counter()\n"
           "__import__(sys.argv[1])\n"
           "print(repr(time.perf_counter() - t))\n")


def lambda_env(folder: str) -> dict[str, str]:
    """Environment variables of the deployed function `folder` (values are placeholders of the right shape)."""
    name = f"IncentivesEngine-{folder.replace('_', '-')}"
    env = {
        # Lambda runtime
        "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
        "LANG": "en_US.UTF-8", "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(ROOT / "functions" / folder), "LAMBDA_RUNTIME_DIR": "/var/runtime",
        "_HANDLER": f"{folder}_handler.lambda_handler",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_FUNCTION_NAME": name, "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{name}", "AWS_LAMBDA_LOG_STREAM_NAME": "2026/01/01/[$LATEST]0",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00", "AWS_SECRET_ACCESS_KEY": "example", "AWS_SESSION_TOKEN": "x",  # nosec B105
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR", "AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129:2000",
        "_AWS_XRAY_DAEMON_ADDRESS": "169.254.79.129", "_AWS_XRAY_DAEMON_PORT": "2000",
        # infra/stack.py common environment + infra/lambda_factory.py
        "TABLE_NAME": "IncentivesEngine-Table", "EVENT_BUS_NAME": "IncentivesEngine-Events",
        "CONFIG_MAX_AGE_SECONDS": "30", "CONFIG_SOURCE": "appconfig",
        "APPCONFIG_APPLICATION": "abc1234", "APPCONFIG_ENVIRONMENT": "def5678", "APPCONFIG_PROFILE": "ghi9012",
        "POWERTOOLS_SERVICE_NAME": folder.replace("_", "-"), "POWERTOOLS_METRICS_NAMESPACE": "Incentives",
        "POWERTOOLS_TRACER_CAPTURE_RESPONSE": "false",
        # sys.path as in Lambda: function code, then layers
        "PYTHONPATH": os.pathsep.join([str(ROOT / "functions" / folder), str(CORE), str(lambda_deps())]),
    }
    # every setting the function checks at init (incentives/settings.py NEEDS), as infra/ sets it
    from incentives.settings import NEEDS

    for need in NEEDS[folder]:
        env.setdefault(need, NEEDED[need])
    return env


NEEDED = {  # placeholders of the right shape for each setting a function may need
    "TABLE_NAME": "IncentivesEngine-Table", "CONFIG_SOURCE": "appconfig", "EVENT_BUS_NAME": "IncentivesEngine-Events",
    "JOB_FUNCTIONS": ('{"bulk-codes": "IncentivesEngine-bulk-codes", '
                      '"campaign-activation": "IncentivesEngine-activation"}'),
    "OPERATOR_API_KEY_IDS": "abcdef1234",
    "BULK_QUEUE_URL": "https://sqs.eu-central-1.amazonaws.com/000000000000/IncentivesEngine-BulkWork",
    "EXPORT_BUCKET": "incentivesengine-bulkexports",
    "HASH_KEY_SECRET_ARN": "arn:aws:secretsmanager:eu-central-1:123456789012:secret:IncentivesEngine-HashKey-AbCdEf",  # nosec B105 (a placeholder ARN, no secret)
}


def lambda_deps():
    """The dependency layer's packages for this machine's platform, plus the runtime's boto3 (cached)."""
    req = (ROOT / "layers" / "deps" / "requirements.txt").read_bytes()
    target = ROOT / ".bench" / f"lambda-deps-{hashlib.sha256(req).hexdigest()[:12]}"
    if not (target / ".complete").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--target", str(target), "-r",
                        str(ROOT / "layers" / "deps" / "requirements.txt"), "boto3"], check=True)
        (target / ".complete").write_text("ok")
    return target


FIRST_USE = """import sys, time, json
t = time.perf_counter()
import storefront_handler as h
from incentives.adapters.dynamo import dynamodb_client
from incentives.domain.config import ConfigBundle
from incentives.domain.schema import parse
from incentives.http.schemas import CheckoutIn
h.checkout()
dynamodb_client()
parse(CheckoutIn, {"code": "WELCOME-2345-6789", "customer": {"id": "c1", "country": "DE"},
                           "order": {"currency": "EUR", "amount": 5000, "items": [{"sku": "a", "quantity": 1,
                                                                                  "unit_price": 5000}]}})
ConfigBundle.from_document(json.loads(sys.argv[1]))
print(repr(time.perf_counter() - t))
"""
BOTO3_FIRST_USE = """import sys, time
t = time.perf_counter()
import boto3
boto3.client("dynamodb")
print(repr(time.perf_counter() - t))
"""


def _time_snippet(snippet: str, folder: str, *args: str) -> float:
    r = subprocess.run([sys.executable, "-S", "-c", snippet, *args], env=lambda_env(folder), cwd="/",
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"snippet failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return float(r.stdout.strip().splitlines()[-1])


def _time_import(module: str, folder: str) -> float:
    r = subprocess.run([sys.executable, "-S", "-c", SNIPPET, module], env=lambda_env(folder), cwd="/",
                       capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise RuntimeError(f"import {module} failed (exit {r.returncode}): {r.stderr.strip()[-800:]}")
    return float(r.stdout.strip().splitlines()[-1])


def _top_imports(module: str, folder: str, n: int = 6) -> list[tuple[str, int]]:
    """The heaviest top-level packages under `module` by cumulative time (python -X importtime), in µs."""
    r = subprocess.run([sys.executable, "-S", "-X", "importtime", "-c", f"import {module}"], env=lambda_env(folder),
                       cwd="/", capture_output=True, text=True, timeout=120)
    per_pkg: dict[str, int] = {}
    for line in r.stderr.splitlines():
        parts = line[len("import time:"):].split("|") if line.startswith("import time:") else []
        if len(parts) != 3:
            continue
        try:
            self_us = int(parts[0])
        except ValueError:  # the header line
            continue
        name = parts[2]
        top = name.strip().split(".")[0]
        per_pkg[top] = per_pkg.get(top, 0) + self_us
    return sorted(per_pkg.items(), key=lambda kv: -kv[1])[:n]


def run(ctx: Context) -> list[Figure]:
    targets = [("boto3", "boto3", "storefront")] + [(f, f"{f}_handler", f) for f in FUNCTIONS]
    times: dict[str, list[float]] = {label: [] for label, _, _ in targets}
    for round_ in range(RUNS + 1):  # round 0 warms the .pyc caches and is not counted
        for label, module, folder in targets:
            t = _time_import(module, folder)
            if round_:
                times[label].append(t)
    figures = []
    boto3_median = median(times["boto3"])
    figures.append(say(Figure(NAME, f"import boto3 (median of {RUNS})", ms(boto3_median))))
    for f in FUNCTIONS:
        m = median(times[f])
        ratio = m / boto3_median
        if f == "storefront":
            figures.append(say(Figure(NAME, f"import {f}_handler (median of {RUNS})",
                                      f"{ms(m)} = {ratio:.2f}x boto3", f"<= {MAX_RATIO}x boto3",
                                      verdict(ratio <= MAX_RATIO))))
        else:
            figures.append(say(Figure(NAME, f"import {f}_handler (median of {RUNS})", f"{ms(m)} = {ratio:.2f}x boto3")))
    from incentives.domain.config_files import load_config_dir

    doc = json.dumps(load_config_dir(ROOT / "config").to_document())
    first: list[float] = []
    boto: list[float] = []
    for round_ in range(RUNS + 1):
        a = _time_snippet(FIRST_USE, "storefront", doc)
        b = _time_snippet(BOTO3_FIRST_USE, "storefront")
        if round_:
            first.append(a)
            boto.append(b)
    fm, bm = median(first), median(boto)
    figures.append(say(Figure(NAME, "cold start w/o network: storefront import + client + first parse",
                              f"{ms(fm)} = {fm / bm:.2f}x import boto3 + boto3.client('dynamodb') ({ms(bm)})")))
    top = _top_imports("storefront_handler", "storefront")
    figures.append(say(Figure(NAME, "storefront_handler: heaviest packages (self time)",
                              ", ".join(f"{k} {v / 1000:.0f} ms" for k, v in top))))
    return figures
