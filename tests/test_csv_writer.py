"""cdiscgen._csv writes the bytes pandas' to_csv(index=False, lineterminator="\n") writes: pandas (through
Python's csv module) is the independent writer the output is compared with, byte for byte."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

import cdiscgen._csv as csv_module
from cdiscgen._atomic import write_csv_atomic
from cdiscgen._csv import write_csv

_TEXT = st.text(alphabet=st.sampled_from(list('ab ,"\r\n\t;é€\u00a0-0')), max_size=6)
_FLOATS = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, -0.0, 1e16, 1e-05, 0.1])
)


@st.composite
def frames(draw):
    n = draw(st.integers(min_value=0, max_value=12))
    kinds = draw(
        st.lists(
            st.sampled_from(["str", "object", "int", "Int64", "Int8", "float", "bool", "mixed"]),
            min_size=1,
            max_size=5,
        )
    )
    data = {}
    for k, kind in enumerate(kinds):
        name = draw(st.sampled_from([f"C{k}", f"C,{k}", f'C"{k}', f"C {k}"]))
        if kind in ("str", "object"):
            values = draw(st.lists(st.one_of(_TEXT, st.none()), min_size=n, max_size=n))
            data[name] = pd.Series(values, dtype="str" if kind == "str" else object)
        elif kind == "int":
            data[name] = pd.Series(
                draw(st.lists(st.integers(-(2**62), 2**62), min_size=n, max_size=n)), dtype="int64"
            )
        elif kind in ("Int64", "Int8"):
            low, high = (-(2**63), 2**63 - 1) if kind == "Int64" else (-128, 127)
            values = draw(st.lists(st.one_of(st.integers(low, high), st.none()), min_size=n, max_size=n))
            data[name] = pd.Series(values, dtype=kind)
        elif kind == "float":
            data[name] = pd.Series(draw(st.lists(_FLOATS, min_size=n, max_size=n)), dtype="float64")
        elif kind == "bool":
            data[name] = pd.Series(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
        else:  # objects that are not all text: left to pandas
            data[name] = pd.Series(
                draw(st.lists(st.one_of(_TEXT, st.integers(0, 9)), min_size=n, max_size=n)), dtype=object
            )
    return pd.DataFrame(data)


def _ours(frame: pd.DataFrame, header: bool = True) -> bytes:
    parts: list[bytes] = []
    write_csv(frame, lambda b: parts.append(bytes(b)), header=header)
    return b"".join(parts)


@settings(max_examples=300, deadline=None)
@given(frame=frames(), header=st.booleans())
def test_the_bytes_of_pandas_to_csv(frame, header):
    want = frame.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")
    assert _ours(frame, header) == want


def test_blocks_join_into_the_same_file(tmp_path, monkeypatch):
    """Rows are joined a block at a time: blocks of 1 and 7 rows give pandas' bytes, through the atomic
    writer too."""
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series([f"S-{i}" for i in range(50)], dtype="str"),
            "TERM": pd.Series(
                ['he said "no", then left' if i % 9 == 0 else "ok" for i in range(50)], dtype="str"
            ),
            "SEQ": np.arange(50, dtype=float) / 4,
            "ROW": np.arange(50),
        }
    )
    want = frame.to_csv(index=False, lineterminator="\n").encode("utf-8")
    for rows in (1, 7):
        monkeypatch.setattr(csv_module, "_ROWS_PER_BLOCK", rows)
        assert _ours(frame) == want
        assert write_csv_atomic(frame, tmp_path / f"t{rows}.csv").read_bytes() == want


def test_a_quoted_field_reads_back_with_the_csv_module():
    import csv
    import io

    frame = pd.DataFrame({"A": pd.Series(['x,"y"\nz', None, ""], dtype="str"), "B": [1.5, math.nan, -0.0]})
    rows = list(csv.reader(io.StringIO(_ours(frame).decode("utf-8"), newline="")))
    assert rows == [["A", "B"], ['x,"y"\nz', "1.5"], ["", ""], ["", "-0.0"]]
