"""Column functions run on the distinct values only: dates, times, codes and results repeat a lot (a
million lab rows hold a few thousand distinct dates), and an elementwise function gives each row what it
gives the row's value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from cdiscgen._arrowtext import compute_positions_among

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


def compute_mapped(
    values: pd.Series, mapping: Mapping[Any, Any] | pd.Series | Callable[[Any], Any]
) -> pd.Series:
    """``values.map(mapping)`` without a Python object per record. A table (a Series indexed by value, a
    subject's value by USUBJID, say) is looked up by one Arrow hash lookup of the values' text: a missing
    value, or one the table lacks, gives the table's missing value, and a key the table holds twice its
    first row. A dict or a function of one value is applied once per distinct value and spread back."""
    if isinstance(mapping, pd.Series):
        rows = compute_positions_among(values, pd.Series(mapping.index, dtype="str"))
        return pd.Series(mapping.array.take(rows, allow_fill=True), index=values.index, name=mapping.name)
    (out,) = on_distinct(values, lambda distinct: (distinct.map(mapping),), as_text=False)
    return out


def on_distinct_rows(
    frame: pd.DataFrame, columns: list[str], fn: Callable[[pd.DataFrame], tuple[Part, ...]]
) -> tuple[Part, ...]:
    """`on_distinct` over several columns: ``fn`` gets one row of each distinct combination of their values
    (`compute_combinations`; the columns as they are), and each result is spread to every row of ``frame``
    as on_distinct spreads it."""
    combos, first = compute_combinations([frame[c] for c in columns])
    parts = fn(frame[columns].iloc[first].reset_index(drop=True))
    return tuple(_spread(p, combos, frame.index) for p in parts)


def compute_combinations(columns: list[pd.Series | np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Each row's combination of the columns' values as an id (0, 1, ... in order of first row), and each
    id's first row. A missing value is one of the values; numbers are told apart by their bits (-0.0 is
    not 0.0)."""
    if not columns:
        raise ValueError(
            "compute_combinations needs at least one column (it takes the rows' number from them)"
        )
    combos = np.zeros(len(columns[0]), dtype=np.int64)
    for column in columns:  # renumbered after each column: the ids stay below the rows
        if column.dtype == np.float64:
            column = np.asarray(column).view(np.int64)
        codes, uniques = pd.factorize(column, use_na_sentinel=False)
        combos, _ = pd.factorize(combos * (len(uniques) + 1) + codes)
    first = np.zeros(int(combos.max(initial=-1)) + 1, dtype=np.int64)
    first[combos[::-1]] = np.arange(len(combos))[::-1]  # each combination's first row
    return combos, first


def _spread(part: Part, codes: np.ndarray, index: pd.Index) -> Part:
    """`part` (one value per distinct value) at every row: a take on the column's own array (Arrow text
    stays Arrow; no Python object per row)."""
    if isinstance(part, np.ndarray):
        return part[codes]
    if isinstance(part.dtype, np.dtype):
        return pd.Series(part.to_numpy()[codes], index=index, dtype=part.dtype)
    return pd.Series(part.array.take(codes), index=index, dtype=part.dtype)
