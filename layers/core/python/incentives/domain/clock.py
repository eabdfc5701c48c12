"""UTC time helpers: every stored time is UTC in one fixed RFC 3339 form, so strings compare in time order."""
from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """2026-11-23T10:00:00Z — second precision, sortable as a string."""
    return to_utc(dt).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_ms(dt: datetime) -> str:
    return to_utc(dt).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str) -> datetime:
    """Parse an RFC 3339 time with an offset (``Z`` allowed); a time without an offset is rejected."""
    dt = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    if dt.tzinfo is None:
        raise ValueError("a time zone offset is required")
    return dt.astimezone(UTC)
