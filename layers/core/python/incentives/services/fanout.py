"""The fan-out: new event items from the table's stream become events on the engine's bus, with the source the
item records (the shop's customer events: incentives.customers; the engine's own: incentives.engine).

At least once, never lost: Lambda retries a batch from the lowest sequence number the answer reports as failed,
so publishing stops at the first failure and reports that record and every later one (publishing the rest
would only publish it twice). Records of a chunk that were accepted after a failed one are published again on
the retry; consumers are idempotent (services/consumers.py).

A record that cannot be read (its entry cannot be built: a missing type, an unparsable time) would fail the same
way on every retry and hold up its shard, every later event of every customer, until the stream drops it after
24 hours. It is quarantined instead (services/quarantine.py) and the records after it are published.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from ..adapters.dynamo import from_item
from ..adapters.events import EventBus
from ..domain.clock import parse_rfc3339
from .quarantine import is_unreadable
from ..subscriptions import CUSTOMERS, STREAM_FILTER, CustomerEvent, detail_of, matches, source_of

PUT_EVENTS_MAX = 10  # entries per PutEvents request


@dataclass
class FanoutResult:
    published: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (sequence number, event id), to be retried
    quarantined: list[tuple[str, str | None, str]] = field(default_factory=list)  # (sequence number, id, error)
    error: str | None = None  # the first failure's reason


def entry(event: CustomerEvent, source: str = CUSTOMERS) -> dict:
    """The PutEvents entry of one customer event."""
    return entry_of(event.detail(), source)


def entry_of(detail: dict, source: str) -> dict:
    """The PutEvents entry of one event item's detail (detail_of)."""
    return {"Source": source, "DetailType": detail["type"], "Detail": json.dumps(detail),
            "Time": parse_rfc3339(detail["occurred_at"])}


Hold = Callable[[str | None, BaseException, str], object]  # (event id, error, sequence number): quarantines


class Fanout:
    def __init__(self, bus: EventBus, hold: Hold | None = None):
        self.bus = bus
        self.hold = hold  # None: unreadable records are only reported in the result

    def publish(self, records: list[dict]) -> FanoutResult:
        """Publish the DynamoDB stream records (Lambda's ``Records``) that are new event items; anything else
        (a mapping without its filter, a hand-made redrive) is skipped, an unreadable one quarantined."""
        result = FanoutResult()
        new, images, entries = [], [], []
        for r in records:
            if not matches(STREAM_FILTER, r):
                continue
            image: dict = {}
            try:
                image = from_item(r["dynamodb"]["NewImage"]) or {}
                built = entry_of(detail_of(image), source_of(image))
            except Exception as e:
                if not is_unreadable(e):
                    raise
                seq = r["dynamodb"].get("SequenceNumber", "")
                event_id = image.get("id") if isinstance(image.get("id"), str) else None
                if self.hold is not None:
                    self.hold(event_id, e, seq)  # raises when it cannot write: the batch is retried
                result.quarantined.append((seq, event_id, type(e).__name__))
                continue
            new.append(r)
            images.append(image)
            entries.append(built)
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
