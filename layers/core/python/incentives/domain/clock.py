"""UTC time helpers: every stored time is UTC in one fixed RFC 3339 form, so strings compare in time order.

- ``iso`` (and ``iso_ms``, the same with milliseconds) is the one formatter of a stored time: zero-padded
  (``strftime("%Y")`` writes the year 999 as ``999`` on glibc, which sorts after ``2026``).
- ``parse_rfc3339`` is the one parser of a time from outside: RFC 3339's grammar exactly (ASCII digits, an
  offset required), and only instants between ``EARLIEST`` and ``LATEST`` in UTC, so a time an offset moves past
  the year 9999 (or before 1000) is refused as input instead of overflowing in whatever reads it.
"""
from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone

EARLIEST = datetime(1000, 1, 1, tzinfo=UTC)
LATEST = datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

# RFC 3339 section 5.6 date-time ("T" and "Z" may be lower case); [0-9], not \d, which matches any script's digits
_DATE_TIME = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
                        r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")
_FULL_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def utcnow() -> datetime:
    return datetime.now(UTC)


def to_utc(dt: datetime) -> datetime:
    if dt.tzinfo is None:
        raise ValueError("naive datetime")
    return dt.astimezone(UTC)


def iso(dt: datetime) -> str:
    """2026-11-23T10:00:00Z — second precision, sortable as a string."""
    u = to_utc(dt)
    return f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}Z"


def iso_ms(dt: datetime) -> str:
    """2026-11-23T10:00:00.123Z — ``iso`` with milliseconds (same order as a string)."""
    return f"{iso(dt)[:-1]}.{dt.microsecond // 1000:03d}Z"


def parse_rfc3339(value: str) -> datetime:
    """An RFC 3339 date-time with an offset (``Z`` allowed) as an aware UTC datetime; ValueError for anything
    else: another syntax (no offset, a space, non-ASCII digits), an impossible date, a leap second (Python has
    none) or an instant outside EARLIEST..LATEST once in UTC."""
    m = _DATE_TIME.fullmatch(value) if isinstance(value, str) and len(value) <= 40 else None
    if m is None:
        raise ValueError("not an RFC 3339 date-time with an offset")
    y, mo, d, h, mi, s, frac, sign, oh, om = m.groups()
    if sign and (int(oh) > 23 or int(om) > 59):
        raise ValueError("the offset is out of range")
    offset = timedelta(hours=int(oh), minutes=int(om)) * (-1 if sign == "-" else 1) if sign else timedelta(0)
    micro = int((frac or "0")[:6].ljust(6, "0"))
    try:
        local = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro, tzinfo=timezone(offset))
        at = local.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time is out of range") from None
    if not EARLIEST <= at <= LATEST:
        raise ValueError("the time is out of range (years 1000 to 9999 in UTC)")
    return at


def parse_date(value: str) -> date:
    """An RFC 3339 full-date (YYYY-MM-DD, ASCII digits, years 1000 to 9999); ValueError for anything else."""
    if not isinstance(value, str) or not _FULL_DATE.fullmatch(value):
        raise ValueError("not a date YYYY-MM-DD")
    d = date.fromisoformat(value)
    if d.year < EARLIEST.year:
        raise ValueError("the date is out of range (years 1000 to 9999)")
    return d
