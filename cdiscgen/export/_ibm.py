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
_SIGNIFICAND_MASK = np.uint64((1 << 52) - 1)
_HIDDEN_BIT = np.uint64(1 << 52)
_SIGN_BIT = np.uint64(1 << 63)
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
    a = np.ascontiguousarray(values, dtype=np.float64)
    bad = ibm_out_of_range(a)
    if bad.any():
        raise ValueError(f"{int(bad.sum())} value(s) outside the IBM double range, e.g. {a[bad][0]!r}")
    return compute_ibm_words_in_range(a)


def compute_ibm_words_in_range(values: np.ndarray) -> np.ndarray:
    """compute_ibm_words for values already known to be in range (NaN, zero or an IBM magnitude).

    Works on the IEEE bits: |x| = m * 2**(e - 1075) with the 53-bit significand m (hidden bit set) and
    the biased exponent e. With u = e + 5, the IBM exponent field is u // 4 - 192 (= ceil((e - 1022) / 4)
    + 64) and the significand moves left by u % 4 bits into the 56-bit fraction (0 to 3 leading zero bits
    in the first hex digit).
    """
    bits = np.ascontiguousarray(values, dtype=np.float64).view(np.uint64)
    biased = (bits >> np.uint64(52)) & np.uint64(0x7FF)
    words = bits & _SIGNIFICAND_MASK
    words |= _HIDDEN_BIT
    shift = biased + np.uint64(5)
    words <<= shift & np.uint64(3)
    shift >>= np.uint64(2)
    shift -= np.uint64(192)
    shift <<= np.uint64(56)
    words |= shift
    words |= bits & _SIGN_BIT
    zero = biased == 0  # in range, a zero exponent is +-0.0 (subnormals are below 16**-65)
    if zero.any():
        words[zero] = 0
    nan = biased == 0x7FF  # in range, the all-ones exponent is NaN (infinity has no IBM double)
    if nan.any():
        words[nan] = _MISSING_DOT
    return words.byteswap().view(">u8")


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
