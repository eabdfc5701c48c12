"""Quarantine: an event record that cannot be read (a missing or malformed field, a time out of range, a bug that
fails the same way on every retry) is set aside with its id instead of failing its batch or invocation again and
again. The fan-out (services/fanout.py) skips it and publishes the records after it; a consumer (each
functions/<consumer> handler, through Observability.consumer) answers without applying it. Either way one item
(adapters/event_store.py: where, the event id, the stream sequence number, the error's type; no PII, never the error's
text, which may quote the input) plus the EventsQuarantined metric and a log line, so an operator can redrive it
from its EVENT# item after a fix. Transient failures (DynamoDB, EventBridge, contention) are not quarantined: they
raise, and Lambda retries them (then the function's DLQ)."""
from __future__ import annotations

from datetime import datetime

from ..adapters.dynamo import Table
from ..adapters.event_store import EventStore
from ..domain.clock import iso_ms
from ..domain.errors import IncentiveError

# What reading a malformed record raises; a domain error (e.g. contention) or a client error is something else.
_UNREADABLE = (KeyError, ValueError, TypeError, OverflowError, AttributeError, IndexError)


def is_unreadable(exc: BaseException) -> bool:
    return isinstance(exc, _UNREADABLE) and not isinstance(exc, IncentiveError)


class Quarantine:
    def __init__(self, table: Table):
        self.table = table

    def hold(self, where: str, event_id: str | None, error: BaseException, now: datetime,
             sequence_number: str | None = None) -> dict:
        """Puts (or puts again: the key is the record's) the quarantine item of one record."""
        event_id = event_id[:200] if isinstance(event_id, str) and event_id else None  # keys stay far below 1 KB
        record = f"{sequence_number}#{event_id or ''}" if sequence_number else (event_id or "unknown")
        fields = {"where": where, "error_type": type(error).__name__, "quarantined_at": iso_ms(now)}
        if event_id:
            fields["event_id"] = event_id
        if sequence_number:
            fields["sequence_number"] = sequence_number
        return EventStore(self.table).quarantine(where, record, fields)
