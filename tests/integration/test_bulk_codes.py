"""Bulk code runs: an asynchronous job with progress, 100,000 codes without a duplicate, retries that never
issue or count a chunk twice."""
from __future__ import annotations

import time

from datetime import datetime, UTC

import pytest

from incentives.adapters import keys
from incentives.domain.codespace import CodeSpace
from incentives.services.issuance import CHUNK, Issuance
from tests.support import OPERATOR_KEY_ID, campaign, scan_all

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
PATTERN = "BULK-####-####"


def bulk_campaign():
    return campaign("bulk", codes={"type": "unique", "pattern": PATTERN, "expires_in_days": 60})


def test_bulk_run_of_100000_codes_has_no_duplicate(handlers, config_dir, table):
    config_dir(bulk_campaign())
    status, job, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": "bulk"}, body={"count": 100_000},
                                   key_id=OPERATOR_KEY_ID)
    assert status == 202 and job["status"] == "queued"
    seen_progress = set()
    deadline = time.monotonic() + 400
    while True:
        status, state, _ = handlers.call("operators", "GET", "/v1/jobs/{job}", path_params={"job": job["job_id"]},
                                         key_id=OPERATOR_KEY_ID)
        assert status == 200 and state["total"] == 100_000
        seen_progress.add(state["done"])
        if state["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert state["status"] == "succeeded" and state["done"] == 100_000
    assert len(seen_progress) > 2  # progress was visible while the job ran

    codes = [i["code"] for i in scan_all(table) if i["sk"] == "CODE" and i.get("job_id") == job["job_id"]]
    assert len(codes) == 100_000
    assert len(set(codes)) == 100_000
    space = CodeSpace(PATTERN, "23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    assert all(space.matches(c) for c in codes)
    status, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                    path_params={"campaign_id": "bulk"}, key_id=OPERATOR_KEY_ID)
    assert view["stats"]["issued"] == 100_000


def test_a_retried_or_continued_job_never_issues_or_counts_a_chunk_twice(table, config_dir):
    cfg = config_dir(bulk_campaign())
    issuance = Issuance(table, cfg)
    total = CHUNK * 4 + 17
    job = issuance.issue("bulk", total, None, None, NOW).body
    # The first invocation runs out of time after its first chunks; a continuation and a duplicate delivery
    # of the original event (Lambda async retries) both start again.
    first_stop = issuance.run_bulk(job["job_id"], 0, NOW, time_left_s=0.0, workers=1)
    assert first_stop is not None and 0 < first_stop < 5
    assert issuance.run_bulk(job["job_id"], 0, NOW, time_left_s=300) is None  # duplicate from the start
    assert issuance.run_bulk(job["job_id"], first_stop, NOW, time_left_s=300) is None  # the continuation
    state = issuance.get_job(job["job_id"])
    assert state["status"] == "succeeded" and state["done"] == total
    codes = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(codes) == len({c["code"] for c in codes}) == total
    issued = sum(i.get("issued", 0) for i in table.query(keys.campaign_prefix("bulk")) if i["sk"].startswith("ISSUED#"))
    assert issued == total


def test_codes_from_bulk_and_single_issuance_of_one_space_never_collide(table, config_dir):
    cfg = config_dir(bulk_campaign(), campaign("twin", codes={"type": "unique", "pattern": PATTERN,
                                                              "expires_in_days": 60}))
    issuance = Issuance(table, cfg)
    singles = [issuance.issue("twin", 1, None, None, NOW).codes[0]["code"] for _ in range(20)]
    job = issuance.issue("bulk", 3_000, None, None, NOW).body
    assert issuance.run_bulk(job["job_id"], 0, NOW, time_left_s=300) is None
    singles += [c["code"] for c in issuance.issue("twin", 50, None, None, NOW).codes]
    codes = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(codes) == 3_070 and len({c["code"] for c in codes}) == 3_070
    assert {c["campaign_id"] for c in codes if c["code"] in singles} == {"twin"}


class Killed(BaseException):
    """The Lambda is stopped mid-chunk (its timeout): no exception handler runs."""


def test_a_retried_chunk_never_resets_a_code_that_was_handed_out(table, config_dir, monkeypatch):
    cfg = config_dir(bulk_campaign())
    issuance = Issuance(table, cfg)
    total = CHUNK * 2
    job = issuance.issue("bulk", total, None, None, NOW).body
    real = table.batch_write

    def half_then_killed(items):
        items = list(items)
        real(items[:len(items) // 2])
        raise Killed()

    monkeypatch.setattr(table, "batch_write", half_then_killed)
    with pytest.raises(Killed):
        issuance.run_bulk(job["job_id"], 0, NOW, time_left_s=0.0, workers=1)
    monkeypatch.setattr(table, "batch_write", real)
    written = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(written) == CHUNK // 2
    # One of the written codes is handed out and redeemed before the Lambda's retry runs.
    used = written[0]
    table.update(used["pk"], used["sk"], "SET redemptions = :one, holder = :h",
                 vals={":one": {"N": "1"}, ":h": {"S": "id:alice"}})
    assert issuance.run_bulk(job["job_id"], 0, NOW, time_left_s=300) is None
    codes = {i["code"]: i for i in scan_all(table) if i["sk"] == "CODE"}
    assert len(codes) == total
    assert (codes[used["code"]]["redemptions"], codes[used["code"]]["holder"]) == (1, "id:alice")
    state = issuance.get_job(job["job_id"])
    assert state["status"] == "succeeded" and state["done"] == total
