"""The bytes behind Arrow text arrays, read against the values themselves (as_py, encoded)."""

from __future__ import annotations

import pyarrow as pa
import pytest

from cdiscgen._arrowtext import compute_value_bytes, compute_value_offsets


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
