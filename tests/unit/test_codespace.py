"""Code spaces: keyed format-preserving permutation of counters -> codes (incentives.domain.codespace)."""
from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from incentives.domain.codespace import CodeSpace, permute_one, permute_range

CHARSET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"  # 31 characters, no 0/O/1/I/L
KEY = bytes(range(16))
OTHER_KEY = bytes(range(100, 116))
CORE = Path(__file__).resolve().parents[2] / "layers" / "core" / "python"

# Chi-square with radix - 1 = 30 degrees of freedom: P(X > 150) is about 7e-18, so a correct permutation (whose
# statistics are chi-square distributed) passes every one of these checks with overwhelming probability, while
# structured maps score in the hundreds of thousands.
CHI2_LIMIT = 150.0


def _all_sorted(values: np.ndarray, size: int) -> bool:
    return values.dtype == np.uint64 and np.array_equal(np.sort(values), np.arange(size, dtype=np.uint64))


# ------------------------------------------------------------------------------------------------ bijection


@pytest.mark.parametrize(
    ("pattern", "charset"),
    [("####", "ABCDEFG"), ("#####", "XYZ"), ("a-#", "0123456789"), ("#x##y", "#!-]^\\")],
)
def test_whole_small_space_is_a_bijection(pattern, charset):
    space = CodeSpace(pattern, charset)
    assert space.size == len(charset) ** pattern.count("#")
    codes = space.codes(KEY, 0, space.size)
    assert len(codes) == space.size
    assert len(set(codes)) == space.size
    assert all(space.matches(c) for c in codes)
    assert _all_sorted(permute_range(KEY, space.radix, space.k, space.tweak, 0, space.size), space.size)


def test_matches_rejects_other_strings():
    space = CodeSpace("WELCOME-####-####", CHARSET)
    code = space.code(KEY, 0)
    assert space.matches(code)
    for bad in (code.lower(), code + "2", code[:-1], "WELCOME-0000-0000", "WELCOMEX2222-2222", None, 42):
        assert not space.matches(bad)


def test_space_attributes():
    space = CodeSpace("WELCOME-####-####", CHARSET)
    assert (space.radix, space.k, space.size) == (31, 8, 31**8)
    assert len(space.space_id) == 16 and int(space.space_id, 16) >= 0
    assert space.space_id == CodeSpace("WELCOME-####-####", CHARSET).space_id
    assert space.space_id != CodeSpace("SPRING-####-####", CHARSET).space_id
    assert 0 <= space.tweak < 2**56


# ------------------------------------------------------------------------------ vectorised == single path


@pytest.mark.parametrize(("pattern", "charset"), [("WELCOME-####-####", CHARSET), ("#########", CHARSET)])
def test_vectorised_equals_single(pattern, charset):
    space = CodeSpace(pattern, charset)
    rng = random.Random(1234)
    for n in [0, space.size - 1, *rng.sample(range(space.size), 500)]:
        assert space.codes(KEY, n, 1)[0] == space.code(KEY, n)
        vec = permute_range(KEY, space.radix, space.k, space.tweak, n, 1)
        assert int(vec[0]) == permute_one(KEY, space.radix, space.k, space.tweak, n)
    start = rng.randrange(space.size - 300)
    assert space.codes(KEY, start, 300) == [space.code(KEY, start + i) for i in range(300)]
    tail = space.codes(KEY, space.size - 50, 50)
    assert tail == [space.code(KEY, n) for n in range(space.size - 50, space.size)]


def test_vectorised_equals_single_at_the_uint64_edge():
    radix, k, tweak = 2, 64, 99  # size exactly 2**64: the largest space numpy uint64 can hold
    start = 2**64 - 40
    vec = permute_range(KEY, radix, k, tweak, start, 40)
    assert [int(x) for x in vec] == [permute_one(KEY, radix, k, tweak, n) for n in range(start, 2**64)]
    assert len(set(vec.tolist())) == 40


# ------------------------------------------------------------------------------------------------------ keys


def test_same_key_same_sequence_other_key_other_sequence():
    space = CodeSpace("WELCOME-####-####", CHARSET)
    first = space.codes(KEY, 1000, 2000)
    assert space.codes(bytearray(KEY), 1000, 2000) == first
    other = space.codes(OTHER_KEY, 1000, 2000)
    assert sum(a == b for a, b in zip(first, other, strict=True)) <= 2  # ~0 expected in a space of 852 million codes


def test_same_key_in_another_space_gives_an_unrelated_permutation():
    welcome = CodeSpace("WELCOME-####-####", CHARSET)
    spring = CodeSpace("SPRING-####-####", CHARSET)
    a = permute_range(KEY, welcome.radix, welcome.k, welcome.tweak, 0, 2000)
    b = permute_range(KEY, spring.radix, spring.k, spring.tweak, 0, 2000)
    assert int(np.count_nonzero(a == b)) <= 2


# ----------------------------------------------------------------------------------------- no visible structure


def _digit_matrix(values: np.ndarray, radix: int, k: int) -> np.ndarray:
    """(n, k) digits of integer numerals, most significant first."""
    x = np.asarray(values, dtype=np.uint64).copy()
    out = np.empty((len(x), k), dtype=np.int64)
    for j in range(k - 1, -1, -1):
        x, d = np.divmod(x, np.uint64(radix))
        out[:, j] = d
    return out


def _code_digits(space: CodeSpace, codes: list[str]) -> np.ndarray:
    """(n, k) digits read back from formatted codes (charset index of each '#' character)."""
    raw = np.frombuffer("".join(codes).encode("ascii"), dtype=np.uint8).reshape(len(codes), len(space.pattern))
    index = np.full(256, -1, dtype=np.int64)
    index[np.frombuffer(space.charset.encode("ascii"), dtype=np.uint8)] = np.arange(space.radix)
    digits = index[raw[:, space.slots]]
    assert (digits >= 0).all()
    return digits


def _chi2_uniform(columns: np.ndarray, radix: int) -> float:
    """Largest chi-square statistic (vs uniform over radix symbols) over the columns."""
    expected = len(columns) / radix
    worst = 0.0
    for j in range(columns.shape[1]):
        counts = np.bincount(columns[:, j], minlength=radix)
        worst = max(worst, float(((counts - expected) ** 2 / expected).sum()))
    return worst


def _frequency_stat(digits: np.ndarray, radix: int) -> float:
    """Per '#' position: are the characters uniform?"""
    return _chi2_uniform(digits, radix)


def _step_stat(digits: np.ndarray, radix: int) -> float:
    """Per '#' position: is the change of the character from one counter to the next uniform?"""
    return _chi2_uniform((digits[1:] - digits[:-1]) % radix, radix)


def test_consecutive_counters_show_no_structure():
    space = CodeSpace("WELCOME-####-####", CHARSET)
    n = 100_000
    digits = _code_digits(space, space.codes(KEY, 0, n))
    assert _frequency_stat(digits, space.radix) < CHI2_LIMIT
    assert _step_stat(digits, space.radix) < CHI2_LIMIT
    # The statistics can fail: the identity map (code = counter) fails the frequency test, and an affine map
    # n -> a*n + b (which spreads the characters evenly) fails the step test.
    counters = np.arange(n, dtype=np.uint64)
    identity = _digit_matrix(counters, space.radix, space.k)
    assert _frequency_stat(identity, space.radix) > 100 * CHI2_LIMIT
    a, b = 0x9E3779B1, 123_456_789
    affine = [(a * int(c) + b) % space.size for c in counters]
    affine = _digit_matrix(np.array(affine, dtype=np.uint64), space.radix, space.k)
    assert _step_stat(affine, space.radix) > 100 * CHI2_LIMIT


# -------------------------------------------------------------------------------------------- bad arguments


def test_out_of_range_arguments_raise():
    space = CodeSpace("####", "ABCDEFG")
    for start, count in [(-1, 1), (space.size, 0), (space.size, 1), (0, -1), (0, space.size + 1), (2000, 402)]:
        with pytest.raises(ValueError):
            space.codes(KEY, start, count)
        with pytest.raises(ValueError):
            permute_range(KEY, space.radix, space.k, space.tweak, start, count)
    for n in (-1, space.size, 10**30):
        with pytest.raises(ValueError):
            space.code(KEY, n)
        with pytest.raises(ValueError):
            permute_one(KEY, space.radix, space.k, space.tweak, n)
    for key in (b"", bytes(15), bytes(32), "0123456789abcdef"):
        with pytest.raises(ValueError):
            space.codes(key, 0, 1)
        with pytest.raises(ValueError):
            space.code(key, 0)
    assert space.codes(KEY, 5, 0) == []
    assert len(space.codes(KEY, 2000, 401)) == 401


def test_oversized_spaces_raise():
    with pytest.raises(ValueError, match="too many '#'"):
        CodeSpace("#" * 20, CHARSET)  # 31**10 >= 2**40 per Feistel half
    with pytest.raises(ValueError, match="too many '#'"):
        CodeSpace("#" * 13, CHARSET)  # halves fit but 31**13 > 2**64
    with pytest.raises(ValueError, match="too many '#'"):
        permute_one(KEY, 2, 81, 0, 0)  # 2**41 per half
    with pytest.raises(ValueError, match="too many '#'"):
        permute_range(KEY, 256, 10, 0, 0, 1)  # 256**5 = 2**40 per half
    CodeSpace("#" * 12, CHARSET)  # 31**12 < 2**64: accepted


@pytest.mark.parametrize(
    ("pattern", "charset"),
    [("WELCOME", CHARSET), ("####", "A"), ("####", "AAB"), ("##\n##", CHARSET), ("##", "ABCÉ"), ("é#", "AB")],
)
def test_bad_pattern_or_charset_raise(pattern, charset):
    with pytest.raises(ValueError):
        CodeSpace(pattern, charset)


# ---------------------------------------------------------------------------------------- import is cheap


def test_import_loads_no_heavy_modules():
    probe = (
        "import sys; import incentives.domain.codespace; "
        "bad = {'numpy', 'cryptography', 'boto3', 'botocore', 'aws_lambda_powertools'} & set(sys.modules); "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", probe], check=True, cwd=CORE)


# ------------------------------------------------------------------------------------------------ property


@st.composite
def _small_spaces(draw):
    radix = draw(st.integers(2, 36))
    max_k = max(k for k in range(1, 7) if radix**k <= 20_000)
    return radix, draw(st.integers(1, max_k))


@settings(max_examples=60, deadline=None, database=None)
@given(
    space=_small_spaces(),
    key=st.binary(min_size=16, max_size=16),
    tweak=st.integers(0, 2**56 - 1),
    data=st.data(),
)
def test_property_whole_space_is_a_bijection(space, key, tweak, data):
    radix, k = space
    size = radix**k
    values = permute_range(key, radix, k, tweak, 0, size)
    assert _all_sorted(values, size)
    n = data.draw(st.integers(0, size - 1))
    assert permute_one(key, radix, k, tweak, n) == int(values[n])
