"""Operator paths and the campaign-activation job through the real handlers."""
from __future__ import annotations

import json
from datetime import UTC, datetime


from incentives.adapters import keys
from tests.support import OPERATOR_KEY_ID, campaign

OP = {"key_id": OPERATOR_KEY_ID}


def scheduled(cid="xmas", **kw):
    return campaign(cid, schedule={"starts_at": "2026-12-01T00:00:00", "ends_at": "2026-12-27T00:00:00",
                                   "timezone": "Europe/Berlin"}, **kw)


def run_activation(handlers, now):
    return handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job":
                         "campaign-activation"}, body={"now": now}, **OP)


def outbox(tmp_path):
    d = tmp_path / "outbox" / "events"
    return sorted((json.loads(p.read_text()) for p in d.glob("*.json")), key=lambda e: e["time"]) if d.exists() \
        else []


def test_campaign_turns_active_and_inactive_on_time_with_one_event_each(handlers, config_dir, tmp_path, fan_out):
    config_dir(scheduled())
    # 2026-11-30T23:30Z is 00:30 on 1 December in Berlin: the campaign has started.
    status, out, _ = run_activation(handlers, "2026-11-30T22:59:00Z")
    assert status == 200 and out["result"]["changes"][0]["status"] == "scheduled"
    status, out, _ = run_activation(handlers, "2026-11-30T23:30:00Z")
    assert [c["event"] for c in out["result"]["changes"]] == ["campaign.activated"]
    status, out, _ = run_activation(handlers, "2026-11-30T23:31:00Z")
    assert out["result"]["changes"] == []  # no change, no event
    status, out, _ = run_activation(handlers, "2026-12-26T23:00:00Z")
    assert [c["event"] for c in out["result"]["changes"]] == ["campaign.deactivated"]
    fan_out()  # each change's event item: the table's stream -> the fan-out -> the bus (its outbox directory)
    published = outbox(tmp_path)
    events = [e["detail-type"] for e in published]
    assert events == ["campaign.registered", "campaign.activated", "campaign.deactivated"]
    assert {e["source"] for e in published} == {"incentives.engine"}
    assert published[1]["detail"] == {
        "id": "campaign.xmas.active.2026-11-30T23:30:00Z", "type": "campaign.activated",
        "occurred_at": "2026-11-30T23:30:00Z", "received_at": published[1]["detail"]["received_at"],
        "data": {"campaign_id": "xmas", "status": "active", "previous_status": "scheduled",
                 "at": "2026-11-30T23:30:00Z"}}  # about no customer: no customer_id


def test_switching_enabled_off_deactivates(handlers, config_dir, tmp_path):
    config_dir(campaign("flip"))
    run_activation(handlers, "2026-12-02T10:00:00Z")
    config_dir(campaign("flip", enabled=False))
    _, out, _ = run_activation(handlers, "2026-12-02T10:01:00Z")
    assert out["result"]["changes"][0] | {"at": None} == {
        "campaign_id": "flip", "status": "disabled", "previous_status": "active", "at": None,
        "event": "campaign.deactivated"}
    _, body, _ = handlers.call("storefront", "POST", "/v1/validations", body={
        "code": "FLIP-2222-2222", "customer": {"id": "c"}, "order": {"currency": "EUR", "amount": 100}})
    assert body["valid"] is False


def test_unknown_job_is_404_and_bad_now_is_422(handlers, config_dir):
    config_dir(campaign("any"))
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run", path_params={"job": "nope"},
                                   body={}, **OP)
    assert status == 404 and out["error"]["code"] == "not_found"
    status, out, _ = run_activation(handlers, "yesterday")
    assert status == 422 and out["error"]["code"] == "invalid_request"


def test_now_is_refused_unless_the_stack_allows_it(handlers, config_dir, monkeypatch, table):
    from incentives.settings import get_settings

    config_dir(scheduled())
    monkeypatch.setenv("JOBS_ALLOW_NOW", "false")  # what a deployed stack has unless told otherwise
    get_settings.cache_clear()
    status, out, _ = run_activation(handlers, "2026-11-30T23:30:00Z")
    assert status == 422 and out["error"]["code"] == "job_now_not_allowed"
    assert out["error"]["details"] == {"field": "now"} and "JOBS_ALLOW_NOW" in out["error"]["message"]
    assert table.get(*keys.campaign_status("xmas"), consistent=True) is None  # the job did not run
    status, out, _ = handlers.call("operators", "POST", "/v1/jobs/{job}/run",
                                   path_params={"job": "campaign-activation"}, body={}, **OP)
    assert status == 200 and out["result"]["changes"][0]["campaign_id"] == "xmas"  # as of the current time: runs
    monkeypatch.setenv("JOBS_ALLOW_NOW", "true")
    get_settings.cache_clear()
    assert run_activation(handlers, "2026-11-30T23:30:00Z")[0] == 200


def test_campaign_view_shows_config_status_and_stats(handlers, config_dir):
    config_dir(campaign("stats", codes={"type": "public", "code": "STATS"},
                        reward={"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}},
                        limits={"total_redemptions": 10}))
    order = {"currency": "EUR", "amount": 5_000}
    for i in range(3):
        handlers.call("storefront", "POST", "/v1/redemptions", body={"code": "STATS", "customer": {"id": f"c{i}"},
                                                                    "order": order})
    status, out, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                   path_params={"campaign_id": "stats"}, **OP)
    assert status == 200 and out["status"] == "active" and out["config"]["limits"]["total_redemptions"] == 10
    assert out["stats"]["redeemed"] == 3 and out["stats"]["remaining"] == 7
    assert out["stats"]["discount_total"] == {"amount": 1_500, "currency": "EUR"}
    status, out, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                   path_params={"campaign_id": "nope"}, **OP)
    assert status == 404 and out["error"]["code"] == "campaign_not_found"


def test_support_issues_a_sorry_code_bound_to_a_customer(handlers, config_dir):
    config_dir(campaign("sorry", codes={"type": "unique", "pattern": "SORRY-####-####", "expires_in_days": 90},
                        limits={"per_code": 1}))
    status, out, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": "sorry"}, body={"customer": {"id": "cust-9"}}, **OP)
    assert status == 201 and len(out["codes"]) == 1
    code = out["codes"][0]
    assert code["customer"] == {"id": "cust-9"} and code["expires_at"]
    redeem = {"code": code["code"], "customer": {"id": "cust-8"}, "order": {"currency": "EUR", "amount": 100}}
    status, body, _ = handlers.call("storefront", "POST", "/v1/redemptions", body=redeem)
    assert body["error"]["code"] == "code_assigned_to_other_customer"
    status, out, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": "sorry"}, body={"count": 0}, **OP)
    assert status == 422


def test_campaign_stats_give_the_spend_per_day_net_of_rollbacks(handlers, config_dir):
    config_dir(campaign("daily", codes={"type": "public", "code": "DAILY"},
                        reward={"type": "amount_off", "amount": {"amount": 500, "currency": "EUR"}}))
    order = {"currency": "EUR", "amount": 5_000}
    ids = [handlers.call("storefront", "POST", "/v1/redemptions", body={
        "code": "DAILY", "customer": {"id": f"d{i}"}, "order": {**order, "id": f"o{i}"}})[1]["id"]
        for i in range(3)]
    assert handlers.call("storefront", "POST", "/v1/redemptions/{redemption_id}/rollback",
                         {"redemption_id": ids[0]}, body={})[0] == 200
    _, out, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                              path_params={"campaign_id": "daily"}, **OP)
    today = datetime.now(UTC).date().isoformat()
    assert out["stats"]["spend_by_day"] == [{"date": today, "amount": 1_000, "currency": "EUR"}]
    assert out["stats"]["discount_total"] == {"amount": 1_000, "currency": "EUR"}
