"""SAS transport v5 reader (first member), vectorised with numpy. Independent of the writer's code paths:
it parses the records as laid out in SAS TS-140."""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from cdiscgen.export._ibm import compute_float_from_ibm
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


def read_xpt(path: str | Path, *, encoding: str | None = None) -> tuple[pd.DataFrame, XptMeta]:
    """Read the first member of an XPT v5 file.

    Numeric missing values (., .A-.Z, ._) become NaN; character values lose trailing blanks (a blank
    value is ""). Text is decoded with ``encoding`` (default ASCII; a byte that does not decode is an
    XptError naming variable and row).
    """
    path = Path(path)
    codec = encoding or "ascii"
    data = path.read_bytes()
    if len(data) < 8 * RECORD or not data.startswith(_LIBRARY):
        raise XptError(f"{path}: not a SAS transport v5 file (no LIBRARY header record)")
    created = _parse_stamp(data[RECORD + 64 : RECORD + 80], path)
    member = data.find(_MEMBER, 3 * RECORD)
    if member < 0:
        raise XptError(f"{path}: no MEMBER header record")
    namestr_size = int(data[member + 74 : member + 78])
    descriptor = member + 2 * RECORD
    dataset = _text(data[descriptor + 8 : descriptor + 16], "ascii")
    modified = _parse_stamp(data[descriptor + RECORD : descriptor + RECORD + 16], path)
    label = _text(data[descriptor + RECORD + 32 : descriptor + RECORD + 72], codec)
    header = descriptor + 2 * RECORD
    if not data.startswith(_NAMESTR, header):
        raise XptError(f"{path}: no NAMESTR header record where expected (offset {header})")
    n_vars = int(data[header + 54 : header + 58])
    first = header + RECORD
    variables: list[XptVariable] = []
    positions: list[int] = []
    for k in range(n_vars):
        rec = data[first + k * namestr_size : first + (k + 1) * namestr_size]
        ntype = int.from_bytes(rec[0:2], "big")
        length = int.from_bytes(rec[4:6], "big")
        name = _text(rec[8:16], "ascii")
        fmt = _format(
            _text(rec[56:64], "ascii"), int.from_bytes(rec[64:66], "big"), int.from_bytes(rec[66:68], "big")
        )
        variables.append(
            XptVariable(name, _text(rec[16:56], codec), "num" if ntype == 1 else "char", length, fmt)
        )
        positions.append(int.from_bytes(rec[84:88], "big"))
    obs = first + n_vars * namestr_size
    obs += -(obs - first) % RECORD
    if not data.startswith(_OBS, obs):
        raise XptError(f"{path}: no OBS header record where expected (offset {obs})")
    body = np.frombuffer(data, dtype=np.uint8, offset=obs + RECORD)
    if data.find(_MEMBER, obs + RECORD) >= 0:
        raise XptError(f"{path}: holds more than one member; only single-dataset files are supported")
    row_length = max((p + v.length for p, v in zip(positions, variables, strict=True)), default=0)
    n_rows = body.size // row_length if row_length else 0
    rows = body[: n_rows * row_length].reshape(n_rows, row_length)
    # Rows that start inside the final 80-byte record and are all blanks are record padding.
    while n_rows and (n_rows - 1) * row_length > body.size - RECORD and (rows[n_rows - 1] == 0x20).all():
        n_rows -= 1
    rows = rows[:n_rows]
    columns: dict[str, pd.Series] = {}
    for var, pos in zip(variables, positions, strict=True):
        block = rows[:, pos : pos + var.length]
        if var.type == "num":
            columns[var.name] = pd.Series(compute_float_from_ibm(block), dtype="float64")
            continue
        fixed = np.ascontiguousarray(block).view(f"S{var.length}").reshape(n_rows)
        try:
            decoded = np.char.decode(fixed, codec)
        except UnicodeDecodeError as exc:
            bad = next(i for i, v in enumerate(fixed.tolist()) if not _decodes(v, codec))
            raise XptError(
                f"{path}: {dataset}.{var.name} row {bad + 1}: bytes {fixed[bad]!r} do not decode as {codec} "
                f"({exc.reason}); pass encoding=",
                dataset=dataset,
                variable=var.name,
                row=bad + 1,
                value=fixed[bad],
            ) from None
        columns[var.name] = pd.Series(np.char.rstrip(decoded, " "), dtype="str")
    frame = pd.DataFrame(columns, index=pd.RangeIndex(n_rows))
    return frame, XptMeta(dataset, label, tuple(variables), created, modified)


def _decodes(raw: bytes, codec: str) -> bool:
    try:
        raw.decode(codec)
    except UnicodeDecodeError:
        return False
    return True
