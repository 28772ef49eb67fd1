"""Functions run on the distinct values (cdiscgen._distinct): every row gets what its own values give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cdiscgen._distinct import compute_combinations, compute_mapped, on_distinct_rows

TEXT = st.one_of(st.none(), st.sampled_from(["", "a", "A", " a", "b"]))
NUMBER = st.one_of(st.just(np.nan), st.sampled_from([0.0, -0.0, 1.0, 2.5]))


def _describe(frame: pd.DataFrame) -> tuple[pd.Series, np.ndarray]:
    """Per row: its values as one text (a Series on the frame's index) and the number plus one (an array)."""
    text = frame["T"].fillna("<NA>").astype("str") + "|" + frame["U"].fillna("<NA>").astype("str")
    return text + "|" + frame["N"].astype("str"), frame["N"].to_numpy() + 1


@given(st.lists(st.tuples(TEXT, TEXT, NUMBER), max_size=30), st.integers(0, 5))
def test_each_row_gets_what_its_own_values_give(rows, shift):
    frame = pd.DataFrame(
        {
            "T": pd.Series([t for t, _, _ in rows], dtype="str"),
            "U": pd.Series([u for _, u, _ in rows], dtype="str"),
            "N": pd.Series([n for _, _, n in rows], dtype="float64"),
            "X": range(len(rows)),  # not read: every row differs here
        },
        index=pd.RangeIndex(shift, shift + len(rows)),
    )
    text, plus = on_distinct_rows(frame, ["T", "U", "N"], _describe)
    want_text, want_plus = _describe(frame)
    assert text.index.equals(frame.index) and text.dtype == want_text.dtype
    assert text.tolist() == want_text.tolist()
    np.testing.assert_array_equal(plus, want_plus)


def test_combinations_of_no_columns_is_a_programming_error():
    # rows without columns have no number of rows to take: an error, not an empty answer for a full frame
    with pytest.raises(ValueError, match="at least one column"):
        compute_combinations([])


MAPPINGS = {
    "a dict of numbers": {"a": 1.0, "A": 2.0, "": 0.0},
    "a dict of texts": {"a": "first", "b": "second"},
    "a Series indexed by value": pd.Series({"a": "x", " a": "y", "b": "z"}, dtype="str"),
    "a function": lambda v: "missing" if pd.isna(v) else v.strip().upper(),
}


@pytest.mark.parametrize("how", MAPPINGS)
@given(rows=st.lists(TEXT, max_size=30), shift=st.integers(0, 5))
def test_mapped_once_per_distinct_value_is_what_map_gives_each_row(how, rows, shift):
    values = pd.Series(rows, dtype="str", index=pd.RangeIndex(shift, shift + len(rows)))
    got = compute_mapped(values, MAPPINGS[how])
    want = values.map(MAPPINGS[how])
    assert got.index.equals(values.index) and got.dtype == want.dtype
    assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in want]


def test_a_table_holding_a_key_twice_gives_its_first_row_and_a_missing_key_its_missing_value():
    table = pd.Series([1.0, 2.0, 3.0], index=["A", "B", "A"])
    values = pd.Series(["A", "B", None, "C"], dtype="str", index=[5, 6, 7, 8])
    got = compute_mapped(values, table)
    assert got.index.tolist() == [5, 6, 7, 8] and got.dtype == "float64"
    assert got.iloc[:2].tolist() == [1.0, 2.0] and got.iloc[2:].isna().all()
