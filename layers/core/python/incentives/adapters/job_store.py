"""Job items in the single table (docs/data-model.md "Job"): the job's meta item, its chunk markers and its
progress shards. The dispatcher that starts a job's function is adapters/jobs.py."""
from __future__ import annotations

from dataclasses import dataclass

from . import keys
from .dynamo import ConditionFailed, Table, values
from .unit_of_work import UnitOfWork
from ..domain.ids import new_id

STATUS = {"#st": "status"}


class ChunkCounted(Exception):
    """A chunk's marker exists: an earlier attempt counted it."""


@dataclass(frozen=True)
class ChunkClaim:
    """What claiming a chunk found: ``counted`` (done by an earlier attempt), ``busy`` (another attempt holds a
    live lease on it), or neither: this attempt holds it, and ``first`` says no attempt ever wrote any of it."""

    counted: bool = False
    busy: bool = False
    first: bool = False


def new_lease_owner() -> str:
    """The id a bulk attempt holds a chunk's lease by."""
    return new_id("lease")


class JobStore:
    def __init__(self, table: Table):
        self.table = table

    def create(self, job: dict) -> None:
        pk, sk = keys.job(job["id"])
        self.table.put({"pk": pk, "sk": sk, **job})

    def get(self, job_id: str) -> dict | None:
        return self.table.get(*keys.job(job_id), consistent=True)

    def with_progress(self, job_id: str) -> tuple[dict | None, int]:
        """The meta item and the sum of the progress shards (a GetItem and a Query of the PROGRESS# items only:
        a million-code job has 2,000 chunk markers in the same partition, which a poll must not read)."""
        meta = self.get(job_id)
        return meta, (self.progress(job_id) if meta else 0)

    def progress(self, job_id: str) -> int:
        """Codes counted so far: the sum of the progress shards, read consistently (the worker that counts the
        last chunk must see every other worker's count to finish the job)."""
        items = self.table.query(keys.job(job_id)[0], "PROGRESS#", consistent=True)
        return sum(int(i.get("done", 0)) for i in items)

    def set_fields(self, job_id: str, **fields) -> None:
        """Plain fields of the meta item (an export's progress and file)."""
        names = {f"#f{i}": f for i, f in enumerate(fields)}
        self.table.update(*keys.job(job_id), "SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
                          names=names, vals=values(**{f"f{i}": v for i, v in enumerate(fields.values())}))

    def start_running(self, job_id: str, now_iso: str) -> bool:
        """Marks the job running; True for the one invocation that took it from queued."""
        update = "SET #st = :running, started_at = if_not_exists(started_at, :now)"
        try:
            self.table.update(*keys.job(job_id), update, "#st = :queued", STATUS,
                              values(running="running", now=now_iso, queued="queued"))
            return True
        except ConditionFailed:
            self.table.update(*keys.job(job_id), update, names=STATUS, vals=values(running="running", now=now_iso))
            return False

    def finish(self, job_id: str, now_iso: str) -> None:
        # a job failed by a dead-lettered slice succeeds once the redriven slice completes it
        self.table.update(*keys.job(job_id), "SET #st = :ok, finished_at = :now REMOVE #err",
                          names={**STATUS, "#err": "error"}, vals=values(ok="succeeded", now=now_iso))

    def fail(self, job_id: str, message: str, now_iso: str) -> None:
        self.table.update(*keys.job(job_id), "SET #st = :failed, finished_at = :now, #err = :msg",
                          names={**STATUS, "#err": "error"},
                          vals=values(failed="failed", now=now_iso, msg=message[:500]))

    def claim_chunk(self, job_id: str, n: int, now_s: int, lease_s: int, owner: str | None = None) -> ChunkClaim:
        """Takes chunk n for ``lease_s`` seconds (one conditional UpdateItem of its marker): refused while the
        chunk is counted or another attempt's lease runs. ``attempts`` tells the first attempt ever, the only one
        that may write the chunk's codes without reading them first. The lease names this attempt
        (``lease_owner``): when the answer of the update is lost after it applied, botocore's re-send fails on
        the lease it just set, and the old item's owner tells that the lease is this attempt's own. ``owner``:
        the attempt's id (new_lease_owner()), to release the lease by when the claim itself raised."""
        me = owner or new_lease_owner()
        try:
            item = self.table.update(
                *keys.job_chunk(job_id, n), "SET lease_until = :until, lease_owner = :me ADD attempts :one",
                "attribute_not_exists(codes) AND (attribute_not_exists(lease_until) OR lease_until < :now)",
                vals=values(until=now_s + lease_s, me=me, one=1, now=now_s), return_new=True)
        except ConditionFailed as e:
            old = e.item or {}
            if "codes" not in old and old.get("lease_owner") == me:  # our own update, its answer lost
                return ChunkClaim(first=int(old["attempts"]) == 1)
            return ChunkClaim(counted="codes" in old, busy="codes" not in old)
        return ChunkClaim(first=int(item["attempts"]) == 1)

    def release_chunk(self, job_id: str, n: int, owner: str) -> None:
        """Gives up this attempt's lease of a chunk (an attempt that failed, also one whose claim raised after it
        may have applied): its retry need not wait for the lease. Another attempt's lease is left alone."""
        try:
            self.table.update(*keys.job_chunk(job_id, n), "REMOVE lease_until, lease_owner",
                              "attribute_not_exists(codes) AND lease_owner = :me", vals=values(me=owner))
        except ConditionFailed:
            pass

    def count_chunk(self, uow: UnitOfWork, job_id: str, n: int, size: int, shard: int) -> None:
        """The chunk's marker (once: ChunkCounted when it is counted already) and the job's progress shard."""
        uow.update(keys.job_chunk(job_id, n), "SET codes = :size REMOVE lease_until, lease_owner",
                   "attribute_not_exists(codes)",
                   vals=values(size=size), explain=lambda _old: ChunkCounted())
        uow.add(keys.job_progress(job_id, shard), done=size)
