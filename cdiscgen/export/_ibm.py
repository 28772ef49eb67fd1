"""IBM System/370 double precision (the numeric format of SAS transport v5), vectorised.

An IBM double is ``sign * 0.f * 16**(exponent - 64)``: 1 sign bit, a 7-bit base-16 exponent biased by 64
and a 56-bit fraction normalised so that its first hex digit is not zero (1/16 <= f < 1). Every IEEE
double in ``[16**-65, 16**63)`` converts exactly: IEEE carries 53 significant bits and base-16
normalisation needs at most 3 leading zero bits, 53 + 3 = 56.

SAS missing values are one byte (``.`` 0x2E, ``.A``-``.Z``, ``._``) followed by seven zero bytes.
"""

from __future__ import annotations

import numpy as np

#: Smallest magnitude an IBM double holds normalised: 16**-65 (about 5.397605e-79).
IBM_MIN = 16.0**-65
#: Every double below this magnitude fits: 16**63 (about 7.237e75). The largest IBM double is
#: (1 - 16**-14) * 16**63; the largest IEEE double below 16**63 is (1 - 2**-53) * 16**63, which fits.
IBM_LIMIT = 16.0**63

_MISSING_DOT = np.uint64(0x2E << 56)
_MANTISSA_MASK = np.uint64((1 << 56) - 1)
#: First bytes SAS uses for missing values: "." "_" and "A".."Z".
_MISSING_FIRST_BYTES = np.array([0x2E, 0x5F, *range(0x41, 0x5B)], dtype=np.uint8)
_IS_MISSING_FIRST_BYTE = np.isin(np.arange(256), _MISSING_FIRST_BYTES)


def ibm_out_of_range(values: np.ndarray) -> np.ndarray:
    """Boolean mask of values that have no IBM double: infinities and finite non-zero magnitudes
    outside ``[16**-65, 16**63)``. NaN (SAS missing) and zero are in range."""
    a = np.abs(np.asarray(values, dtype=np.float64))
    with np.errstate(invalid="ignore"):
        return np.isinf(a) | (a >= IBM_LIMIT) | ((a > 0) & (a < IBM_MIN))


def compute_ibm_words(values: np.ndarray) -> np.ndarray:
    """Map float64 values to IBM doubles as big-endian 8-byte words (dtype ``>u8``).

    NaN becomes the SAS missing value ``.`` (0x2E then seven zero bytes); 0.0 and -0.0 become eight zero
    bytes. Values outside the IBM range raise ValueError: check them first with `ibm_out_of_range` to
    report which record is at fault.
    """
    a = np.asarray(values, dtype=np.float64)
    bad = ibm_out_of_range(a)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} value(s) outside the IBM double range, e.g. {a[bad][0]!r}")
    nan = np.isnan(a)
    zero = a == 0
    # Put a harmless 1.0 where the arithmetic is undefined; those words are overwritten below.
    safe = np.where(nan | zero, 1.0, a)
    frac, exp2 = np.frexp(np.abs(safe))  # |x| = frac * 2**exp2, 0.5 <= frac < 1
    exp16 = -((-exp2) // 4)  # ceil(exp2 / 4): |x| = f * 16**exp16 with 1/16 <= f < 1
    shift = 4 * exp16 - exp2  # 0..3 leading zero bits in the first hex digit
    mantissa = np.ldexp(frac, 53).astype(np.uint64)  # exact: 53 significant bits
    mantissa <<= (3 - shift).astype(np.uint64)  # the 56-bit IBM fraction f * 2**56
    words = mantissa | ((exp16 + 64).astype(np.uint64) << np.uint64(56))
    words |= np.signbit(safe).astype(np.uint64) << np.uint64(63)
    words[zero] = 0
    words[nan] = _MISSING_DOT
    return words.astype(">u8")


def compute_float_from_ibm(raw: np.ndarray) -> np.ndarray:
    """Map IBM doubles to float64. ``raw`` is a uint8 array of shape (n, width), width 2..8 (SAS stores
    shorter numerics truncated: the missing low bytes are zero). SAS missing values become NaN."""
    raw = np.asarray(raw, dtype=np.uint8)
    n, width = raw.shape
    if width < 8:
        full = np.zeros((n, 8), dtype=np.uint8)
        full[:, :width] = raw
        raw = full
    return compute_float_from_ibm_words(np.ascontiguousarray(raw).view(">u8").reshape(n).astype(np.uint64))


def compute_float_from_ibm_words(words: np.ndarray) -> np.ndarray:
    """Map IBM doubles given as native uint64 words (the 8 bytes read big-endian) to float64. SAS missing
    values become NaN."""
    words = np.asarray(words, dtype=np.uint64)
    mantissa = words & _MANTISSA_MASK
    first = words >> np.uint64(56)
    exp16 = (first & np.uint64(0x7F)).astype(np.int64) - 64
    # mantissa -> float64 rounds a 56-bit fraction to 53 bits (round half to even).
    values = np.ldexp(mantissa.astype(np.float64), 4 * exp16 - 56)
    negative = first >= np.uint64(0x80)
    np.negative(values, out=values, where=negative)
    missing = (mantissa == 0) & _IS_MISSING_FIRST_BYTE[first]
    values[missing] = np.nan
    return values
