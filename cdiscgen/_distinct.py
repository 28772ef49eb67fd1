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


def _spread(part: Part, codes: np.ndarray, index: pd.Index) -> Part:
    """`part` (one value per distinct value) at every row: a take on the column's own array (Arrow text
    stays Arrow; no Python object per row)."""
    if isinstance(part, np.ndarray):
        return part[codes]
    if isinstance(part.dtype, np.dtype):
        return pd.Series(part.to_numpy()[codes], index=index, dtype=part.dtype)
    return pd.Series(part.array.take(codes), index=index, dtype=part.dtype)
