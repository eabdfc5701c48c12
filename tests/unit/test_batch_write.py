"""batch_write raises when items stay unprocessed after its retries (a bulk job must not count what it did not
write). A fake client: this is about BatchWriteItem's UnprocessedItems, not about conditions."""
from __future__ import annotations

import pytest

from incentives.adapters.dynamo import BatchIncomplete, Table
from incentives.adapters.retry import RetryPolicy


class FakeClient:
    def __init__(self, stuck: int):
        self.stuck = stuck  # how many items of each request stay unprocessed, for ever
        self.requests: list[int] = []
        self.written: list[dict] = []

    def batch_write_item(self, RequestItems):
        (name, reqs), = RequestItems.items()
        self.requests.append(len(reqs))
        keep, left = reqs[:len(reqs) - self.stuck], reqs[len(reqs) - self.stuck:]
        self.written += [r["PutRequest"]["Item"] for r in keep]
        self.stuck = min(self.stuck, len(left))
        return {"UnprocessedItems": {name: left}} if left else {}


def table(client) -> Table:
    t = Table("t", client)
    t.batch_retry = RetryPolicy(max_attempts=4, sleep=lambda s: None)
    return t


def items(n):
    return [{"pk": f"CODE#{i}", "sk": "CODE"} for i in range(n)]


def test_items_left_unprocessed_after_the_retries_raise():
    client = FakeClient(stuck=2)
    with pytest.raises(BatchIncomplete, match="2 item"):
        table(client).batch_write(items(30))
    assert client.requests == [25, 2, 2, 2]  # the first chunk, then its 2 stuck items three more times
    assert len(client.written) == 23  # the second chunk was never sent


def test_items_processed_on_a_retry_do_not_raise():
    class Once(FakeClient):
        def batch_write_item(self, RequestItems):
            out = super().batch_write_item(RequestItems)
            self.stuck = 0
            return out

    client = Once(stuck=3)
    table(client).batch_write(items(30))
    assert len(client.written) == 30
