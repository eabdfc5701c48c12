"""The fan-out: new event items from the table's stream become events on the engine's bus, with the source the
item records (the shop's customer events: incentives.customers; the engine's own: incentives.engine).

At least once, never lost: Lambda retries a batch from the lowest sequence number the answer reports as failed,
so publishing stops at the first failure and reports that record and every later one (publishing the rest
would only publish it twice). Records of a chunk that were accepted after a failed one are published again on
the retry; consumers are idempotent (services/consumers.py).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from ..adapters.dynamo import from_item
from ..adapters.events import EventBus
from ..domain.clock import parse_rfc3339
from ..subscriptions import CUSTOMERS, STREAM_FILTER, CustomerEvent, detail_of, matches, source_of

PUT_EVENTS_MAX = 10  # entries per PutEvents request


@dataclass
class FanoutResult:
    published: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, event id), to be retried
    error: str | None = None  # the first failure's reason


def entry(event: CustomerEvent, source: str = CUSTOMERS) -> dict:
    """The PutEvents entry of one customer event."""
    return entry_of(event.detail(), source)


def entry_of(detail: dict, source: str) -> dict:
    """The PutEvents entry of one event item's detail (detail_of)."""
    return {"Source": source, "DetailType": detail["type"], "Detail": json.dumps(detail),
            "Time": parse_rfc3339(detail["occurred_at"])}


class Fanout:
    def __init__(self, bus: EventBus):
        self.bus = bus

    def publish(self, records: list[dict]) -> FanoutResult:
        """Publish the DynamoDB stream records (Lambda's ``Records``) that are new event items; anything else
        (a mapping without its filter, a hand-made redrive) is skipped."""
        new = [r for r in records if matches(STREAM_FILTER, r)]
        images = [from_item(r["dynamodb"]["NewImage"]) or {} for r in new]
        entries = [entry_of(detail_of(i), source_of(i)) for i in images]
        result = FanoutResult()
        for start in range(0, len(entries), PUT_EVENTS_MAX):
            chunk = entries[start:start + PUT_EVENTS_MAX]
            try:
                errors = self.bus.put_events(chunk)
            except Exception as e:  # noqa: BLE001 - reported as failed records: Lambda retries them
                errors = [f"{type(e).__name__}: {e}"] * len(chunk)
            result.published += sum(1 for err in errors if not err)
            first = next((i for i, err in enumerate(errors) if err), None)
            if first is not None:
                result.error = errors[first]
                result.failed = [(r["dynamodb"]["SequenceNumber"], i["id"])
                                 for r, i in zip(new[start + first:], images[start + first:], strict=True)]
                break
        return result
