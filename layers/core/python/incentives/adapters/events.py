"""Engine events (campaign.activated, campaign.deactivated, ...): EventBridge when deployed, an outbox of
JSON files locally, a list in tests."""
from __future__ import annotations

import json
import os
from datetime import datetime
from typing import Protocol

from ..domain.clock import iso_ms
from ..domain.ids import new_id
from ..settings import get_settings

SOURCE = "incentives.engine"


class EventPublisher(Protocol):
    def publish(self, detail_type: str, detail: dict, now: datetime) -> None: ...


class MemoryEvents:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def publish(self, detail_type: str, detail: dict, now: datetime) -> None:
        self.sent.append({"detail-type": detail_type, "detail": detail, "time": iso_ms(now)})


class OutboxEvents:
    """Writes each event as a JSON file under LOCAL_OUTBOX_DIR/events, readable by a person or a test."""

    def __init__(self, directory: str):
        self.directory = os.path.join(directory, "events")

    def publish(self, detail_type: str, detail: dict, now: datetime) -> None:
        os.makedirs(self.directory, exist_ok=True)
        eid = new_id("evt")
        with open(os.path.join(self.directory, f"{eid}.json"), "w", encoding="utf-8") as f:
            json.dump({"id": eid, "source": SOURCE, "detail-type": detail_type, "time": iso_ms(now),
                       "detail": detail}, f, indent=2)


class EventBridgeEvents:
    def __init__(self, bus: str):
        self.bus = bus
        self._client = None

    def publish(self, detail_type: str, detail: dict, now: datetime) -> None:
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("events")
        r = self._client.put_events(Entries=[{"Source": SOURCE, "DetailType": detail_type, "Time": now,
                                              "Detail": json.dumps(detail), "EventBusName": self.bus}])
        if r.get("FailedEntryCount"):
            raise RuntimeError(f"PutEvents failed: {r['Entries']}")


def default_publisher() -> EventPublisher:
    s = get_settings()
    if s.event_bus_name:
        return EventBridgeEvents(s.event_bus_name)
    return OutboxEvents(s.local_outbox_dir or ".local/outbox")
