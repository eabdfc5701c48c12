"""Where a whole campaign's CSV export is kept (services/code_export.py ExportJobs): deployed, an object in the
export bucket (EXPORT_BUCKET: encrypted, private, expired by a lifecycle rule, infra/bulk.py), handed out as a
pre-signed GET link; locally, a file (LocalExportFiles, installed by local/wiring.py), handed out as its path."""
from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from typing import Protocol

LINK_SECONDS = 3600  # a pre-signed link works this long (and at most as long as the signer's credentials)


class ExportFiles(Protocol):
    def store(self, campaign_id: str, export_id: str, local_path: str) -> str:
        """Keeps the finished file; answers its location (kept on the export's item)."""
        ...

    def answer(self, location: str) -> dict:
        """How an operator gets the file: {"url", "url_expires_at"} or {"path"}."""
        ...


def object_key(campaign_id: str, export_id: str) -> str:
    return f"exports/{campaign_id}/{export_id}.csv"


class S3ExportFiles:
    def __init__(self, bucket: str):
        self.bucket = bucket
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("s3")
        return self._client

    def store(self, campaign_id: str, export_id: str, local_path: str) -> str:
        # One PutObject (up to 5 GB; a million codes are ~70 MB): only s3:PutObject on exports/* is granted.
        key = object_key(campaign_id, export_id)
        with open(local_path, "rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="text/csv; charset=utf-8",
                                   ContentDisposition=f'attachment; filename="{campaign_id}-{export_id}.csv"')
        return key

    def answer(self, location: str) -> dict:
        url = self.client.generate_presigned_url("get_object", Params={"Bucket": self.bucket, "Key": location},
                                                 ExpiresIn=LINK_SECONDS)
        expires = datetime.now(UTC) + timedelta(seconds=LINK_SECONDS)
        return {"url": url, "url_expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}


class LocalExportFiles:
    """``directory``, or LOCAL_EXPORT_DIR when the file is stored (make run: $INCENTIVES_DATA_DIR/exports)."""

    def __init__(self, directory: str | None = None):
        self.directory = directory

    def store(self, campaign_id: str, export_id: str, local_path: str) -> str:
        directory = self.directory or os.environ.get("LOCAL_EXPORT_DIR") or ".local/exports"
        os.makedirs(directory, exist_ok=True)
        path = os.path.abspath(os.path.join(directory, f"{campaign_id}-{export_id}.csv"))
        shutil.move(local_path, path)
        return path

    def answer(self, location: str) -> dict:
        return {"path": location}
