"""The engine's EventBridge bus for `make run` and the tests, installed with incentives.wiring.use_bus
(local/wiring.py) where a deployed function has EVENT_BUS_NAME.

PutEvents entries become EventBridge events: each is written to the outbox directory ($LOCAL_OUTBOX_DIR/events,
default .local/outbox/events; as deployed a shop could add its own rule) and delivered to every consumer function
one of whose subscriptions (incentives/subscriptions.py, the patterns of the deployed rules) matches, on one
background thread, since EventBridge delivers asynchronously. A consumer that raises is retried like Lambda
retries an asynchronous invocation (twice), then logged (deployed: its dead-letter queue).
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import time
import uuid
from datetime import datetime, UTC

from incentives.subscriptions import SUBSCRIPTIONS

from local import lambdas

log = logging.getLogger("local.bus")
RETRIES = 2
RETRY_DELAY_SECONDS = 0.5


def eventbridge_event(entry: dict) -> dict:
    """The event EventBridge hands a rule's target for one PutEvents entry."""
    at = entry.get("Time") or datetime.now(UTC)
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": entry["DetailType"],
        "source": entry["Source"],
        "account": lambdas.ACCOUNT_ID,
        "time": at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": lambdas.REGION,
        "resources": entry.get("Resources", []),
        "detail": json.loads(entry["Detail"]),
    }


def outbox_dir() -> str:
    """Where the local bus leaves each event it was given: LOCAL_OUTBOX_DIR (make run: $INCENTIVES_DATA_DIR/outbox)."""
    return os.environ.get("LOCAL_OUTBOX_DIR") or ".local/outbox"


def write_event(directory: str, event: dict) -> None:
    """An EventBridge-shaped event (id, source, detail-type, time, detail) as <directory>/events/<id>.json,
    readable by a person or a test."""
    d = os.path.join(directory, "events")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, f"{event['id']}.json"), "w", encoding="utf-8") as f:
        json.dump(event, f, indent=2)


class LocalBus:
    def __init__(self) -> None:
        self._queue: queue.Queue[tuple[str, dict]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def put_events(self, entries: list[dict]) -> list[str | None]:
        directory = outbox_dir()
        for entry in entries:
            event = eventbridge_event(entry)
            write_event(directory, event)
            for subscription in SUBSCRIPTIONS:
                if subscription.matches(event):
                    self._queue.put((subscription.function, event))
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._deliver, name="local-bus", daemon=True)
                self._thread.start()
        return [None] * len(entries)

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Until every event put so far is delivered (tests); False on timeout."""
        with self._queue.all_tasks_done:
            return self._queue.all_tasks_done.wait_for(lambda: self._queue.unfinished_tasks == 0, timeout)

    def _deliver(self) -> None:
        while True:
            folder, event = self._queue.get()
            try:
                for attempt in range(RETRIES + 1):
                    try:
                        lambdas.invoke(folder, event)
                        break
                    except Exception:  # logged; retried like an asynchronous Lambda invocation
                        log.exception("consumer %s failed on %s %s (attempt %d)", folder, event["detail-type"],
                                      event["detail"].get("id"), attempt + 1)
                        time.sleep(RETRY_DELAY_SECONDS)
                else:
                    log.error("consumer %s gave up on %s (deployed, it would be in its dead-letter queue): %s",
                              folder, event["detail-type"], json.dumps(event))
            finally:
                self._queue.task_done()


_bus = LocalBus()


def local_bus() -> LocalBus:
    """The process's bus: consumers are the real handlers under FUNCTIONS_DIR, the outbox is LOCAL_OUTBOX_DIR's."""
    return _bus
