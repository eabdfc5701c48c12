"""The storefront's metrics by refusal reason, as its real lambda_handler flushes them (the CloudWatch dashboard's
"rejections by reason" reads exactly these names: infra/dashboard.py)."""
from __future__ import annotations

import json

import pytest

from tests.support import campaign

REDEEM = ("storefront", "POST", "/v1/redemptions")
VALIDATE = ("storefront", "POST", "/v1/validations")


def body(code: str, amount: int = 10_000) -> dict:
    return {"code": code, "customer": {"id": "c1", "country": "DE"},
            "order": {"currency": "EUR", "amount": amount}}


@pytest.fixture
def api(handlers, config_dir, monkeypatch):
    config_dir(campaign("pub", codes={"type": "public", "code": "PUBCODE"}, limits={"per_code": 100},
                        eligibility={"min_order_amount": {"amount": 5000, "currency": "EUR"}}))
    monkeypatch.setenv("POWERTOOLS_METRICS_DISABLED", "false")
    from aws_lambda_powertools import Metrics

    Metrics(namespace="Incentives").clear_metrics()  # one metric set shared by every instance: earlier tests' counts
    return handlers


def emitted(out: str) -> dict[str, dict]:
    """metric name -> its EMF directive's dimensions and value, from every EMF line printed."""
    found: dict[str, dict] = {}
    for line in out.splitlines():
        if not line.startswith("{") or '"_aws"' not in line:
            continue
        emf = json.loads(line)
        for directive in emf["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                found[metric["Name"]] = {"namespace": directive["Namespace"], "service": emf.get("service"),
                                         "value": emf[metric["Name"]]}
    return found


def test_a_refused_redemption_is_counted_in_total_and_by_its_error_code(api, capsys):
    capsys.readouterr()
    status, out, _ = api.call(*REDEEM, body=body("NOPE-0000"))
    assert status == 404 and out["error"]["code"] == "code_not_found"
    status, out, _ = api.call(*REDEEM, body=body("PUBCODE", amount=1000))
    assert status == 422 and out["error"]["code"] == "order_below_minimum"
    metrics = emitted(capsys.readouterr().out)
    for name in ("RedemptionRejected", "RedemptionRejected_code_not_found", "RedemptionRejected_order_below_minimum"):
        assert metrics[name]["namespace"] == "Incentives" and metrics[name]["service"] == "storefront", name
    assert "RedemptionSucceeded" not in metrics


def test_an_invalid_validation_is_counted_by_its_reason_and_a_valid_one_is_not(api, capsys):
    capsys.readouterr()
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE", amount=1000))
    assert status == 200 and out["reason"] == "order_below_minimum"
    status, out, _ = api.call(*VALIDATE, body=body("PUBCODE"))
    assert status == 200 and out["valid"] is True
    metrics = emitted(capsys.readouterr().out)
    assert metrics["ValidationInvalid_order_below_minimum"]["service"] == "storefront"
    assert {"ValidationInvalid", "ValidationValid"} <= set(metrics)
    by_reason = [n for n in metrics if n.startswith("ValidationInvalid_")]
    assert by_reason == ["ValidationInvalid_order_below_minimum"]
