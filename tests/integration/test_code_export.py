"""GET /v1/campaigns/{campaign_id}/codes: every issued code once across pages, CSV = JSON, signed cursors,
limits, the job filter (services/code_export.py, docs/data-model.md "Code export")."""
from __future__ import annotations

import base64
import csv
import io
import json
from datetime import UTC, datetime

import pytest

from incentives.domain.customers import email_hash
from incentives.services.issuance import Issuance
from tests.support import OPERATOR_KEY_ID, ROOT, STOREFRONT_KEY_ID, _Ctx, campaign, scan_all

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
ROUTE = "/v1/campaigns/{campaign_id}/codes"


def export(campaign_id: str, key_id: str = OPERATOR_KEY_ID, **query) -> tuple[int, dict | str, dict]:
    """One call of the real operators handler with a query string; the body parsed as JSON unless CSV."""
    from local.lambdas import load_handler

    event = {"resource": ROUTE, "path": ROUTE.replace("{campaign_id}", campaign_id), "httpMethod": "GET",
             "headers": {}, "multiValueHeaders": {}, "pathParameters": {"campaign_id": campaign_id},
             "queryStringParameters": {k: str(v) for k, v in query.items() if v is not None} or None,
             "requestContext": {"resourcePath": ROUTE, "httpMethod": "GET", "stage": "v1",
                                "identity": {"sourceIp": "203.0.113.9", "apiKeyId": key_id}},
             "body": None, "isBase64Encoded": False}
    out = load_handler("operators", ROOT / "functions")(event, _Ctx("operators"))
    headers = out.get("headers", {})
    body = out["body"]
    return out["statusCode"], (body if headers.get("Content-Type", "").startswith("text/csv") else json.loads(body)), \
        headers


def every_page(campaign_id: str, **query) -> list[list[dict]]:
    pages, cursor = [], None
    while True:
        status, page, _ = export(campaign_id, cursor=cursor, **query)
        assert status == 200, page
        pages.append(page["codes"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


@pytest.fixture
def issued(handlers, config_dir, table):
    """250 codes of `exp`: a bulk job of 120, 128 issued a few at a time, one bound to a customer id, one to an
    e-mail address; and `pub`, a campaign with one public code."""
    cfg = config_dir(campaign("exp", codes={"type": "unique", "pattern": "EXP-####-####"}, limits={"per_code": 1}),
                     campaign("pub", codes={"type": "public", "code": "PUBLIC10"}))
    issuance = Issuance(table, cfg)
    job = issuance.issue("exp", 120, None, None, NOW).job
    assert issuance.run_here(job["job_id"], NOW)["status"] == "succeeded"
    for n in (40, 40, 48):
        issuance.issue("exp", n, None, None, NOW)
    bound_id = issuance.issue("exp", 1, {"id": "cust-1"}, None, NOW).codes[0]["code"]
    bound_mail = issuance.issue("exp", 1, {"email": "Ann@Example.com"}, None, NOW).codes[0]["code"]
    codes = {i["code"]: i for i in scan_all(table) if i["sk"] == "CODE" and i.get("campaign_id") == "exp"}
    assert len(codes) == 250
    return {"codes": codes, "job_id": job["job_id"], "bound_id": bound_id, "bound_mail": bound_mail}


def test_paging_250_codes_by_100_gives_every_code_once(issued):
    pages = every_page("exp", limit=100)
    assert [len(p) for p in pages] == [100, 100, 50]
    seen = [c["code"] for p in pages for c in p]
    assert len(seen) == len(set(seen)) == 250 and set(seen) == set(issued["codes"])
    rows = {c["code"]: c for p in pages for c in p}
    assert rows[issued["bound_id"]]["customer"] == {"id": "cust-1"}
    assert rows[issued["bound_mail"]]["customer"] == {"email_hash": email_hash("ann@example.com")}
    plain = next(c for c in rows.values() if c["code"] not in (issued["bound_id"], issued["bound_mail"]))
    assert plain == {"code": plain["code"], "status": "active", "expires_at": None, "redemptions": 0}


def test_the_default_page_is_100_and_small_pages_cross_shards(issued):
    status, page, _ = export("exp")
    assert status == 200 and len(page["codes"]) == 100 and page["next_cursor"]
    pages = every_page("exp", limit=7)
    assert sum(len(p) for p in pages) == 250 and all(len(p) == 7 for p in pages[:-1])


def test_the_csv_page_is_the_json_page(issued):
    status, first, _ = export("exp", limit=100)
    status, second, _ = export("exp", limit=100, cursor=first["next_cursor"])
    status, text, headers = export("exp", limit=100, cursor=first["next_cursor"], format="csv")
    assert status == 200 and headers["Content-Type"].startswith("text/csv")
    assert headers["X-Next-Cursor"] == second["next_cursor"]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert list(rows[0]) == ["code", "status", "customer_id", "customer_email_hash", "expires_at", "redemptions"]
    got = [(r["code"], r["status"], r["customer_id"], r["customer_email_hash"], r["expires_at"],
            int(r["redemptions"])) for r in rows]
    want = [(c["code"], c["status"], (c.get("customer") or {}).get("id", ""),
             (c.get("customer") or {}).get("email_hash", ""), c["expires_at"] or "", c["redemptions"])
            for c in second["codes"]]
    assert got == want and len(got) == 100
    # the last page has no cursor header
    last = every_page("exp", limit=100)
    status, text, headers = export("exp", limit=100, format="csv",
                                   cursor=export("exp", limit=100, cursor=first["next_cursor"])[1]["next_cursor"])
    assert "X-Next-Cursor" not in headers and len(list(csv.DictReader(io.StringIO(text)))) == len(last[-1])


def test_a_cursor_the_engine_did_not_hand_out_is_422(issued, config_dir):
    _, first, _ = export("exp", limit=10)
    cursor = first["next_cursor"]
    body, mac = cursor.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, "s": payload["s"] + 1}).encode()).rstrip(b"=").decode()
    _, job_page, _ = export("exp", limit=10, job_id=issued["job_id"])
    for bad in ("garbage", "", f"{forged}.{mac}", cursor + "x", f"{body}.", "a.b.c", job_page["next_cursor"]):
        if not bad:
            continue
        status, answer, _ = export("exp", limit=10, cursor=bad)
        assert status == 422 and answer["error"]["code"] == "invalid_request", bad
        assert answer["error"]["details"] == {"field": "cursor"}
    # a cursor of another campaign
    config_dir(campaign("exp2", codes={"type": "unique", "pattern": "EXQ-####-####"}))
    status, answer, _ = export("exp2", limit=10, cursor=cursor)
    assert status == 422 and answer["error"]["code"] == "invalid_request"
    assert export("exp", limit=10, cursor=cursor)[0] == 200  # the real one still works


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 1001}, {"limit": "ten"}, {"limit": -1},
                                   {"format": "xml"}, {"job_id": "a#b"}])
def test_bad_parameters_are_422(issued, query):
    status, answer, _ = export("exp", **query)
    assert status == 422 and answer["error"]["code"] == "invalid_request"


def test_limits_1_and_1000_are_accepted(issued):
    assert len(export("exp", limit=1)[1]["codes"]) == 1
    status, page, _ = export("exp", limit=1000)
    assert status == 200 and len(page["codes"]) == 250 and page["next_cursor"] is None


def test_the_job_filter_pages_through_exactly_the_jobs_codes(issued):
    pages = every_page("exp", limit=50, job_id=issued["job_id"])
    got = [c["code"] for p in pages for c in p]
    want = {c for c, i in issued["codes"].items() if i.get("job_id") == issued["job_id"]}
    assert len(got) == len(set(got)) == 120 and set(got) == want
    status, page, _ = export("exp", job_id="job_unknown")
    assert status == 200 and page == {"codes": [], "next_cursor": None}


def test_public_codes_are_not_issued_codes_and_unknown_campaigns_404(issued, handlers):
    status, page, _ = export("pub")
    assert status == 200 and page == {"codes": [], "next_cursor": None}
    status, answer, _ = export("nope")
    assert status == 404 and answer["error"]["code"] == "campaign_not_found"


def test_status_and_redemptions_follow_the_code(issued, handlers):
    code = issued["bound_id"]
    status, _, _ = handlers.call("storefront", "POST", "/v1/redemptions", body={
        "code": code, "customer": {"id": "cust-1"},
        "order": {"id": "o-1", "currency": "EUR", "amount": 5000,
                  "items": [{"sku": "a", "quantity": 1, "unit_price": 5000}]}})
    assert status == 201
    rows = {c["code"]: c for p in every_page("exp", limit=1000) for c in p}
    assert rows[code]["redemptions"] == 1 and rows[code]["status"] == "redeemed"


def test_a_storefront_key_may_not_export(issued):
    status, answer, _ = export("exp", key_id=STOREFRONT_KEY_ID)
    assert status == 403 and answer["error"]["code"] == "forbidden"


def test_ensure_table_adds_gsi2_to_a_table_made_before_it(ddb_endpoint):
    import uuid

    from incentives.adapters import schema
    from local.dynamodb_local import client, ensure_table

    ddb = client(ddb_endpoint)
    name = f"test-old-{uuid.uuid4().hex[:8]}"
    old = schema.create_table_kwargs(name, stream=False)
    old["GlobalSecondaryIndexes"] = [i for i in old["GlobalSecondaryIndexes"] if i["IndexName"] == "gsi1"]
    old["AttributeDefinitions"] = [a for a in old["AttributeDefinitions"] if not a["AttributeName"].startswith("gsi2")]
    ddb.create_table(**old)
    try:
        ensure_table(ddb_endpoint, name, stream=False)
        indexes = {i["IndexName"]: i for i in ddb.describe_table(TableName=name)["Table"]["GlobalSecondaryIndexes"]}
        assert set(indexes) == {"gsi1", "gsi2"}
        assert indexes["gsi2"]["Projection"]["NonKeyAttributes"] == schema.GSI2_ATTRIBUTES
        ensure_table(ddb_endpoint, name, stream=False)  # a second run changes nothing
    finally:
        ddb.delete_table(TableName=name)


# ---- the whole campaign as one file: POST /v1/campaigns/{campaign_id}/exports (services/export_jobs.py) ---------

def _call(handlers, method: str, resource: str, **params):
    return handlers.call("operators", method, resource, path_params=params, key_id=OPERATOR_KEY_ID)


def _finished(handlers, campaign_id: str, export_id: str) -> dict:
    import time

    deadline = time.monotonic() + 60
    while True:
        status, state, _ = _call(handlers, "GET", "/v1/campaigns/{campaign_id}/exports/{export_id}",
                                 campaign_id=campaign_id, export_id=export_id)
        assert status == 200
        if state["status"] in ("succeeded", "failed"):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def test_the_file_export_has_every_code_once_as_the_paged_export_shows_it(handlers, issued, tmp_path):
    status, started, _ = _call(handlers, "POST", "/v1/campaigns/{campaign_id}/exports", campaign_id="exp")
    assert status == 202 and started["status"] == "queued" and started["campaign_id"] == "exp"
    state = _finished(handlers, "exp", started["export_id"])
    assert state["status"] == "succeeded" and state["done"] == 250 and "url" not in state
    path = state["path"]
    assert path.startswith(str(tmp_path / "exports")) and path.endswith(f"exp-{started['export_id']}.csv")
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["code", "status", "customer_id", "customer_email_hash", "expires_at", "redemptions"]
    codes = [r[0] for r in rows[1:]]
    assert len(codes) == len(set(codes)) == 250 and set(codes) == set(issued["codes"])
    paged = {c["code"]: c for p in every_page("exp", limit=1000) for c in p}
    by_code = {r[0]: r for r in rows[1:]}
    assert by_code[issued["bound_id"]][2] == "cust-1"
    assert by_code[issued["bound_mail"]][3] == email_hash("ann@example.com")
    for code, row in by_code.items():
        assert row[1] == paged[code]["status"] and int(row[5]) == paged[code]["redemptions"]


def test_an_export_is_found_only_under_its_campaign_and_public_code_campaigns_have_none(handlers, issued):
    assert _call(handlers, "POST", "/v1/campaigns/{campaign_id}/exports", campaign_id="pub")[0] == 422
    assert _call(handlers, "POST", "/v1/campaigns/{campaign_id}/exports", campaign_id="nope")[0] == 404
    status, started, _ = _call(handlers, "POST", "/v1/campaigns/{campaign_id}/exports", campaign_id="exp")
    assert status == 202
    get = "/v1/campaigns/{campaign_id}/exports/{export_id}"
    assert _call(handlers, "GET", get, campaign_id="pub", export_id=started["export_id"])[0] == 404
    assert _call(handlers, "GET", get, campaign_id="exp", export_id="exp_nope")[0] == 404
    assert _call(handlers, "GET", get, campaign_id="exp", export_id=issued["job_id"])[0] == 404  # a bulk job's id
    assert _finished(handlers, "exp", started["export_id"])["status"] == "succeeded"
    assert _call(handlers, "GET", "/v1/jobs/{job}", job=started["export_id"])[0] == 404  # not a bulk job
