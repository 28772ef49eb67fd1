"""Vectorised ISO 8601 tests for SDTM --DTC values (SDTMIG 3.4 section 4.4).

Two shapes are valid: the right-truncated form (``2024``, ``2024-03``, ``2024-03-05``,
``2024-03-05T10``, ``2024-03-05T10:20``, ``2024-03-05T10:20:30`` with optional fraction and time
zone) and the placeholder form of SDTMIG 4.4.4, where a hyphen stands for a missing component in
the middle (``2024---05``, ``--03-05``, ``2024-03-05T-:20``). A value may not end in a placeholder
(write ``2024-03``, not ``2024-03--``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen._arrowtext import as_text, compute_arrow_text, compute_trimmed
from cdiscgen._distinct import on_distinct
from cdiscgen._iso8601 import PLACEHOLDER, STRICT

#: Precision levels of the strict form: year, month, day, hour, minute, second.
LEVELS = (4, 7, 10, 13, 16, 19)
_COMPONENTS = (
    ("year", 0, 4),
    ("month", 5, 7),
    ("day", 8, 10),
    ("hour", 11, 13),
    ("minute", 14, 16),
    ("second", 17, 19),
)


def compute_stripped(series: pd.Series) -> pd.Series:
    """Text values stripped, blank -> NA, as the pandas `str` dtype. On Arrow-backed text the two steps run
    as Arrow kernels (the ones `Series.str.strip` calls), without a pandas Series between them: the
    validator calls this for every column it reads, and pandas' own overhead was most of the cost."""
    text = as_text(series)
    arrow = getattr(text.array, "_pa_array", None)
    if arrow is None:
        text = text.str.strip()
        return text.where(text != "", None)
    trimmed = compute_trimmed(arrow)
    if pc.any(pc.equal(pc.binary_length(trimmed), 0)).as_py():
        trimmed = _blank_as_null(trimmed)
    return pd.Series(pd.array(trimmed, dtype="str"), index=series.index, name=series.name, copy=False)


def _blank_as_null(arrow: pa.Array | pa.ChunkedArray) -> pa.ChunkedArray:
    """Empty values made null by a new validity bitmap over the same offsets and bytes (no text copied)."""
    chunks = arrow.chunks if isinstance(arrow, pa.ChunkedArray) else [arrow]
    out = []
    for chunk in chunks:
        if chunk.offset:  # a slice: its bitmap would have to start mid-byte
            out.append(pc.if_else(pc.equal(chunk, ""), pa.scalar(None, chunk.type), chunk))
            continue
        valid = pc.and_(pc.is_valid(chunk), pc.greater(pc.binary_length(chunk), 0))
        buffers = chunk.buffers()
        out.append(
            pa.Array.from_buffers(chunk.type, len(chunk), [valid.buffers()[1], buffers[1], buffers[2]])
        )
    return pa.chunked_array(out, type=arrow.type)


def _number(arr: pa.Array, start: int, stop: int) -> np.ndarray:
    """Digits at [start, stop) as float (NaN when absent or not all digits)."""
    part = pc.utf8_slice_codeunits(arr, start, stop)
    ok = pc.and_(pc.equal(pc.utf8_length(part), stop - start), pc.match_substring_regex(part, r"^\d+$"))
    numbers = pc.cast(pc.if_else(ok, part, pa.scalar(None, pa.large_string())), pa.int32())
    return numbers.to_numpy(zero_copy_only=False).astype("float64")


def _days_in_month(year: np.ndarray, month: np.ndarray) -> np.ndarray:
    base = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31], dtype="float64")
    safe = np.where((month >= 1) & (month <= 12), month, 13).astype("int64") - 1
    leap = ((year % 4 == 0) & (year % 100 != 0)) | (year % 400 == 0)
    return base[safe] + ((month == 2) & leap)


def _impossible(parts: dict[str, np.ndarray]) -> np.ndarray:
    year, month, day = parts["year"], parts["month"], parts["day"]
    bad = (month < 1) | (month > 12)
    bad |= (day < 1) | (
        day > np.where(np.isnan(year), 29, _days_in_month(np.nan_to_num(year, nan=2000), month))
    )
    bad |= parts["hour"] > 23
    bad |= parts["minute"] > 59
    bad |= parts["second"] > 59
    return np.asarray(bad, dtype=bool)


def check_iso8601(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Masks (bad_shape, impossible) over a --DTC column; blank values are neither. Each distinct value is
    checked once."""
    bad_shape, impossible = on_distinct(series, _check_iso8601_distinct)
    return bad_shape, impossible  # type: ignore[return-value]


def _check_iso8601_distinct(series: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    text = compute_stripped(series)
    present = text.notna().to_numpy()
    strict = text.str.fullmatch(STRICT).fillna(False).to_numpy(dtype=bool)
    other = present & ~strict
    placeholder = np.zeros(len(text), dtype=bool)
    impossible = np.zeros(len(text), dtype=bool)
    if strict.any():
        arr = compute_arrow_text(text)
        parts = {name: _number(arr, a, b) for name, a, b in _COMPONENTS}
        impossible |= strict & _impossible(parts)
    if other.any():
        sub = text[other]
        # must end in a digit (no trailing placeholder) and carry at least one known component
        shaped = sub.str.fullmatch(PLACEHOLDER).fillna(False) & sub.str.match(r".*\d$").fillna(False)
        placeholder[other] = shaped.to_numpy(dtype=bool)
        if shaped.any():
            found = sub[shaped].str.extract(PLACEHOLDER)
            parts = {
                name: pd.to_numeric(found[name].where(found[name] != "-"), errors="coerce").to_numpy(
                    dtype="float64"
                )
                for name, _, _ in _COMPONENTS
            }
            idx = np.flatnonzero(other)[shaped.to_numpy(dtype=bool)]
            impossible[idx] = _impossible(parts)
    bad_shape = present & ~strict & ~placeholder
    return bad_shape, impossible


def compute_days(series: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of values that start with a complete, possible date; NaN otherwise (worked out
    once per distinct value: dates repeat)."""
    (days,) = on_distinct(compute_stripped(series), _days_distinct)
    return days  # type: ignore[return-value]


def _days_distinct(text: pd.Series) -> tuple[np.ndarray]:
    ok = text.str.match(r"\d{4}-\d{2}-\d{2}(T|$)").fillna(False).to_numpy(dtype=bool)
    out = np.full(len(text), np.nan)
    if not ok.any():
        return (out,)
    arr = compute_arrow_text(text)
    year, month, day = (_number(arr, a, b) for _, a, b in _COMPONENTS[:3])
    ok = ok & (month >= 1) & (month <= 12) & (day >= 1) & (day <= _days_in_month(np.nan_to_num(year), month))
    y = year[ok].astype("int64") - 1970
    dates = y.astype("datetime64[Y]").astype("datetime64[M]") + (month[ok].astype("int64") - 1)
    dates = dates.astype("datetime64[D]") + (day[ok].astype("int64") - 1)
    out[ok] = dates.astype("int64")
    return (out,)


def compare_iso8601(left: pd.Series, right: pd.Series) -> np.ndarray:
    """-1/0/+1 where both are strict ISO 8601 values (compared at their common precision); NaN otherwise.
    Worked out once per distinct pair of values (a start and an end date repeat over many records)."""
    a, b = compute_stripped(left), compute_stripped(right)
    if not len(a):
        return np.full(0, np.nan)
    codes_a, distinct_a = pd.factorize(a, use_na_sentinel=False)  # a missing value is one of them
    codes_b, distinct_b = pd.factorize(b, use_na_sentinel=False)
    width = max(len(distinct_b), 1)
    inverse, pairs = pd.factorize(codes_a.astype(np.int64) * width + codes_b)  # a hash: no sort
    first = pd.Series(distinct_a, dtype="str").take(pairs // width).reset_index(drop=True)
    second = pd.Series(distinct_b, dtype="str").take(pairs % width).reset_index(drop=True)
    return _compare_distinct(first, second)[inverse]


def _compare_distinct(a: pd.Series, b: pd.Series) -> np.ndarray:
    both = (a.str.fullmatch(STRICT).fillna(False) & b.str.fullmatch(STRICT).fillna(False)).to_numpy(
        dtype=bool
    )
    out = np.where(both, 0.0, np.nan)
    la, lb = (
        a.str.len().to_numpy(dtype="float64", na_value=0),
        b.str.len().to_numpy(dtype="float64", na_value=0),
    )
    for k in LEVELS:
        level = both & (la >= k) & (lb >= k) & (out == 0)
        if not level.any():
            continue
        pa_, pb_ = a.str.slice(0, k), b.str.slice(0, k)
        less = (pa_ < pb_).fillna(False).to_numpy(dtype=bool)
        more = (pa_ > pb_).fillna(False).to_numpy(dtype=bool)
        out[level & less] = -1.0
        out[level & more] = 1.0
    return out
