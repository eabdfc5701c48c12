"""The Lambda event source mapping of the table's stream, for `make run` and the tests (DynamoDB Local has
Streams): reads every shard (DescribeStream, GetShardIterator, GetRecords), keeps the records STREAM_FILTER
matches (incentives/subscriptions.py, the filter of the deployed mapping) and invokes the fan-out function's
real lambda_handler with a DynamoDB stream event of up to FANOUT_BATCH_SIZE records. A partial batch response
is retried from the first failed record, as Lambda does; after RETRIES the rest of the batch is logged and
dropped (deployed: its location goes to the on-failure queue).
"""
from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Any
from collections.abc import Callable

from incentives.subscriptions import FANOUT_BATCH_SIZE, FANOUT_FUNCTION, STREAM_FILTER, matches

from local.dynamodb_local import client, streams_client

log = logging.getLogger("local.stream")
POLL_SECONDS = 0.2
RETRIES = 3


def lambda_record(record: dict, stream_arn: str) -> dict:
    """A GetRecords record as Lambda hands it over: with eventSourceARN, the creation time in epoch seconds."""
    ddb = dict(record["dynamodb"])
    if isinstance(ddb.get("ApproximateCreationDateTime"), datetime):
        ddb["ApproximateCreationDateTime"] = ddb["ApproximateCreationDateTime"].timestamp()
    return {**record, "dynamodb": ddb, "eventSourceARN": stream_arn}


class StreamPump:
    """``from_start``: read the shards from their oldest record (tests); otherwise the shards open at start()
    are read from then on, like a mapping created now, and shards that appear later from their oldest record."""

    def __init__(self, endpoint: str, table_name: str, invoke: Callable[[str, dict], Any],
                 from_start: bool = False):
        self.stream_arn = client(endpoint).describe_table(TableName=table_name)["Table"]["LatestStreamArn"]
        self.streams = streams_client(endpoint)
        self.invoke = invoke
        self._first = "TRIM_HORIZON" if from_start else "LATEST"
        self._iterators: dict[str, str | None] = {}  # shard id -> next iterator (None: closed and read)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> StreamPump:
        self._discover()  # before anything is written: nothing after this moment is missed
        self._thread = threading.Thread(target=self._loop, name="local-stream", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                read = self.poll()
            except Exception:  # DynamoDB Local busy or stopping: try again on the next tick
                log.exception("reading the table's stream failed")
                read = 0
            if not read:
                self._stop.wait(POLL_SECONDS)

    def poll(self) -> int:
        """One GetRecords per open shard, the matching records handed to the fan-out; the records read."""
        self._discover()
        read = 0
        for sid, iterator in self._iterators.items():
            if iterator is None:
                continue
            r = self.streams.get_records(ShardIterator=iterator, Limit=FANOUT_BATCH_SIZE)
            self._iterators[sid] = r.get("NextShardIterator")
            read += len(r["Records"])
            batch = [x for x in (lambda_record(x, self.stream_arn) for x in r["Records"]) if matches(STREAM_FILTER, x)]
            if batch:
                self._deliver(batch)
        return read

    def _discover(self) -> None:
        """An iterator for each shard not seen yet: the first ones at ``_first``, later ones at their oldest."""
        for shard in self.streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]:
            if shard["ShardId"] not in self._iterators:
                self._iterators[shard["ShardId"]] = self.streams.get_shard_iterator(
                    StreamArn=self.stream_arn, ShardId=shard["ShardId"], ShardIteratorType=self._first)["ShardIterator"]
        self._first = "TRIM_HORIZON"

    def _deliver(self, batch: list[dict]) -> None:
        for attempt in range(RETRIES + 1):
            try:
                answer = self.invoke(FANOUT_FUNCTION, {"Records": batch}) or {}
                failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
            except Exception:  # a function error: the whole batch again, like Lambda
                log.exception("event fan-out failed")
                failed = {r["dynamodb"]["SequenceNumber"] for r in batch}
            if not failed:
                return
            batch = batch[next(i for i, r in enumerate(batch) if r["dynamodb"]["SequenceNumber"] in failed):]
            self._stop.wait(0.2 * 2**attempt)
        log.error("event fan-out gave up on %d stream records (deployed: the on-failure queue): %s", len(batch),
                  [r["dynamodb"]["SequenceNumber"] for r in batch])
