"""Column functions run on the distinct values only: dates, times, codes and results repeat a lot (a
million lab rows hold a few thousand distinct dates), and an elementwise function gives each row what it
gives the row's value."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

Part = pd.Series | np.ndarray


def on_distinct(
    values: pd.Series, fn: Callable[[pd.Series], tuple[Part, ...]], *, as_text: bool = True
) -> tuple[Part, ...]:
    """Apply ``fn`` (a column in, a tuple of per-value results out) to the distinct values of ``values``
    (a missing value is one of them), read as text unless ``as_text`` is False, and spread each result back
    to every row: a Series stays a Series on ``values``' index with its dtype, a numpy array an array."""
    if as_text:
        codes, uniques = pd.factorize(values.astype("str"), use_na_sentinel=False)
        parts = fn(pd.Series(uniques, dtype="str"))
    else:
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        parts = fn(pd.Series(uniques))
    return tuple(_spread(p, codes, values.index) for p in parts)


def on_distinct_rows(
    frame: pd.DataFrame, columns: list[str], fn: Callable[[pd.DataFrame], tuple[Part, ...]]
) -> tuple[Part, ...]:
    """`on_distinct` over several columns: ``fn`` gets one row of each distinct combination of their values
    (a missing value is one of them; the columns as they are, numbers told apart by their bits, so -0.0
    is not 0.0), and each result is spread to every row of ``frame`` as on_distinct spreads it."""
    combos = np.zeros(len(frame), dtype=np.int64)
    for column in columns:  # renumbered after each column: the ids stay below the rows
        values = frame[column]
        if values.dtype == np.float64:
            values = values.to_numpy().view(np.int64)
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        combos, _ = pd.factorize(combos * (len(uniques) + 1) + codes)
    first = np.zeros(int(combos.max(initial=-1)) + 1, dtype=np.int64)
    first[combos[::-1]] = np.arange(len(combos))[::-1]  # each combination's first row
    parts = fn(frame[columns].iloc[first].reset_index(drop=True))
    return tuple(_spread(p, combos, frame.index) for p in parts)


def _spread(part: Part, codes: np.ndarray, index: pd.Index) -> Part:
    """`part` (one value per distinct value) at every row: a take on the column's own array (Arrow text
    stays Arrow; no Python object per row)."""
    if isinstance(part, np.ndarray):
        return part[codes]
    if isinstance(part.dtype, np.dtype):
        return pd.Series(part.to_numpy()[codes], index=index, dtype=part.dtype)
    return pd.Series(part.array.take(codes), index=index, dtype=part.dtype)
