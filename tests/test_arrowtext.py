"""The bytes behind Arrow text arrays, read against the values themselves (as_py, encoded)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest

from cdiscgen._arrowtext import (
    as_text,
    compute_arrow_text,
    compute_value_bytes,
    compute_value_offsets,
    is_among,
)


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_value_bytes_of_arrays_and_slices_are_their_texts_back_to_back(kind):
    arr = pa.array(["ab", "", "café", None, "xyz", "q"], type=kind)
    for start in range(len(arr)):
        for stop in range(start, len(arr) + 1):
            part = arr.slice(start, stop - start)
            want = "".join(v or "" for v in part.to_pylist()).encode("utf-8")
            assert compute_value_bytes(part).tobytes() == want
            offsets = compute_value_offsets(part)
            assert len(offsets) == len(part) + 1
            lengths = [len((v or "").encode("utf-8")) for v in part.to_pylist()]
            assert (offsets[1:] - offsets[:-1]).tolist() == lengths
    assert compute_value_bytes(pa.array([], type=kind)).size == 0
    assert compute_value_bytes(pa.array([None, None], type=kind)).size == 0


@pytest.mark.parametrize(
    "known",
    [
        ["DARPAL-01-001", "café", "", "X "],
        pd.Series(["DARPAL-01-001", None, "café", "", "X "], dtype="str"),
        pd.Index(["DARPAL-01-001", "café", "", "X "]),
        frozenset({"DARPAL-01-001", "café", "", "X "}),
    ],
)
@pytest.mark.parametrize("as_index", [False, True])
def test_is_among_is_membership_of_each_value_and_a_missing_value_never_is(known, as_index):
    values = ["DARPAL-01-001", "DARPAL-01-002", None, "café", "", "cafe", "DARPAL-01-001 ", "X", "X "]
    column = pd.Index(values, dtype="str") if as_index else pd.Series(values, dtype="str")
    pool = {v for v in known if isinstance(v, str)}
    want = [v is not None and v in pool for v in values]  # read by hand from the values
    assert is_among(column, known).tolist() == want
    assert is_among(column, known).dtype == bool


def test_is_among_reads_other_known_values_as_their_text_and_ignores_missing_ones():
    values = pd.Series(["1", "1.0", "nan", "None", None], dtype="str")
    assert is_among(values, [1, float("nan"), None]).tolist() == [True, False, False, False, False]


def test_as_text_keeps_arrow_text_and_turns_the_rest_into_str():
    arrow_text = pd.Series(["a", None], dtype="str")
    assert as_text(arrow_text) is arrow_text  # no copy, no astype
    nullable = pd.Series(["a", None], dtype="string[pyarrow]")
    assert as_text(nullable) is nullable
    for other in (
        pd.Series([1.5, None]),
        pd.Series(["a", None], dtype=object),
        pd.Series(["a"], dtype="string[python]"),
    ):
        text = as_text(other)
        assert text.dtype == "str" and text.tolist() == other.astype("str").tolist()
    assert compute_arrow_text(pd.Series([2.0, None])).to_pylist() == ["2.0", None]
