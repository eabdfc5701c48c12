"""The engine's bus, on which the fan-out (services/fanout.py) publishes every event item of the table: the
engine's EventBridge bus when deployed (EventBridgeBus); the local run and the tests install their own bus
(incentives.wiring.use_bus). Nothing else in the engine publishes: events are outbox items (services/outbox.py)."""
from __future__ import annotations

from typing import Any, Protocol


class EventBus(Protocol):
    def put_events(self, entries: list[dict]) -> list[str | None]:
        """PutEvents entries (Source, DetailType, Detail, Time), at most 10 -> per entry None when accepted,
        else its error."""
        ...


class EventBridgeBus:
    def __init__(self, name: str):
        self.name = name
        self._client: Any = None  # botocore's events client, created on the first put

    def put_events(self, entries: list[dict]) -> list[str | None]:
        if self._client is None:
            import botocore.session

            self._client = botocore.session.get_session().create_client("events")
        r = self._client.put_events(Entries=[{**e, "EventBusName": self.name} for e in entries])
        return [f"{e['ErrorCode']}: {e.get('ErrorMessage', '')}" if e.get("ErrorCode") else None for e in r["Entries"]]
