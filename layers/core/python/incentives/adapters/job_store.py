"""Job items in the single table (docs/data-model.md "Job"): the job's meta item, its chunk markers and its
progress shards. The dispatcher that starts a job's function is adapters/jobs.py."""
from __future__ import annotations

from . import keys
from .dynamo import ConditionFailed, Table, values
from .unit_of_work import UnitOfWork

STATUS = {"#st": "status"}


class ChunkCounted(Exception):
    """A chunk's marker exists: an earlier attempt counted it."""


class JobStore:
    def __init__(self, table: Table):
        self.table = table

    def create(self, job: dict) -> None:
        pk, sk = keys.job(job["id"])
        self.table.put({"pk": pk, "sk": sk, **job})

    def get(self, job_id: str) -> dict | None:
        return self.table.get(*keys.job(job_id), consistent=True)

    def with_progress(self, job_id: str) -> tuple[dict | None, int]:
        """The meta item and the sum of the progress shards (one Query of the job's partition)."""
        items = self.table.query(keys.job(job_id)[0])
        meta = next((i for i in items if i["sk"] == "JOB"), None)
        return meta, sum(i.get("done", 0) for i in items if i["sk"].startswith("PROGRESS#"))

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
        self.table.update(*keys.job(job_id), "SET #st = :ok, finished_at = :now", names=STATUS,
                          vals=values(ok="succeeded", now=now_iso))

    def fail(self, job_id: str, message: str, now_iso: str) -> None:
        self.table.update(*keys.job(job_id), "SET #st = :failed, finished_at = :now, #err = :msg",
                          names={**STATUS, "#err": "error"},
                          vals=values(failed="failed", now=now_iso, msg=message[:500]))

    def chunk_counted(self, job_id: str, n: int) -> bool:
        return self.table.get(*keys.job_chunk(job_id, n), consistent=True) is not None

    def count_chunk(self, uow: UnitOfWork, job_id: str, n: int, size: int, shard: int) -> None:
        """The chunk's marker (once: ChunkCounted when it exists) and the job's progress shard."""
        pk, sk = keys.job_chunk(job_id, n)
        uow.put({"pk": pk, "sk": sk, "codes": size}, explain=lambda _old: ChunkCounted())
        uow.add(keys.job_progress(job_id, shard), done=size)
