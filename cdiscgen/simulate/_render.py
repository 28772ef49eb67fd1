"""Vectorised text rendering for the raw forms: site date formats, partial dates, fixed decimals, dirt."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen._distinct import compute_combinations

MONTHS = np.array(["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
DATE_FORMATS = ("ISO", "DMY", "DMONY")


def _ymd(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d = np.asarray(days, dtype="datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    dd = (d - d.astype("datetime64[M]")).astype(np.int64) + 1
    return y, m, dd


def zero_padded(values: np.ndarray, width: int) -> pd.Series:
    """Whole numbers 0 and up as text padded with zeros to `width` (a wider number whole), as Arrow text:
    one kernel, where str.zfill pads value by value."""
    numbers = np.asarray(values, dtype=np.int64)
    if (numbers < 0).any():
        raise ValueError("zero_padded pads whole numbers from 0 up (a sign would land among the zeros)")
    text = pc.utf8_lpad(pc.cast(pa.array(numbers), pa.large_string()), width=width, padding="0")
    return pd.Series(pd.array(text, dtype="str"), copy=False)


def _per_distinct(render: Callable[..., np.ndarray], *columns: np.ndarray) -> np.ndarray:
    """`render` (columns in, one text per row out) run on one row of each distinct combination of the
    columns' values and spread to every row: a form's dates, times and results repeat a lot."""
    columns = np.broadcast_arrays(*(np.asarray(c) for c in columns))
    combos, first = compute_combinations(list(columns))
    return render(*(c[first] for c in columns))[combos]


def format_dates(days: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    """Render datetime64[D] values (NaT -> "") in the per-row format code (ISO, DMY, DMONY)."""
    return _per_distinct(_format_dates, np.asarray(days, dtype="datetime64[D]"), fmt)


def _format_dates(days: np.ndarray, fmt: np.ndarray) -> np.ndarray:
    d = np.asarray(days, dtype="datetime64[D]")
    nat = np.isnat(d)
    safe = np.where(nat, np.datetime64("2000-01-01"), d)
    y, m, dd = _ymd(safe)
    ys, ms, ds = zero_padded(y, 4), zero_padded(m, 2), zero_padded(dd, 2)
    mon = pd.Series(MONTHS[m - 1])
    iso = ys + "-" + ms + "-" + ds
    dmy = ds + "/" + ms + "/" + ys
    dmony = ds + mon + ys
    fmt = np.asarray(fmt)
    out = np.where(fmt == "DMY", dmy.to_numpy(), np.where(fmt == "DMONY", dmony.to_numpy(), iso.to_numpy()))
    return np.where(nat, "", out).astype(object)


def format_partial(days: np.ndarray, kind: np.ndarray) -> np.ndarray:
    """Partial dates: kind 1 -> `UN-MAR-2024` (day unknown), 2 -> `UNK-UNK-2024`; other rows -> ""."""
    y, m, _ = _ymd(days)
    ys = zero_padded(y, 4).to_numpy()
    one = "UN-" + pd.Series(MONTHS[m - 1]).to_numpy() + "-" + ys
    two = "UNK-UNK-" + ys
    return np.where(kind == 1, one, np.where(kind == 2, two, "")).astype(object)


def format_times(minutes: np.ndarray) -> np.ndarray:
    """Minutes after midnight -> `HH:MM` (negative -> "")."""
    mins = np.asarray(minutes, dtype=np.int64)
    hh = zero_padded(np.clip(mins, 0, None) // 60, 2)
    mm = zero_padded(np.clip(mins, 0, None) % 60, 2)
    return np.where(mins < 0, "", (hh + ":" + mm).to_numpy()).astype(object)


def format_printf(fmt: str, values: np.ndarray) -> np.ndarray:
    """np.char.mod(fmt, values), each distinct value formatted once (a printf per value is Python work)."""
    return _per_distinct(lambda distinct: np.char.mod(fmt, distinct), np.asarray(values))


def format_fixed(values: np.ndarray, decimals: np.ndarray | int) -> np.ndarray:
    """Fixed-decimal text without float repr surprises (NaN -> ""); decimals may vary per row (0-3)."""
    return _per_distinct(_format_fixed, np.asarray(values, dtype=float), np.asarray(decimals, dtype=np.int64))


def _format_fixed(values: np.ndarray, decimals: np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=float)
    dec = np.broadcast_to(np.asarray(decimals, dtype=np.int64), x.shape)
    nan = np.isnan(x)
    scale = 10**dec
    v = np.rint(np.where(nan, 0.0, x) * scale).astype(np.int64)
    neg = v < 0
    a = np.abs(v)
    ip = pd.Series(a // scale).astype(str)
    fp = pd.Series(a % scale).astype(str)
    out = ip.to_numpy().astype(object)
    for k in (1, 2, 3):
        sel = dec == k
        if sel.any():
            out[sel] = (ip[sel] + "." + fp[sel].str.zfill(k)).to_numpy()
    out = np.where(neg, "-" + out.astype(str), out.astype(str)).astype(object)
    return np.where(nan, "", out).astype(object)


def dirty_text(values: np.ndarray, rng: np.random.Generator, rate: float, min_count: int = 1) -> np.ndarray:
    """Stray spaces and mixed case in a coded column: `rate` of the non-empty cells (at least
    `min_count` when there are 20 or more), cycling through lead space / trail space / lower / upper."""
    out = np.asarray(values, dtype=object).copy()
    filled = np.flatnonzero(out != "")
    if filled.size == 0:
        return out
    n = int(rng.binomial(filled.size, rate))
    if filled.size >= 20:
        n = max(n, min_count)
    if n == 0:
        return out
    pick = np.sort(rng.choice(filled, size=min(n, filled.size), replace=False))
    start = int(rng.integers(0, 4))
    kinds = (np.arange(pick.size) + start) % 4
    s = pd.Series(out[pick], dtype=object).astype(str)
    new = np.where(
        kinds == 0,
        (" " + s).to_numpy(),
        np.where(
            kinds == 1, (s + " ").to_numpy(), np.where(kinds == 2, s.str.lower().to_numpy(), s.str.upper())
        ),
    )
    out[pick] = new
    return out
