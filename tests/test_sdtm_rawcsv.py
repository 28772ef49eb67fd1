"""Reading a raw form (sdtm/_rawcsv.read_raw_form): the file is streamed, never held whole as text beside its
frame; what it reads, and the errors it names, are worked out here by hand."""

from __future__ import annotations

import io

import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sdtm._rawcsv import RawFormError, read_raw_form

TRICKY = (
    "\ufeffRECORD_ID,SUBJECT,TERM\r\n"  # a byte-order mark and Windows line ends
    'R1,101-001,"Headache, severe"\r\n'  # a comma inside quotes
    'R2,101-002,"said ""ouch"""\r\n'  # doubled quotes
    "\r\n"  # a blank line: no record
    'R3,101-003,"two\r\nlines"\r\n'  # a line break inside quotes
    "R4,101-004,Céphalée \r\n"  # UTF-8 text and a trailing space, kept as typed
    "R5,101-005,NA\r\n"  # the export's missing-value token
)


def test_a_form_reads_as_typed_with_its_rows_numbered(tmp_path):
    path = tmp_path / "ae.csv"
    path.write_bytes(TRICKY.encode("utf-8"))
    findings: list = []
    df = read_raw_form(path, ["RECORD_ID", "TERM"], findings, missing=("NA",))
    assert list(df.columns) == ["RECORD_ID", "TERM", "_ROW", "_FILE"]
    assert df["RECORD_ID"].tolist() == ["R1", "R2", "R3", "R4", "R5"]
    assert df["TERM"].tolist() == ["Headache, severe", 'said "ouch"', "two\r\nlines", "Céphalée ", ""]
    assert df["_ROW"].tolist() == [1, 2, 3, 4, 5] and set(df["_FILE"]) == {"ae.csv"}
    assert findings == []


def test_an_undecodable_byte_far_into_the_form_is_named_by_its_line(tmp_path):
    path = tmp_path / "lab.csv"
    rows = "".join(f"R{i},101-{i:03d},{i}.5\n" for i in range(1, 5001))
    path.write_bytes(b"RECORD_ID,SUBJECT,RESULT\n" + rows.encode() + b"R5001,101-999,\xe9\n")
    with pytest.raises(RawFormError, match=r"lab\.csv:5002: not UTF-8 \(byte 0xe9"):
        read_raw_form(path)


@pytest.mark.parametrize("content", [b"", b"  \n\n"], ids=["empty", "blanks"])
def test_an_empty_form_is_named(tmp_path, content):
    path = tmp_path / "dm.csv"
    path.write_bytes(content)
    with pytest.raises(RawFormError, match="the file is empty"):
        read_raw_form(path)


def test_a_row_with_a_field_too_many_is_read_and_reported_on_its_line(tmp_path):
    path = tmp_path / "vs.csv"
    path.write_text('RECORD_ID,SUBJECT\nR1,101-001\n"R2",101-002,extra\nR3,101-003\n', encoding="utf-8")
    findings: list = []
    df = read_raw_form(path, None, findings)
    assert df["RECORD_ID"].tolist() == ["R1", "R2", "R3"] and df["SUBJECT"].tolist()[1] == "101-002"
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP015", 3, "extra")]


# mostly plain cells, sometimes one with a separator, a quote, a line break or a NUL byte; rows mostly of
# one width, so that the quick count has something to agree on
_CELL = st.one_of(
    st.text(alphabet=st.sampled_from(["a", "1", " ", "é", "-"]), max_size=4),
    st.text(alphabet=st.sampled_from(["a", ",", '"', "\n", "\r", "\x00"]), min_size=1, max_size=3),
)
_ROWS = st.integers(1, 4).flatmap(
    lambda width: st.lists(
        st.lists(_CELL, min_size=width, max_size=width) | st.lists(_CELL, min_size=1, max_size=5),
        min_size=1,
        max_size=8,
    )
)


def _form_file(tmp_path_factory, folder: str, text: str, bom: bool):
    """`text` as a form file in UTF-8, with a byte-order mark when `bom`."""
    path = tmp_path_factory.mktemp(folder) / "form.csv"
    path.write_bytes(("\ufeff" if bom else "").encode() + text.encode("utf-8"))
    return path


@settings(max_examples=300, deadline=None)
@given(
    rows=_ROWS,
    crlf=st.booleans(),
    bom=st.booleans(),
    last_newline=st.booleans(),
    block=st.sampled_from([3, 7, 1 << 23]),
)
@example(
    rows=[['"a', "b"], ["c", "d"]], crlf=False, bom=False, last_newline=True, block=7
)  # quote never closed
@example(
    rows=[["a", "b"], [""], ["c", "d"]], crlf=True, bom=True, last_newline=True, block=3
)  # CRLF blank line
@example(rows=[["a", "b"], ["c"]], crlf=False, bom=False, last_newline=False, block=1 << 23)  # a field short
@example(
    rows=[["h"], ['a"', 'b"']], crlf=False, bom=False, last_newline=True, block=1 << 23
)  # quotes inside values
@example(
    rows=[["a", "b"], ["c", '"d']], crlf=False, bom=False, last_newline=True, block=1 << 23
)  # never closed
@example(
    rows=[["a", "b"], ['"x"y', "z"]], crlf=False, bom=False, last_newline=True, block=1 << 23
)  # after a close
@example(rows=[["h1", "h2"], ["a\rb", "c"]], crlf=False, bom=False, last_newline=True, block=7)  # a bare CR
def test_counting_fields_without_a_parser_agrees_with_the_csv_module(
    tmp_path_factory, rows, crlf, bom, last_newline, block
):
    # a form without quotes, bare CRs or NUL bytes is checked by counting commas per line (numpy, block by
    # block); whatever it decides, the header and ragged rows are the csv module's (the independent reader)
    import sdtm._rawcsv as rawcsv

    end = "\r\n" if crlf else "\n"
    text = end.join(",".join(row) for row in rows) + (end if last_newline else "")
    path = _form_file(tmp_path_factory, "scan", text, bom)
    try:
        want = rawcsv._scan(path, io.StringIO(text, newline=""))
    except (RawFormError, StopIteration):  # broken quoting; no line at all
        want = None
    if want is not None and "".join(want[0]).strip():
        assert rawcsv.scan_field_counts(path) == want
    plain = rawcsv._count_fields_plainly(path, block)
    if plain is not None:
        assert want is not None and plain == (want[0], []) == want
    readable = want is not None and "".join(want[0]).strip()
    if readable and not any(c in text.replace("\r\n", "\n") for c in '"\r\x00') and not want[1]:
        assert plain is not None  # the quick path is taken where it can be (else nothing is saved)


@given(
    values=st.lists(
        st.text(
            alphabet=st.sampled_from(
                ["a", "é", "\t", "\n", "\r", "\x00", "\x01", "\x0b", "\x1f", "\x7f", "\x85", " "]
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=8,
    )
)
def test_control_characters_replaced_and_named_as_the_pattern_finds_them(values):
    import re

    from sdtm._rawcsv import CONTROL_RE, derive_control_characters

    df = pd.DataFrame(
        {"X": pd.Series(values, dtype="str"), "_ROW": range(1, len(values) + 1), "_FILE": "f.csv"}
    )
    found = derive_control_characters(df, ["X"])
    expected = [i for i, v in enumerate(values) if re.search(CONTROL_RE, v)]
    assert [f.line for f in found] == [i + 2 for i in expected]  # the header is line 1
    assert df["X"].tolist() == [re.sub(CONTROL_RE, " ", v) for v in values]


@settings(max_examples=300, deadline=None)
@given(
    rows=_ROWS,
    quote_all=st.booleans(),
    crlf=st.booleans(),
    bom=st.booleans(),
    block=st.sampled_from([3, 7, 1 << 23]),
)
@example(rows=[["a", "b"], ['x"y', "z,w\n"]], quote_all=False, crlf=True, bom=False, block=3)
def test_quoted_forms_are_counted_without_a_parser_as_the_csv_module_reads_them(
    tmp_path_factory, rows, quote_all, crlf, bom, block
):
    # values quoted as CSV writers quote them (commas, quotes, line breaks inside): the quick count takes
    # them (unless the header is quoted or a NUL byte is in) and finds the header and ragged rows the csv
    # module finds
    import sdtm._rawcsv as rawcsv

    end = "\r\n" if crlf else "\n"
    lines = [",".join(_csv_cell(v, quote_all and i > 0) for v in row) for i, row in enumerate(rows)]
    text = end.join(lines) + end
    path = _form_file(tmp_path_factory, "quoted", text, bom)
    want = rawcsv._scan(path, io.StringIO(text, newline=""))
    plain = rawcsv._count_fields_plainly(path, block)
    if plain is not None:
        assert plain == (want[0], []) == want
    elif '"' not in lines[0] and "\x00" not in text and "".join(want[0]).strip() and not want[1]:
        pytest.fail("a form quoted as CSV writers quote it was left to the parser")


def _csv_cell(value: str, quote: bool) -> str:
    needs = any(c in value for c in ',"\r\n') or value != value.strip()
    return '"' + value.replace('"', '""') + '"' if quote or needs else value


@settings(max_examples=300, deadline=None)
@given(
    rows=_ROWS,
    quote_all=st.booleans(),
    crlf=st.booleans(),
    bom=st.booleans(),
    keep=st.none() | st.sets(st.integers(0, 4)),
    block=st.sampled_from([1, 2, 5]),
    arrow_bytes=st.sampled_from([8, 40, 1 << 24]),
)
@example(
    rows=[["A", "B"], ["x", ""], [""], ["y", "z"]],
    quote_all=False,
    crlf=True,
    bom=True,
    keep=None,
    block=2,
    arrow_bytes=1 << 24,
)
@example(  # Arrow fails on the long row after two blocks: pandas' parser goes on from the third record
    rows=[["A", "B"], ["1", "2"], ["3", "4"], ["5", "6"], ["7", "8"], ["x" * 60, "y"], ["9", "0"]],
    quote_all=False,
    crlf=False,
    bom=False,
    keep=None,
    block=2,
    arrow_bytes=24,
)
def test_a_regular_form_reads_as_pandas_parser_reads_it(
    tmp_path_factory, rows, quote_all, crlf, bom, keep, block, arrow_bytes
):
    # forms whose rows all have the header's fields are read by Arrow's CSV reader, whole or in blocks;
    # pandas' parser (the reader before it) gives the same frame: names, values, dtypes, order and the
    # records' numbers. Arrow reads blocks of bytes: a small one puts quoted line breaks across block ends,
    # and a row longer than a block is read on by pandas' parser.
    import sdtm._rawcsv as rawcsv

    end = "\r\n" if crlf else "\n"
    text = end.join(",".join(_csv_cell(v, quote_all) for v in row) for row in rows) + end
    path = _form_file(tmp_path_factory, "regular", text, bom)
    try:
        header, ragged = rawcsv._scanned(path)
    except (RawFormError, UnicodeDecodeError, StopIteration):
        return
    if ragged or not "".join(header).strip():
        return
    wanted = None if keep is None else {header[i] for i in keep if i < len(header)}
    want = pd.read_csv(path, **rawcsv._csv_options(wanted))
    rawcsv._ARROW_BLOCK_BYTES, before = arrow_bytes, rawcsv._ARROW_BLOCK_BYTES
    try:
        pd.testing.assert_frame_equal(rawcsv._read_regular_form(path, header, wanted), want)
        blocks = list(rawcsv._regular_form_blocks(path, header, wanted, block))
    finally:
        rawcsv._ARROW_BLOCK_BYTES = before
    assert all(len(b) <= block for b in blocks)
    if blocks:
        pd.testing.assert_frame_equal(pd.concat(blocks), want)
    else:
        assert len(want) == 0
