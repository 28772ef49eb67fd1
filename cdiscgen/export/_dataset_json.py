"""CDISC Dataset-JSON 1.1 and its NDJSON form, streamed column-wise.

Each column is turned into JSON text fragments with vectorised numpy/arrow operations; rows are then
joined a chunk at a time and streamed to the file, so the whole JSON never sits in memory.

Missing values follow the spec: a missing value (NaN/None/NA) is ``null``; an empty string stays ``""``.
Numeric SAS dates/datetimes/times (days or seconds from 1960-01-01, seconds from midnight) with dataType
date/datetime/time become ISO 8601 strings; the caller states ``target_data_type="integer"`` for them
(the ADaM use case).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen._arrowtext import compute_value_bytes
from cdiscgen._atomic import open_atomic
from cdiscgen._overlap import computed_ahead, writing_behind
from cdiscgen.export._parts import DatasetParts, frame_parts

log = logging.getLogger(__name__)

DATASET_JSON_VERSION = "1.1.0"
DATA_TYPES = ("string", "integer", "decimal", "float", "double", "date", "datetime", "time", "boolean", "URI")
TARGET_DATA_TYPES = ("integer", "decimal")
_STRING_TYPES = ("string", "URI")
_TEMPORAL = ("date", "datetime", "time")
_SAS_EPOCH = np.datetime64("1960-01-01T00:00:00", "s")
_CHUNK_ROWS = 65536
_NULL = "null"


class DatasetJsonError(ValueError):
    """A column or value that cannot be written as Dataset-JSON; the message names dataset, column, row
    (1-based) and value, which are also attributes (None when they do not apply)."""

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        column: str | None = None,
        reason: str | None = None,
        row: int | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.column = column
        self.reason = reason
        self.row = row
        self.value = value


@dataclass(frozen=True)
class JsonColumn:
    """Column metadata in the order of the spec's attributes."""

    item_oid: str
    name: str
    label: str
    data_type: str
    target_data_type: str | None = None
    length: int | None = None
    display_format: str | None = None
    key_sequence: int | None = None

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {
            "itemOID": self.item_oid,
            "name": self.name,
            "label": self.label,
            "dataType": self.data_type,
        }
        if self.target_data_type is not None:
            out["targetDataType"] = self.target_data_type
        if self.length is not None:
            out["length"] = self.length
        if self.display_format is not None:
            out["displayFormat"] = self.display_format
        if self.key_sequence is not None:
            out["keySequence"] = self.key_sequence
        return out


def _fail(
    dataset: str, column: str, message: str, row: int | None = None, value: object = None
) -> DatasetJsonError:
    """An error at a 0-based row of the frame being written (or of the column when row is None)."""
    if isinstance(value, np.generic):
        value = value.item()
    where = f" (row {row + 1}, value {value!r})" if row is not None else ""
    return DatasetJsonError(
        f"{dataset}.{column}: {message}{where}",
        dataset=dataset,
        column=column,
        reason=message,
        row=None if row is None else row + 1,
        value=value,
    )


def _s(text: str) -> pa.Scalar:
    return pa.scalar(text, pa.large_string())


def _data_bytes(arr: pa.Array) -> np.ndarray:
    """The UTF-8 bytes of all values of an arrow (large_)string array, back to back (a view, no copy)."""
    validity, offsets, data = arr.buffers()
    if data is None or len(arr) == 0:
        return np.empty(0, dtype=np.uint8)
    width = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bounds = np.frombuffer(offsets, dtype=width)[[arr.offset, arr.offset + len(arr)]]
    return np.frombuffer(data, dtype=np.uint8)[int(bounds[0]) : int(bounds[1])]


def _needs_escape(arr: pa.Array) -> bool:
    """Whether any value holds a byte JSON escapes: '"', '\' or a control character (U+0000-U+001F)."""
    raw = _data_bytes(arr)
    return bool((raw < 0x20).any() or (raw == 0x22).any() or (raw == 0x5C).any())


def _escape(arr: pa.Array) -> pa.Array:
    """The JSON string literal contents (no quotes) of an arrow string array without nulls."""
    if not _needs_escape(arr):
        return arr
    text = pc.replace_substring(arr, "\\", "\\\\")
    text = pc.replace_substring(text, '"', '\\"')
    control = pc.match_substring_regex(text, "[\\x00-\\x1f]").to_numpy(zero_copy_only=False)
    if control.any():
        # Control characters are rare: those values alone go through json.dumps.
        rows = np.flatnonzero(control)
        fixed = [json.dumps(arr[int(i)].as_py(), ensure_ascii=False)[1:-1] for i in rows]
        mask = np.zeros(len(arr), dtype=bool)
        mask[rows] = True
        text = pc.replace_with_mask(text, pa.array(mask), pa.array(fixed, type=text.type))
    return text


def _quote(arr: pa.Array) -> pa.Array:
    """JSON string literals for an arrow string array without nulls (escaping done column-wise)."""
    return pc.binary_join_element_wise(_s('"'), _escape(arr), _s('"'), _s(""))


def _with_nulls(fragments: pa.Array, missing: np.ndarray) -> pa.Array:
    if missing.any():
        return pc.if_else(pa.array(missing), pa.scalar(_NULL, fragments.type), fragments)
    return fragments


def _numbers(series: pd.Series, dataset: str, column: JsonColumn) -> tuple[np.ndarray, np.ndarray]:
    if pd.api.types.is_bool_dtype(series.dtype) or not pd.api.types.is_numeric_dtype(series.dtype):
        raise _fail(
            dataset,
            column.name,
            f"dataType {column.data_type} needs numbers, the column holds {series.dtype}",
        )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    missing = np.isnan(values)
    infinite = np.isinf(values)
    if infinite.any():
        row = int(np.flatnonzero(infinite)[0])
        raise _fail(dataset, column.name, "infinity has no JSON value", row, values[row])
    return values, missing


def _integers(values: np.ndarray, missing: np.ndarray, dataset: str, column: JsonColumn) -> np.ndarray:
    filled = np.where(missing, 0.0, values)
    fractional = filled != np.round(filled)
    if fractional.any():
        row = int(np.flatnonzero(fractional)[0])
        raise _fail(
            dataset, column.name, f"dataType {column.data_type} needs whole numbers", row, values[row]
        )
    if (np.abs(filled) > 2**53).any():
        row = int(np.flatnonzero(np.abs(filled) > 2**53)[0])
        raise _fail(dataset, column.name, "integer beyond 2**53 is not exact in a double", row, values[row])
    return filled.astype(np.int64)


def _doubles(values: np.ndarray) -> pa.Array:
    """Python's repr of finite float64 values (numpy's ``astype(str)``), mostly through arrow's cast.

    Arrow writes the same shortest round-trip digits, but picks the shorter of positional and scientific
    notation and drops ``.0`` from whole numbers; Python writes positional exactly for 1e-4 <= |x| < 1e16
    (and 0). So arrow's positional text is taken in that range (``.0`` added to whole numbers); every
    other value (arrow chose scientific, or Python does) goes through numpy.
    """
    text = pa.array(values, type=pa.float64()).cast(pa.large_string())
    size = np.abs(values)
    positional = ((size >= 1e-4) & (size < 1e16)) | (size == 0)
    taken = positional & ~pc.match_substring(text, "e").to_numpy(zero_copy_only=False)
    whole = taken & ~pc.match_substring(text, ".").to_numpy(zero_copy_only=False)
    if whole.any():
        text = pc.if_else(pa.array(whole), pc.binary_join_element_wise(text, _s(".0"), _s("")), text)
    if not taken.all():
        other = values[~taken].astype(str)
        text = pc.replace_with_mask(text, pa.array(~taken), pa.array(other, type=pa.large_string()))
    return text


def _format_numbers(kind: str, values: np.ndarray) -> pa.Array:
    """JSON text of non-missing numbers (float64 for float/double/decimal, int64 otherwise)."""
    if kind == "integer":
        return pa.array(values, type=pa.int64()).cast(pa.large_string())  # str(int): digits, "-" sign
    if kind in ("float", "double"):
        return _doubles(values)  # shortest repr that reads back to the same double
    if kind == "decimal":
        return pc.binary_join_element_wise(_s('"'), _doubles(values), _s('"'), _s(""))
    if kind == "date":
        iso = (_SAS_EPOCH.astype("datetime64[D]") + values.astype("timedelta64[D]")).astype(str)
    elif kind == "datetime":
        iso = (_SAS_EPOCH + values.astype("timedelta64[s]")).astype(str)
    else:
        iso = (np.datetime64("1970-01-01T00:00:00", "s") + values.astype("timedelta64[s]")).astype(str)
        iso = np.char.partition(iso, "T")[:, 2]
    return pa.array(np.char.add(np.char.add('"', iso), '"'), type=pa.large_string())


def _formatted(kind: str, values: np.ndarray, missing: np.ndarray) -> pa.Array:
    """JSON text of every value: each distinct value (by bit pattern, so -0.0 stays apart from 0.0) is
    formatted once and the texts are gathered; a missing value is ``null``."""
    codes, distinct = pd.factorize(values.view(np.int64), sort=False)
    texts = _format_numbers(kind, distinct.view(values.dtype))
    codes = np.where(missing, len(texts), codes)
    return pc.take(pa.concat_arrays([texts, pa.array([_NULL], type=pa.large_string())]), pa.array(codes))


def _fragments(series: pd.Series, dataset: str, column: JsonColumn) -> tuple[pa.Array, bool]:
    """JSON text of every value of one column (a chunk), as an arrow string array, and whether it still
    needs its double quotes (a string column without missing values: the quotes go in with the row join)."""
    kind = column.data_type
    is_text = pd.api.types.is_string_dtype(series.dtype) or series.dtype == object
    if kind in _STRING_TYPES or (is_text and kind in (*_TEMPORAL, "decimal")):
        if not is_text:
            raise _fail(dataset, column.name, f"dataType {kind} needs text, the column holds {series.dtype}")
        try:
            arr = pa.array(series, type=pa.large_string(), from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            bad = series.map(lambda v: not isinstance(v, str), na_action="ignore").fillna(False)
            row = int(np.flatnonzero(bad.to_numpy(dtype=bool))[0])
            raise _fail(
                dataset, column.name, "holds a value that is not text", row, series.iloc[row]
            ) from None
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.chunk(0) if arr.num_chunks == 1 else arr.combine_chunks()
        if arr.null_count == 0:
            return _escape(arr), True
        missing = arr.is_null().to_numpy(zero_copy_only=False)
        return _with_nulls(_quote(pc.fill_null(arr, "")), missing), False
    if kind == "boolean":
        if not pd.api.types.is_bool_dtype(series.dtype):
            raise _fail(
                dataset, column.name, f"dataType boolean needs booleans, the column holds {series.dtype}"
            )
        missing = series.isna().to_numpy(dtype=bool)
        truth = series.fillna(False).to_numpy(dtype=bool)
        return _with_nulls(pa.array(np.where(truth, "true", "false"), type=pa.large_string()), missing), False
    if kind not in DATA_TYPES:
        raise _fail(
            dataset, column.name, f"unknown dataType {kind!r}; expected one of {', '.join(DATA_TYPES)}"
        )
    values, missing = _numbers(series, dataset, column)
    if kind in ("float", "double", "decimal"):
        return _formatted(kind, np.where(missing, 0.0, values), missing), False
    whole = _integers(values, missing, dataset, column)
    if kind == "time":
        outside = ((whole < 0) | (whole >= 86400)) & ~missing
        if outside.any():
            row = int(np.flatnonzero(outside)[0])
            raise _fail(dataset, column.name, "time must be seconds within one day", row, values[row])
    return _formatted(kind, whole, missing), False


def _metadata(
    *,
    frame: pd.DataFrame | DatasetParts,
    dataset: str,
    label: str,
    columns: Sequence[JsonColumn],
    study_oid: str,
    metadata_version_oid: str,
    metadata_ref: str | None,
    created: datetime,
    originator: str,
    source_system: tuple[str, str],
    item_group_oid: str,
    file_oid: str | None = None,
    db_last_modified: datetime | None = None,
) -> dict[str, object]:
    for column in columns:
        if column.data_type not in DATA_TYPES:
            raise _fail(dataset, column.name, f"unknown dataType {column.data_type!r}")
        if column.target_data_type not in (None, *TARGET_DATA_TYPES):
            raise _fail(dataset, column.name, f"unknown targetDataType {column.target_data_type!r}")
    names = [c.name for c in columns]
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise DatasetJsonError(f"{dataset}: declared column(s) {missing} are not in the frame")
    undeclared = [str(c) for c in frame.columns if c not in names]
    if undeclared:
        raise DatasetJsonError(f"{dataset}: frame column(s) {undeclared} are not declared")
    meta: dict[str, object] = {
        "datasetJSONCreationDateTime": created.replace(microsecond=0).isoformat(),
        "datasetJSONVersion": DATASET_JSON_VERSION,
    }
    if file_oid is not None:
        meta["fileOID"] = file_oid
    if db_last_modified is not None:
        meta["dbLastModifiedDateTime"] = db_last_modified.replace(microsecond=0).isoformat()
    meta["originator"] = originator
    meta["sourceSystem"] = {"name": source_system[0], "version": source_system[1]}
    meta["studyOID"] = study_oid
    meta["metaDataVersionOID"] = metadata_version_oid
    if metadata_ref is not None:
        meta["metaDataRef"] = metadata_ref
    meta["itemGroupOID"] = item_group_oid
    meta["records"] = len(frame)
    meta["name"] = dataset
    meta["label"] = label
    meta["columns"] = [c.as_dict() for c in columns]
    return meta


def _join_rows(parts: list[tuple[pa.Array, bool]], n: int, separator: str) -> pa.Array:
    """One arrow string per row: ``[v1,v2,...]`` followed by ``separator``, in a single join. Literal text
    (brackets, commas, the quotes of string columns) sits between the column arrays as scalars."""
    pieces: list[pa.Array | str] = ["["]
    for k, (fragments, quoted) in enumerate(parts):
        if k:
            pieces.append(",")
        if quoted:
            pieces.extend(('"', fragments, '"'))
        else:
            pieces.append(fragments)
    pieces.append("]" + separator)
    if not parts:  # a frame without columns: every row is []
        pieces.insert(1, pa.array(np.full(n, ""), type=pa.large_string()))
    merged: list[pa.Array | pa.Scalar] = []
    for piece in pieces:  # adjacent literals become one scalar
        if isinstance(piece, str) and merged and isinstance(merged[-1], str):
            merged[-1] += piece
        else:
            merged.append(piece)
    args = [_s(p) if isinstance(p, str) else p for p in merged]
    return pc.binary_join_element_wise(*args, _s(""))


def _row_bytes(
    frame: pd.DataFrame,
    dataset: str,
    columns: Sequence[JsonColumn],
    separators: tuple[str, ...],
    first_row: int = 0,
    threads: int = 2,
) -> Iterator[tuple[memoryview, ...]]:
    """Yield UTF-8 bytes per chunk of rows, once per separator: each row a JSON array followed by that
    separator (the rows' text is made once). `first_row`: where the frame starts in the whole dataset
    (errors name the dataset's row); `threads`: how many make the chunks' text."""

    def chunk_bytes(chunk: tuple[int, int, list[pd.Series]]) -> tuple[memoryview, ...]:
        start, n_rows, series = chunk
        try:
            fragments = [_fragments(s, dataset, c) for s, c in zip(series, columns, strict=True)]
        except DatasetJsonError as exc:
            if exc.row is None or first_row + start == 0:
                raise
            # rows were counted within the chunk: restate the error with the row of the whole dataset
            raise _fail(dataset, exc.column, exc.reason, first_row + start + exc.row - 1, exc.value) from None
        if len(separators) == 1:
            joined = [_join_rows(fragments, n_rows, separators[0])]
        else:
            rows = _join_rows(fragments, n_rows, "")
            joined = [pc.binary_join_element_wise(rows, _s(separator), _s("")) for separator in separators]
        return tuple(memoryview(compute_value_bytes(rows)) for rows in joined)  # no nulls: rows back to back

    # The columns of each chunk are taken here; their texts are made on `threads` threads, in order (the
    # first bad value of the dataset is still the one reported).
    chunks = (
        (
            start,
            min(_CHUNK_ROWS, len(frame) - start),
            [frame[c.name].iloc[start : start + _CHUNK_ROWS] for c in columns],
        )
        for start in range(0, len(frame), _CHUNK_ROWS)
    )
    yield from computed_ahead(chunk_bytes, chunks, workers=threads)


def _write_rows(
    outputs: Sequence[tuple[Callable[[bytes | memoryview], None], str]],
    frame: pd.DataFrame | DatasetParts,
    dataset: str,
    columns: Sequence[JsonColumn],
    threads: int = 2,
) -> None:
    """The rows to each (write, separator) of `outputs`, separated by its separator (which ends in a newline),
    none after the last one; the rows' text is made once for all, on `threads` threads. The parts of a
    DatasetParts one after the other."""
    separators = tuple(sep for _, sep in outputs)
    started = False
    for first, part in frame_parts(frame):
        for chunks in _row_bytes(part, dataset, columns, separators, first, threads):
            for (write, sep), chunk in zip(outputs, chunks, strict=True):
                if started:
                    write(sep.encode("ascii"))
                write(chunk[: -len(sep)])
            started = True


def _write_dataset_files(
    frame: pd.DataFrame | DatasetParts,
    metadata: dict[str, Any],
    json_path: str | Path | None = None,
    ndjson_path: str | Path | None = None,
    threads: int = 2,
) -> list[Path]:
    """The Dataset-JSON file and/or the NDJSON file of one dataset, each written atomically, from one pass
    over its rows (their text made on `threads` threads). `metadata`: the keyword arguments of `_metadata`
    (the dataset's name, columns, ...)."""
    head = json.dumps(_metadata(frame=frame, **metadata), ensure_ascii=False, separators=(",", ":"))
    forms: list[tuple[Path, str, str, str]] = []  # (path, text before the rows, row separator, text after)
    if json_path is not None:
        forms.append((Path(json_path), head[:-1] + ',"rows":[\n', ",\n", "\n]}\n"))
    if ndjson_path is not None:
        forms.append((Path(ndjson_path), head + "\n", "\n", "\n" if len(frame) else ""))
    with ExitStack() as stack:
        writes = [
            stack.enter_context(writing_behind(stack.enter_context(open_atomic(path)))) for path, *_ in forms
        ]
        for write, (_, before, _, _) in zip(writes, forms, strict=True):
            write(before.encode("utf-8"))
        outputs = [(write, separator) for write, (_, _, separator, _) in zip(writes, forms, strict=True)]
        _write_rows(outputs, frame, metadata["dataset"], metadata["columns"], threads)
        for write, (*_, after) in zip(writes, forms, strict=True):
            write(after.encode("utf-8"))
    for path, *_ in forms:
        log.debug("wrote %s: %d rows", path, len(frame))
    return [path for path, *_ in forms]


def write_dataset_json(frame: pd.DataFrame | DatasetParts, path: str | Path, **metadata: Any) -> Path:
    """Write ``frame`` as a Dataset-JSON 1.1 file (atomically; attribute order as in the spec; one row
    per line). The keyword arguments are those of `_metadata`: dataset, label, columns, study_oid,
    metadata_version_oid, metadata_ref, created, originator, source_system, item_group_oid and optionally
    file_oid and db_last_modified. ``created`` gives datasetJSONCreationDateTime, so reruns are
    byte-identical. A DatasetParts is streamed part by part (its record count is known beforehand): the same
    bytes as the whole frame."""
    return _write_dataset_files(frame, metadata, json_path=path)[0]


def write_dataset_ndjson(frame: pd.DataFrame | DatasetParts, path: str | Path, **metadata: Any) -> Path:
    """Write ``frame`` as Dataset-JSON NDJSON: line 1 the metadata object, then one JSON array per row (the
    keyword arguments of `write_dataset_json`)."""
    return _write_dataset_files(frame, metadata, ndjson_path=path)[0]


def write_dataset_json_and_ndjson(
    frame: pd.DataFrame | DatasetParts,
    json_path: str | Path,
    ndjson_path: str | Path,
    *,
    threads: int = 2,
    **metadata: Any,
) -> tuple[Path, Path]:
    """`write_dataset_json` and `write_dataset_ndjson` of one dataset (the same keyword arguments) from one
    pass over its rows: each row's JSON text is made once, on `threads` threads (one beside other work),
    and written to both files; the bytes do not depend on `threads`."""
    json_file, ndjson_file = _write_dataset_files(
        frame, metadata, json_path=json_path, ndjson_path=ndjson_path, threads=threads
    )
    return json_file, ndjson_file
