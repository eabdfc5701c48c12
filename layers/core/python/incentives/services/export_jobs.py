"""The whole-campaign CSV export (POST /v1/campaigns/{id}/exports, then GET .../exports/{export_id}): an operator
job that reads every unique code of the campaign from gsi2, its 16 shards in parallel, writes one CSV file (the
header and rows of the paged export, services/code_export.py) and keeps it with the export port
(adapters/export_files.py): an S3 object behind a pre-signed link when deployed, a file locally.

The export's state is a job item (adapters/job_store.py, type ``code-export``): queued, running with ``done``
rows so far, succeeded with the file's location and row count, or failed. The paged GET export stays for
callers that want pages; this one is for "all of them, once"."""
from __future__ import annotations

import csv
import os
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

from ..adapters.code_export_store import CodeExportStore
from ..adapters.config_source import ConfigSource
from ..adapters.dynamo import Table
from ..adapters.export_files import ExportFiles
from ..adapters.job_store import JobStore
from ..domain import errors
from ..domain.clock import iso
from ..domain.ids import new_id
from .code_export import CSV_HEADER, csv_row, export_view

TYPE = "code-export"
READERS = 4  # gsi2 shards read at once
PROGRESS_EVERY = 20_000  # rows between progress updates of the export's item


class ExportJobs:
    def __init__(self, table: Table, config: ConfigSource, files: ExportFiles | None = None):
        self.table = table
        self.config = config
        self.jobs = JobStore(table)
        self.store = CodeExportStore(table)
        self.files = files

    def create(self, campaign_id: str, now: datetime) -> dict:
        campaign = self.config.bundle().campaign(campaign_id)  # campaign_not_found
        if campaign.codes.type != "unique":
            raise errors.CodesNotIssuable(details={"code": campaign.codes.code})
        export_id = new_id("exp")
        self.jobs.create({"id": export_id, "type": TYPE, "campaign_id": campaign_id, "status": "queued",
                          "done": 0, "created_at": iso(now)})
        return {"export_id": export_id, "campaign_id": campaign_id, "status": "queued"}

    def _meta(self, export_id: str, campaign_id: str | None = None) -> dict:
        meta = self.jobs.get(export_id) if 1 <= len(export_id) <= 64 and "#" not in export_id else None
        if meta is None or meta.get("type") != TYPE or campaign_id not in (None, meta["campaign_id"]):
            raise errors.NotFound(f"no export {export_id}", {"export_id": export_id})
        return meta

    def get(self, campaign_id: str, export_id: str) -> dict:
        meta = self._meta(export_id, campaign_id)
        out = {"export_id": export_id, "campaign_id": meta["campaign_id"], "status": meta["status"],
               "done": int(meta.get("done", 0)), "created_at": meta["created_at"],
               "finished_at": meta.get("finished_at"), "error": meta.get("error")}
        if meta["status"] == "succeeded" and self.files is not None:
            out.update(self.files.answer(meta["location"]))
        return out

    def run(self, export_id: str, now: datetime) -> dict:
        """Writes the export's file and keeps it; answers the export as get() does."""
        if self.files is None:
            raise RuntimeError("ExportJobs.run needs the export files port")
        meta = self._meta(export_id)
        if meta["status"] == "succeeded":
            return self.get(meta["campaign_id"], export_id)
        campaign_id = meta["campaign_id"]
        self.jobs.start_running(export_id, iso(now))
        per_code = self.config.bundle().campaign(campaign_id).limits.per_code
        fd, tmp = tempfile.mkstemp(prefix=f"{export_id}-", suffix=".csv")
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
                rows = self._write(csv.writer(f), export_id, campaign_id, per_code, iso(now))
            location = self.files.store(campaign_id, export_id, tmp)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        self.jobs.set_fields(export_id, status="succeeded", done=rows, location=location,
                             finished_at=iso(datetime.now(now.tzinfo)))
        return self.get(campaign_id, export_id)

    def _write(self, writer, export_id: str, campaign_id: str, per_code: int | None, at: str) -> int:
        writer.writerow(CSV_HEADER)
        lock = threading.Lock()
        written = [0, 0]  # rows, rows at the last progress update

        def shard(n: int) -> None:
            for page in self.store.shard_pages(campaign_id, n):
                rows = [csv_row(export_view(i, per_code, at)) for i in page]
                with lock:
                    writer.writerows(rows)
                    written[0] += len(rows)
                    report = written[0] - written[1] >= PROGRESS_EVERY
                    if report:
                        written[1] = written[0]
                if report:
                    self.jobs.set_fields(export_id, done=written[1])

        with ThreadPoolExecutor(max_workers=READERS) as pool:
            list(pool.map(shard, range(CodeExportStore.SHARDS)))
        return written[0]

    def fail(self, export_id: str, message: str, now: datetime) -> None:
        self.jobs.fail(export_id, message, iso(now))
