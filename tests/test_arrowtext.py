"""The bytes behind Arrow text arrays, read against the values themselves (as_py, encoded)."""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cdiscgen._arrowtext import (
    as_text,
    byte_table,
    compute_arrow_text,
    compute_value_bytes,
    compute_value_offsets,
    holds_any_byte,
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


_ASCII = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=6)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.one_of(_ASCII, st.none()), max_size=12),
    wanted=st.sets(st.integers(0, 127), max_size=4),
    cut=st.integers(0, 3),
    chunked=st.booleans(),
)
def test_holds_any_byte_is_any_wanted_character_in_any_value(values, wanted, cut, chunked):
    arr = pa.array(values, type=pa.large_string()).slice(min(cut, len(values)))  # an offset into the buffers
    if chunked:
        arr = pa.chunked_array(
            [arr.slice(0, len(arr) // 2), arr.slice(len(arr) // 2)], type=pa.large_string()
        )
    expected = any(chr(b) in value for value in values[min(cut, len(values)) :] if value for b in wanted)
    assert holds_any_byte(arr, byte_table(sorted(wanted))) is expected


@pytest.mark.parametrize(
    ("arr", "expected"),
    [
        (pa.array(["a,b", "cd"], type=pa.large_string()), True),
        (pa.array(["a,b", "cd"], type=pa.large_string()).slice(1), False),  # the slice holds "cd" only
        (pa.array(["cd", "a,b"], type=pa.large_string()).slice(0, 1), False),
        (pa.chunked_array([["cd"], ["e", 'x"y']], type=pa.large_string()), True),  # in a later chunk
        (pa.array([None, "", "ef"], type=pa.string()), False),
    ],
)
def test_holds_any_byte_looks_at_the_values_of_the_array_only(arr, expected):
    assert holds_any_byte(arr, byte_table([ord(","), ord('"')])) is expected


def test_holds_any_byte_scans_a_long_column_piece_by_piece(monkeypatch):
    import cdiscgen._arrowtext as arrowtext

    monkeypatch.setattr(arrowtext, "_SCAN_BYTES", 3)
    table = byte_table([ord(",")])
    assert holds_any_byte(pa.array(["abcd", "ef,g"], type=pa.large_string()), table)  # in the third piece
    assert not holds_any_byte(pa.array(["abcd", "efgh"], type=pa.large_string()), table)
