"""SAS transport v5 reader (first member), vectorised with numpy. Independent of the writer's code paths:
it parses the records as laid out in SAS TS-140."""

from __future__ import annotations

import codecs
import functools
import logging
import os
import stat
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from cdiscgen.export._ibm import compute_float_from_ibm, compute_float_from_ibm_words
from cdiscgen.export._xpt import RECORD, XptError, XptMeta, XptVariable

log = logging.getLogger(__name__)

_MONTHS = {
    m: i
    for i, m in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), start=1
    )
}
_LIBRARY = b"HEADER RECORD*******LIBRARY HEADER RECORD!!!!!!!"
_MEMBER = b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!"
_NAMESTR = b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!"
_OBS = b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!"
#: Bytes read as the header before the namestr records' size is known (the first member starts here).
_HEAD_BYTES = 64 * 1024
#: Two-digit years below this are 20yy, the others 19yy.
YEAR_PIVOT = 70


def _parse_stamp(raw: bytes, path: Path) -> datetime:
    text = raw.decode("ascii", errors="replace")
    try:
        year = int(text[5:7])
        return datetime(
            2000 + year if year < YEAR_PIVOT else 1900 + year,
            _MONTHS[text[2:5].upper()],
            int(text[0:2]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
        )
    except (KeyError, ValueError):
        raise XptError(f"{path}: header timestamp {text!r} is not ddMONyy:hh:mm:ss") from None


def _text(raw: bytes, encoding: str) -> str:
    return raw.decode(encoding).rstrip(" \0")


def _format(name: str, width: int, decimals: int) -> str | None:
    if not name and not width and not decimals:
        return None
    return f"{name}{width or ''}.{decimals or ''}"


def require_regular_file(path: Path) -> None:
    """A transport file is a regular file (a symlink to one is fine): a FIFO would block the reader and a
    device (/dev/zero) never ends, so either is an XptError naming what it is."""
    try:
        mode = os.stat(path).st_mode
    except OSError as exc:
        raise XptError(f"{path}: cannot be read ({exc.strerror})") from None
    if not stat.S_ISREG(mode):
        kind = (
            "a FIFO"
            if stat.S_ISFIFO(mode)
            else "a device"
            if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
            else "a folder"
            if stat.S_ISDIR(mode)
            else "a socket"
            if stat.S_ISSOCK(mode)
            else "not a regular file"
        )
        target = f" (a link to {os.path.realpath(path)})" if os.path.islink(path) else ""
        raise XptError(f"{path}: is {kind}{target}, not a regular file; not read")


def _check_name(raw: bytes, what: str, path: Path) -> str:
    """A member or variable name: printable ASCII after its padding (blanks or NULs) is removed."""
    name = raw.rstrip(b" \0")
    if not name or any(b < 0x21 or b > 0x7E for b in name):
        raise XptError(f"{path}: {what} name {raw!r} is empty or holds a byte that is not printable ASCII")
    return name.decode("ascii")


def _check_variables(
    variables: list[XptVariable], types: list[int], positions: list[int], path: Path
) -> None:
    """The NAMESTR records describe a row SAS could have written: type 1 or 2, a numeric 2 to 8 bytes
    long, a character 1 to 200, each name once, fields that do not overlap (TS-140)."""
    seen: set[str] = set()
    for k, (var, ntype) in enumerate(zip(variables, types, strict=True), start=1):
        where = f"{path}: variable {k} ({var.name})"
        if ntype not in (1, 2):
            raise XptError(
                f"{where}: type code {ntype} is neither 1 (numeric) nor 2 (character)", variable=var.name
            )
        if ntype == 1 and not 2 <= var.length <= 8:
            raise XptError(
                f"{where}: a numeric variable is 2 to 8 bytes long, not {var.length}", variable=var.name
            )
        if ntype == 2 and not 1 <= var.length <= 200:
            raise XptError(
                f"{where}: a character variable is 1 to 200 bytes long, not {var.length}", variable=var.name
            )
        if var.name.upper() in seen:
            raise XptError(f"{where}: the name is used by an earlier variable", variable=var.name)
        seen.add(var.name.upper())
    end = 0
    previous = None
    for pos, var in sorted(zip(positions, variables, strict=True), key=lambda pv: pv[0]):
        if pos < end:
            raise XptError(
                f"{path}: variable {var.name} starts at byte {pos} of the row, inside {previous} (which ends at "
                f"byte {end}): the fields overlap",
                variable=var.name,
            )
        end, previous = pos + var.length, var.name


@dataclass(frozen=True)
class _Member:
    """The first member of a transport file as laid out on disk: its metadata, each variable's byte
    position in a row, and the records as a (rows, row length) view of the file's bytes."""

    dataset: str
    label: str
    variables: list[XptVariable]
    positions: list[int]
    created: datetime
    modified: datetime
    records: np.ndarray
    row_length: int


def _open_member(path: Path, codec: str, mapped: bool) -> _Member:
    """Parse the headers and find the records of a file's first member (`mapped`: the file is mapped, not
    read into memory); a file SAS could not have written is an XptError naming what is wrong."""
    require_regular_file(path)
    if mapped and path.stat().st_size >= 8 * RECORD:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
    else:
        mapped = False
        raw = np.fromfile(path, dtype=np.uint8)  # numpy's reader: far faster than bytes for a large file
    data = raw[:_HEAD_BYTES].tobytes()  # the header records, as bytes (extended below if needed)
    if raw.size < 8 * RECORD or not data.startswith(_LIBRARY):
        raise XptError(f"{path}: not a SAS transport v5 file (no LIBRARY header record)")
    created = _parse_stamp(data[RECORD + 64 : RECORD + 80], path)
    member = data.find(_MEMBER, 3 * RECORD)
    if member < 0:
        raise XptError(f"{path}: no MEMBER header record")
    namestr_size = int(data[member + 74 : member + 78])
    descriptor = member + 2 * RECORD
    dataset = _check_name(data[descriptor + 8 : descriptor + 16], "member (dataset)", path)
    modified = _parse_stamp(data[descriptor + RECORD : descriptor + RECORD + 16], path)
    label = _text(data[descriptor + RECORD + 32 : descriptor + RECORD + 72], codec)
    header = descriptor + 2 * RECORD
    if not data.startswith(_NAMESTR, header):
        raise XptError(f"{path}: no NAMESTR header record where expected (offset {header})")
    n_vars = int(data[header + 54 : header + 58])
    first = header + RECORD
    obs = first + n_vars * namestr_size
    obs += -(obs - first) % RECORD
    if obs + RECORD > len(data):
        data = raw[: obs + RECORD].tobytes()
    variables: list[XptVariable] = []
    positions: list[int] = []
    types: list[int] = []
    for k in range(n_vars):
        rec = data[first + k * namestr_size : first + (k + 1) * namestr_size]
        ntype = int.from_bytes(rec[0:2], "big")
        types.append(ntype)
        length = int.from_bytes(rec[4:6], "big")
        name = _check_name(rec[8:16], f"variable {k + 1}", path)
        fmt = _format(
            _text(rec[56:64], "ascii"), int.from_bytes(rec[64:66], "big"), int.from_bytes(rec[66:68], "big")
        )
        variables.append(
            XptVariable(name, _text(rec[16:56], codec), "num" if ntype == 1 else "char", length, fmt)
        )
        positions.append(int.from_bytes(rec[84:88], "big"))
    _check_variables(variables, types, positions, path)
    if not data.startswith(_OBS, obs):
        raise XptError(f"{path}: no OBS header record where expected (offset {obs})")
    body = raw[obs + RECORD :]
    if raw.size % RECORD:
        raise XptError(
            f"{path}: {raw.size:,} bytes is not a whole number of 80-byte records: the file is truncated or "
            f"damaged after offset {raw.size - raw.size % RECORD:,}"
        )
    if _file_holds_member(path, obs + RECORD) if mapped else _holds_member(body):
        raise XptError(f"{path}: holds more than one member; only single-dataset files are supported")
    row_length = max((p + v.length for p, v in zip(positions, variables, strict=True)), default=0)
    n_rows = body.size // row_length if row_length else 0
    records = body[: n_rows * row_length].reshape(n_rows, row_length)
    # Rows that start inside the final 80-byte record and are all blanks are record padding.
    while n_rows and (n_rows - 1) * row_length > body.size - RECORD and (records[n_rows - 1] == 0x20).all():
        n_rows -= 1
    rest = body[n_rows * row_length :] if row_length else body[:0]
    if (rest != 0x20).any():
        raise XptError(
            f"{path}: the last observation is incomplete ({rest.size} of {row_length} bytes at offset "
            f"{obs + RECORD + n_rows * row_length:,}): the file is truncated"
        )
    return _Member(dataset, label, variables, positions, created, modified, records[:n_rows], row_length)


def read_xpt(
    path: str | Path,
    *,
    encoding: str | None = None,
    rows: tuple[int, int] | None = None,
    columns: Collection[str] | None = None,
) -> tuple[pd.DataFrame, XptMeta]:
    """Read the first member of an XPT v5 file, or only its records `rows` = (start, stop), counted from 0
    (a subject partition of a large file: the file is mapped, not read whole into memory, and the frame's
    index starts at 0), or only its variables `columns` (the file is mapped; the frame holds them in the
    file's order, the metadata every variable; a name the file lacks is an XptError).

    Numeric missing values (., .A-.Z, ._) become NaN; character values lose trailing blanks (a blank
    value is ""). Text is decoded with ``encoding`` (default ASCII; a byte that does not decode is an
    XptError naming variable and row).
    """
    path = Path(path)
    codec = encoding or "ascii"
    member = _open_member(path, codec, mapped=rows is not None or columns is not None)
    variables, positions, dataset = member.variables, member.positions, member.dataset
    total = member.records.shape[0]
    start, stop = _row_range(rows, total, path)
    rows_read = member.records[start:stop]  # a view: each column's fields are copied out below
    n_rows = stop - start
    chosen = _chosen_variables(variables, columns, path)
    columns_read: dict[str, pd.Series] = {}
    fast_text = _ascii_compatible(codec)
    for group in _column_groups([variables[k] for k in chosen], n_rows):
        group = [chosen[i] for i in group]
        kinds = [_field_type(variables[k]) for k in group]
        fields = _gather_fields(rows_read, kinds, [positions[k] for k in group], member.row_length)
        for i, k in enumerate(group):
            var, pos, fixed = variables[k], positions[k], fields[i]
            fields[i] = None  # each field's copy goes as soon as its column is made
            if var.type == "num":
                numbers = (
                    compute_float_from_ibm_words(fixed)
                    if fixed is not None
                    else compute_float_from_ibm(rows_read[:, pos : pos + var.length])
                )
                columns_read[var.name] = pd.Series(numbers, dtype="float64", copy=False)
                continue
            text = _arrow_text(fixed, codec, fast_text)
            if text is None:  # not ASCII under a codec other than UTF-8, or undecodable: decode with numpy
                text = _numpy_text(fixed, codec, path, dataset, var.name, start)
            columns_read[var.name] = pd.Series(text, dtype="str")
    # copy=False: the columns stay apart, not copied into one block per type
    frame = pd.DataFrame(columns_read, index=pd.RangeIndex(n_rows), copy=False)
    meta = XptMeta(dataset, member.label, tuple(variables), member.created, member.modified, total)
    return frame, meta


def _chosen_variables(variables: list[XptVariable], columns: Collection[str] | None, path: Path) -> list[int]:
    """The positions in `variables` of the variables asked for (all without `columns`), in file order."""
    if columns is None:
        return list(range(len(variables)))
    names = [v.name for v in variables]
    missing = sorted(set(columns) - set(names))
    if missing:
        raise XptError(f"{path}: holds no variable {', '.join(missing)}")
    wanted = set(columns)
    return [k for k, name in enumerate(names) if name in wanted]


#: Bytes of records looked through at a time by `text_is_ascii`.
_ASCII_SCAN_BYTES = 64 << 20


def text_is_ascii(path: str | Path) -> bool:
    """Whether every character field of the file's records (and its header texts) is ASCII, looked
    through without decoding a value (the file is mapped, a block of records at a time): when it is, the
    file reads as ASCII throughout. False for a file that does not open (the reader then says why)."""
    try:
        member = _open_member(Path(path), "ascii", mapped=True)
    except (ValueError, OSError):  # XptError and UnicodeDecodeError are ValueErrors
        return False
    text = np.zeros(member.row_length, dtype=bool)
    for var, pos in zip(member.variables, member.positions, strict=True):
        if var.type != "num":
            text[pos : pos + var.length] = True
    if not text.any():
        return True
    step = max(1, _ASCII_SCAN_BYTES // max(member.row_length, 1))
    for first in range(0, member.records.shape[0], step):
        largest = member.records[first : first + step].max(axis=0)
        if (largest[text] >= 0x80).any():
            return False
    return True


def _row_range(rows: tuple[int, int] | None, n_rows: int, path: Path) -> tuple[int, int]:
    """The records asked for, checked against the records the file holds."""
    if rows is None:
        return 0, n_rows
    start, stop = rows
    if not 0 <= start <= stop <= n_rows:
        raise XptError(f"{path}: records {start}-{stop} asked for; the file holds {n_rows:,}")
    return start, stop


#: Bytes of a mapped file looked through at a time for a second member: whole 80-byte records, each slice
#: unmapped before the next (touching every record of one mapping kept the whole file resident).
_SCAN_BYTES = RECORD * 256 * 1024


def _file_holds_member(path: Path, offset: int) -> bool:
    """`_holds_member` over a file's records from `offset`, looked through once per version of the file
    (a large file is read a partition of records at a time, dozens of times)."""
    status = path.stat()
    return _scanned_holds_member(
        str(path.resolve()), status.st_ino, status.st_size, status.st_mtime_ns, offset
    )


@functools.lru_cache(maxsize=1024)
def _scanned_holds_member(path: str, inode: int, size: int, modified_ns: int, offset: int) -> bool:
    """The file (as identified by inode, size and modification time) a slice at a time."""
    end = size - (size - offset) % RECORD
    for start in range(offset, end, _SCAN_BYTES):
        piece = np.memmap(
            path, dtype=np.uint8, mode="r", offset=start, shape=(min(_SCAN_BYTES, end - start),)
        )
        found = _holds_member(piece)
        del piece
        if found:
            return True
    return False


def _holds_member(body: np.ndarray) -> bool:
    """Whether a MEMBER header record (which starts on an 80-byte record boundary) follows the data."""
    records = body[: body.size // RECORD * RECORD].reshape(-1, RECORD)
    starts = records[np.flatnonzero(records[:, 0] == _MEMBER[0]), : len(_MEMBER)]
    return bool((starts == np.frombuffer(_MEMBER, dtype=np.uint8)).all(axis=1).any())


def _field(rows: np.ndarray, pos: int, dtype: str) -> np.ndarray:
    """One field of every row as a strided view of ``rows`` (no copy), e.g. dtype "S8" or ">u8"."""
    if not rows.shape[0]:
        return np.empty(0, dtype=dtype)
    return np.ndarray((rows.shape[0],), dtype=dtype, buffer=rows, offset=pos, strides=(rows.strides[0],))


#: Bytes of records whose fields are copied out together: a block stays in the CPU's cache while each of its
#: fields is copied (a column at a time reads every record from memory once per column).
_GATHER_BYTES = 1 << 20
#: Bytes of fields copied out in one pass over the records: the copies of a large file's columns are not
#: all held at once beside the file.
_GROUP_BYTES = 64 << 20


def _column_groups(variables: list[XptVariable], n_rows: int) -> list[range]:
    """The variables in consecutive groups whose fields hold about _GROUP_BYTES (one variable at least)."""
    groups, first, size = [], 0, 0
    for k, var in enumerate(variables):
        if k > first and size + var.length * n_rows > _GROUP_BYTES:
            groups.append(range(first, k))
            first, size = k, 0
        size += var.length * n_rows
    if first < len(variables):
        groups.append(range(first, len(variables)))
    return groups


def _field_type(var: XptVariable) -> tuple[str, str] | None:
    """How a variable's field is read (dtype in the record, dtype copied to): a character field as
    S<length>, a full-width double as its big-endian word in native order; None for a shorter double,
    which is converted from the records' bytes directly."""
    if var.type != "num":
        return f"S{var.length}", f"S{var.length}"
    return (">u8", "u8") if var.length == 8 else None


def _gather_fields(
    rows: np.ndarray, types: list[tuple[str, str] | None], positions: list[int], row_length: int
) -> list[np.ndarray | None]:
    """Each field (dtype pair of `_field_type`, None: not gathered) of every row as its own contiguous
    array, copied out a block of rows at a time."""
    n = rows.shape[0]
    out = [np.empty(n, dtype=t[1]) if t is not None else None for t in types]
    step = max(1, _GATHER_BYTES // max(row_length, 1))
    for first in range(0, n, step):
        block = rows[first : first + step]
        for target, kind, pos in zip(out, types, positions, strict=True):
            if kind is not None:  # (then target is its array)
                target[first : first + step] = _field(block, pos, kind[0])  # type: ignore[index]
    return out


def _ascii_compatible(codec: str) -> bool:
    """Whether ASCII bytes decode to themselves under ``codec`` (so an all-ASCII column needs no decoding)."""
    try:
        return bytes(range(128)).decode(codec) == "".join(map(chr, range(128)))
    except (UnicodeDecodeError, LookupError):
        return False


def _arrow_text(fixed: np.ndarray, codec: str, ascii_compatible: bool) -> pa.Array | None:
    """The values of a fixed-width character column as an arrow string array, trailing padding removed,
    without decoding value by value; None when the bytes need a real decoder (or do not decode)."""
    n, width = fixed.shape[0], fixed.dtype.itemsize
    raw = fixed.view(np.uint8).reshape(n, width)
    if n == 0:
        return pa.array([], type=pa.large_string())
    ascii_only = ascii_compatible and raw.max() < 0x80
    if not ascii_only and codecs.lookup(codec).name != "utf-8":
        return None
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int64)
    text = pa.Array.from_buffers(pa.large_string(), n, [None, pa.py_buffer(offsets), pa.py_buffer(fixed)])
    if not ascii_only:
        try:
            text.validate(full=True)  # UTF-8
        except pa.ArrowInvalid:
            return None
    # The same as decoding the S<width> values (trailing NULs dropped), stripping trailing blanks and
    # storing the result in a numpy unicode array (trailing NULs dropped again).
    # ASCII text is trimmed byte by byte (arrow's ascii_rtrim: the same result, no UTF-8 decoding).
    rtrim = pc.ascii_rtrim if ascii_only else pc.utf8_rtrim
    nul = raw.min() == 0
    if nul and (raw[:, -1] == 0).any():
        text = rtrim(text, characters="\0")
    text = rtrim(text, characters=" ")
    if nul and pc.any(pc.ends_with(text, "\0")).as_py():
        text = rtrim(text, characters="\0")
    return text


def _numpy_text(
    fixed: np.ndarray, codec: str, path: Path, dataset: str, name: str, first_row: int = 0
) -> np.ndarray:
    """`fixed` decoded; an undecodable value names its row of the file (`first_row` is the first one read)."""
    try:
        decoded = np.char.decode(fixed, codec)
    except UnicodeDecodeError as exc:
        bad = next(i for i, v in enumerate(fixed.tolist()) if not _decodes(v, codec))
        value = bytes(fixed[bad])
        row = first_row + bad + 1
        raise XptError(
            f"{path}: {dataset}.{name} row {row}: bytes {value!r} do not decode as {codec} "
            f"({exc.reason}); pass encoding=",
            dataset=dataset,
            variable=name,
            row=row,
            value=value,
        ) from None
    return np.char.rstrip(decoded, " ")


def _decodes(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
    except UnicodeDecodeError:
        return False
    return True
