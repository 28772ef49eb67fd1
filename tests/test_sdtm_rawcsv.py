"""Reading a raw form (sdtm/_rawcsv.read_raw_form): the file is streamed, never held whole as text beside its
frame; what it reads, and the errors it names, are worked out here by hand."""

from __future__ import annotations

import pytest

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
