"""`make run` fans customer events out like the deployed stack: POST /v1/events answers at once, and a full
refund's rollback follows within seconds (the table's stream -> event_fanout -> the local bus -> refunds)."""
from __future__ import annotations

import json
import time

import pytest
import yaml

from tests.e2e.localrun import STOREFRONT_KEY, start_local_run

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEY = {"x-api-key": STOREFRONT_KEY}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("run")
    config = workdir / "config" / "campaigns"
    config.mkdir(parents=True)
    (config / "back.yaml").write_text(yaml.safe_dump({
        "id": "back", "name": "back", "enabled": True, "rollback_on_refund": True,
        "codes": {"type": "public", "code": "BACKAGAIN"}, "reward": {"type": "percent_off", "percent": 10}}))
    r = start_local_run(workdir, INCENTIVES_CONFIG_DIR=str(workdir / "config"), LOCAL_SCHEDULES="off")
    yield r
    assert r.stop() == 0, r.log()


def test_a_refund_event_rolls_the_redemption_back_within_seconds(run):
    order = {"id": "o-1", "currency": "EUR", "amount": 5_000}
    redeemed = run.request("POST", "/v1/redemptions", headers=KEY,
                           body={"code": "BACKAGAIN", "customer": {"id": "c1"}, "order": order})
    assert redeemed.status == 201, redeemed.body
    assert run.request("GET", "/v1/codes/BACKAGAIN", headers=KEY).json()["redemptions"]["count"] == 1

    refunded = run.request("POST", "/v1/events", headers=KEY, body={
        "id": "refund-1", "type": "order.refunded", "occurred_at": "2026-12-02T10:00:00Z",
        "customer": {"id": "c1"}, "order": order})
    assert refunded.status == 202 and refunded.json()["status"] == "accepted"

    deadline = time.monotonic() + 10
    while run.request("GET", "/v1/codes/BACKAGAIN", headers=KEY).json()["redemptions"]["count"] != 0:
        assert time.monotonic() < deadline, f"not rolled back after 10 s:\n{run.log()}"
        time.sleep(0.2)
    # the local bus also leaves every customer event in the outbox, as it went over the bus
    outbox = run.log_path.parent / "data" / "outbox" / "events"
    published = [json.loads(p.read_text()) for p in outbox.glob("*.json")]
    assert [(e["detail-type"], e["detail"]["id"]) for e in published if e["source"] == "incentives.customers"] \
        == [("order.refunded", "refund-1")]
