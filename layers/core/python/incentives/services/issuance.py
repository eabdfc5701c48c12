"""Issuing unique codes: a few at once (support "sorry" codes, bound to a customer) or a bulk job with
progress.

Every unique code is the permuted value of a counter of its code space (domain/codespace.py), and counters
are reserved with one atomic ADD (adapters/codespace_store.py), so codes are unique by construction. A few
codes are still written with conditional puts (free inside the transaction that counts them); a bulk job
writes its chunks with plain BatchWriteItem, then records each chunk once: a marker put
(attribute_not_exists) plus sharded progress/issued counters in one small transaction.

A retried or continued Lambda never puts a code item over an existing one (BatchWriteItem has no conditions, and
a code of a written chunk may be handed out, bound or redeemed by then): only the invocation that took the job
from queued writes without looking; every other one skips chunks whose marker exists and writes only the codes
of a chunk that are missing (one BatchGetItem per 100 codes). batch_write raises when items stay unprocessed, so
a chunk is never counted (nor the job reported done) with codes it did not write."""
from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from datetime import datetime

from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.job_store import ChunkCounted, JobStore
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
WORKERS = 4


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

    # --- bulk -------------------------------------------------------------------------------------------

    def start_bulk(self, campaign: Campaign, count: int, expiry: str | None, now: datetime) -> dict:
        if count > BULK_MAX:
            raise errors.InvalidRequest(f"at most {BULK_MAX} codes per job", {"field": "count"})
        job_id = new_id("job")
        reservation = self.issuer.reserve(campaign, count)  # the whole job's counters, at once
        self.jobs.create({"id": job_id, "type": "bulk-codes", "campaign_id": campaign.id, "total": count,
                          "status": "queued", "expires_at": expiry, "created_at": iso(now),
                          "chunks": math.ceil(count / CHUNK), "counter_start": reservation.start})
        return {"job_id": job_id, "status": "queued", "total": count}

    def get_job(self, job_id: str) -> dict:
        meta, done = self.jobs.with_progress(job_id)
        if meta is None:
            raise errors.NotFound(f"no job {job_id}", {"job_id": job_id})
        return {"job_id": job_id, "type": meta["type"], "campaign_id": meta.get("campaign_id"),
                "status": meta["status"], "done": done, "total": meta["total"], "created_at": meta["created_at"],
                "finished_at": meta.get("finished_at"), "error": meta.get("error")}

    def run_bulk(self, job_id: str, start_chunk: int, now: datetime, time_left_s: float,
                 workers: int = WORKERS) -> int | None:
        """Write chunks from ``start_chunk`` until done or about to run out of time. Returns the chunk to
        continue from, or None when the job is complete."""
        meta = self.jobs.get(job_id)
        if meta is None:
            raise errors.NotFound(f"no job {job_id}")
        if meta["status"] in ("succeeded", "failed"):
            return None
        campaign = self._unique_campaign(meta["campaign_id"])
        # Only the invocation that took the job from queued writes without looking: nothing was written before.
        fresh = self.jobs.start_running(job_id, iso(now))
        key = self.issuer.space_key(campaign)
        created = iso(now)
        total, chunks, first = meta["total"], meta["chunks"], meta["counter_start"]
        deadline = time.monotonic() + time_left_s
        done_upto = start_chunk
        completed: set[int] = set()

        def write_chunk(n: int) -> int:
            """Writes and counts chunk n; returns n."""
            size = min(CHUNK, total - n * CHUNK)
            if not fresh and self.jobs.chunk_counted(job_id, n):
                return n  # written and counted by an earlier attempt: its codes may be handed out already
            items = list(self.issuer.chunk_items(campaign, key, first + n * CHUNK, size, created,
                                                 meta.get("expires_at"), job_id))
            # An earlier attempt may have written part of this chunk: then never put a code item over one that
            # exists (it may be handed out, bound or redeemed by now). Unprocessed items raise: nothing counted.
            self.issuer.put_chunk(items, skip_existing=not fresh)
            shard = n % WORKERS
            uow = UnitOfWork(self.table)
            self.jobs.count_chunk(uow, job_id, n, size, shard)
            self.issuer.count_issued(uow, campaign.id, size, shard + 1,
                                     by_variant=Counter(i["variant"] for i in items if i.get("variant")))
            try:
                uow.commit()
            except ChunkCounted:
                pass  # the marker exists: this chunk was counted by an earlier attempt
            return n

        with ThreadPoolExecutor(max_workers=workers) as pool:
            pending: set = set()
            n = start_chunk
            while True:
                # Always take at least one chunk, so even a late invocation makes progress.
                while n < chunks and len(pending) < workers * 2 and (time.monotonic() < deadline or n == start_chunk):
                    pending.add(pool.submit(write_chunk, n))
                    n += 1
                if not pending:
                    break
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    completed.add(f.result())  # re-raises a failure: the handler marks the job failed
                while done_upto in completed:
                    done_upto += 1
        if done_upto < chunks:
            return done_upto
        self.jobs.finish(job_id, iso(datetime.now(now.tzinfo)))
        return None

    def fail_job(self, job_id: str, message: str, now: datetime) -> None:
        self.jobs.fail(job_id, message, iso(now))
