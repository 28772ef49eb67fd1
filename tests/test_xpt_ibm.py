"""IBM 370 double conversion against a pure-Python rational reference."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdiscgen.export import compute_float_from_ibm, compute_ibm_words

IBM_MIN = 16.0**-65  # smallest normalised IBM magnitude: 0.1(hex) * 16**-64
IBM_LIMIT = 16.0**63  # first magnitude with exponent 64, which 7 bits (biased by 64) cannot hold


def reference_ibm(x: float) -> bytes:
    """IBM double by exact rational search: find E with 16**(E-1) <= |x| < 16**E, f = |x| / 16**E."""
    if math.isnan(x):
        return b"\x2e" + bytes(7)
    if x == 0:
        return bytes(8)
    mag = Fraction(abs(x))
    exponent = 0
    while mag >= Fraction(16) ** exponent:
        exponent += 1
    while mag < Fraction(16) ** (exponent - 1):
        exponent -= 1
    fraction = mag / Fraction(16) ** exponent
    assert Fraction(1, 16) <= fraction < 1
    mantissa = fraction * 2**56
    assert mantissa.denominator == 1, "a double always fits the 56-bit fraction exactly"
    first = (0x80 if x < 0 else 0) | (exponent + 64)
    assert 0 <= exponent + 64 <= 127
    return bytes([first]) + int(mantissa).to_bytes(7, "big")


in_range = st.floats(allow_nan=False, allow_infinity=False, min_value=-IBM_LIMIT, max_value=IBM_LIMIT).filter(
    lambda x: x == 0 or IBM_MIN <= abs(x) < IBM_LIMIT
)


@settings(max_examples=300, deadline=None)
@given(st.lists(in_range, min_size=1, max_size=50))
def test_words_match_rational_reference(values):
    words = compute_ibm_words(np.array(values))
    blob = words.tobytes()  # big-endian words in order
    got = [blob[8 * i : 8 * i + 8] for i in range(len(values))]
    assert got == [reference_ibm(v) for v in values]


@settings(max_examples=300, deadline=None)
@given(st.lists(in_range, min_size=1, max_size=50))
def test_round_trip_is_exact(values):
    arr = np.array(values)
    raw = compute_ibm_words(arr).view(np.uint8).reshape(-1, 8)
    back = compute_float_from_ibm(raw)
    # -0.0 is written as eight zero bytes, like SAS, and reads back as +0.0: compare by value.
    assert back.tolist() == [v + 0.0 for v in values]


@pytest.mark.parametrize(
    ("value", "expected_hex"),
    [
        # 1.0 = 0.1(hex) * 16**1 -> exponent 65 = 0x41, fraction 0x10000000000000
        (1.0, "4110000000000000"),
        (-1.0, "c110000000000000"),
        # 100 = 0x64 = 0.64(hex) * 16**2 -> 0x42, 0x64000000000000
        (100.0, "4264000000000000"),
        # 0.1: IEEE 0x3FB999999999999A = 1.6 * 2**-4 = 0.1999999999999A(hex) * 16**0 -> 0x40,
        # 0.1 = 0x1999999999999A * 2**-56 (IEEE significand, exponent -4-52): the first hex digit 1 has
        # exactly 3 leading zero bits, so the 56-bit fraction is the 53-bit significand unshifted.
        (0.1, "40" + format(0x1999999999999A, "014x")),
        # 2**53 = 0.2(hex) * 16**14 -> exponent 78 = 0x4E, fraction 0x20000000000000
        (float(2**53), "4e20000000000000"),
        (0.0, "0000000000000000"),
        (float("nan"), "2e00000000000000"),
        # smallest: 16**-65 = 0.1(hex) * 16**-64 -> exponent byte 0x00, fraction 0x10000000000000
        (IBM_MIN, "0010000000000000"),
        # largest double below 16**63: (1 - 2**-53) * 16**63 -> exponent 0x7F, 53 one-bits then 000
        (math.nextafter(IBM_LIMIT, 0), "7f" + format(((1 << 53) - 1) << 3, "014x")),
    ],
)
def test_known_words(value, expected_hex):
    assert compute_ibm_words(np.array([value])).tobytes().hex() == expected_hex


@pytest.mark.parametrize(
    "bad", [float("inf"), -float("inf"), IBM_LIMIT, -IBM_LIMIT, 1e300, math.nextafter(IBM_MIN, 0), 5e-324]
)
def test_out_of_range_raises(bad):
    with pytest.raises(ValueError, match="outside the IBM double range"):
        compute_ibm_words(np.array([1.0, bad]))


def test_missing_values_and_short_numerics_decode():
    raw = np.array(
        [
            [0x2E, 0, 0, 0, 0, 0, 0, 0],  # .
            [0x41, 0, 0, 0, 0, 0, 0, 0],  # .A
            [0x5F, 0, 0, 0, 0, 0, 0, 0],  # ._
            [0x41, 0x10, 0, 0, 0, 0, 0, 0],  # 1.0
        ],
        dtype=np.uint8,
    )
    out = compute_float_from_ibm(raw)
    assert np.isnan(out[:3]).all() and out[3] == 1.0
    # a zero fraction with the sign bit set is -0.0, not a missing value
    negative_zero = compute_float_from_ibm(np.array([[0x80, 0, 0, 0, 0, 0, 0, 0]], dtype=np.uint8))
    assert negative_zero[0] == 0.0 and math.copysign(1.0, negative_zero[0]) == -1.0
    # A 3-byte numeric keeps the top 3 bytes: 0x42 0x64 0x80 -> 0.648(hex) * 16**2 = 0x64.8 = 100.5
    assert compute_float_from_ibm(np.array([[0x42, 0x64, 0x80]], dtype=np.uint8)).tolist() == [100.5]
