"""Bulk code runs: an asynchronous job split into slices for parallel workers (the worker queue: a thread pool
here, SQS deployed), with progress; N distinct codes from parallel workers; slices that are retried, duplicated or
killed mid-way never issue or count a chunk twice and never put over a code that was handed out."""
from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest

from incentives import wiring
from incentives.adapters import keys
from incentives.domain.codespace import CodeSpace
from incentives.services import issuance as issuance_module
from incentives.services.issuance import CHUNK, CHUNK_LEASE_S, ChunksBusy, Issuance
from local.lambdas import LocalWorkQueue
from tests.support import OPERATOR_KEY_ID, ROOT, campaign, scan_all

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)
PATTERN = "BULK-####-####"


def bulk_campaign():
    return campaign("bulk", codes={"type": "unique", "pattern": PATTERN, "expires_in_days": 60})


@pytest.fixture
def queue(handlers):
    """A fresh local worker queue (4 workers, 3 deliveries per message, as deployed) for this test."""
    q = LocalWorkQueue(workers=4, base=ROOT / "functions")
    wiring.use_work_queue(q)
    yield q
    wiring.use_work_queue(LocalWorkQueue(base=ROOT / "functions"))


def start(handlers, count: int) -> dict:
    status, job, _ = handlers.call("operators", "POST", "/v1/campaigns/{campaign_id}/codes",
                                   path_params={"campaign_id": "bulk"}, body={"count": count},
                                   key_id=OPERATOR_KEY_ID)
    assert status == 202 and job["status"] == "queued" and job["total"] == count
    return job


def wait(handlers, job_id: str, total: int, seconds: float = 300) -> tuple[dict, set[int]]:
    seen_progress = set()
    deadline = time.monotonic() + seconds
    while True:
        status, state, _ = handlers.call("operators", "GET", "/v1/jobs/{job}", path_params={"job": job_id},
                                         key_id=OPERATOR_KEY_ID)
        assert status == 200 and state["total"] == total
        seen_progress.add(state["done"])
        if state["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return state, seen_progress
        time.sleep(0.3)


def codes_of(table, job_id: str) -> list[dict]:
    return [i for i in scan_all(table) if i["sk"] == "CODE" and i.get("job_id") == job_id]


def issued_count(table, campaign_id: str = "bulk") -> int:
    return sum(i.get("issued", 0) for i in table.query(keys.campaign_prefix(campaign_id))
               if i["sk"].startswith("ISSUED#"))


@pytest.mark.concurrency
def test_parallel_workers_write_20000_distinct_codes_with_visible_progress(handlers, config_dir, table, queue,
                                                                           monkeypatch):
    config_dir(bulk_campaign())
    monkeypatch.setattr(issuance_module, "SLICE_CHUNKS", 2)  # 20 slices of 1,000 codes for 4 workers
    writers: set[str] = set()
    real_slice = Issuance.run_slice

    def run_slice(self, *args, **kwargs):
        writers.add(threading.current_thread().name)
        return real_slice(self, *args, **kwargs)

    monkeypatch.setattr(Issuance, "run_slice", run_slice)
    job = start(handlers, 20_000)
    state, seen_progress = wait(handlers, job["job_id"], 20_000)
    assert state["status"] == "succeeded" and state["done"] == 20_000
    assert len(seen_progress) > 2  # progress was visible while the job ran
    assert len(writers) > 1 and all(w.startswith("bulk-worker") for w in writers)  # the queue's parallel workers
    codes = [i["code"] for i in codes_of(table, job["job_id"])]
    assert len(codes) == len(set(codes)) == 20_000
    space = CodeSpace(PATTERN, "23456789ABCDEFGHJKMNPQRSTUVWXYZ")
    assert all(space.matches(c) for c in codes)
    status, view, _ = handlers.call("operators", "GET", "/v1/campaigns/{campaign_id}",
                                    path_params={"campaign_id": "bulk"}, key_id=OPERATOR_KEY_ID)
    assert status == 200 and view["stats"]["issued"] == 20_000
    assert queue.dead_letters == []


@pytest.mark.concurrency(not_under_faults=(
    "it makes the 7th batch write die half-way by hand; an injected fault on that very write (or on the update "
    "it makes by hand) ends it before the scripted death, and the test's premise (`used`) is not met"))
def test_a_worker_raising_after_some_chunks_is_delivered_again_and_never_rewrites_a_redeemed_code(
        handlers, config_dir, table, queue, monkeypatch):
    """The worker dies after writing half of a chunk; before the message comes back, one of the written codes
    is handed out and redeemed. The resumed run writes exactly N distinct codes and leaves that code as it is."""
    config_dir(bulk_campaign())
    monkeypatch.setattr(issuance_module, "SLICE_CHUNKS", 2)
    total = 6_000  # 12 chunks, 6 slices
    from incentives.adapters.dynamo import Table

    real = Table.batch_write  # every worker's table (each worker makes its own, as in Lambda)
    calls = {"n": 0}
    lock = threading.Lock()
    used: dict = {}

    def batch_write(self, items):
        items = list(items)
        with lock:
            calls["n"] += 1
            die = calls["n"] == 7  # after some chunks were written and counted
        if not die:
            return real(self, items)
        real(self, items[:len(items) // 2])
        used.update(items[0])
        table.update(used["pk"], used["sk"], "SET redemptions = :one, holder = :h",
                     vals={":one": {"N": "1"}, ":h": {"S": "id:alice"}})
        raise RuntimeError("worker died mid-chunk")

    monkeypatch.setattr(Table, "batch_write", batch_write)
    job = start(handlers, total)
    state, _ = wait(handlers, job["job_id"], total)
    assert calls["n"] > 7 and used  # the failure happened, and the run went on
    assert state["status"] == "succeeded" and state["done"] == total
    codes = {i["code"]: i for i in codes_of(table, job["job_id"])}
    assert len(codes) == total
    assert (codes[used["code"]]["redemptions"], codes[used["code"]]["holder"]) == (1, "id:alice")
    assert issued_count(table) == total
    assert queue.dead_letters == []


def test_a_slice_that_fails_at_every_delivery_is_dead_lettered_and_fails_the_job(handlers, config_dir, table,
                                                                                 queue, monkeypatch):
    config_dir(bulk_campaign())

    def broken(self, items, skip_existing):
        raise RuntimeError("DynamoDB said no")

    from incentives.services.code_issuer import CodeIssuer

    monkeypatch.setattr(CodeIssuer, "put_chunk", broken)
    job = start(handlers, CHUNK * 3)
    state, _ = wait(handlers, job["job_id"], CHUNK * 3, seconds=60)
    assert state["status"] == "failed" and state["done"] == 0 and "RuntimeError" in state["error"]
    assert queue.dead_letters == [{"job_id": job["job_id"], "first_chunk": 0, "end_chunk": 3}]


def test_retried_and_duplicated_slices_never_issue_or_count_a_chunk_twice(table, config_dir):
    cfg = config_dir(bulk_campaign())
    issuance = Issuance(table, cfg)
    total = CHUNK * 4 + 17
    job = issuance.issue("bulk", total, None, None, NOW).body
    messages = issuance.plan_bulk(job["job_id"], NOW)
    assert [(m["first_chunk"], m["end_chunk"]) for m in messages] == [(0, 5)]
    assert issuance.get_job(job["job_id"])["status"] == "running"
    # The slice is delivered twice (SQS delivers at least once), and the planner runs again (Lambda's retry).
    assert issuance.run_slice(job["job_id"], 0, 5, NOW) is True
    assert issuance.run_slice(job["job_id"], 0, 5, NOW) is False
    for m in issuance.plan_bulk(job["job_id"], NOW):  # a finished job plans nothing
        issuance.run_slice(job["job_id"], m["first_chunk"], m["end_chunk"], NOW)
    state = issuance.get_job(job["job_id"])
    assert state["status"] == "succeeded" and state["done"] == total
    codes = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(codes) == len({c["code"] for c in codes}) == total
    assert issued_count(table) == total


def test_codes_from_bulk_and_single_issuance_of_one_space_never_collide(table, config_dir):
    cfg = config_dir(bulk_campaign(), campaign("twin", codes={"type": "unique", "pattern": PATTERN,
                                                              "expires_in_days": 60}))
    issuance = Issuance(table, cfg)
    singles = [issuance.issue("twin", 1, None, None, NOW).codes[0]["code"] for _ in range(20)]
    job = issuance.issue("bulk", 3_000, None, None, NOW).body
    assert issuance.run_here(job["job_id"], NOW)["status"] == "succeeded"
    singles += [c["code"] for c in issuance.issue("twin", 50, None, None, NOW).codes]
    codes = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(codes) == 3_070 and len({c["code"] for c in codes}) == 3_070
    assert {c["campaign_id"] for c in codes if c["code"] in singles} == {"twin"}


class Killed(BaseException):
    """The Lambda is stopped mid-chunk (its timeout): no exception handler runs, the chunk's lease stays."""


def test_a_killed_worker_resumes_after_its_lease_and_never_resets_a_code_that_was_handed_out(table, config_dir,
                                                                                            monkeypatch):
    cfg = config_dir(bulk_campaign())
    issuance = Issuance(table, cfg)
    total = CHUNK * 2
    job = issuance.issue("bulk", total, None, None, NOW).body
    (message,) = issuance.plan_bulk(job["job_id"], NOW)
    real = table.batch_write

    def half_then_killed(items):
        items = list(items)
        real(items[:len(items) // 2])
        raise Killed()

    monkeypatch.setattr(table, "batch_write", half_then_killed)
    with pytest.raises(Killed):
        issuance.run_slice(job["job_id"], 0, 1, NOW, threads=1)
    monkeypatch.setattr(table, "batch_write", real)
    written = [i for i in scan_all(table) if i["sk"] == "CODE"]
    assert len(written) == CHUNK // 2
    # A duplicate delivery while the killed attempt's lease runs leaves the chunk alone (and comes back later).
    with pytest.raises(ChunksBusy):
        issuance.run_slice(job["job_id"], 0, 1, NOW + timedelta(seconds=5))
    assert len([i for i in scan_all(table) if i["sk"] == "CODE"]) == CHUNK // 2
    # One of the written codes is handed out and redeemed before the message is delivered again.
    used = written[0]
    table.update(used["pk"], used["sk"], "SET redemptions = :one, holder = :h",
                 vals={":one": {"N": "1"}, ":h": {"S": "id:alice"}})
    later = NOW + timedelta(seconds=CHUNK_LEASE_S + 1)
    assert issuance.run_slice(job["job_id"], message["first_chunk"], message["end_chunk"], later) is True
    codes = {i["code"]: i for i in scan_all(table) if i["sk"] == "CODE"}
    assert len(codes) == total
    assert (codes[used["code"]]["redemptions"], codes[used["code"]]["holder"]) == (1, "id:alice")
    state = issuance.get_job(job["job_id"])
    assert state["status"] == "succeeded" and state["done"] == total
    assert issued_count(table) == total


def test_a_chunk_claim_whose_answer_is_lost_is_still_this_attempts_claim(table_name, ddb_endpoint,
                                                                          answers_lost_after_commit):
    """The chunk's lease is set, its answer lost, botocore sends the same update again and it fails on the lease
    it set itself: the attempt still holds the chunk (first attempt), and another attempt is refused as busy."""
    from incentives.adapters.dynamo import Table, dynamodb_client
    from incentives.adapters.job_store import JobStore

    store = JobStore(Table(table_name, dynamodb_client(ddb_endpoint)))
    arm, lost = answers_lost_after_commit
    arm()
    claim = store.claim_chunk("job_lost", 3, now_s=1_000, lease_s=300)
    assert lost == ["UpdateItem"]  # the update applied and its answer was lost once
    assert claim.first and not claim.busy and not claim.counted
    other = store.claim_chunk("job_lost", 3, now_s=1_010, lease_s=300)
    assert other.busy and not other.first


def test_a_chunk_lease_is_released_only_by_its_own_attempt(table):
    from incentives.adapters.job_store import JobStore

    store = JobStore(table)
    assert store.claim_chunk("job_own", 1, now_s=1_000, lease_s=300, owner="lease_a").first
    store.release_chunk("job_own", 1, "lease_b")  # another attempt's release leaves the lease alone
    assert store.claim_chunk("job_own", 1, now_s=1_010, lease_s=300, owner="lease_c").busy
    store.release_chunk("job_own", 1, "lease_a")
    retry = store.claim_chunk("job_own", 1, now_s=1_020, lease_s=300, owner="lease_d")
    assert not retry.busy and not retry.first  # free again at once, and known as a later attempt


def test_a_chunk_claim_that_raises_after_it_applied_leaves_no_lease_behind(table, config_dir, monkeypatch):
    """The claim's update applies, then the client raises (throttled past its retries): the slice fails, and
    the redelivered slice finds the chunk free instead of waiting CHUNK_LEASE_S for a lease nobody holds."""
    from botocore.exceptions import ClientError

    from incentives.adapters.job_store import JobStore

    issuance = Issuance(table, config_dir(bulk_campaign()))
    job = issuance.issue("bulk", 2 * CHUNK, None, None, NOW).body
    assert [(m["first_chunk"], m["end_chunk"]) for m in issuance.plan_bulk(job["job_id"], NOW)] == [(0, 2)]
    real = JobStore.claim_chunk
    failed: list[int] = []

    def claim_then_throttled(self, job_id, n, now_s, lease_s, owner=None):
        applied = real(self, job_id, n, now_s, lease_s, owner)
        if n == 1 and not failed:
            failed.append(n)
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "test"}}, "UpdateItem")
        return applied

    monkeypatch.setattr(JobStore, "claim_chunk", claim_then_throttled)
    with pytest.raises(ClientError):
        issuance.run_slice(job["job_id"], 0, 2, NOW)
    marker = table.get(*keys.job_chunk(job["job_id"], 1), consistent=True)
    assert marker["attempts"] == 1 and "lease_until" not in marker and "codes" not in marker  # released
    assert issuance.run_slice(job["job_id"], 0, 2, NOW) is True  # the redelivery finishes the job at once
    state = issuance.get_job(job["job_id"])
    assert state["status"] == "succeeded" and state["done"] == 2 * CHUNK
