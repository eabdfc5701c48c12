"""Issuing unique codes: a few at once (support "sorry" codes, bound to a customer) or a bulk job with
progress.

Every unique code is the permuted value of a counter of its code space (domain/codespace.py), and counters
are reserved with one atomic ADD (adapters/codespace_store.py), so codes are unique by construction. A few
codes are still written with conditional puts (free inside the transaction that counts them).

A bulk job (up to 1,000,000 codes) reserves its whole counter range at once, then is split into chunks of CHUNK
codes, grouped into slices of SLICE_CHUNKS chunks: one message each on the worker queue (SQS when deployed, a
thread pool locally), handled by parallel workers (run_slice). Each chunk goes out with plain BatchWriteItem and
is then counted once: its marker (a conditional update) plus sharded progress/issued counters in one small
transaction. A chunk is claimed first (a lease on its marker, one conditional UpdateItem): only the first attempt
ever writes without looking; a retry (a worker that died, a redelivered message) skips counted chunks and
writes only the codes of a chunk that are missing (one BatchGetItem per 100 codes), so a code that may have been
handed out, bound or redeemed is never put over. batch_write raises when items stay unprocessed, so a chunk is
never counted (nor the job reported done) with codes it did not write."""
from __future__ import annotations

import contextlib
import math
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.job_store import ChunkCounted, JobStore, new_lease_owner
from ..adapters.unit_of_work import UnitOfWork
from ..domain import errors
from ..domain.clock import iso, parse_rfc3339
from ..domain.config import Campaign
from ..domain.customers import holder_for_email, holder_for_id
from ..domain.ids import new_id
from ..domain.variants import subject_for_email
from .code_issuer import CodeIssuer, CodeSpaceCollision, card_fields, space_for  # noqa: F401 - re-exported

SYNC_MAX = 50  # up to this many codes are answered at once; more become a bulk job
BULK_MAX = 1_000_000
CHUNK = 500  # codes per bulk chunk: 20 BatchWriteItem requests, then one bookkeeping transaction
SLICE_CHUNKS = 20  # chunks per worker message: 10,000 codes, a few seconds of one worker
THREADS = 4  # chunks a worker writes at once
PROGRESS_SHARDS = 16  # progress and issued counters per job: parallel workers' transactions rarely meet
WORKER_TIMEOUT_S = 120  # the deployed worker's timeout (infra/bulk.py); a slice takes seconds
CHUNK_LEASE_S = WORKER_TIMEOUT_S + 60  # a claimed chunk outlives its worker's timeout, never the queue's redelivery
WORKER_MAX_RECEIVES = 3  # deliveries of a message before it goes to the dead-letter queue (the job fails)


class ChunksBusy(RuntimeError):
    """Chunks of a slice were held by another live attempt: the message is delivered again later, when they
    are either counted (nothing left to do) or their lease ran out (this attempt finishes them)."""


@dataclass(frozen=True)
class IssueResult:
    """Codes issued now (``codes``), or a bulk job that will write them (``job``)."""

    codes: list[dict] | None = None
    job: dict | None = None

    @property
    def body(self) -> dict:
        return self.job if self.job is not None else {"codes": self.codes}


class Issuance:
    def __init__(self, table: Table, config: ConfigSource):
        self.table = table
        self.config = config
        self.issuer = CodeIssuer(table)
        self.jobs = JobStore(table)

    def _unique_campaign(self, campaign_id: str) -> Campaign:
        campaign = self.config.bundle().campaign(campaign_id)
        if campaign.codes.type != "unique":
            raise errors.CodesNotIssuable(details={"code": campaign.codes.code})
        return campaign

    @staticmethod
    def _expiry(campaign: Campaign, requested: str | None, now: datetime) -> str | None:
        if requested is not None:
            at = parse_rfc3339(requested)
            if at <= now:
                raise errors.InvalidRequest("expires_at must be in the future", {"field": "expires_at"})
            return iso(at)
        default = campaign.codes.expiry_for(now)
        return iso(default) if default else None

    def issue(self, campaign_id: str, count: int, customer: dict | None, expires_at: str | None,
              now: datetime) -> IssueResult:
        """Codes for a few holders at once, or a bulk job (more than SYNC_MAX)."""
        campaign = self._unique_campaign(campaign_id)
        expiry = self._expiry(campaign, expires_at, now)
        holder = subject = None
        if customer:
            holder = holder_for_id(customer["id"]) if customer.get("id") else holder_for_email(customer["email"])
            subject = None if customer.get("id") else subject_for_email(customer["email"])  # else the holder
            if count != 1:
                raise errors.InvalidRequest("a code bound to a customer is issued one at a time", {"field": "count"})
        if count > SYNC_MAX:
            return IssueResult(job=self.start_bulk(campaign, count, expiry, now))
        uow = UnitOfWork(self.table)
        codes = self.issuer.issue(uow, campaign, now, count, holder, expiry, subject=subject)
        uow.commit()
        out: list[dict] = [{"code": c.code, "campaign_id": c.campaign_id, "expires_at": c.expires_at,
                            **({"variant": c.variant} if c.variant else {})} for c in codes]
        if customer:  # echo whom the code is bound to; the e-mail itself is stored only as a hash
            bound = {"id": customer["id"]} if customer.get("id") else {"email": customer["email"]}
            for o in out:
                o["customer"] = bound
        return IssueResult(codes=out)

    # --- bulk ---------------------------------------------------------------------------------------------

    def start_bulk(self, campaign: Campaign, count: int, expiry: str | None, now: datetime) -> dict:
        if not 1 <= count <= BULK_MAX:
            raise errors.InvalidRequest(f"at most {BULK_MAX} codes per job", {"field": "count"})
        job_id = new_id("job")
        reservation = self.issuer.reserve(campaign, count)  # the whole job's counters, at once
        self.jobs.create({"id": job_id, "type": "bulk-codes", "campaign_id": campaign.id, "total": count,
                          "status": "queued", "expires_at": expiry, "created_at": iso(now),
                          "chunks": math.ceil(count / CHUNK), "counter_start": reservation.start})
        return {"job_id": job_id, "status": "queued", "total": count}

    def get_job(self, job_id: str) -> dict:
        meta, done = self.jobs.with_progress(job_id)
        if meta is None or meta.get("type") != "bulk-codes":  # an export has its own route
            raise errors.NotFound(f"no job {job_id}", {"job_id": job_id})
        return {"job_id": job_id, "type": meta["type"], "campaign_id": meta.get("campaign_id"),
                "status": meta["status"], "done": done, "total": meta["total"], "created_at": meta["created_at"],
                "finished_at": meta.get("finished_at"), "error": meta.get("error")}

    def plan_bulk(self, job_id: str, now: datetime) -> list[dict]:
        """Marks the job running and answers its worker messages: ``{job_id, first_chunk, end_chunk}`` per slice
        of SLICE_CHUNKS chunks (none for a finished job). Planning twice is harmless: chunks are idempotent."""
        meta = self.jobs.get(job_id)
        if meta is None:
            raise errors.NotFound(f"no job {job_id}", {"job_id": job_id})
        if meta["status"] == "succeeded":
            return []
        self.jobs.start_running(job_id, iso(now))
        chunks = int(meta["chunks"])
        return [{"job_id": job_id, "first_chunk": first, "end_chunk": min(first + SLICE_CHUNKS, chunks)}
                for first in range(0, chunks, SLICE_CHUNKS)]

    def run_slice(self, job_id: str, first_chunk: int, end_chunk: int, now: datetime,
                  threads: int = THREADS) -> bool:
        """Writes and counts chunks first_chunk..end_chunk-1 (a worker message); True when this made the job
        complete (the worker that counts the last chunk marks it succeeded). Raises ChunksBusy when chunks were
        held by another live attempt, and whatever a chunk raised (the message is delivered again)."""
        meta = self.jobs.get(job_id)
        if meta is None:
            raise errors.NotFound(f"no job {job_id}", {"job_id": job_id})
        if meta["status"] == "succeeded":
            return False
        campaign = self._unique_campaign(meta["campaign_id"])
        key = self.issuer.space_key(campaign)
        end = min(end_chunk, int(meta["chunks"]))
        outcomes: list[str] = []
        with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
            outcomes = list(pool.map(lambda n: self._chunk(meta, campaign, key, n, now), range(first_chunk, end)))
        if "busy" in outcomes:
            raise ChunksBusy(f"job {job_id}: {outcomes.count('busy')} chunk(s) held by another attempt")
        return self._finish_if_complete(job_id, meta["total"], now)

    def _chunk(self, meta: dict, campaign: Campaign, key: bytes, n: int, now: datetime) -> str:
        """Claims, writes and counts chunk n: "written", "counted" (an earlier attempt did it) or "busy"."""
        job_id, total = meta["id"], int(meta["total"])
        owner = new_lease_owner()
        try:
            claim = self.jobs.claim_chunk(job_id, n, int(now.timestamp()), CHUNK_LEASE_S, owner)
        except Exception:  # e.g. throttled past the retries after the lease was set: the retry need not wait
            with contextlib.suppress(Exception):
                self.jobs.release_chunk(job_id, n, owner)
            raise
        if claim.counted or claim.busy:
            return "counted" if claim.counted else "busy"
        size = min(CHUNK, total - n * CHUNK)
        try:
            items = list(self.issuer.chunk_items(campaign, key, int(meta["counter_start"]) + n * CHUNK, size,
                                                 meta["created_at"], meta.get("expires_at"), job_id))
            # A later attempt never puts a code item over one that exists (it may be handed out, bound or
            # redeemed by now). Unprocessed items raise: nothing is counted.
            self.issuer.put_chunk(items, skip_existing=not claim.first)
            shard = n % PROGRESS_SHARDS
            uow = UnitOfWork(self.table)
            self.jobs.count_chunk(uow, job_id, n, size, shard)
            self.issuer.count_issued(uow, campaign.id, size, shard + 1,
                                     by_variant=Counter(i["variant"] for i in items if i.get("variant")))
            try:
                uow.commit()
            except ChunkCounted:
                return "counted"  # a duplicate attempt counted it meanwhile (its lease had run out)
        except Exception:
            self.jobs.release_chunk(job_id, n, owner)  # the retry need not wait for the lease
            raise
        return "written"

    def _finish_if_complete(self, job_id: str, total: int, now: datetime) -> bool:
        if self.jobs.progress(job_id) < int(total):
            return False
        self.jobs.finish(job_id, iso(datetime.now(now.tzinfo)))
        return True

    def run_here(self, job_id: str, now: datetime, workers: int = 4) -> dict:
        """Plans a job and runs every slice in this process, ``workers`` at once (benchmarks and tests that
        need no queue; the local run goes through the worker queue, local/lambdas.py). Answers the job."""
        messages = self.plan_bulk(job_id, now)
        with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            list(pool.map(lambda m: self.run_slice(job_id, m["first_chunk"], m["end_chunk"], now), messages))
        return self.get_job(job_id)

    def fail_job(self, job_id: str, message: str, now: datetime) -> None:
        self.jobs.fail(job_id, message, iso(now))
