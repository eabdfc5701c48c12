"""Rules for text from outside, checked at the edge (http/api.py) before anything reads or stores it.

- A lone surrogate (U+D800-U+DFFF, e.g. from the JSON escape "\\ud800") is no character: it cannot be encoded as
  UTF-8, so DynamoDB, a log line or a response would fail on it later. No string of a request may hold one.
- A number in a query string is ASCII digits only (str.isdigit() also takes "١٢" and "²", int() takes "١٢") and
  no longer than its bound allows (int() of thousands of digits raises ValueError, and costs quadratic time).
- JSON nested deeper than DynamoDB's 32 levels cannot be stored, and nothing in the contract needs more.
"""
from __future__ import annotations

import re
from typing import Any

MAX_DEPTH = 32
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_lone_surrogate(value: str) -> bool:
    return not value.isascii() and _SURROGATE.search(value) is not None


def ascii_int(raw: str, lo: int, hi: int) -> int | None:
    """``raw`` as an integer in [lo, hi] if it is written in ASCII digits, else None."""
    if not (raw.isascii() and raw.isdigit()) or len(raw.lstrip("0")) > len(str(hi)):
        return None
    n = int(raw)
    return n if lo <= n <= hi else None


def find_bad_text(value: Any, path: str = "", depth: int = 0) -> tuple[str, str] | None:
    """The first place in parsed JSON that breaks the rules above, as (dotted path, what is wrong), or None."""
    if isinstance(value, str):
        return (path or "(body)", "holds a lone surrogate (not a Unicode character)") \
            if has_lone_surrogate(value) else None
    if isinstance(value, (dict, list)):
        if depth >= MAX_DEPTH:
            return path or "(body)", f"is nested more than {MAX_DEPTH} levels deep"
        items = value.items() if isinstance(value, dict) else enumerate(value)
        for k, v in items:
            key = str(k)
            if isinstance(k, str) and has_lone_surrogate(k):
                return f"{path}.{key.encode('utf-8', 'replace').decode()}".lstrip("."), \
                    "is a key with a lone surrogate"
            bad = find_bad_text(v, f"{path}.{key}" if path else key, depth + 1)
            if bad:
                return bad
    return None
