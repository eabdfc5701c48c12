"""Landing-page claims against DynamoDB Local through the real claims handler."""
from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import zxingcpp

from incentives import settings

from tests.support import campaign, retry_503, scan_all

CLAIM = ("claims", "POST", "/v1/public/campaigns/{campaign_id}/claims")
PREFLIGHT = ("claims", "OPTIONS", "/v1/public/campaigns/{campaign_id}/claims")


def welcome(**claims):
    return campaign("welcome", codes={"type": "unique", "pattern": "WELC-####-####", "expires_in_days": 30,
                                      "bind_to_customer": True},
                    eligibility={"countries": ["DE", "AT"]},
                    claims={"allowed_origins": ["https://shop.example"], **claims})


@pytest.fixture
def api(handlers, config_dir):
    config_dir(welcome(max_claims=5))
    return handlers


def claim(api, email, country="DE", origin="https://shop.example", ip="198.51.100.7", campaign_id="welcome",
          **extra):
    headers = {"Origin": origin} if origin else {}
    return api.call(*CLAIM, path_params={"campaign_id": campaign_id}, key_id=None, source_ip=ip,
                    body={"email": email, "country": country, **extra}, headers=headers)


def test_one_code_per_email_and_the_same_code_on_repeat(api, table):
    status, first, headers = claim(api, "ann@example.com", consent=True)
    assert status == 201 and set(first) == {"code", "campaign_id", "expires_at", "qr_svg"}
    decoded = zxingcpp.read_barcodes(_svg_image(first["qr_svg"]))
    assert [d.text for d in decoded] == [first["code"]]
    assert first["code"].startswith("WELC-") and headers["Access-Control-Allow-Origin"] == "https://shop.example"
    status, again, _ = claim(api, "  ANN@example.com ".strip().upper())
    assert status == 200 and again == first
    items = scan_all(table)
    assert "ann@example.com" not in repr(items).lower()  # the e-mail is stored only as a hash
    claim_item = next(i for i in items if i["sk"] == "CLAIM")
    assert claim_item["consent"]["email"]["given"] is True


@pytest.mark.concurrency(faults_in_suite=True)
def test_concurrent_claims_for_one_email_hand_out_one_code(api, table):
    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(lambda i: retry_503(lambda: claim(api, "race@example.com", ip=f"198.51.100.{i}")),
                                range(10)))
    assert {s for s, _, _ in answers} <= {200, 201}
    assert len({b["code"] for _, b, _ in answers}) == 1
    assert [s for s, _, _ in answers].count(201) == 1
    assert len([i for i in scan_all(table) if i["sk"] == "CODE"]) == 1


@pytest.mark.concurrency
def test_max_claims_holds_under_concurrency(api, table):
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda i: retry_503(lambda: claim(api, f"p{i}@example.com", ip=f"198.51.100.{i}")),
                                range(12)))
    statuses = [s for s, _, _ in answers]
    assert statuses.count(201) == 5
    assert {b["error"]["code"] for s, b, _ in answers if s != 201} == {"claims_exhausted"}
    assert len([i for i in scan_all(table) if i["sk"] == "CODE"]) == 5


def test_claimed_code_is_bound_to_the_email(api, handlers):
    _, got, _ = claim(api, "bound@example.com")
    order = {"currency": "EUR", "amount": 5_000}
    stranger = {"code": got["code"], "customer": {"id": "x", "email": "other@example.com", "country": "DE"},
                "order": order}
    status, out, _ = handlers.call("storefront", "POST", "/v1/redemptions", body=stranger)
    assert status == 422 and out["error"]["code"] == "code_assigned_to_other_customer"
    holder = {**stranger, "customer": {"id": "x", "email": "Bound@Example.com", "country": "DE"}}
    assert handlers.call("storefront", "POST", "/v1/redemptions", body=holder)[0] == 201


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a b@example.com", "x" * 250 + "@example.com", ""])
def test_bad_emails_are_rejected(api, email):
    status, out, _ = claim(api, email)
    assert status == 422 and out["error"]["code"] == "invalid_request"


def test_country_and_campaign_checks(api):
    status, out, _ = claim(api, "fr@example.com", country="FR")
    assert status == 422 and out["error"]["code"] == "country_not_eligible"
    status, out, _ = claim(api, "x@example.com", campaign_id="nope")
    assert status == 404 and out["error"]["code"] == "campaign_not_found"


def test_cors_follows_the_campaign_allowed_origins(api):
    status, _, headers = api.call(*PREFLIGHT, path_params={"campaign_id": "welcome"}, key_id=None,
                                  headers={"Origin": "https://shop.example"})
    assert status == 204 and headers["Access-Control-Allow-Origin"] == "https://shop.example"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    status, _, headers = api.call(*PREFLIGHT, path_params={"campaign_id": "welcome"}, key_id=None,
                                  headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in headers
    status, out, headers = claim(api, "cors@example.com", origin="https://evil.example")
    assert status == 403 and out["error"]["code"] == "forbidden"
    assert "Access-Control-Allow-Origin" not in headers


def test_a_client_is_throttled_per_minute(handlers, config_dir):
    config_dir(welcome(rate_limit={"per_client_per_minute": 3, "per_campaign_per_second": 1000}))
    if time.time() % 60 > 45:  # the limit counts per calendar minute: start where all six claims fit in one
        time.sleep(61 - time.time() % 60)
    statuses = [claim(handlers, f"t{i}@example.com", ip="192.0.2.1")[0] for i in range(5)]
    assert statuses[:3] == [201, 201, 201]
    assert statuses[3:] == [429, 429]
    _, out, headers = claim(handlers, "t9@example.com", ip="192.0.2.1")
    assert out["error"]["code"] == "rate_limited" and int(headers["Retry-After"]) >= 1
    assert claim(handlers, "t9@example.com", ip="192.0.2.2")[0] == 201  # another client is not affected


def test_claims_honour_idempotency_key(api, table):
    h = {"Idempotency-Key": "landing-1", "Origin": "https://shop.example"}
    a = api.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None, body={"email": "i@example.com",
                 "country": "DE"}, headers=h)
    b = api.call(*CLAIM, path_params={"campaign_id": "welcome"}, key_id=None, body={"email": "i@example.com",
                 "country": "DE"}, headers=h)
    assert a[0] == b[0] == 201 and a[1] == b[1]
    assert len([i for i in scan_all(table) if i["sk"] == "CODE"]) == 1


def _svg_image(svg: str):
    """The segno SVG (one path of horizontal runs, ``h`` and ``m`` moves) drawn back as a PIL-free pixel grid."""
    import re

    import numpy as np

    scale = int(re.search(r'scale\((\d+)\)', svg).group(1))
    size = int(re.search(r'width="(\d+)"', svg).group(1)) // scale
    grid = np.full((size, size), 255, dtype=np.uint8)
    x = y = 0.0
    for op, a, b in re.findall(r'([Mmh])(-?[\d.]+)(?: (-?[\d.]+))?', re.search(r' d="([^"]+)"', svg).group(1)):
        if op == "M":
            x, y = float(a), float(b)
        elif op == "m":
            x, y = x + float(a), y + float(b)
        else:
            n = float(a)
            grid[int(y), int(x):int(x + n)] = 0
            x += n
    return np.kron(grid, np.ones((4, 4), dtype=np.uint8))


def test_the_engines_own_pages_may_always_claim(api, monkeypatch):
    monkeypatch.setenv("ENGINE_ORIGINS", "http://127.0.0.1:3000, http://localhost:3000")
    settings.get_settings.cache_clear()
    try:
        status, out, headers = claim(api, "own@example.com", origin="http://127.0.0.1:3000")
        assert status == 201 and out["code"].startswith("WELC-")
        assert headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:3000"
        status, out, _ = claim(api, "other@example.com", origin="http://127.0.0.1:4000")  # not the engine's
        assert status == 403 and out["error"]["code"] == "forbidden"
    finally:
        settings.get_settings.cache_clear()
