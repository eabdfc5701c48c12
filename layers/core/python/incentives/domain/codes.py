"""Code generation from a pattern: '#' is one character drawn uniformly from the charset.

Randomness comes from os.urandom (the OS CSPRNG), so codes cannot be predicted from earlier ones. Bulk
generation works on whole batches in C: one urandom call, one bytes.translate that maps bytes to charset
characters and drops the bytes that would bias the draw (rejection sampling), then extended-slice assignment
into a buffer of repeated patterns and one split. No Python-level loop runs per code.
"""
from __future__ import annotations

import os


def normalize(code: str) -> str:
    """Codes are case-insensitive and stored upper case; surrounding blanks are not part of a code."""
    return code.strip().upper()


class CodeGenerator:
    def __init__(self, pattern: str, charset: str):
        if "#" not in pattern:
            raise ValueError("pattern needs at least one '#'")
        if "\n" in pattern or len(set(charset)) != len(charset) or not 2 <= len(charset) <= 256:
            raise ValueError("bad pattern or charset")
        self.pattern = pattern
        self.charset = charset
        self.slots = [i for i, ch in enumerate(pattern) if ch == "#"]
        self.k = len(self.slots)
        n = len(charset)
        # Bytes below `limit` map to charset[b % n] without bias; the rest are dropped.
        self._limit = 256 - (256 % n)
        table = bytes(ord(charset[b % n]) if b < self._limit else 0 for b in range(256))
        self._table = table
        self._drop = bytes(range(self._limit, 256))
        self._template = (pattern + "\n").encode("ascii")

    def _random_chars(self, count: int) -> bytes:
        out = b""
        while len(out) < count:
            need = count - len(out)
            # Oversample by the rejection rate plus a margin so one round nearly always suffices.
            draw = int(need * 256 / self._limit * 1.02) + 16
            out += os.urandom(draw).translate(self._table, self._drop)
        return out[:count]

    def generate(self, count: int) -> list[str]:
        """`count` codes (not deduplicated: callers keep codes unique by conditional writes)."""
        if count <= 0:
            return []
        rnd = self._random_chars(count * self.k)
        width = len(self._template)
        buf = bytearray(self._template * count)
        for j, pos in enumerate(self.slots):
            buf[pos::width] = rnd[j::self.k]
        codes = buf.decode("ascii").split("\n")
        codes.pop()  # the trailing separator leaves one empty string
        return codes

    def one(self) -> str:
        return self.generate(1)[0]
