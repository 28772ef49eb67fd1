"""Small helpers shared by the ADaM derivations (column access, text normalisation)."""

from __future__ import annotations

import pandas as pd

from ._errors import AdamInputError


def text(frame: pd.DataFrame, name: str) -> pd.Series:
    """A character column as str with "" for missing (absent column -> all "")."""
    if name not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame[name].astype("string").fillna("").str.strip().astype("str")


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
