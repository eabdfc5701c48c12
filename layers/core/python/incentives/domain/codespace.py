"""Code spaces: discount codes that are unique by construction and unguessable without a key.

A code space is a pattern such as "WELCOME-####-####" and a charset such as "23456789ABCDEFGHJKMNPQRSTUVWXYZ".
Each '#' is one character of the charset, so the space holds ``size = radix ** k`` codes (radix = len(charset),
k = number of '#'). The n-th code of the space is

    code(n) = FORMAT(PERMUTE_key(n))        for a counter n in [0, size) that is never reused,

where PERMUTE_key is a keyed pseudo-random permutation of [0, size) (format-preserving encryption) and FORMAT
writes the numeral into the '#' positions, most significant digit first, left to right. Distinct counters give
distinct codes (a permutation is a bijection), and without the 16-byte key a code says nothing useful about
the codes of other counters.

The permutation is an FF1-like balanced Feistel network over numerals (10 rounds, AES-128 as the round PRF,
halves of u = k // 2 and v = k - u digits). It follows the structure of NIST SP 800-38G FF1 but is NOT FF1:
the PRF input, the tweak handling and the reduction of the round value differ, so it makes no claim of FF1
compliance and will not match FF1 test vectors.

Round i (0..9): m = u if i is even else v; y = PRF(key, i, B, tweak) (64-bit); C = (A + y) mod radix**m;
A, B = B, C. Ten rounds (an even number) leave A with u digits and B with v digits again, so the output numeral
is A * radix**v + B.

PRF(key, i, B, tweak) = first 8 bytes (little-endian uint64) of AES-128_key(le64(i | tweak << 8) || le64(B)).
The tweak is derived from the pattern and charset, so one key used in two spaces gives unrelated permutations.
Reducing a 64-bit value modulo radix**m < 2**40 has a bias below 2**-24 per round, which is negligible here.

Two evaluation paths give identical results: ``permute_range`` (numpy, whole array per round, one AES call per
round) for bulk generation and ``permute_one`` (pure Python ints) for single codes. numpy and cryptography are
imported lazily, inside the functions that use them, so importing this module costs nothing.
"""
from __future__ import annotations

import hashlib
import operator
import re

ROUNDS = 10
KEY_BYTES = 16
MAX_HALF = 2**40  # radix ** max(u, v) must stay below this (modulo bias of a 64-bit PRF output)
MAX_SIZE = 2**64  # the whole numeral must fit in an unsigned 64-bit integer (numpy uint64 path)
MAX_TWEAK = 2**56  # round index in the low 8 bits, tweak in the high 56 bits of one 64-bit word


# --------------------------------------------------------------------------------------------------- checks


def _check_key(key: bytes) -> bytes:
    if not isinstance(key, (bytes, bytearray, memoryview)) or len(key) != KEY_BYTES:
        raise ValueError(f"key must be {KEY_BYTES} bytes")
    return bytes(key)


def _check_space(radix: int, k: int, tweak: int) -> None:
    radix, k, tweak = operator.index(radix), operator.index(k), operator.index(tweak)
    if radix < 2 or k < 1:
        raise ValueError("radix must be >= 2 and k >= 1")
    if not 0 <= tweak < MAX_TWEAK:
        raise ValueError("tweak must be in [0, 2**56)")
    if radix ** (k - k // 2) >= MAX_HALF:
        raise ValueError("too many '#': radix ** max(u, v) must be below 2**40")
    if radix**k > MAX_SIZE:
        raise ValueError("too many '#': radix ** k must not exceed 2**64")


def _check_range(size: int, start: int, count: int) -> tuple[int, int]:
    start, count = operator.index(start), operator.index(count)
    if not 0 <= start < size:
        raise ValueError(f"start must be in [0, {size})")
    if count < 0 or start + count > size:
        raise ValueError(f"count must be in [0, {size - start}] for start={start}")
    return start, count


def _encryptor(key: bytes):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    # ECB over independent 16-byte blocks is used purely as a block PRF (one AES call per input block), not to
    # encrypt messages, so ECB's usual weakness (equal plaintext blocks -> equal ciphertext) is irrelevant here.
    return Cipher(algorithms.AES(key), modes.ECB()).encryptor()  # noqa: S305 - block PRF, see comment  # nosec B305


# --------------------------------------------------------------------------------------------- permutation


def permute_one(key: bytes, radix: int, k: int, tweak: int, n: int) -> int:
    """PERMUTE_key(n) for one counter, in pure Python ints (same result as ``permute_range``)."""
    key = _check_key(key)
    _check_space(radix, k, tweak)
    n = operator.index(n)
    if not 0 <= n < radix**k:
        raise ValueError(f"n must be in [0, {radix**k})")
    u = k // 2
    v = k - u
    mods = (radix**u, radix**v)
    a, b = divmod(n, mods[1])
    enc = _encryptor(key)
    upd = enc.update
    for i in range(ROUNDS):
        block = (i | (tweak << 8)).to_bytes(8, "little") + b.to_bytes(8, "little")
        y = int.from_bytes(upd(block)[:8], "little")
        mod = mods[i & 1]
        a, b = b, (a + y % mod) % mod
    return a * mods[1] + b


def _permute_halves(key: bytes, radix: int, k: int, tweak: int, start: int, count: int):
    """(A, B) uint64 arrays after the rounds: A has u digits, B has v digits. Arguments already checked."""
    import numpy as np

    u = k // 2
    v = k - u
    mods = (np.uint64(radix**u), np.uint64(radix**v))
    u64 = np.dtype("<u8")
    # Preallocated buffers, reused by every round (no per-round allocation, no page faults on fresh memory).
    a = np.arange(count, dtype=u64)
    a += np.uint64(start)
    b = np.empty(count, dtype=u64)
    c = np.empty(count, dtype=u64)
    np.divmod(a, mods[1], out=(a, b))
    # One (count, 2) little-endian uint64 buffer = count AES blocks: [round | tweak << 8, B].
    blocks = np.empty((count, 2), dtype=u64)
    out = np.empty(16 * count + 15, dtype=np.uint8)  # update_into wants block_size - 1 spare bytes
    y = out[: 16 * count].view(u64)[0::2]  # first 8 bytes of every output block, little-endian
    src = blocks.data.cast("B")  # cryptography takes plain buffers (memoryviews), not ndarrays
    dst = out.data
    enc = _encryptor(key)
    for i in range(ROUNDS):
        blocks[:, 0] = i | (tweak << 8)
        blocks[:, 1] = b
        enc.update_into(src, dst)  # one AES call for the whole array
        mod = mods[i & 1]
        np.remainder(y, mod, out=c)
        c += a  # < 2 * mod <= 2**41: no overflow
        # c mod `mod` without a second division: if c < mod, c - mod wraps around to >= 2**64 - 2**40 > c.
        np.subtract(c, mod, out=a)
        np.minimum(c, a, out=c)
        a, b, c = b, c, a
    return a, b


def permute_range(key: bytes, radix: int, k: int, tweak: int, start: int, count: int):
    """PERMUTE_key(n) for n in start..start+count-1 as a numpy uint64 array (vectorised, one AES call a round)."""
    import numpy as np

    key = _check_key(key)
    _check_space(radix, k, tweak)
    start, count = _check_range(radix**k, start, count)
    if count == 0:
        return np.empty(0, dtype=np.uint64)
    a, b = _permute_halves(key, radix, k, tweak, start, count)
    a *= np.uint64(radix ** (k - k // 2))
    a += b
    return a.astype(np.uint64, copy=False)


# ------------------------------------------------------------------------------------------------ formatting


class CodeSpace:
    """The codes of one pattern and charset, as a keyed permutation of counters [0, size)."""

    def __init__(self, pattern: str, charset: str):
        if not pattern.isascii() or not charset.isascii() or not (pattern + charset).isprintable():
            raise ValueError("pattern and charset must be printable ASCII")
        if len(charset) < 2 or len(set(charset)) != len(charset):
            raise ValueError("charset needs at least two distinct characters")
        self.slots = [i for i, ch in enumerate(pattern) if ch == "#"]
        if not self.slots:
            raise ValueError("pattern needs at least one '#'")
        self.pattern = pattern
        self.charset = charset
        self.radix = len(charset)
        self.k = len(self.slots)
        digest = hashlib.sha256((pattern + "\0" + charset).encode("ascii")).digest()
        self.tweak = int.from_bytes(digest[:7], "big")
        self.space_id = digest.hex()[:16]
        _check_space(self.radix, self.k, self.tweak)  # ValueError("too many '#'") for oversized spaces
        self.size = self.radix**self.k
        self._u = self.k // 2
        self._v = self.k - self._u
        self._template = (pattern + "\n").encode("ascii")
        self._lut = charset.encode("ascii").ljust(256, b"\0")  # digit -> character byte
        cls = "[" + "".join(re.escape(c) for c in charset) + "]"
        self._regex = re.compile("".join(cls if c == "#" else re.escape(c) for c in pattern))

    def __repr__(self) -> str:
        return f"CodeSpace({self.pattern!r}, {self.charset!r})"

    def matches(self, code: str) -> bool:
        return isinstance(code, str) and self._regex.fullmatch(code) is not None

    def code(self, key: bytes, n: int) -> str:
        """The code of counter n (pure Python; equal to ``codes(key, n, 1)[0]``)."""
        x = permute_one(key, self.radix, self.k, self.tweak, n)
        chars = list(self.pattern)
        for pos in reversed(self.slots):
            x, d = divmod(x, self.radix)
            chars[pos] = self.charset[d]
        return "".join(chars)

    def codes(self, key: bytes, start: int, count: int) -> list[str]:
        """The codes of counters start..start+count-1, in counter order (vectorised)."""
        import numpy as np

        key = _check_key(key)
        start, count = _check_range(self.size, start, count)
        if count == 0:
            return []
        a, b = _permute_halves(key, self.radix, self.k, self.tweak, start, count)
        width = len(self._template)
        buf = np.empty((count, width), dtype=np.uint8)
        buf[:] = np.frombuffer(self._template, dtype=np.uint8)
        lut = np.frombuffer(self._lut, dtype=np.uint8)
        # Digits of A fill the first u slots, digits of B the last v, least significant (rightmost) first.
        for half, slots in ((a, self.slots[: self._u]), (b, self.slots[self._u :])):
            if not slots:
                continue
            if self.radix ** len(slots) <= 2**32:
                half = half.astype(np.uint32)  # 32-bit division is much faster than 64-bit
            radix = half.dtype.type(self.radix)
            for pos in reversed(slots):
                half, d = np.divmod(half, radix)
                buf[:, pos] = lut[d]
        out = str(buf.data.cast("B"), "ascii").split("\n")
        out.pop()  # the trailing separator leaves one empty string
        return out
