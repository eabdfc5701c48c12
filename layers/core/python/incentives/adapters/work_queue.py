"""The bulk worker queue: slices of a bulk job (services/issuance.py plan_bulk) as messages for parallel workers.
Deployed: SQS (BULK_QUEUE_URL), read by the bulk_codes_worker function through an event source mapping with a
maximum concurrency and a dead-letter queue (infra/bulk.py). The local run and the tests install a thread pool
that calls the same worker handler (local/lambdas.py LocalWorkQueue, through incentives.wiring)."""
from __future__ import annotations

import json
from typing import Protocol

from .retry import RetryPolicy

SEND_BATCH = 10  # SendMessageBatch's limit
SEND_RETRY = RetryPolicy(deadline_s=5.0, max_attempts=2, base_s=0.05)  # entries SQS refused: sent once more


class WorkQueue(Protocol):
    def send(self, messages: list[dict]) -> None: ...


class SqsWorkQueue:
    def __init__(self, queue_url: str):
        self.queue_url = queue_url
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("sqs")
        return self._client

    def send(self, messages: list[dict]) -> None:
        """SendMessageBatch, 10 at a time; entries SQS refused are sent again once (SEND_RETRY), then raise (the
        planner's invocation fails and Lambda retries it: sending a slice twice is harmless)."""
        for i in range(0, len(messages), SEND_BATCH):
            entries = [{"Id": str(n), "MessageBody": json.dumps(m, separators=(",", ":"))}
                       for n, m in enumerate(messages[i:i + SEND_BATCH])]
            for _ in SEND_RETRY.attempts():
                failed = {f["Id"] for f in self.client.send_message_batch(QueueUrl=self.queue_url,
                                                                          Entries=entries).get("Failed", [])}
                entries = [e for e in entries if e["Id"] in failed]
                if not entries:
                    break
            if entries:
                raise RuntimeError(f"SQS refused {len(entries)} bulk message(s) twice")
