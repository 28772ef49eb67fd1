"""CSV output, the bytes pandas' ``to_csv(index=False, lineterminator="\\n")`` writes, made by Arrow kernels.

pandas hands every row to Python's csv module (a Python object per value); the raw forms of a large study
and the trace files are millions of rows. Here each column becomes its field texts once (text as it is,
numbers as numpy's shortest text of each distinct value, nullable integers as their digits), fields
holding a comma, a quote or LF (and CR where the csv module quotes it) are quoted with inner quotes doubled
(csv.QUOTE_MINIMAL), and the rows are joined in one kernel per block. A column of another kind (dates,
categories, nullable floats, objects that are not text) or a frame of one column (csv writes an empty lone
field as "") is written by pandas.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen._arrowtext import byte_table, compute_value_bytes, holds_any_byte
from cdiscgen._overlap import computed_ahead

_ROWS_PER_BLOCK = 65_536


def _characters_to_quote() -> str:
    """The characters that make Python's csv module (which pandas writes through) quote a field, with
    "\\n" line ends: comma, quote and LF; CR only in the Python versions that quote it."""
    probe = io.StringIO()
    csv.writer(probe, lineterminator="\n").writerow(["a\rb", "c"])
    return ',"\n\r' if probe.getvalue().startswith('"') else ',"\n'


_QUOTE_IF_ANY = _characters_to_quote()
_NEEDS_QUOTES = "[" + _QUOTE_IF_ANY.replace("\n", "\\n").replace("\r", "\\r") + "]"  # an RE2 class
_QUOTE_BYTES = byte_table(list(_QUOTE_IF_ANY.encode("ascii")))


def write_csv(
    frame: pd.DataFrame, write: Callable[[bytes | memoryview], None], *, header: bool = True
) -> None:
    """Write ``frame`` as UTF-8 CSV through ``write`` (bytes), as pandas would write it."""
    fields = _field_texts(frame) if frame.shape[1] > 1 else None
    if fields is None:
        write(frame.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8"))
        return
    if header:
        names = _quote_where_needed(pa.array([str(c) for c in frame.columns], type=pa.large_string()))
        write((",".join(names.to_pylist()) + "\n").encode("utf-8"))
    for block in _row_blocks(fields, len(frame)):
        write(block)


def _field_texts(frame: pd.DataFrame) -> list[pa.Array] | None:
    out = []
    for _, column in frame.items():
        texts = _column_texts(column)
        if texts is None:
            return None
        out.append(_quote_where_needed(texts))
    return out


def _column_texts(column: pd.Series) -> pa.Array | None:
    """Each value's text (missing: empty), or None for a kind this writer leaves to pandas."""
    dtype = column.dtype
    if pd.api.types.is_string_dtype(dtype) or pd.api.types.is_object_dtype(dtype):
        try:
            arr = pa.array(column, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            return None  # objects that are not text: pandas writes their str()
        arr = arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr
        return pc.fill_null(arr, "") if arr.null_count else arr
    if not isinstance(dtype, np.dtype) and pd.api.types.is_integer_dtype(dtype) and dtype.kind == "i":
        return _nullable_integer_texts(column)
    if not isinstance(dtype, np.dtype) or not (dtype.kind in "iub" or dtype == np.float64):
        return None
    # each distinct value as numpy writes it (pandas writes numpy's astype(str)); floats by bit pattern,
    # so that -0.0 stays "-0.0", and a missing one is empty
    values = column.to_numpy()
    codes, distinct = pd.factorize(values.view(np.int64) if dtype == np.float64 else values)
    if dtype == np.float64:
        distinct = distinct.view(np.float64)
        texts = np.where(np.isnan(distinct), "", distinct.astype(str))
    else:
        texts = distinct.astype(str)
    return pa.array(texts.astype(object), type=pa.large_string()).take(pa.array(codes))


def _nullable_integer_texts(column: pd.Series) -> pa.Array:
    """A nullable integer column (Int64, a trace's source row) as pandas writes it: each value's decimal
    digits (Arrow's cast writes them as str() does), a missing value empty."""
    missing = column.isna().to_numpy()
    texts = pa.array(column.to_numpy(dtype="int64", na_value=0)).cast(pa.large_string())
    return pc.if_else(pa.array(missing), pa.scalar("", pa.large_string()), texts) if missing.any() else texts


def _quote_where_needed(texts: pa.Array) -> pa.Array:
    if not holds_any_byte(texts, _QUOTE_BYTES):
        return texts  # most columns: the regex is not run over them
    need = pc.match_substring_regex(texts, _NEEDS_QUOTES)
    if not pc.any(need).as_py():
        return texts
    quote, nothing = pa.scalar('"', pa.large_string()), pa.scalar("", pa.large_string())
    quoted = pc.binary_join_element_wise(quote, pc.replace_substring(texts, '"', '""'), quote, nothing)
    return pc.if_else(need, quoted, texts)


def _row_blocks(fields: list[pa.Array], n_rows: int) -> Iterator[memoryview]:
    """The rows, a block at a time: every field then a comma, the last one then a newline. Blocks are joined
    on two threads (the join lets go of the GIL), yielded in order."""

    def block(start: int) -> memoryview:
        length = min(_ROWS_PER_BLOCK, n_rows - start)
        pieces: list[pa.Array | str] = []
        for k, field in enumerate(fields):
            pieces += [field.slice(start, length), "," if k < len(fields) - 1 else "\n"]
        args = [pa.scalar(p, pa.large_string()) if isinstance(p, str) else p for p in pieces]
        rows = pc.binary_join_element_wise(*args, pa.scalar("", pa.large_string()))
        return memoryview(compute_value_bytes(rows))  # no nulls: the rows back to back

    starts = range(0, n_rows, _ROWS_PER_BLOCK)
    yield from computed_ahead(block, starts) if len(starts) > 1 else map(block, starts)
