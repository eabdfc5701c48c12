"""The one time format and the one RFC 3339 parser (domain/clock.py), and the edge's text rules (domain/text.py)."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from incentives.domain.clock import EARLIEST, LATEST, iso, iso_ms, parse_date, parse_rfc3339
from incentives.domain.text import MAX_DEPTH, ascii_int, find_bad_text, has_lone_surrogate

instants = st.datetimes(min_value=EARLIEST.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None),
                        timezones=st.just(UTC))


def test_stored_times_are_zero_padded():
    assert iso(datetime(1000, 1, 2, 3, 4, 5, tzinfo=UTC)) == "1000-01-02T03:04:05Z"
    assert iso(datetime(5, 1, 1, tzinfo=UTC)) == "0005-01-01T00:00:00Z"  # strftime("%Y") would write "5"
    assert iso_ms(datetime(999, 12, 31, 23, 59, 59, 987_654, tzinfo=UTC)) == "0999-12-31T23:59:59.987Z"
    assert iso(datetime(2026, 12, 3, 12, tzinfo=timezone(timedelta(hours=2)))) == "2026-12-03T10:00:00Z"


@given(instants, instants)
def test_stored_times_sort_as_strings_in_time_order_and_read_back(a, b):
    assert (iso_ms(a) < iso_ms(b)) == (a.replace(microsecond=a.microsecond // 1000 * 1000)
                                       < b.replace(microsecond=b.microsecond // 1000 * 1000))
    assert parse_rfc3339(iso(a)) == a.replace(microsecond=0)
    assert parse_rfc3339(iso_ms(a)) == a.replace(microsecond=a.microsecond // 1000 * 1000)


@pytest.mark.parametrize("text, want", [
    ("2026-12-01T10:00:00Z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ("2026-12-01t10:00:00z", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ("2026-12-01T10:00:00.123456789+05:30", datetime(2026, 12, 1, 4, 30, 0, 123456, tzinfo=UTC)),
    ("2026-12-01T10:00:00-00:00", datetime(2026, 12, 1, 10, tzinfo=UTC)),
    ("1000-01-01T00:30:00-01:00", datetime(1000, 1, 1, 1, 30, tzinfo=UTC)),
    ("9999-12-31T23:59:59Z", datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)),
])
def test_rfc3339_times_are_read_as_utc(text, want):
    assert parse_rfc3339(text) == want


@pytest.mark.parametrize("text", [
    "2026-12-01T10:00:00",             # no offset
    "2026-12-01 10:00:00Z",            # a space (ISO 8601, not RFC 3339)
    "2026-12-01",                      # a date
    "20261201T100000Z",                # the basic format
    "2026-12-01T10:00Z",               # no seconds
    "2026-12-01T10:00:00+0100",        # an offset without the colon
    "2026-12-01T10:00:00+24:00",       # an offset out of range
    "2026-02-30T10:00:00Z",            # no such day
    "2026-12-01T10:00:60Z",            # a leap second
    "\u0662\u0660\u0662\u0666-12-01T10:00:00Z",            # Arabic-Indic digits
    "0999-12-31T23:59:59Z",            # before the year 1000
    "1000-01-01T00:30:00+01:00",       # the offset moves it before the year 1000
    "0001-01-01T00:00:00+01:00",       # ... before the year 1 (an OverflowError in datetime)
    "9999-12-31T23:59:59-01:00",       # ... past the year 9999
    "+10000-01-01T00:00:00Z",
    "2026-12-01T10:00:00Z\n",
    "2026-12-01T10:00:00." + "1" * 40 + "Z",
])
def test_anything_else_is_a_value_error(text):
    with pytest.raises(ValueError):
        parse_rfc3339(text)


def test_dates_are_ascii_and_in_range():
    assert parse_date("1990-02-28") == date(1990, 2, 28)
    for bad in ("1990-2-28", "\u0661\u0669\u0669\u0660-\u0660\u0662-\u0662\u0668", "0999-01-01", "1990-02-30",
                "1990-02-28T00:00:00Z"):
        with pytest.raises(ValueError):
            parse_date(bad)


def test_lone_surrogates_are_found_and_pairs_are_not():
    assert has_lone_surrogate("a\ud800") and has_lone_surrogate("\udfff")
    assert not has_lone_surrogate("😀 ü \u0661\u0662") and not has_lone_surrogate("plain")


@pytest.mark.parametrize("raw, want", [("1", 1), ("0100", 100), ("1000", 1000), ("1001", None), ("0", None),
                                       ("\u0661\u0662", None), ("²", None), ("-1", None), ("+1", None), (" 1", None),
                                       ("1.0", None), ("9" * 5000, None), ("", None)])
def test_query_integers_are_ascii_digits_within_bounds(raw, want):
    assert ascii_int(raw, 1, 1000) == want


def test_bad_text_is_found_with_its_path():
    assert find_bad_text({"a": [{"b": "ok"}, {"c": "x\udc00"}]}) == (
        "a.1.c", "holds a lone surrogate (not a Unicode character)")
    assert find_bad_text({"k\ud800": 1})[1] == "is a key with a lone surrogate"
    deep: object = "leaf"
    for _ in range(MAX_DEPTH):
        deep = [deep]
    assert find_bad_text(deep) is None  # exactly MAX_DEPTH levels: DynamoDB stores it
    assert find_bad_text([deep]) == ("0" + ".0" * (MAX_DEPTH - 1), f"is nested more than {MAX_DEPTH} levels deep")
    assert find_bad_text({"a": ["é", 1, None, {"b": True}]}) is None
