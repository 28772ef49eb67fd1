"""SAS transport version 5 (XPT) writer, as FDA requires (SAS TS-140).

Layout: 80-byte records. Library header (3 records), member header + descriptor (4 records), NAMESTR
header + one 140-byte NAMESTR per variable (padded to 80), OBS header, then the observations back to
back, the last record padded with blanks. Numbers are IBM doubles (see `_ibm`), text is fixed width,
padded with blanks.

Everything that does not fit is an `XptError`; nothing is truncated or fixed silently.
"""

from __future__ import annotations

import codecs
import dataclasses
import logging
import re
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen._arrowtext import compute_value_bytes
from cdiscgen._atomic import open_atomic
from cdiscgen._overlap import computed_ahead, writing_behind
from cdiscgen.export._ibm import compute_ibm_words_in_range, ibm_out_of_range
from cdiscgen.export._parts import DatasetParts, frame_parts

log = logging.getLogger(__name__)

RECORD = 80
NAMESTR_LENGTH = 140
MAX_CHAR_BYTES = 200
MAX_NAME = 8
MAX_LABEL = 40
MAX_VARIABLES = 9999  # the NAMESTR header holds the count in 4 digits
#: Integers beyond 2**53 have no exact double (and so no exact IBM double).
MAX_EXACT_INTEGER = 2**53
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_SAS_VERSION = b"9.4     "
_OS_NAME = b"cdiscgen"
_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,7}")
#: SAS format: optional name (may start with $, never ends in a digit), optional width, a dot, optional
#: decimals. "DATE9." "8.2" "$CHAR20." "E8601DA." "BEST12."
_FORMAT_RE = re.compile(r"(?P<name>\$?(?:[A-Z_](?:[A-Z0-9_]*[A-Z_])?)?)(?P<width>\d*)\.(?P<decimals>\d*)")
_ROWS_BUFFER_BYTES = 1 << 22


class XptError(ValueError):
    """A dataset, variable or value that cannot be written to XPT v5 as it is.

    The attributes name the place: dataset, variable, row (1-based), usubjid and value, each None when
    it does not apply.
    """

    def __init__(
        self,
        message: str,
        *,
        dataset: str | None = None,
        variable: str | None = None,
        row: int | None = None,
        usubjid: str | None = None,
        value: object = None,
    ) -> None:
        super().__init__(message)
        self.dataset = dataset
        self.variable = variable
        self.row = row
        self.usubjid = usubjid
        self.value = value


@dataclass(frozen=True)
class XptVariable:
    """One variable of an XPT dataset, in file order.

    length None means: character = the longest value in bytes of the target encoding (at least 1);
    numeric = 8 (the only numeric length this writer produces).
    """

    name: str
    label: str
    type: Literal["char", "num"]
    length: int | None = None
    format: str | None = None


@dataclass(frozen=True)
class AgencyProfile:
    """Submission target: the text encoding and the largest file an agency accepts."""

    name: str
    encoding: str
    max_file_bytes: int


FDA = AgencyProfile("fda", "ascii", 5 * 1024**3)
PMDA = AgencyProfile("pmda", "utf-8", 5 * 1024**3)
NMPA = AgencyProfile("nmpa", "utf-8", 5 * 1024**3)
PROFILES: dict[str, AgencyProfile] = {p.name: p for p in (FDA, PMDA, NMPA)}


@dataclass(frozen=True)
class XptMeta:
    """What an XPT file says about its member besides the values."""

    dataset: str
    label: str
    variables: tuple[XptVariable, ...]
    created: datetime
    modified: datetime
    #: the records the file holds (a reader says; None where it could not tell)
    records: int | None = None


@dataclass(frozen=True)
class _Column:
    """One variable ready to be packed: its final length, offset in the row and its data."""

    variable: XptVariable
    length: int
    position: int
    text: pa.LargeStringArray | None = None  # char: encoded bytes viewed as large_string, no nulls
    numbers: np.ndarray | None = None  # num: float64
    full: bool = False  # char: every value is already `length` bytes long (no blanks to add)


# ---------------------------------------------------------------------------------------------- helpers


def format_sas_datetime(moment: datetime) -> bytes:
    """ddMONyy:hh:mm:ss, the 16-byte timestamp of XPT headers (month in English, whatever the locale)."""
    text = (
        f"{moment.day:02d}{_MONTHS[moment.month - 1]}{moment.year % 100:02d}:"
        f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    return text.encode("ascii")


def parse_sas_format(text: str) -> tuple[str, int, int]:
    """Split a SAS format such as "DATE9." or "8.2" into (name, width, decimals); width 0 = default."""
    match = _FORMAT_RE.fullmatch(text.upper())
    if match is None or len(match["name"]) > MAX_NAME:
        raise ValueError(
            f"format {text!r} is not a SAS format (NAMEw.d with a name of at most 8 characters, e.g. DATE9.)"
        )
    return match["name"], int(match["width"] or 0), int(match["decimals"] or 0)


#: SAS date values run from 15 October 1582 to 31 December 19999 (days since 1960-01-01); the same span in
#: seconds for datetimes. A number outside is no date any reader (SAS, pyreadstat, R haven) can show.
SAS_DATE_RANGE = (-138_061.0, 6_589_335.0)
SAS_DATETIME_RANGE = (SAS_DATE_RANGE[0] * 86_400, SAS_DATE_RANGE[1] * 86_400 + 86_399)
DATE_FORMATS = frozenset(
    "DATE DAY DDMMYY DDMMYYB DDMMYYC DDMMYYD DDMMYYN DDMMYYP DDMMYYS E8601DA B8601DA IS8601DA JULDAY JULIAN "
    "MMDDYY MMDDYYB MMDDYYC MMDDYYD MMDDYYN MMDDYYP MMDDYYS MMYY MONYY WEEKDATE WEEKDATX WORDDATE WORDDATX "
    "YEAR YYMM YYMMDD YYMMDDB YYMMDDC YYMMDDD YYMMDDN YYMMDDP YYMMDDS YYMON YYQ".split()
)
DATETIME_FORMATS = frozenset("DATETIME DATEAMPM DTDATE E8601DT B8601DT IS8601DT E8601DN B8601DN".split())


def sas_value_range(fmt: str | None) -> tuple[str, float, float] | None:
    """("date" | "datetime", lowest, highest) SAS value for a numeric variable with a date or datetime
    format; None for any other format (or none)."""
    if not fmt:
        return None
    try:
        name = parse_sas_format(fmt)[0]
    except ValueError:
        return None
    if name in DATE_FORMATS:
        return ("date", *SAS_DATE_RANGE)
    if name in DATETIME_FORMATS:
        return ("datetime", *SAS_DATETIME_RANGE)
    return None


def compute_outside_sas_range(values: np.ndarray, fmt: str | None) -> np.ndarray:
    """True where a value of a date/datetime-formatted numeric is outside what SAS can hold as one."""
    span = sas_value_range(fmt)
    if span is None:
        return np.zeros(len(values), dtype=bool)
    _, low, high = span
    with np.errstate(invalid="ignore"):
        return (values < low) | (values > high)


def _codec(encoding: str) -> str:
    try:
        name = codecs.lookup(encoding).name
    except LookupError:
        raise XptError(f"unknown text encoding {encoding!r}") from None
    ascii_block = bytes(range(128))
    try:
        compatible = ascii_block.decode("ascii").encode(name) == ascii_block
    except UnicodeError:
        compatible = False
    if not compatible:
        raise XptError(f"encoding {encoding!r} is not ASCII-compatible; XPT headers and blanks are ASCII")
    return name


def _clip(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


class _Context:
    """Builds XptErrors that name dataset, variable, row, USUBJID and value. `first_row`: where the frame
    starts in the whole dataset (a part of it), so rows are numbered in the dataset."""

    def __init__(self, frame: pd.DataFrame, dataset: str, id_column: str, first_row: int = 0) -> None:
        self.frame = frame
        self.dataset = dataset
        self.id_column = id_column if id_column in frame.columns else None
        self.first_row = first_row

    def error(
        self, message: str, variable: str | None = None, row: int | None = None, value: object = None
    ) -> XptError:
        where = self.dataset if variable is None else f"{self.dataset}.{variable}"
        usubjid = None
        parts = []
        if row is not None:
            parts.append(f"row {self.first_row + row + 1}")
            if self.id_column is not None:
                raw = self.frame[self.id_column].iloc[row]
                usubjid = None if pd.isna(raw) else str(raw)
                parts.append(f"{self.id_column} {usubjid!r}")
            parts.append(f"value {_clip(value)}")
        suffix = f" ({', '.join(parts)})" if parts else ""
        return XptError(
            f"{where}: {message}{suffix}",
            dataset=self.dataset,
            variable=variable,
            row=None if row is None else self.first_row + row + 1,
            usubjid=usubjid,
            value=value,
        )


def _check_text(ctx: _Context, what: str, text: str, limit: int, codec: str, variable: str | None) -> bytes:
    if not isinstance(text, str):
        raise ctx.error(f"{what} must be text, got {text!r}", variable)
    try:
        raw = text.encode(codec)
    except UnicodeEncodeError:
        raise ctx.error(f"{what} {text!r} is not encodable as {codec}", variable) from None
    if len(raw) > limit:
        raise ctx.error(f"{what} {text!r} is {len(raw)} bytes long; XPT v5 allows at most {limit}", variable)
    return raw


def _check_name(ctx: _Context, what: str, name: str, variable: str | None) -> None:
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        if not isinstance(name, str) or not name:
            reason = "must be a non-empty string"
        elif len(name) > MAX_NAME:
            reason = f"is {len(name)} characters long; at most {MAX_NAME}"
        elif name != name.upper():
            reason = "must be uppercase"
        elif not ("A" <= name[0] <= "Z"):
            reason = "must start with a letter"
        else:
            reason = "may hold only A-Z, 0-9 and _"
        raise ctx.error(f"{what} {name!r} {reason} (XPT v5 name: letter first, [A-Z0-9_], <= 8)", variable)


# ---------------------------------------------------------------------------------------------- columns


def _text_array(ctx: _Context, series: pd.Series, name: str) -> pa.LargeStringArray:
    """The column as an arrow large_string array with nulls as "" (blank in XPT)."""
    if not (pd.api.types.is_string_dtype(series.dtype) or series.dtype == object):
        raise ctx.error(f"declared char but the column holds {series.dtype}", name)
    try:
        arr = pa.array(series, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        not_text = series.map(lambda v: not isinstance(v, str), na_action="ignore").fillna(False)
        row = int(np.flatnonzero(not_text.to_numpy(dtype=bool))[0])
        value = series.iloc[row]
        raise ctx.error(f"declared char but holds a {type(value).__name__}", name, row, value) from None
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    return pc.fill_null(arr, "") if arr.null_count else arr


def _all_ascii(arr: pa.LargeStringArray) -> bool:
    """Whether every byte of the values is below 0x80 (one pass over the data, not a mask per row)."""
    raw = compute_value_bytes(arr)
    return raw.size == 0 or int(raw.max()) < 0x80


def _encode_text(ctx: _Context, arr: pa.LargeStringArray, name: str, codec: str) -> pa.LargeStringArray:
    """Encode to the target codec; the result holds the encoded bytes viewed as large_string."""
    if codec == "utf-8" or len(arr) == 0 or _all_ascii(arr):
        return arr  # ASCII bytes are the same in every ASCII-compatible codec
    ascii_mask = pc.string_is_ascii(arr).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(~ascii_mask)
    if codec == "ascii":
        row = int(rows[0])
        value = arr[row].as_py()
        more = f"; {rows.size - 1} more non-ASCII value(s) in this column" if rows.size > 1 else ""
        raise ctx.error(f"non-ASCII text cannot be written under the ascii encoding{more}", name, row, value)
    # Only the non-ASCII values go through Python's codec; their count, not the row count, sets the cost.
    encoded = []
    for row in rows.tolist():
        value = arr[row].as_py()
        try:
            encoded.append(value.encode(codec))
        except UnicodeEncodeError:
            raise ctx.error(f"text is not encodable as {codec}", name, row, value) from None
    replaced = pc.replace_with_mask(
        arr.view(pa.large_binary()), pa.array(~ascii_mask), pa.array(encoded, type=pa.large_binary())
    )
    return replaced.view(pa.large_string())


def _char_column(ctx: _Context, series: pd.Series, var: XptVariable, codec: str) -> _Column:
    """The column encoded and checked; its position in the row is set by the caller."""
    arr = _encode_text(ctx, _text_array(ctx, series, var.name), var.name, codec)
    lengths = pc.binary_length(arr).to_numpy(zero_copy_only=False)
    longest = int(lengths.max()) if lengths.size else 0
    shortest = int(lengths.min()) if lengths.size else 0
    if longest > MAX_CHAR_BYTES:
        row = int(np.flatnonzero(lengths > MAX_CHAR_BYTES)[0])
        raise ctx.error(
            f"value is {int(lengths[row])} bytes in {codec}; XPT v5 allows at most {MAX_CHAR_BYTES}",
            var.name,
            row,
            series.iloc[row],
        )
    if var.length is None:
        length = max(longest, 1)
        return _Column(var, length, 0, text=arr, full=shortest == length)
    if not 1 <= var.length <= MAX_CHAR_BYTES:
        raise ctx.error(f"declared length {var.length} is outside 1..{MAX_CHAR_BYTES}", var.name)
    if longest > var.length:
        row = int(np.flatnonzero(lengths > var.length)[0])
        raise ctx.error(
            f"value is {int(lengths[row])} bytes, longer than the declared length {var.length}",
            var.name,
            row,
            series.iloc[row],
        )
    return _Column(var, var.length, 0, text=arr, full=shortest == var.length)


def _num_column(ctx: _Context, series: pd.Series, var: XptVariable) -> np.ndarray:
    if var.length not in (None, 8):
        raise ctx.error(f"numeric length {var.length} is not supported; numerics are 8 bytes", var.name)
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype) or not pd.api.types.is_numeric_dtype(dtype):
        raise ctx.error(
            f"declared num but the column holds {dtype} (dates must be SAS day/second numbers)", var.name
        )
    if pd.api.types.is_integer_dtype(dtype):
        too_big = (series.abs() > MAX_EXACT_INTEGER).fillna(False).to_numpy(dtype=bool)
        if too_big.any():
            row = int(np.flatnonzero(too_big)[0])
            raise ctx.error(
                "integer beyond 2**53 has no exact double (IBM doubles hold 56 bits but come from doubles)",
                var.name,
                row,
                series.iloc[row],
            )
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    bad = ibm_out_of_range(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        value = float(values[row])
        reason = (
            "infinity has no XPT value"
            if np.isinf(value)
            else "number is outside the IBM double range [5.4e-79, 7.2e75] in magnitude"
        )
        raise ctx.error(reason, var.name, row, value)
    outside = compute_outside_sas_range(values, var.format)
    if outside.any():
        row = int(np.flatnonzero(outside)[0])
        kind, low, high = sas_value_range(var.format)  # type: ignore[misc]
        raise ctx.error(
            f"{values[row]:g} with format {var.format} is not a SAS {kind}: SAS {kind}s run from {low:g} "
            f"(1582-10-15) to {high:g} (19999-12-31)",
            var.name,
            row,
            float(values[row]),
        )
    return values


def _plan(
    frame: pd.DataFrame,
    *,
    dataset: str,
    label: str,
    variables: Sequence[XptVariable],
    codec: str,
    id_column: str,
    first_row: int = 0,
    check_last_row: bool = True,
) -> tuple[list[_Column], bytes]:
    """Validate everything and compute lengths and positions. Returns the columns and the encoded label.
    A part of a dataset (`first_row` > 0 or more parts to come) leaves the last-row check to the writer."""
    ctx = _Context(frame, dataset, id_column, first_row)
    _check_name(ctx, "dataset name", dataset, None)
    label_bytes = _check_text(ctx, "dataset label", label, MAX_LABEL, codec, None)
    if not variables:
        raise ctx.error("has no variables; XPT v5 needs at least one")
    if len(variables) > MAX_VARIABLES:
        raise ctx.error(f"has {len(variables)} variables; XPT v5 allows at most {MAX_VARIABLES}")
    seen: set[str] = set()
    for var in variables:
        _check_name(ctx, "variable name", var.name, var.name)
        if var.name in seen:
            raise ctx.error("variable is declared twice", var.name)
        seen.add(var.name)
        _check_text(ctx, "label", var.label, MAX_LABEL, codec, var.name)
        if var.type not in ("char", "num"):
            raise ctx.error(f"type {var.type!r} is neither 'char' nor 'num'", var.name)
        if var.format is not None:
            try:
                parse_sas_format(var.format)
            except ValueError as exc:
                raise ctx.error(str(exc), var.name) from None
    columns = [str(c) for c in frame.columns]
    if len(set(columns)) != len(columns):
        dup = sorted({c for c in columns if columns.count(c) > 1})
        raise ctx.error(f"frame has duplicate column(s) {dup}")
    missing = [v.name for v in variables if v.name not in frame.columns]
    if missing:
        raise ctx.error(f"declared variable(s) {missing} are not columns of the frame", missing[0])
    undeclared = [c for c in columns if c not in seen]
    if undeclared:
        raise ctx.error(f"frame column(s) {undeclared} are not declared as variables", undeclared[0])

    def column(var: XptVariable) -> _Column:
        if var.type == "char":
            return _char_column(ctx, frame[var.name], var, codec)
        return _Column(var, 8, 0, numbers=_num_column(ctx, frame[var.name], var))

    # Columns are checked on two threads, taken in file order: the first bad column is the one reported.
    planned: list[_Column] = []
    position = 0
    for col in computed_ahead(column, variables):
        planned.append(dataclasses.replace(col, position=position))
        position += col.length
    if check_last_row:
        _check_trailing_blank_row(ctx, planned, len(frame))
    return planned, label_bytes


def _check_trailing_blank_row(ctx: _Context, planned: list[_Column], n_rows: int) -> None:
    """XPT v5 has no row count: readers take a trailing all-blank observation shorter than one record for
    padding. Refuse to write a file whose last row would be lost that way."""
    row_length = sum(c.length for c in planned)
    if n_rows == 0 or row_length >= RECORD or any(c.numbers is not None for c in planned):
        return
    if all(c.text is not None and len(c.text[n_rows - 1].as_py()) == 0 for c in planned):
        raise ctx.error(
            "the last row is blank in every (character) variable and the row is shorter than 80 bytes: "
            "XPT v5 readers cannot tell it from the record padding; drop or fill it",
            planned[0].variable.name,
            n_rows - 1,
            "",
        )


# ---------------------------------------------------------------------------------------------- bytes


def _header_record(kind: str, numbers: str = "0" * 30) -> bytes:
    text = f"HEADER RECORD*******{kind:<8}HEADER RECORD!!!!!!!{numbers}  "
    assert len(text) == RECORD
    return text.encode("ascii")


def _headers(dataset: str, label: bytes, planned: Sequence[_Column], created: datetime, codec: str) -> bytes:
    stamp = format_sas_datetime(created)
    blank24 = b" " * 24
    parts = [
        _header_record("LIBRARY"),
        b"SAS     SAS     SASLIB  " + _SAS_VERSION + _OS_NAME + blank24 + stamp,
        stamp + b" " * 64,
        _header_record("MEMBER", "000000000000000001600000000140"),
        _header_record("DSCRPTR"),
        b"SAS     "
        + dataset.encode("ascii").ljust(8)
        + b"SASDATA "
        + _SAS_VERSION
        + _OS_NAME
        + blank24
        + stamp,
        stamp + b" " * 16 + label.ljust(MAX_LABEL) + b" " * 8,
        _header_record("NAMESTR", f"000000{len(planned):04d}" + "0" * 20),
    ]
    namestr = bytearray()
    for number, col in enumerate(planned, start=1):
        var = col.variable
        fname, width, decimals = parse_sas_format(var.format) if var.format else ("", 0, 0)
        namestr += (1 if var.type == "num" else 2).to_bytes(2, "big")  # ntype
        namestr += (0).to_bytes(2, "big")  # nhfun
        namestr += col.length.to_bytes(2, "big")  # nlng
        namestr += number.to_bytes(2, "big")  # nvar0
        namestr += var.name.encode("ascii").ljust(8)  # nname
        namestr += var.label.encode(codec).ljust(MAX_LABEL)  # nlabel
        namestr += fname.encode("ascii").ljust(8)  # nform
        namestr += width.to_bytes(2, "big") + decimals.to_bytes(2, "big")  # nfl nfd
        namestr += (0).to_bytes(2, "big") + b"\0\0"  # nfj (left) nfill
        namestr += b" " * 8 + bytes(4)  # niform nifl nifd
        namestr += col.position.to_bytes(4, "big")  # npos
        namestr += bytes(52)  # rest
    parts.append(_pad(bytes(namestr), b" "))
    parts.append(_header_record("OBS"))
    return b"".join(parts)


def _pad(data: bytes, fill: bytes) -> bytes:
    return data + fill * (-len(data) % RECORD)


def _padded_size(n: int) -> int:
    return n + (-n % RECORD)


def _size_from_layout(n_rows: int, row_length: int, n_variables: int) -> int:
    # 3 library + 4 member records + NAMESTR header + OBS header = 9 records of 80 bytes.
    return 9 * RECORD + _padded_size(NAMESTR_LENGTH * n_variables) + _padded_size(n_rows * row_length)


def _column_bytes(col: _Column, start: int, stop: int) -> np.ndarray:
    """Rows start..stop of one column as they go into the file, one after the other (uint8)."""
    if col.numbers is not None:
        return compute_ibm_words_in_range(col.numbers[start:stop]).view(np.uint8)
    text = col.text.slice(start, stop - start)
    if not col.full:
        text = pc.ascii_rpad(text, width=col.length, padding=" ")
    return compute_value_bytes(text)  # every value `length` bytes: the rows' fields one after the other


def _pack_rows(planned: Sequence[_Column], rows: range) -> memoryview:
    """The bytes of the given rows, each row its variables' fields one after the other."""
    row_length = sum(c.length for c in planned)
    start, stop = rows.start, rows.stop
    block = np.empty((stop - start) * row_length, dtype=np.uint8)
    for col in planned:
        # The column's field in every row, one opaque item each: numpy copies items of `length` bytes
        # (a word at a time where it can), several times faster than a 2-D uint8 slice.
        field = f"V{col.length}"
        target = np.ndarray((stop - start,), field, buffer=block, offset=col.position, strides=(row_length,))
        target[...] = _column_bytes(col, start, stop).view(field)
    return memoryview(block)


def _write_rows(write: Callable[[memoryview], None], planned: Sequence[_Column], n_rows: int) -> None:
    """Pack the rows block by block on two threads, in order, and hand each block to ``write``."""
    step = max(1, _ROWS_BUFFER_BYTES // sum(c.length for c in planned))
    blocks = (range(start, min(n_rows, start + step)) for start in range(0, n_rows, step))
    for block in computed_ahead(partial(_pack_rows, planned), blocks):
        write(block)


def _write_padding(write: Callable[[bytes], None], data_bytes: int) -> None:
    """Blanks after the last observation, up to the end of its 80-byte record."""
    tail = data_bytes % RECORD
    if tail:
        write(b" " * (RECORD - tail))


def _require_fixed_lengths(dataset: str, variables: Sequence[XptVariable]) -> None:
    """A dataset written in parts has its header written before the longest value is seen: every character
    variable needs its length (the longest over all parts, compute_xpt_lengths of each part)."""
    open_ended = [v.name for v in variables if v.type == "char" and v.length is None]
    if open_ended:
        raise XptError(
            f"{dataset}: written in parts, so character variable(s) {', '.join(open_ended)} need their length "
            "(the longest value over all parts)",
            dataset=dataset,
            variable=open_ended[0],
        )


# ---------------------------------------------------------------------------------------------- public


def compute_xpt_lengths(
    frame: pd.DataFrame,
    variables: Sequence[XptVariable],
    *,
    profile: AgencyProfile,
    dataset: str = "DATA",
    id_column: str = "USUBJID",
) -> dict[str, int]:
    """The length each variable gets in the file: declared, or the longest value in bytes (min 1); 8 for
    numerics. Raises XptError for anything write_xpt would refuse."""
    planned, _ = _plan(
        frame,
        dataset=dataset,
        label="",
        variables=variables,
        codec=_codec(profile.encoding),
        id_column=id_column,
    )
    return {c.variable.name: c.length for c in planned}


def compute_xpt_size(
    frame: pd.DataFrame,
    variables: Sequence[XptVariable],
    *,
    profile: AgencyProfile,
    dataset: str = "DATA",
    id_column: str = "USUBJID",
) -> int:
    """The exact size in bytes of the XPT file write_xpt would produce, computed, not trial-written."""
    lengths = compute_xpt_lengths(frame, variables, profile=profile, dataset=dataset, id_column=id_column)
    return _size_from_layout(len(frame), sum(lengths.values()), len(lengths))


def write_xpt(
    frame: pd.DataFrame | DatasetParts,
    path: str | Path,
    *,
    dataset: str,
    label: str,
    variables: Sequence[XptVariable],
    profile: AgencyProfile = FDA,
    created: datetime,
    id_column: str = "USUBJID",
) -> Path:
    """Write one dataset as a SAS transport v5 file, atomically, and return its path.

    ``variables`` lists every column of ``frame`` in file order. ``created`` stamps the headers (no
    wall clock: same inputs give the same bytes). The file size is not checked here; see
    write_xpt_split for the agency limit.

    A DatasetParts is written part by part, in order (the same bytes as the whole frame); its character
    variables need their lengths (see _require_fixed_lengths).
    """
    path = Path(path)
    codec = _codec(profile.encoding)
    whole = not isinstance(frame, DatasetParts)
    if not whole:
        _require_fixed_lengths(dataset, variables)

    def planned_parts() -> Iterator[tuple[int, pd.DataFrame, list[_Column], bytes]]:
        for first, part in frame_parts(frame):
            planned, label_bytes = _plan(
                part,
                dataset=dataset,
                label=label,
                variables=variables,
                codec=codec,
                id_column=id_column,
                first_row=first,
                check_last_row=whole,
            )
            yield first, part, planned, label_bytes

    parts = planned_parts()
    last = next(parts, None)  # a whole frame is checked before the file is opened
    if last is None:
        raise XptError(f"{dataset}: no parts to write", dataset=dataset)
    with open_atomic(path) as handle, writing_behind(handle) as write:
        write(_headers(dataset, last[3], last[2], created, codec))
        _write_rows(write, last[2], len(last[1]))
        for last in parts:  # noqa: B007 - the last part is checked after the loop
            _write_rows(write, last[2], len(last[1]))
        first, part, planned, _ = last
        _check_trailing_blank_row(_Context(part, dataset, id_column, first), planned, len(part))
        _write_padding(write, (first + len(part)) * sum(c.length for c in planned))
    log.debug("wrote %s: %d rows, %d variables", path, len(frame), len(planned))
    return path


def _parts_by_group(frame: pd.DataFrame, split_by: str, max_rows: int) -> list[np.ndarray] | None:
    """Row positions per part, whole groups of split_by (sorted by value, missing last) packed greedily in
    that order; None when one group alone exceeds max_rows."""
    codes, _ = pd.factorize(frame[split_by], sort=True, use_na_sentinel=True)
    codes = np.where(codes < 0, codes.max(initial=-1) + 1, codes)  # missing values form the last group
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes).tolist()
    packed = _pack_groups(sizes, max_rows)
    if packed is None:
        return None
    ends = np.cumsum([0, *sizes])
    return [order[ends[groups[0]] : ends[groups[-1] + 1]] for groups in packed]


def _pack_groups(sizes: Sequence[int], max_rows: int) -> list[list[int]] | None:
    """The groups (by position in `sizes`) of each part, packed greedily in order; None when one group
    alone exceeds max_rows."""
    if sizes and max(sizes) > max_rows:
        return None
    packed: list[list[int]] = []
    used = 0
    for group, size in enumerate(sizes):
        if not packed or used + size > max_rows:
            packed.append([])
            used = 0
        packed[-1].append(group)
        used += size
    return packed


def _streamed_split(
    parts: DatasetParts, split_by: str | None, max_rows: int, scratch: Path
) -> list[DatasetParts]:
    """The split parts of a dataset in parts, as `write_xpt_split` cuts a whole frame, each itself in parts:
    with `split_by`, each part's rows of each group are spilled to `scratch` in one pass (one part in
    memory at a time) and a split part reads its groups' pieces in order; without it (or when a group
    alone is over the limit), consecutive slices of rows, read from the parts they span."""
    bounds = [0]
    pieces: dict[object, list[tuple[Path, int]]] = {}
    missing: list[tuple[Path, int]] = []
    for number, (first, part) in enumerate(parts.parts()):
        bounds.append(first + len(part))
        if split_by is None:
            continue
        if split_by not in part.columns:
            raise XptError(f"{parts.name}: split variable {split_by!r} is not a column", dataset=parts.name)
        codes, values = pd.factorize(part[split_by], use_na_sentinel=True)
        for code in range(-1, len(values)):
            rows = part.loc[codes == code].reset_index(drop=True)
            if rows.empty:
                continue
            path = scratch / f"{number:05d}-{code + 1:05d}.parquet"
            rows.to_parquet(path, index=False)
            (missing if code < 0 else pieces.setdefault(values[code], [])).append((path, len(rows)))
    if split_by is not None:
        ordered = [pieces[value] for value in pd.factorize(pd.Series(list(pieces)), sort=True)[1]]
        groups = ordered + ([missing] if missing else [])
        packed = _pack_groups([sum(n for _, n in group) for group in groups], max_rows)
        if packed is not None:
            return [
                _parts_of(
                    parts, [(partial(pd.read_parquet, path), n) for g in groups_ for path, n in groups[g]]
                )
                for groups_ in packed
            ]
        log.warning("%s: a %s group exceeds the size limit; splitting by row order", parts.name, split_by)
    return [
        _parts_of(parts, _slice_readers(parts, bounds, start, min(start + max_rows, parts.rows)))
        for start in range(0, parts.rows, max_rows)
    ]


def _parts_of(parts: DatasetParts, readers: list[tuple[Callable[[], pd.DataFrame], int]]) -> DatasetParts:
    return DatasetParts(
        parts.name,
        tuple(read for read, _ in readers),
        sum(n for _, n in readers),
        parts.columns,
        parts.lengths,
    )


def _slice_readers(
    parts: DatasetParts, bounds: list[int], start: int, stop: int
) -> list[tuple[Callable[[], pd.DataFrame], int]]:
    """Readers of rows start..stop of a dataset in parts (part k holds rows bounds[k]..bounds[k+1])."""
    readers = []
    for read, first, end in zip(parts.readers, bounds[:-1], bounds[1:], strict=True):
        a, b = max(start, first), min(stop, end)
        if a < b:
            readers.append(
                (lambda read=read, a=a - first, b=b - first: read().iloc[a:b].reset_index(drop=True), b - a)
            )
    return readers


def write_xpt_split(
    frame: pd.DataFrame | DatasetParts,
    folder: str | Path,
    *,
    dataset: str,
    label: str,
    variables: Sequence[XptVariable],
    profile: AgencyProfile = FDA,
    created: datetime,
    split_by: str | None = None,
    id_column: str = "USUBJID",
) -> list[Path]:
    """Write ``folder/<dataset>.xpt`` and, when its computed size exceeds ``profile.max_file_bytes``,
    also ``folder/split/<dataset>1.xpt``, ``<dataset>2.xpt``... (lower case, FDA style), each under the
    limit, with the full dataset's variable lengths.

    Parts hold whole groups of ``split_by`` (groups sorted by value, packed in that order; row order is
    kept within a group). Without ``split_by``, or when one group alone is over the limit, parts are
    consecutive slices in row order. Stale ``<dataset>N.xpt`` parts from an earlier run are removed.
    Returns the full file first, then the parts. A DatasetParts (a dataset of subject partitions) is split
    alike, one part in memory at a time (`_streamed_split`).
    """
    folder = Path(folder)
    stem = dataset.lower()
    planned: list[_Column] = []
    if isinstance(frame, DatasetParts):
        _require_fixed_lengths(dataset, variables)
        row_length = sum(v.length or 8 for v in variables)
    else:
        planned, _ = _plan(
            frame, dataset=dataset, label=label, variables=variables, codec=_codec(profile.encoding),
            id_column=id_column,
        )  # fmt: skip
        row_length = sum(c.length for c in planned)
    size = _size_from_layout(len(frame), row_length, len(variables))
    full = write_xpt(
        frame,
        folder / f"{stem}.xpt",
        dataset=dataset,
        label=label,
        variables=variables,
        profile=profile,
        created=created,
        id_column=id_column,
    )
    written = [full]
    split_dir = folder / "split"
    if size > profile.max_file_bytes:
        fixed = 9 * RECORD + _padded_size(NAMESTR_LENGTH * len(variables))
        max_rows = ((profile.max_file_bytes - fixed) // RECORD * RECORD) // row_length
        if max_rows < 1:
            raise XptError(
                f"{dataset}: one row ({row_length} bytes) plus headers ({fixed} bytes) exceeds the "
                f"{profile.name} limit of {profile.max_file_bytes} bytes",
                dataset=dataset,
            )
        if isinstance(frame, DatasetParts):
            split_dir.mkdir(exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".split-{stem}-", dir=folder) as scratch:
                streamed = _streamed_split(frame, split_by, max_rows, Path(scratch))
                for number, part in enumerate(streamed, start=1):
                    written.append(
                        write_xpt(part, split_dir / f"{stem}{number}.xpt", dataset=dataset, label=label,
                                  variables=variables, profile=profile, created=created, id_column=id_column)
                    )  # fmt: skip
            log.info("%s: over the %s limit, split into %d parts", dataset, profile.name, len(streamed))
            _remove_stale_parts(split_dir, stem, {p.name for p in written})
            return written
        parts = None
        if split_by is not None:
            if split_by not in frame.columns:
                raise XptError(f"{dataset}: split variable {split_by!r} is not a column", dataset=dataset)
            parts = _parts_by_group(frame, split_by, max_rows)
            if parts is None:
                log.warning(
                    "%s: a %s group exceeds the size limit; splitting by row order", dataset, split_by
                )
        if parts is None:
            parts = [np.arange(s, min(s + max_rows, len(frame))) for s in range(0, len(frame), max_rows)]
        fixed_vars = [
            XptVariable(c.variable.name, c.variable.label, c.variable.type, c.length, c.variable.format)
            for c in planned
        ]
        split_dir.mkdir(exist_ok=True)
        for number, rows in enumerate(parts, start=1):
            part = write_xpt(
                frame.iloc[rows],
                split_dir / f"{stem}{number}.xpt",
                dataset=dataset,
                label=label,
                variables=fixed_vars,
                profile=profile,
                created=created,
                id_column=id_column,
            )
            written.append(part)
        log.info(
            "%s: %d bytes over the %s limit, split into %d parts",
            dataset,
            full.stat().st_size,
            profile.name,
            len(parts),
        )
    _remove_stale_parts(split_dir, stem, {p.name for p in written})
    return written


def _remove_stale_parts(split_dir: Path, stem: str, keep: set[str]) -> None:
    """Split parts <stem>N.xpt left by an earlier run that this one did not write."""
    if split_dir.is_dir():
        for stale in split_dir.glob(f"{stem}*.xpt"):
            if re.fullmatch(rf"{re.escape(stem)}\d+\.xpt", stale.name) and stale.name not in keep:
                log.info("removing stale split part %s", stale)
                stale.unlink()
