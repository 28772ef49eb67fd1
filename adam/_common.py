"""Small helpers shared by the ADaM derivations (column access, text normalisation)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from cdiscgen._arrowtext import compute_arrow_text, compute_trimmed

from ._errors import AdamInputError


def text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A character column as str, stripped as str.strip strips Arrow text, "" for missing (absent column ->
    all ""). By Arrow: most columns have nothing to strip (`compute_trimmed`) and no value missing."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    arrow = compute_trimmed(compute_arrow_text(frame[name]))
    if arrow.null_count:
        arrow = pc.fill_null(arrow, "")
    return pd.Series(arrow, index=frame.index, dtype="str")


def number(frame: pd.DataFrame, name: str) -> pd.Series:
    """A numeric column as float64 (absent column -> all NaN)."""
    if name not in frame.columns:
        return pd.Series(float("nan"), index=frame.index, dtype="float64")
    return pd.to_numeric(frame[name], errors="coerce").astype("float64")


def require_columns(frame: pd.DataFrame, dataset: str, columns: list[str]) -> None:
    """Raise AdamInputError naming the first required variable that is absent."""
    for col in columns:
        if col not in frame.columns:
            raise AdamInputError("required variable is missing", dataset=dataset, variable=col)


def empty_text(index: pd.Index) -> pd.Series:
    return pd.Series("", index=index, dtype="str")


def compute_group_sums(values: pd.Series, keys: list[pd.Series], *, sort: bool) -> pd.DataFrame:
    """Per group of `keys` (missing keys form groups, groups in pandas' order for `sort`): the sum of the
    non-missing values, added in row order, and their count.

    pandas' grouped sum and mean of floats are not a function of a group's own values: the same three
    values summed to 235.33333333333337 in a small frame and 235.33333333333334 in the whole pilot ADVS
    (pandas 3.1), so a study run in subject partitions would differ from the whole run in the last bit.
    np.bincount adds each group's values in row order, whatever else the frame holds."""
    grouped = values.groupby(keys, dropna=False, sort=sort)
    codes = grouped.ngroup().to_numpy()
    present = values.notna().to_numpy()
    n = grouped.ngroups
    return pd.DataFrame(
        {
            "sum": np.bincount(codes[present], weights=values.to_numpy()[present], minlength=n),
            "count": np.bincount(codes[present], minlength=n),
        },
        index=grouped.size().index,
    )


def compute_group_means(values: pd.Series, keys: list[pd.Series], *, sort: bool) -> pd.Series:
    """The mean of each group's non-missing values (NaN when it has none), as compute_group_sums adds them."""
    sums = compute_group_sums(values, keys, sort=sort)
    return (sums["sum"] / sums["count"].where(sums["count"] > 0)).rename(values.name)
