"""The export's cursor codec and shard function (services/code_export.py, adapters/keys.py): what the engine hands
out comes back as the same position; anything else is invalid_request."""
from __future__ import annotations

import base64
import json

import pytest

from incentives.adapters import keys
from incentives.adapters.code_export_store import Position, code_of
from incentives.domain import errors
from incentives.http.api import Response
from incentives.services.code_export import (ExportPage, decode_cursor, encode_cursor, parse_format,
                                             parse_limit)

KEY = bytes(range(32))


def test_a_handed_out_cursor_comes_back_as_its_position():
    for at in (Position(0), Position(15, "CODE#AB-CD"), Position(3, "JOB#job_1#AB-CD")):
        job = "job_1" if at.after and at.after.startswith("JOB#") else None
        assert decode_cursor(KEY, encode_cursor(KEY, "c1", job, at), "c1", job) == at


def _bad(cursor: str, campaign: str = "c1", job: str | None = None) -> None:
    with pytest.raises(errors.IncentiveError) as e:
        decode_cursor(KEY, cursor, campaign, job)
    assert e.value.code == "invalid_request" and e.value.details == {"field": "cursor"}


def test_forged_foreign_and_garbage_cursors_are_invalid_request():
    good = encode_cursor(KEY, "c1", None, Position(2, "CODE#X"))
    body, mac = good.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    resigned_elsewhere = encode_cursor(bytes(32), "c1", None, Position(2, "CODE#X"))
    forged = base64.urlsafe_b64encode(json.dumps({**payload, "s": 3}).encode()).rstrip(b"=").decode()
    for cursor in ("", "x", "a.b.c", f"{forged}.{mac}", resigned_elsewhere, good[:-2], "é.é", "." * 2000):
        _bad(cursor)
    _bad(good, campaign="c2")  # another campaign's
    _bad(good, job="job_1")  # the whole listing's cursor on a job listing
    # signed by the engine but out of range (a future shard count lowered): still refused
    _bad(encode_cursor(KEY, "c1", None, Position(keys.CODE_SHARDS, None)))
    _bad(encode_cursor(KEY, "c1", "job_1", Position(0, "JOB#job_2#X")), job="job_1")


@pytest.mark.parametrize(("raw", "want"), [(None, 100), ("", 100), ("1", 1), ("1000", 1000)])
def test_limit(raw, want):
    assert parse_limit(raw) == want


@pytest.mark.parametrize("raw", ["0", "1001", "-1", "1.5", "ten", " 5"])
def test_bad_limits(raw):
    with pytest.raises(errors.IncentiveError) as e:
        parse_limit(raw)
    assert e.value.details == {"field": "limit"}


def test_format():
    assert (parse_format(None), parse_format("csv")) == ("json", "csv")
    with pytest.raises(errors.IncentiveError):
        parse_format("xml")


def test_shards_are_stable_and_spread():
    assert keys.code_shard("ABCD-2345") == keys.code_shard("ABCD-2345")
    counts = [0] * keys.CODE_SHARDS
    for n in range(16_000):
        counts[keys.code_shard(f"BULK-{n:04d}-{n * 7919 % 10_000:04d}")] += 1
    assert min(counts) > 800 and max(counts) < 1200
    assert code_of(keys.campaign_codes_sort("AB-CD", "job_1")) == "AB-CD" == code_of(keys.campaign_codes_sort("AB-CD"))


def test_the_csv_page_and_its_response():
    page = ExportPage([{"code": "A,1", "status": "active", "expires_at": None, "redemptions": 0},
                       {"code": "B", "status": "redeemed", "expires_at": "2027-01-01T00:00:00Z", "redemptions": 1,
                        "customer": {"email_hash": "ab"}}], None)
    text = page.csv()
    assert text.splitlines() == ["code,status,customer_id,customer_email_hash,expires_at,redemptions",
                                 '"A,1",active,,,,0', "B,redeemed,,ab,2027-01-01T00:00:00Z,1"]
    proxy = Response(200, None, {"Content-Type": "text/csv; charset=utf-8", "X-Next-Cursor": "c"}, text=text).to_proxy()
    assert proxy["body"] == text and proxy["headers"]["Content-Type"] == "text/csv; charset=utf-8"
    assert proxy["headers"]["X-Next-Cursor"] == "c"
