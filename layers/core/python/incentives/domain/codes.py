"""Code text helpers. Unique codes themselves come from code spaces (codespace.py)."""
from __future__ import annotations


def normalize(code: str) -> str:
    """Codes are case-insensitive and stored upper case; surrounding blanks are not part of a code."""
    return code.strip().upper()
