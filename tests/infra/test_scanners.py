"""checkov, a second scanner of the synthesized template next to cdk-nag: every finding is fixed in infra/ or
skipped with its reason (.checkov.yaml for the stack-wide ones, template Metadata from infra/scanners.py for the
per-resource ones), and what each skip says stands in for the check is there."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from infra import encryption, scanners
from tests.support import ROOT


def _checkov() -> str | None:
    """$CHECKOV, else `make scan-setup`'s own venv (checkov pins an older boto3 than the engine's), else PATH."""
    for candidate in (os.environ.get("CHECKOV"), str(ROOT / ".venv-checkov" / "bin" / "checkov"),
                      shutil.which("checkov")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _run_checkov(synth) -> dict:
    binary = _checkov()
    if binary is None:
        pytest.skip("checkov is not installed: `make scan-setup` installs it into .venv-checkov (make test does)")
    template = synth.outdir / f"{synth.stack.artifact_id}.template.json"
    r = subprocess.run([binary, "--config-file", str(ROOT / ".checkov.yaml"), "-f", str(template), "-o", "json"],
                       capture_output=True, text=True, timeout=600, check=False)
    assert r.stdout, r.stderr[-2000:]
    report = json.loads(r.stdout)
    return report[0] if isinstance(report, list) else report


_REPORTS: dict[str, dict] = {}  # checkov takes a minute per template: once per session (per xdist worker)


def _report(name: str, synth) -> dict:
    if name not in _REPORTS:
        _REPORTS[name] = _run_checkov(synth)
    return _REPORTS[name]


@pytest.fixture(params=["synth", "synth_customer"])
def checkov_report(request):
    """checkov over the default template and over the hardened one (customer key, reserved concurrency)."""
    return _report(request.param, request.getfixturevalue(request.param))


def test_checkov_finds_nothing_unexplained(checkov_report):
    failed = [(f["check_id"], f["resource"]) for f in checkov_report["results"]["failed_checks"]]
    assert failed == []
    assert checkov_report["summary"]["passed"] > 300  # it did scan the stack
    skipped = checkov_report["results"]["skipped_checks"]
    assert skipped, "the per-resource skips of infra/scanners.py reached checkov"
    no_reason = [(s["check_id"], s["resource"]) for s in skipped
                 if not (s.get("check_result", {}).get("suppress_comment") or "").strip()
                 or s["check_result"]["suppress_comment"] == "No comment provided"]
    assert no_reason == []


def test_every_stack_wide_skip_has_its_reason_in_the_config():
    text = (ROOT / ".checkov.yaml").read_text()
    skips = yaml.safe_load(text)["skip-check"]
    lines = text.splitlines()
    for check in skips:
        at = lines.index(f"  - {check}")
        first = at
        while lines[first - 1].strip().startswith("#"):  # the comment block right above the entry
            first -= 1
        assert first < at and lines[first].strip().startswith(f"# {check} ("), f"{check} has no reason above it"


def test_queues_are_encrypted_as_the_ckv_aws_27_skip_says(synth):
    queues = synth.of_type("AWS::SQS::Queue")
    assert queues
    assert {k: q["Properties"].get("SqsManagedSseEnabled") for k, q in queues.items()} == dict.fromkeys(queues, True)


def test_each_function_fails_over_as_its_ckv_aws_116_skip_says(synth):
    """The reason infra/scanners.py gives for no DLQ holds: API functions are API Gateway integrations, the
    stream reader's mapping and the asynchronous ones' invoke config have an on-failure destination, the
    scheduled ones are a schedule's target with no retries."""
    template = json.dumps(synth.template)
    invoke_configs = {synth.flatten(c["Properties"]["FunctionName"]): c["Properties"]
                      for c in synth.of_type("AWS::Lambda::EventInvokeConfig").values()}
    mappings = {synth.flatten(m["Properties"]["FunctionName"]): m["Properties"]
                for m in synth.of_type("AWS::Lambda::EventSourceMapping").values()}
    rules = json.dumps(synth.of_type("AWS::Events::Rule"))
    reasons = {v: k for k, v in scanners.WHY_NO_DLQ.items()}
    for folder, (logical_id, _props) in synth.functions().items():
        (skip,) = [s for s in synth.resources[logical_id]["Metadata"]["checkov"]["skip"] if s["id"] == scanners.DLQ]
        kind = reasons[skip["comment"]]
        ref = f"${{{logical_id}}}"
        if kind == "api":
            assert f'"{logical_id}", "Arn"' in template and folder in {"storefront", "claims", "events", "operators",
                                                                       "referrals", "loyalty"}
        elif kind == "stream":
            assert mappings[ref]["DestinationConfig"]["OnFailure"]["Destination"], folder
        elif kind == "queue":
            queue_ref = synth.flatten(mappings[ref]["EventSourceArn"])
            queue_id = queue_ref.strip("${}").split(".")[0]
            assert synth.resources[queue_id]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"], folder
        elif kind == "destination":
            assert invoke_configs[ref]["DestinationConfig"]["OnFailure"]["Destination"], folder
        else:
            assert invoke_configs[ref]["MaximumRetryAttempts"] == 0, folder
            assert f'"{logical_id}", "Arn"' in rules, f"{folder} is no schedule's target"


def test_only_public_routes_skip_the_open_method_check(synth):
    from incentives.http.routes import PUBLIC, ROUTES

    public_names = {r.name for r in ROUTES if r.role == PUBLIC}
    for method in synth.of_type("AWS::ApiGateway::Method").values():
        skips = [s for s in method.get("Metadata", {}).get("checkov", {}).get("skip", [])
                 if s["id"] == scanners.OPEN_METHOD]
        props = method["Properties"]
        if skips:
            assert props["ApiKeyRequired"] is False and props.get("OperationName") in public_names
        else:
            assert props["ApiKeyRequired"] is True or props["HttpMethod"] == "OPTIONS"


# The findings the two settings fix (infra/scanners.py skips them, with reasons, while a setting is off).
BY_SETTING = {*encryption.FIXED_BY_KEY, scanners.CONCURRENCY}


def _by_check(results: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for r in results:
        out.setdefault(r["check_id"], set()).add(r["resource"])
    return out


def test_the_settings_fix_their_findings_instead_of_skipping_them(synth_customer, synth):
    """With encryption_key=customer and a reserved concurrency for every function, checkov passes each resource
    the default template skips for CKV_AWS_158/119/173/26/27/149/115: fixed, not skipped."""
    hardened, default = _report("synth_customer", synth_customer), _report("synth", synth)
    skipped_by_default = {c: r for c, r in _by_check(default["results"]["skipped_checks"]).items() if c in BY_SETTING}
    assert set(skipped_by_default) == BY_SETTING
    assert len(skipped_by_default["CKV_AWS_158"]) == len(synth.of_type("AWS::Logs::LogGroup"))
    assert len(skipped_by_default["CKV_AWS_115"]) == len(synth.functions())
    passed = _by_check(hardened["results"]["passed_checks"])
    assert {c: passed.get(c, set()) >= r for c, r in skipped_by_default.items()} == dict.fromkeys(BY_SETTING, True)
    assert BY_SETTING.isdisjoint(_by_check(hardened["results"]["skipped_checks"]))


def test_each_setting_dependent_skip_names_the_setting_that_fixes_it(synth):
    for logical_id, res in synth.resources.items():
        for s in res.get("Metadata", {}).get("checkov", {}).get("skip", []):
            if s["id"] in encryption.FIXED_BY_KEY:
                assert s["comment"].startswith("incentives:encryption_key=aws"), (logical_id, s)
            elif s["id"] == scanners.CONCURRENCY:
                assert "incentives:reserved_concurrency" in s["comment"], (logical_id, s)
