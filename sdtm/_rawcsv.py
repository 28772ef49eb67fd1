"""Reading a raw CRF form (one CSV per form) so that nothing is lost without a word.

Every value is text; blanks stay "". The file must be UTF-8 (a BOM is allowed); a file that is not, that
is empty, or whose quoting is broken (a quote never closed) is a RawDataError naming file, line and byte.
A row whose number of fields differs from the header is kept and reported (MAP015, error): missing fields
read as empty, fields beyond the header are named in the finding.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

from cdiscgen._arrowtext import byte_table, compute_stripped_in, holds_any_byte
from cdiscgen._findings import Finding, Severity
from sdtm._context import FILE, ROW

csv.field_size_limit(1 << 30)  # a free-text field is as long as the site wrote it


class RawFormError(ValueError):
    """A raw form that cannot be read as CSV at all (encoding, empty file, broken quoting)."""


def read_form_text(path: Path) -> str:
    """The form's text, decoded as UTF-8 (BOM removed); undecodable bytes name line and offset."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise RawFormError(
            f"{path}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at offset {exc.start}); export the form "
            "as UTF-8"
        ) from None
    if not text.strip():
        raise RawFormError(f"{path}: the file is empty (no header line)")
    return text


def read_form_header(path: Path) -> list[str]:
    """The header line's column names, reading the file up to the end of its header only (a large form
    is not read whole to learn its columns; what the rest holds is checked when the form is read)."""
    head = b""
    with Path(path).open("rb") as handle:
        for line in handle:
            head += line
            if head.count(b'"') % 2 == 0:  # a quoted header name may hold a line break
                break
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise RawFormError(
            f"{path}:1: not UTF-8 (byte 0x{head[exc.start]:02x} at offset {exc.start}); export the form as UTF-8"
        ) from None
    if not text.strip():
        text = read_form_text(path)  # an empty file, or blank lines first: as the whole form reads
    try:
        return next(csv.reader(io.StringIO(text, newline=""), strict=True))
    except csv.Error as exc:
        raise RawFormError(f"{path}:1: the header is not valid CSV: {exc}") from None


def scan_field_counts(
    path: Path, text: str | None = None
) -> tuple[list[str], list[tuple[int, int, int, list[str]]]]:
    """The header and the rows whose field count differs from it: (data row, file line, fields, row); the
    form's `text`, or the file read as a stream (never whole in memory: an undecodable byte raises
    UnicodeDecodeError, which `read_form_text` turns into a RawFormError naming line and byte)."""
    if text is None:
        counted = _count_fields_plainly(path)
        if counted is not None:
            return counted
        with Path(path).open(encoding="utf-8-sig", newline="") as handle:
            return _scan(path, handle)
    return _scan(path, io.StringIO(text, newline=""))


_BLOCK_BYTES = 1 << 23


def _count_fields_plainly(path: Path, block_bytes: int = _BLOCK_BYTES) -> tuple[list[str], list] | None:
    """The header and no ragged rows, found without a CSV parser where none is needed: in a form without
    bare CRs or NUL bytes, whose quotes only open and close values (as CSV writers quote), fields and lines
    are split by the commas and LFs outside quotes, so each line's fields are counted (numpy, block by
    block; the bytes are still decoded, to fail where the parser would). None (the parser decides) for any
    other form (a quoted header too), or when some row's count differs: the parser then lists them."""
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    header: list[str] | None = None
    carry = b""
    with Path(path).open("rb") as handle:
        while True:
            block = handle.read(block_bytes)
            decoder.decode(block, final=not block)  # an undecodable byte raises, as the parser's stream does
            if b"\x00" in block:
                return None
            data = carry + block
            quotes = _plain_quotes(data, whole=not block)
            if quotes is None:
                return None
            if block:  # whole lines: up to the last LF outside quotes (a CRLF split between blocks is whole)
                ends = _outside(quotes, np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10))
                cut = int(ends[-1]) + 1 if len(ends) else 0
            else:
                cut = len(data)
            lines, carry = data[:cut], data[cut:]
            if header is None and lines:
                first = lines.split(b"\n", 1)[0].removeprefix(b"\xef\xbb\xbf").removesuffix(b"\r")
                if not first.strip() or b'"' in first or b"\r" in first:
                    return None  # a blank first line or a quoted header: what the parser makes of it
                header = first.decode("utf-8").split(",")
                lines = lines[lines.index(b"\n") + 1 :] if b"\n" in lines else b""
            if header is not None and not _every_line_has(lines, len(header)):
                return None
            if not block:
                return (header, []) if header is not None else None


def _plain_quotes(data: bytes, *, whole: bool = True) -> np.ndarray | None:
    """Where the quotes are in a form's lines (from a line's start): each quote at an even place in the list
    opens a quoted value, the next one closes it. None where the quotes are not the plain kind the parser
    agrees on: a quote inside an unquoted value (`ab"c`), anything but a separator or a doubled quote after
    a closing quote (`"ab"c`), or, `whole` lines given, a quote never closed."""
    values = np.frombuffer(data, dtype=np.uint8)
    at = np.flatnonzero(values == 34)
    if whole and len(at) % 2:
        return None
    opening, closing = at[0::2], at[1::2]
    separators = np.array([44, 10, 13, 34], dtype=np.uint8)  # , LF CR, and the other quote of a doubled one
    before = values[opening[opening > 0] - 1]
    after = values[closing[closing < len(values) - 1] + 1]
    if not (np.isin(before, separators).all() and np.isin(after, separators).all()):
        return None
    return at


def _outside(quotes: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """The positions (of bytes other than quotes) outside quoted values: an even number of quotes before."""
    if not len(quotes):
        return positions
    return positions[np.searchsorted(quotes, positions) % 2 == 0]


def _every_line_has(lines: bytes, fields: int) -> bool:
    """Whether every non-blank line of `lines` (whole lines; LFs and commas inside quotes separate nothing)
    has `fields` fields; False for quotes `_plain_quotes` leaves to the parser and for a bare CR outside
    quotes (it ends a line for the parser)."""
    if not lines:
        return True
    quotes = _plain_quotes(lines)
    if quotes is None:
        return False
    data = np.frombuffer(lines, dtype=np.uint8)
    cr = _outside(quotes, np.flatnonzero(data == 13))
    if len(cr) and (cr[-1] == len(data) - 1 or not (data[cr + 1] == 10).all()):
        return False
    ends = _outside(quotes, np.flatnonzero(data == 10))
    if not len(ends) or ends[-1] != len(data) - 1:
        ends = np.append(ends, len(data))  # the last line without its LF
    starts = np.concatenate(([0], ends[:-1] + 1))
    commas = np.flatnonzero(data == 44)
    counts = np.searchsorted(commas, ends) - np.searchsorted(commas, starts) + 1
    if len(quotes):  # the commas inside quoted values separate nothing: taken off their line's count
        opening, closing = quotes[0::2], quotes[1::2]
        quoted_commas = np.searchsorted(commas, closing) - np.searchsorted(commas, opening)
        counts -= np.bincount(
            np.searchsorted(ends, opening), weights=quoted_commas, minlength=len(ends)
        ).astype(counts.dtype)
    length = ends - starts
    last = data[np.maximum(ends - 1, 0)]
    blank = (length == 0) | ((length == 1) & (last == 13))  # "" or a lone CR of CRLF: the parser skips it
    return bool(np.all(blank | (counts == fields)))


def _scan(path: Path, source: Iterable[str]) -> tuple[list[str], list[tuple[int, int, int, list[str]]]]:
    reader = csv.reader(source, strict=True)
    try:
        header = next(reader)
        ragged = []
        row_number = 0
        line = reader.line_num
        for row in reader:
            start = line + 1
            line = reader.line_num
            if not row:  # a blank line: pandas skips it too
                continue
            row_number += 1
            if len(row) != len(header):
                ragged.append((row_number, start, len(row), row))
    except csv.Error as exc:
        raise RawFormError(
            f"{path}:{reader.line_num}: not valid CSV: {exc} (a quote is not closed?)"
        ) from None
    return header, ragged


def compute_ragged_findings(path: Path, header: list[str], ragged: list) -> list[Finding]:
    """MAP015 per row whose field count differs from the header."""
    out = []
    for _, line, n, row in ragged:
        if n < len(header):
            message = f"row has {n} field(s), the header {len(header)}: {', '.join(header[n:])} read as empty"
            value = ",".join(row)
        else:
            message = (
                f"row has {n} fields, the header {len(header)}: the fields beyond the header are not read"
            )
            value = ",".join(row[len(header) :])
        out.append(
            Finding(
                code="MAP015",
                severity=Severity.ERROR,
                message=message,
                value=value,
                file=Path(path).name,
                line=line,
            )
        )
    return out


def read_raw_form(
    path: Path,
    columns: tuple[str, ...] | list[str] | None = None,
    findings: list[Finding] | None = None,
    missing: tuple[str, ...] = (),
) -> pd.DataFrame:
    """A raw CSV as text: blanks stay "", nothing is guessed; `_ROW` = 1-based data row, `_FILE` its name.

    `columns` (the columns the mapping specs declare) reads only those, in file order; None reads all.
    Rows with the wrong number of fields are kept and reported into `findings` (MAP015). A value that is,
    once stripped, one of the `missing` tokens (the export's NA or ".") reads as blank.
    """
    path = Path(path)
    header, ragged = _scanned(path)
    wanted = set(columns) if columns is not None else None
    if ragged:
        if findings is not None:
            findings.extend(compute_ragged_findings(path, header, ragged))
        df = _frame_from_rows(read_form_text(path), header, wanted)
    else:
        df = _read_regular_form(path, header, wanted)
    df, found = _finish_block(df, 0, path, missing)
    if findings is not None:
        findings.extend(found)
    return df


def read_raw_form_blocks(
    path: Path,
    columns: tuple[str, ...] | list[str] | None = None,
    rows: int = 200_000,
    missing: tuple[str, ...] = (),
) -> Iterator[tuple[pd.DataFrame, list[Finding]]]:
    """The form as `read_raw_form` reads it, `rows` records at a time (`_ROW` numbers the form's rows), each
    block with the findings of its rows; a form with ragged rows comes as one block, read whole."""
    path = Path(path)
    header, ragged = _scanned(path)
    if ragged:
        findings: list[Finding] = []
        yield read_raw_form(path, columns, findings, missing), findings
        return
    wanted = set(columns) if columns is not None else None
    done = 0
    for block in _regular_form_blocks(path, header, wanted, rows):
        yield _finish_block(block, done, path, missing)
        done += len(block)
    if not done:  # a header without rows
        yield _finish_block(pd.read_csv(path, **_csv_options(wanted), nrows=0), 0, path, missing)


def _scanned(path: Path) -> tuple[list[str], list[tuple[int, int, int, list[str]]]]:
    """The form's header and ragged rows (`scan_field_counts`, streamed: the form is never held as text
    beside its frame); RawFormError for a file that is not UTF-8, empty or blank."""
    try:
        header, ragged = scan_field_counts(path)
    except (UnicodeDecodeError, StopIteration):
        read_form_text(path)  # names the undecodable byte's line, or the empty file
        raise
    if not "".join(header).strip():
        read_form_text(path)  # a file of blanks is empty
    return header, ragged


def _read_regular_form(path: Path, header: list[str], wanted: set[str] | None) -> pd.DataFrame:
    """A form whose rows all have the header's fields, every value text (the wanted columns, in file order)."""
    if not _arrow_reads_as_pandas(header, wanted):
        return pd.read_csv(path, **_csv_options(wanted))
    try:
        table = pa_csv.read_csv(path, **_arrow_csv_options(header, wanted))
    except pa.ArrowInvalid:  # e.g. a row longer than Arrow's block: pandas' parser reads it
        return pd.read_csv(path, **_csv_options(wanted))
    return _text_frame(table)


def _regular_form_blocks(
    path: Path, header: list[str], wanted: set[str] | None, rows: int
) -> Iterator[pd.DataFrame]:
    """`_read_regular_form`, `rows` records at a time (the form is never whole in memory)."""
    done = 0
    if _arrow_reads_as_pandas(header, wanted):
        try:
            for block in _arrow_blocks(path, header, wanted, rows):
                yield block
                done += len(block)
            return
        except pa.ArrowInvalid:  # a row longer than Arrow's block: pandas' parser reads on from there
            pass
    with pd.read_csv(path, **_csv_options(wanted), chunksize=rows) as reader:
        for block in reader:
            if done:  # a block Arrow has given (it gives whole blocks only until the form's end)
                done -= len(block)
                continue
            yield block


def _arrow_blocks(
    path: Path, header: list[str], wanted: set[str] | None, rows: int
) -> Iterator[pd.DataFrame]:
    """Arrow's batches of the form cut into frames of `rows` records, numbered on from block to block as
    pandas' chunks are."""
    waiting: list[pa.RecordBatch] = []
    held = start = 0
    with pa_csv.open_csv(path, **_arrow_csv_options(header, wanted)) as reader:
        for batch in reader:
            waiting.append(batch)
            held += batch.num_rows
            while held >= rows:
                table = pa.Table.from_batches(waiting)
                yield _text_frame(table.slice(0, rows), start)
                waiting, held, start = table.slice(rows).to_batches(), held - rows, start + rows
    if held:
        yield _text_frame(pa.Table.from_batches(waiting), start)


def _arrow_reads_as_pandas(header: list[str], wanted: set[str] | None) -> bool:
    """Whether Arrow's CSV reader gives the frame pandas' parser gives. pandas renames an empty or repeated
    column name ("Unnamed: 0", "A.1") and may take a blank line of a one-column form for a missing value,
    and Arrow reads every column when none is wanted; those forms are left to pandas."""
    distinct = len(header) > 1 and all(header) and len(set(header)) == len(header)
    return distinct and (wanted is None or any(name in wanted for name in header))


def _arrow_csv_options(header: list[str], wanted: set[str] | None) -> dict:
    """Arrow's CSV dialect as pandas reads a form: comma, double quotes ("" for a quote), line breaks
    inside quotes, empty lines skipped, UTF-8 (a BOM dropped); every value text, none missing."""
    text = pa.large_string()
    return {
        "read_options": pa_csv.ReadOptions(use_threads=False, block_size=_ARROW_BLOCK_BYTES),
        "parse_options": pa_csv.ParseOptions(newlines_in_values=True),
        "convert_options": pa_csv.ConvertOptions(
            column_types={name: text for name in header},
            include_columns=[name for name in header if wanted is None or name in wanted],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    }


_ARROW_BLOCK_BYTES = 1 << 24


def _text_frame(table: pa.Table, start: int = 0) -> pd.DataFrame:
    """The frame of Arrow text columns, each as pandas' "str" columns hold it (Arrow large_string), its
    records numbered from `start`."""
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get)
    if start:
        frame.index = pd.RangeIndex(start, start + len(frame))
    return frame


def _csv_options(wanted: set[str] | None) -> dict:
    usecols = (lambda c: c in wanted) if wanted is not None else None
    return {"encoding": "utf-8-sig", "dtype": "str", "keep_default_na": False, "na_filter": False,
            "usecols": usecols}  # fmt: skip


def _finish_block(
    df: pd.DataFrame, done: int, path: Path, missing: tuple[str, ...]
) -> tuple[pd.DataFrame, list[Finding]]:
    """Rows numbered after the `done` rows before them, the file named, missing tokens blanked, control
    characters replaced (MAP017 findings)."""
    df[ROW] = np.arange(done + 1, done + len(df) + 1)
    df[FILE] = path.name
    data_columns = [c for c in df.columns if c not in (ROW, FILE)]
    derive_missing_tokens(df, data_columns, missing)
    return df, derive_control_characters(df, data_columns)


def compute_suspect_rows(df: pd.DataFrame) -> np.ndarray:
    """Rows holding, in some column, a value `compute_missing_tokens_left` looks at (NA, "." ...)."""
    out = np.zeros(len(df), dtype=bool)
    for column in df.columns:
        if column not in (ROW, FILE):
            out |= compute_stripped_in(df[column], SUSPECT_MISSING_TOKENS)
    return out


def derive_missing_tokens(df: pd.DataFrame, columns: list[str], tokens: tuple[str, ...]) -> None:
    """Blank, in place, every value that is a declared missing-value token once stripped."""
    if not tokens:
        return
    for column in columns:
        is_token = compute_stripped_in(df[column], tokens)
        if is_token.any():
            df[column] = df[column].where(~is_token, "")


# how exports commonly write "no value" (R, SAS, spreadsheets, databases): left as a value, it would reach
# the datasets as text, so a column holding one that the study does not declare missing is reported
SUSPECT_MISSING_TOKENS = ("NA", "N/A", "n/a", ".", "NULL", "null", "#N/A", "NaN", "nan")


def compute_missing_tokens_left(
    df: pd.DataFrame, columns: list[str], declared: dict[str, set[str]]
) -> list[Finding]:
    """MAP026, one per column and token: a value that looks like an export's missing-value token (NA, ".")
    and is neither declared `missing:` (it would read as blank) nor among the column's declared values."""
    out: list[Finding] = []
    for column in columns:
        suspect = compute_stripped_in(df[column], SUSPECT_MISSING_TOKENS)
        if not suspect.any():
            continue
        allowed = declared.get(column, set())
        stripped = df.loc[suspect, column].str.strip()
        for token, rows in df.loc[suspect, ROW].groupby(stripped, sort=True):
            if token.upper() in allowed:
                continue
            lines = [int(r) + 1 for r in rows]
            shown = ", ".join(map(str, lines[:10])) + (", ..." if len(lines) > 10 else "")
            out.append(
                Finding(
                    code="MAP026",
                    severity=Severity.WARNING,
                    message=f"{column}: {len(lines)} value(s) {token!r} (lines {shown}) are kept as text; "
                    f'if the export writes a missing value so, declare it: `missing: ["{token}"]` on the '
                    "form's sources or raw.missing in study.yaml",
                    variable=column,
                    value=token,
                    file=str(df[FILE].iloc[0]),
                    line=lines[0],
                )
            )
    return out


CONTROL_RE = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"


#: The bytes CONTROL_RE matches: UTF-8 never uses them inside a character of several bytes.
_CONTROL_BYTES = byte_table([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def _may_hold_control_characters(values: pd.Series) -> bool:
    """Whether a byte of the column's Arrow text is one CONTROL_RE matches (one look at each byte, where the
    regex goes value by value); True for text that is not Arrow's (the regex decides)."""
    arrow = getattr(values.array, "_pa_array", None)
    if arrow is None:
        return True
    return holds_any_byte(arrow, _CONTROL_BYTES)


def derive_control_characters(df: pd.DataFrame, columns: list[str]) -> list[Finding]:
    """Replace, in place, each control character (tab and line breaks excepted) of the raw values by a
    space, with a MAP017 finding per value: define.xml and Dataset-JSON cannot carry them, and a
    reviewer cannot see them."""
    out: list[Finding] = []
    for column in columns:
        values = df[column]
        if not _may_hold_control_characters(values):
            continue
        bad = values.str.contains(CONTROL_RE, regex=True).to_numpy(dtype=bool)
        if not bad.any():
            continue
        for row, value in zip(df.loc[bad, ROW], values[bad], strict=True):
            out.append(
                Finding(
                    code="MAP017",
                    severity=Severity.WARNING,
                    message=f"{column}: control character(s) replaced by a space",
                    value=repr(value),
                    file=str(df[FILE].iloc[0]),
                    line=int(row) + 1,
                )
            )
        df[column] = values.str.replace(CONTROL_RE, " ", regex=True)
    return out


def _frame_from_rows(text: str, header: list[str], wanted: set[str] | None) -> pd.DataFrame:
    """The frame of a form with ragged rows: short rows padded with "", long rows cut at the header."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    next(reader)
    width = len(header)
    rows = [(row + [""] * width)[:width] for row in reader if row]
    df = pd.DataFrame(rows, columns=header, dtype="str")
    keep = [c for c in header if wanted is None or c in wanted]
    return df[keep]
