"""Engine events (campaign.activated, campaign.deactivated, ...): EventBridge when deployed, an outbox of
JSON files locally, a list in tests. And the bus the customer-event fan-out publishes on (EventBus): the engine's
EventBridge bus when deployed, the in-process bus of local/bus.py locally."""
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


class EventBus(Protocol):
    def put_events(self, entries: list[dict]) -> list[str | None]:
        """PutEvents entries (Source, DetailType, Detail, Time), at most 10 -> per entry None when accepted,
        else its error."""
        ...


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
        self.write({"id": new_id("evt"), "source": SOURCE, "detail-type": detail_type, "time": iso_ms(now),
                    "detail": detail})

    def write(self, event: dict) -> None:
        """An EventBridge-shaped event (id, source, detail-type, time, detail) as <id>.json."""
        os.makedirs(self.directory, exist_ok=True)
        with open(os.path.join(self.directory, f"{event['id']}.json"), "w", encoding="utf-8") as f:
            json.dump(event, f, indent=2)


class EventBridgeBus:
    def __init__(self, name: str):
        self.name = name
        self._client = None

    def put_events(self, entries: list[dict]) -> list[str | None]:
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("events")
        r = self._client.put_events(Entries=[{**e, "EventBusName": self.name} for e in entries])
        return [f"{e['ErrorCode']}: {e.get('ErrorMessage', '')}" if e.get("ErrorCode") else None for e in r["Entries"]]


class EventBridgeEvents:
    def __init__(self, bus: str):
        self.bus = EventBridgeBus(bus)

    def publish(self, detail_type: str, detail: dict, now: datetime) -> None:
        (error,) = self.bus.put_events([{"Source": SOURCE, "DetailType": detail_type, "Time": now,
                                         "Detail": json.dumps(detail)}])
        if error:
            raise RuntimeError(f"PutEvents failed: {error}")


def default_publisher() -> EventPublisher:
    s = get_settings()
    if s.event_bus_name:
        return EventBridgeEvents(s.event_bus_name)
    return OutboxEvents(s.local_outbox_dir or ".local/outbox")


def default_bus() -> EventBus:
    if get_settings().event_bus_name:
        return EventBridgeBus(get_settings().event_bus_name)
    from local.bus import local_bus  # make run and tests only: not shipped in the layer

    return local_bus()
