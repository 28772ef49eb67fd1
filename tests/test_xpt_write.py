"""write_xpt: round trips through three independent readers, exact layout, determinism, every limit."""

from __future__ import annotations

import math
import warnings
from datetime import datetime

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdiscgen.export import (
    FDA,
    PMDA,
    AgencyProfile,
    XptError,
    XptVariable,
    compute_xpt_size,
    read_xpt,
    write_xpt,
)
from tests import xpt_reference_reader as ref

CREATED = datetime(2025, 3, 28, 14, 5, 9)
IBM_MIN = 16.0**-65
IBM_LIMIT = 16.0**63

# ------------------------------------------------------------------------------------------ strategies

ascii_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=200)
numbers = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, min_value=-7e75, max_value=7e75).filter(
        lambda x: x == 0 or abs(x) >= IBM_MIN
    ),
    st.integers(min_value=2**53 - 2000, max_value=2**53).map(float),
    st.integers(min_value=-(2**53), max_value=-(2**53) + 2000).map(float),
    st.floats(min_value=IBM_MIN, max_value=IBM_MIN * 1e6),
    st.just(math.nan),
)


@st.composite
def frames(draw):
    n = draw(st.integers(min_value=1, max_value=12))
    n_cols = draw(st.integers(min_value=1, max_value=5))
    data: dict[str, object] = {}
    variables = []
    for k in range(n_cols):
        name = f"V{k}"
        kind = draw(st.sampled_from(["char", "num", "num_missing", "char_blank"]))
        if kind == "char":
            values = draw(st.lists(st.one_of(ascii_text, st.none()), min_size=n, max_size=n))
            data[name] = pd.Series(values, dtype="str")
        elif kind == "char_blank":
            data[name] = pd.Series([""] * n, dtype="str")
        elif kind == "num":
            data[name] = pd.Series(draw(st.lists(numbers, min_size=n, max_size=n)), dtype="float64")
        else:
            data[name] = pd.Series([math.nan] * n, dtype="float64")
        variables.append(XptVariable(name, f"Label {k}", "num" if kind.startswith("num") else "char"))
    return pd.DataFrame(data), variables


def expected_cell(value: object, kind: str) -> object:
    """What any XPT reader must give back: trailing blanks are not significant, missing text is blank."""
    if kind == "char":
        return "" if value is None or (isinstance(value, float) and math.isnan(value)) else value.rstrip(" ")
    return None if math.isnan(value) else value + 0.0  # -0.0 is stored as zero bytes


def same_number(got: float, want: float | None) -> bool:
    return math.isnan(got) if want is None else got == want


# ------------------------------------------------------------------------------------------ property


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(frames())
def test_round_trip_three_readers(tmp_path_factory, case):
    frame, variables = case
    path = tmp_path_factory.mktemp("xpt") / "rt.xpt"
    kinds = [v.type for v in variables]
    n = len(frame)
    last_row_blank = all(k == "char" for k in kinds) and all(
        expected_cell(frame[v.name].iloc[-1], "char") == "" for v in variables
    )
    lengths = [
        8 if v.type == "num" else max(1, int(frame[v.name].fillna("").str.len().max())) for v in variables
    ]
    row_length = sum(lengths)
    if last_row_blank and row_length < 80:
        with pytest.raises(XptError, match="blank in every"):
            write_xpt(frame, path, dataset="RT", label="Round trip", variables=variables, created=CREATED)
        assert not path.exists()
        return
    write_xpt(frame, path, dataset="RT", label="Round trip", variables=variables, created=CREATED)
    want = [[expected_cell(frame[v.name].iloc[i], v.type) for v in variables] for i in range(n)]

    # exact size: 9 header records + NAMESTRs padded to 80 + rows padded to 80 (TS-140)
    size = 9 * 80 + math.ceil(140 * len(variables) / 80) * 80 + math.ceil(n * row_length / 80) * 80
    assert path.stat().st_size == size == compute_xpt_size(frame, variables, profile=FDA)

    # 1. the independent byte-level reader
    got = ref.read(str(path))
    assert [v.length for v in got.variables] == lengths
    assert len(got.rows) == n
    for i in range(n):
        for j, kind in enumerate(kinds):
            if kind == "num":
                assert same_number(float("nan") if got.rows[i][j] is None else got.rows[i][j], want[i][j])
            else:
                assert got.rows[i][j] == want[i][j]

    # 2. pyreadstat
    df, meta = pyreadstat.read_xport(str(path), disable_datetime_conversion=True)
    assert len(df) == n and list(df.columns) == [v.name for v in variables]
    assert meta.column_names_to_labels == {v.name: v.label for v in variables}
    for j, v in enumerate(variables):
        col = df[v.name].tolist()
        for i in range(n):
            if v.type == "num":
                assert same_number(float(col[i]), want[i][j])
            else:
                assert ("" if col[i] is None else col[i]) == want[i][j]

    # 3. pandas. It reads an exact 0.0 as 16**-65 (pandas issue #50670), and it takes every all-blank
    # 8-byte word of the last 80-byte record for padding, so it may return fewer rows than were written
    # (at most 80 bytes' worth); the rows it returns must match.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            pdf = pd.read_sas(str(path), format="xport", encoding="ascii")
        except StopIteration:  # pandas' reader when it counts zero rows that way
            pdf = pd.DataFrame({v.name: [] for v in variables})
    # The opposite fault too: with rows shorter than the 80-byte record, pandas may read the blank
    # padding of the last record as extra all-blank rows (pyreadstat and the byte-level reader do not).
    padding_rows = (math.ceil(n * row_length / 80) * 80 - n * row_length) // row_length
    assert n - 80 // row_length - 1 <= len(pdf) <= n + padding_rows
    if len(pdf) > n:
        extra = pdf.iloc[n:]
        assert all(
            (extra[v.name].isna() | (extra[v.name].astype(str).str.strip() == "")).all() for v in variables
        ), "pandas' extra rows must be the blank padding"
        pdf = pdf.iloc[:n]
    for j, v in enumerate(variables):
        col = pdf[v.name].tolist()
        for i in range(len(pdf)):
            if v.type == "num":
                target = IBM_MIN if want[i][j] == 0 else want[i][j]
                assert same_number(float(col[i]), target)
            else:
                assert ("" if not isinstance(col[i], str) else col[i]) == want[i][j]

    # 4. our own reader
    back, xmeta = read_xpt(path)
    assert xmeta.dataset == "RT" and xmeta.label == "Round trip" and xmeta.created == CREATED
    assert [(v.name, v.label, v.type, v.length) for v in xmeta.variables] == [
        (v.name, v.label, v.type, ln) for v, ln in zip(variables, lengths, strict=True)
    ]
    for j, v in enumerate(variables):
        col = back[v.name].tolist()
        for i in range(n):
            if v.type == "num":
                assert same_number(col[i], want[i][j])
            else:
                assert col[i] == want[i][j]


# ------------------------------------------------------------------------------------------ layout


def lb_like() -> tuple[pd.DataFrame, list[XptVariable]]:
    frame = pd.DataFrame(
        {
            "USUBJID": ["DARPAL-001", "DARPAL-002", "DARPAL-003"],
            "LBTESTCD": ["KLCFR", "LLCFR", "CREAT"],
            "LBSTRESN": [12.5, np.nan, 0.0],
            "LBDT": [23456.0, 23457.0, np.nan],
        }
    )
    variables = [
        XptVariable("USUBJID", "Unique Subject Identifier", "char"),
        XptVariable("LBTESTCD", "Lab Test or Examination Short Name.", "char", length=8),
        XptVariable("LBSTRESN", "Numeric Result/Finding in Standard Units", "num", format="8.2"),
        XptVariable("LBDT", "Date of Specimen Collection", "num", format="DATE9."),
    ]
    return frame, variables


def test_header_layout_by_the_spec(tmp_path):
    frame, variables = lb_like()
    path = write_xpt(
        frame,
        tmp_path / "lb.xpt",
        dataset="LB",
        label="Laboratory Test Results",
        variables=variables,
        created=CREATED,
    )
    got = ref.read(str(path))
    assert got.created == got.modified == "28MAR25:14:05:09"
    assert got.records[1][64:80] == b"28MAR25:14:05:09"
    assert got.dataset == "LB" and got.dataset_label == "Laboratory Test Results"
    # MEMBER header announces 140-byte NAMESTRs; NAMESTR header holds the variable count
    assert got.records[3][74:78] == b"0140"
    assert got.records[7][54:58] == b"0004"
    assert [(v.ntype, v.length, v.varnum, v.name) for v in got.variables] == [
        (2, 10, 1, "USUBJID"),
        (2, 8, 2, "LBTESTCD"),
        (1, 8, 3, "LBSTRESN"),
        (1, 8, 4, "LBDT"),
    ]
    # positions are running sums of lengths: 0, 10, 18, 26
    assert [v.position for v in got.variables] == [0, 10, 18, 26]
    assert [(v.format_name, v.format_length, v.format_decimals) for v in got.variables] == [
        ("", 0, 0),
        ("", 0, 0),
        ("", 8, 2),
        ("DATE", 9, 0),
    ]
    assert all(v.rest == bytes(52) for v in got.variables)
    assert got.variables[1].label == "Lab Test or Examination Short Name."
    # 4 NAMESTRs = 560 bytes -> 7 records; 3 rows x 34 bytes = 102 -> 2 records (58 blanks of padding)
    assert got.data_bytes == 160
    assert path.read_bytes()[-58:] == b" " * 58
    assert got.rows == [
        ["DARPAL-001", "KLCFR", 12.5, 23456.0],
        ["DARPAL-002", "LLCFR", None, 23457.0],
        ["DARPAL-003", "CREAT", 0.0, None],
    ]
    _, meta = read_xpt(path)
    assert [v.format for v in meta.variables] == [None, None, "8.2", "DATE9."]


def test_reruns_are_byte_identical_and_created_sets_the_stamp(tmp_path):
    frame, variables = lb_like()
    a = write_xpt(frame, tmp_path / "a.xpt", dataset="LB", label="Lab", variables=variables, created=CREATED)
    b = write_xpt(frame, tmp_path / "b.xpt", dataset="LB", label="Lab", variables=variables, created=CREATED)
    c = write_xpt(
        frame,
        tmp_path / "c.xpt",
        dataset="LB",
        label="Lab",
        variables=variables,
        created=datetime(2031, 12, 1, 0, 0, 0),
    )
    assert a.read_bytes() == b.read_bytes()
    assert a.read_bytes() != c.read_bytes()
    assert b"01DEC31:00:00:00" in c.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.xpt", "b.xpt", "c.xpt"]  # no temp files


def test_zero_rows(tmp_path):
    frame, variables = lb_like()
    empty = frame.iloc[:0]
    path = write_xpt(empty, tmp_path / "e.xpt", dataset="LB", label="", variables=variables, created=CREATED)
    # 9 header records + 7 NAMESTR records, no data records
    assert path.stat().st_size == 16 * 80
    df, _ = pyreadstat.read_xport(str(path))
    assert len(df) == 0 and list(df.columns) == ["USUBJID", "LBTESTCD", "LBSTRESN", "LBDT"]
    # zero-row char columns get length 1 (no value to measure)
    assert [v.length for v in ref.read(str(path)).variables] == [1, 8, 8, 8]


def test_utf8_profile_counts_bytes(tmp_path):
    frame = pd.DataFrame({"USUBJID": ["S1"], "TERM": ["肝臓"]})  # 2 characters, 6 bytes in UTF-8
    variables = [XptVariable("USUBJID", "Subject", "char"), XptVariable("TERM", "Term", "char")]
    path = write_xpt(
        frame, tmp_path / "u.xpt", dataset="AE", label="", variables=variables, profile=PMDA, created=CREATED
    )
    got = ref.read(str(path), encoding="utf-8")
    assert got.variables[1].length == 6 and got.rows == [["S1", "肝臓"]]
    back, _ = read_xpt(path, encoding="utf-8")
    assert back["TERM"].tolist() == ["肝臓"]


def test_single_byte_profile_encodes(tmp_path):
    cp1252 = AgencyProfile("fda-cp1252", "cp1252", 5 * 1024**3)
    frame = pd.DataFrame({"USUBJID": ["S1", "S2"], "TSVAL": ["Sponsor’s drug", "plain"]})
    variables = [XptVariable("USUBJID", "Subject", "char"), XptVariable("TSVAL", "Value", "char")]
    path = write_xpt(
        frame,
        tmp_path / "ts.xpt",
        dataset="TS",
        label="",
        variables=variables,
        profile=cp1252,
        created=CREATED,
    )
    assert b"Sponsor\x92s drug" in path.read_bytes()  # U+2019 is 0x92 in cp1252
    assert ref.read(str(path), encoding="cp1252").rows[0][1] == "Sponsor’s drug"


# ------------------------------------------------------------------------------------------ limits


def base() -> tuple[pd.DataFrame, list[XptVariable]]:
    frame = pd.DataFrame({"USUBJID": ["P-01", "P-02"], "AVAL": [1.0, 2.0], "AVALC": ["1", "2"]})
    variables = [
        XptVariable("USUBJID", "Unique Subject Identifier", "char"),
        XptVariable("AVAL", "Analysis Value", "num"),
        XptVariable("AVALC", "Analysis Value (C)", "char"),
    ]
    return frame, variables


def replace_var(variables, target, **changes):
    return [XptVariable(**{**v.__dict__, **changes}) if v.name == target else v for v in variables]


def _bad_cases():
    f, v = base()
    long_text = f.assign(AVALC=["x" * 201, "2"])
    cases = {
        "long name": (
            f.rename(columns={"AVAL": "AVALUE123"}),
            replace_var(v, "AVAL", name="AVALUE123"),
            {},
            "9 characters long",
        ),
        "lowercase name": (
            f.rename(columns={"AVAL": "aval"}),
            replace_var(v, "AVAL", name="aval"),
            {},
            "must be uppercase",
        ),
        "digit first": (
            f.rename(columns={"AVAL": "1AVAL"}),
            replace_var(v, "AVAL", name="1AVAL"),
            {},
            "must start with a letter",
        ),
        "bad character": (
            f.rename(columns={"AVAL": "AV-AL"}),
            replace_var(v, "AVAL", name="AV-AL"),
            {},
            r"A-Z, 0-9 and _",
        ),
        "dataset name": (f, v, {"dataset": "ADLB_TOO_LONG"}, "dataset name 'ADLB_TOO_LONG' is 13"),
        "dataset lowercase": (f, v, {"dataset": "adsl"}, "must be uppercase"),
        "label 41": (
            f,
            replace_var(v, "AVAL", label="L" * 41),
            {},
            "41 bytes long; XPT v5 allows at most 40",
        ),
        "dataset label 41": (f, v, {"label": "D" * 41}, "dataset label .* 41 bytes"),
        "value 201 bytes": (long_text, v, {}, r"value is 201 bytes in ascii.*row 1, USUBJID 'P-01'"),
        "non-ascii": (
            f.assign(AVALC=["1", "naïve"]),
            v,
            {},
            r"TEST\.AVALC: non-ASCII .*row 2, USUBJID 'P-02', value 'naïve'",
        ),
        "non-ascii label": (f, replace_var(v, "AVAL", label="Valeur analysée"), {}, "not encodable as ascii"),
        "too big": (
            f.assign(AVAL=[1.0, 7.3e75]),
            v,
            {},
            r"outside the IBM .*USUBJID 'P-02', value 7\.3e\+75",
        ),
        "too small": (f.assign(AVAL=[1e-80, 1.0]), v, {}, r"outside the IBM .*USUBJID 'P-01', value 1e-80"),
        "infinity": (f.assign(AVAL=[1.0, -np.inf]), v, {}, r"infinity .*USUBJID 'P-02'"),
        "integer beyond 2**53": (
            f.assign(AVAL=pd.Series([1, 2**53 + 1], dtype="int64")),
            v,
            {},
            r"beyond 2\*\*53 .*row 2",
        ),
        "declared too short": (
            f.assign(AVALC=["123", "2"]),
            replace_var(v, "AVALC", length=2),
            {},
            r"3 bytes, longer than the declared length 2 .*row 1, USUBJID 'P-01', value '123'",
        ),
        "declared over 200": (f, replace_var(v, "AVALC", length=201), {}, "outside 1..200"),
        "missing column": (
            f.drop(columns="AVALC"),
            v,
            {},
            r"declared variable\(s\) \['AVALC'\] are not columns",
        ),
        "undeclared column": (f.assign(EXTRA=1.0), v, {}, r"frame column\(s\) \['EXTRA'\] are not declared"),
        "char holds numbers": (
            f.assign(AVALC=[1.0, 2.0]),
            v,
            {},
            "declared char but the column holds float64",
        ),
        "num holds text": (f.assign(AVAL=["1", "2"]), v, {}, "declared num but the column holds str"),
        "object with a number": (
            f.assign(AVALC=pd.Series(["1", 2], dtype=object)),
            v,
            {},
            r"declared char but holds a int .*row 2",
        ),
        "bad format": (f, replace_var(v, "AVAL", format="DATE9"), {}, "is not a SAS format"),
        # SAS dates run from 1582-10-15 (-138061) to 19999-12-31 (6589335); issue 28, item 9
        "date before 1582": (
            f.assign(AVAL=[-167_000.0, 1.0]),
            replace_var(v, "AVAL", format="DATE9."),
            {},
            r"-167000 with format DATE9\. is not a SAS date.*row 1, USUBJID 'P-01'",
        ),
        "date after 19999": (
            f.assign(AVAL=[1.0, 10_227_000.0]),
            replace_var(v, "AVAL", format="E8601DA."),
            {},
            r"1\.0227e\+07 with format E8601DA\. is not a SAS date.*row 2",
        ),
        "datetime after 19999": (
            f.assign(AVAL=[1.0, 6_589_336.0 * 86_400]),
            replace_var(v, "AVAL", format="DATETIME20."),
            {},
            r"with format DATETIME20\. is not a SAS datetime",
        ),
        "duplicate variable": (f, [*v, v[0]], {}, "declared twice"),
    }
    return cases


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_each_limit_has_its_own_error_and_leaves_no_file(tmp_path, case):
    frame, variables, overrides, pattern = _bad_cases()[case]
    args = {"dataset": "TEST", "label": "Test", **overrides}
    path = tmp_path / "bad.xpt"
    with pytest.raises(XptError, match=pattern):
        write_xpt(frame, path, variables=variables, profile=FDA, created=CREATED, **args)
    assert list(tmp_path.iterdir()) == []


def test_error_carries_its_place():
    frame, variables = base()
    with pytest.raises(XptError) as info:
        write_xpt(
            frame.assign(AVALC=["1", "é"]),
            "/nonexistent/x.xpt",
            dataset="ADLB",
            label="",
            variables=variables,
            created=CREATED,
        )
    err = info.value
    assert (err.dataset, err.variable, err.row, err.usubjid, err.value) == ("ADLB", "AVALC", 2, "P-02", "é")


def test_io_error_removes_the_temp_file(tmp_path, monkeypatch):
    frame, variables = base()
    import cdiscgen.export._xpt as xpt_module

    def boom(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(xpt_module, "_write_rows", boom)
    target = tmp_path / "x.xpt"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="disk full"):
        write_xpt(frame, target, dataset="X", label="", variables=variables, created=CREATED)
    assert [p.name for p in tmp_path.iterdir()] == ["x.xpt"] and target.read_bytes() == b"old"


CP1252 = AgencyProfile("fda-cp1252", "cp1252", 5 * 1024**3)


def _mixed_frame(n: int) -> tuple[pd.DataFrame, list[XptVariable]]:
    """Columns of every packing kind: text all of one width, text of varying width with missing values,
    non-ASCII text (cp1252), numbers with missing values, a declared length longer than any value."""
    frame = pd.DataFrame(
        {
            "USUBJID": pd.Series([f"S-{i:04d}" for i in range(n)], dtype="str"),
            "TERM": pd.Series([None if i % 7 == 0 else "x" * (i % 13) for i in range(n)], dtype="str"),
            "NOTE": pd.Series(["caf\u00e9" if i % 5 == 0 else "tea" for i in range(n)], dtype="str"),
            "VAL": [math.nan if i % 4 == 0 else i / 3 - 50 for i in range(n)],
            "CODE": pd.Series(["AB"] * n, dtype="str"),
        }
    )
    variables = [
        XptVariable("USUBJID", "Subject", "char"),
        XptVariable("TERM", "Term", "char"),
        XptVariable("NOTE", "Note", "char"),
        XptVariable("VAL", "Value", "num"),
        XptVariable("CODE", "Code", "char", length=6),
    ]
    return frame, variables


def test_rows_packed_in_small_blocks_give_the_same_file(tmp_path, monkeypatch):
    """The rows are packed block by block and written behind; a block of one row, of three rows and the
    default one whole block give one file, and the independent reader reads every row back."""
    import cdiscgen.export._xpt as xpt_module

    frame, variables = _mixed_frame(400)
    kwargs = dict(dataset="MX", label="Mixed", variables=variables, profile=CP1252, created=CREATED)
    whole = write_xpt(frame, tmp_path / "whole.xpt", **kwargs).read_bytes()
    row_length = 6 + 12 + 4 + 8 + 6  # "café" is 4 bytes in cp1252
    for rows_per_block in (1, 3):
        monkeypatch.setattr(xpt_module, "_ROWS_BUFFER_BYTES", rows_per_block * row_length)
        assert write_xpt(frame, tmp_path / f"b{rows_per_block}.xpt", **kwargs).read_bytes() == whole
    got = ref.read(str(tmp_path / "whole.xpt"), encoding="cp1252")
    assert [v.length for v in got.variables] == [6, 12, 4, 8, 6]
    for i in (0, 1, 5, 7, 12, 399):
        row = frame.iloc[i]
        assert got.rows[i][:3] == [row.USUBJID, "" if pd.isna(row.TERM) else row.TERM, row.NOTE]
        assert same_number(
            float("nan") if got.rows[i][3] is None else got.rows[i][3], expected_cell(row.VAL, "num")
        )
        assert got.rows[i][4] == "AB"


def test_reader_gathers_fields_a_block_of_rows_at_a_time_as_the_independent_reader_reads_them(
    tmp_path, monkeypatch
):
    """The reader copies the fields out a block of records at a time: blocks of one row and of three rows
    read what the whole-file block reads, every row as the independent reader reads it, in part too."""
    import cdiscgen.export._xpt_read as reader

    frame, variables = _mixed_frame(400)
    kwargs = dict(dataset="MX", label="Mixed", variables=variables, profile=CP1252, created=CREATED)
    path = write_xpt(frame, tmp_path / "mx.xpt", **kwargs)
    whole, _ = read_xpt(path, encoding="cp1252")
    got = ref.read(str(path), encoding="cp1252")
    assert whole.columns.tolist() == [v.name for v in got.variables]
    for i in range(len(frame)):
        usubjid, term, note, val, code = got.rows[i]
        assert [whole.USUBJID[i], whole.TERM[i], whole.NOTE[i], whole.CODE[i]] == [usubjid, term, note, code]
        assert same_number(whole.VAL[i], val)
    row_length = 6 + 12 + 4 + 8 + 6
    # blocks of 1 and 3 records; columns gathered one by one, in pairs (USUBJID+TERM: 18 bytes a record)
    for rows_per_block, group_bytes in ((1, 1), (3, 18 * 400), (1, 10**9)):
        monkeypatch.setattr(reader, "_GATHER_BYTES", rows_per_block * row_length)
        monkeypatch.setattr(reader, "_GROUP_BYTES", group_bytes)
        pd.testing.assert_frame_equal(read_xpt(path, encoding="cp1252")[0], whole)
        part, _ = read_xpt(path, encoding="cp1252", rows=(5, 399))
        pd.testing.assert_frame_equal(part, whole.iloc[5:399].reset_index(drop=True))


def test_a_disk_write_failing_behind_is_raised_and_leaves_the_old_file(tmp_path, monkeypatch):
    import cdiscgen.export._xpt as xpt_module
    from cdiscgen._overlap import writing_behind

    class FullDisk:
        def __init__(self, handle):
            self.handle, self.writes = handle, 0

        def write(self, buffer):
            self.writes += 1
            if self.writes == 3:
                raise OSError(28, "No space left on device")
            return self.handle.write(buffer)

    monkeypatch.setattr(xpt_module, "_ROWS_BUFFER_BYTES", 37)
    monkeypatch.setattr(xpt_module, "writing_behind", lambda handle: writing_behind(FullDisk(handle)))
    frame, variables = _mixed_frame(50)
    target = tmp_path / "x.xpt"
    target.write_bytes(b"old")
    with pytest.raises(OSError, match="No space left"):
        write_xpt(frame, target, dataset="X", label="", variables=variables, profile=CP1252, created=CREATED)
    assert [p.name for p in tmp_path.iterdir()] == ["x.xpt"] and target.read_bytes() == b"old"


def test_writing_behind_keeps_the_order_and_raises_in_the_caller():
    import threading
    import time

    from cdiscgen._overlap import writing_behind

    class Slow:
        def __init__(self, fail_at=None):
            self.got, self.fail_at, self.threads = [], fail_at, set()

        def write(self, buffer):
            self.threads.add(threading.get_ident())
            time.sleep(0.001 * (len(self.got) % 3))
            if len(self.got) == self.fail_at:
                raise OSError("boom")
            self.got.append(bytes(buffer))

    sink = Slow()
    with writing_behind(sink) as write:
        for i in range(40):
            write(str(i).encode())
    assert sink.got == [str(i).encode() for i in range(40)]
    assert sink.threads and threading.get_ident() not in sink.threads

    failing = Slow(fail_at=5)
    with pytest.raises(OSError, match="boom"), writing_behind(failing) as write:
        for i in range(40):
            write(str(i).encode())
    assert failing.got == [str(i).encode() for i in range(5)]

    waited = Slow()
    with pytest.raises(KeyError), writing_behind(waited) as write:
        write(b"a")
        write(b"b")
        raise KeyError("the caller's own error")
    assert waited.got == [b"a", b"b"]  # the thread finished with the handle before the error went on


def test_fda_profile_constants():
    assert (FDA.encoding, FDA.max_file_bytes) == ("ascii", 5 * 1024**3)


def test_reader_rejects_non_xpt(tmp_path):
    bogus = tmp_path / "bogus.xpt"
    bogus.write_bytes(b"x" * 800)
    with pytest.raises(XptError, match="not a SAS transport v5 file"):
        read_xpt(bogus)


def _one_char_column(tmp_path, values, profile=FDA):
    frame = pd.DataFrame({"C": pd.Series(values, dtype="str"), "N": np.arange(len(values), dtype=float)})
    variables = [XptVariable("C", "Text", "char"), XptVariable("N", "Number", "num")]
    return write_xpt(
        frame,
        tmp_path / "c.xpt",
        dataset="C",
        label="",
        variables=variables,
        profile=profile,
        created=CREATED,
    )


def _patch_field(path, row, raw):
    """Overwrite the C field of one row (C is the first variable, so it starts the row)."""
    data = bytearray(path.read_bytes())
    obs = data.find(b"HEADER RECORD*******OBS     HEADER RECORD!!!!!!!") + 80
    width = ref.read(str(path)).variables[0].length
    start = obs + row * (width + 8)
    data[start : start + width] = raw.ljust(width, b" ")
    path.write_bytes(bytes(data))


def test_reader_strips_trailing_blank_and_nul_padding(tmp_path):
    fields = [
        b"AB    ",
        b"AB\0\0\0\0",
        b"AB  \0\0",
        b"A B   ",
        b"      ",
        b"\0\0\0\0\0\0",
        b" A    ",
        b"A\0B   ",
    ]
    path = _one_char_column(tmp_path, ["xxxxxx"] * len(fields))
    for row, raw in enumerate(fields):
        _patch_field(path, row, raw)
    frame, _ = read_xpt(path)
    assert frame["C"].tolist() == ["AB", "AB", "AB", "A B", "", "", " A", "A\0B"]
    assert str(frame["C"].dtype) == "str" and frame["N"].tolist() == list(range(len(fields)))


def test_reader_zero_rows_keeps_columns_and_types(tmp_path):
    path = _one_char_column(tmp_path, [])
    frame, meta = read_xpt(path)
    assert frame.shape == (0, 2) and [v.name for v in meta.variables] == ["C", "N"]
    assert [str(t) for t in frame.dtypes] == ["str", "float64"]


def test_reader_names_the_row_of_a_byte_that_does_not_decode(tmp_path):
    path = _one_char_column(tmp_path, ["abc", "def", "ghi"], profile=PMDA)
    _patch_field(path, 1, b"d\xffe")
    with pytest.raises(XptError, match=r"C\.C row 2: bytes b'd\\xffe' do not decode as utf-8") as info:
        read_xpt(path, encoding="utf-8")
    assert (info.value.variable, info.value.row) == ("C", 2)
    with pytest.raises(XptError, match=r"C\.C row 2: .* do not decode as ascii"):
        read_xpt(path)
    frame, _ = read_xpt(path, encoding="latin-1")  # every byte decodes in a single-byte code page
    assert frame["C"].tolist() == ["abc", "d\xffe", "ghi"]


def test_reader_decodes_multibyte_utf8_and_single_byte_code_pages(tmp_path):
    path = _one_char_column(tmp_path, ["肝臓", "a  b", ""], profile=PMDA)
    frame, _ = read_xpt(path, encoding="utf-8")
    assert frame["C"].tolist() == ["肝臓", "a  b", ""]
    cp1252 = AgencyProfile("fda-cp1252", "cp1252", 5 * 1024**3)
    path = _one_char_column(tmp_path, ["Sponsor’s", "plain "], profile=cp1252)
    frame, _ = read_xpt(path, encoding="cp1252")
    assert frame["C"].tolist() == ["Sponsor’s", "plain"]


def test_reader_refuses_a_second_member(tmp_path):
    path = _one_char_column(tmp_path, ["a", "b"])
    data = path.read_bytes()
    member = data.find(b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!")
    path.write_bytes(data + data[member:])
    with pytest.raises(XptError, match="holds more than one member"):
        read_xpt(path)


def test_reader_of_some_records_refuses_a_second_member_found_in_any_slice(tmp_path, monkeypatch):
    """Records read in part look through the file a slice at a time, once per version of the file: a
    member appended after a first read is still found, in whichever slice it starts."""
    import cdiscgen.export._xpt_read as reader

    monkeypatch.setattr(reader, "_SCAN_BYTES", 2 * 80)
    path = _one_char_column(tmp_path, [f"v{i}" for i in range(200)])
    data = path.read_bytes()
    frame, meta = read_xpt(path, rows=(1, 3))
    assert frame["C"].tolist() == ["v1", "v2"] and meta.records == 200
    member = data.find(b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!")
    path.write_bytes(data + data[member:])
    with pytest.raises(XptError, match="holds more than one member"):
        read_xpt(path, rows=(1, 3))


# ----------------------------------------------------------------- hostile transport files (issue 28, item 6)
# Each was read with 0 findings: a 1-byte numeric read as missing in every row, two variables at one
# position read as a cut value, an unknown type code, a NUL member name; a FIFO hung the reader and a link
# to /dev/zero was skipped without a word.

NAMESTR = 140


def _namestr_offset(data: bytes, k: int) -> int:
    """Start of the NAMESTR record of variable k (0-based) in a file written with 140-byte NAMESTRs."""
    return data.find(b"HEADER RECORD*******NAMESTR HEADER RECORD!!!!!!!") + 80 + k * NAMESTR


def _patched(tmp_path, k: int | None, start: int, raw: bytes):
    frame, variables = lb_like()
    path = write_xpt(
        frame, tmp_path / "lb.xpt", dataset="LB", label="Lab", variables=variables, created=CREATED
    )
    data = bytearray(path.read_bytes())
    if k is None:  # the member (dataset) name, in the descriptor record two records after MEMBER
        at = data.find(b"HEADER RECORD*******MEMBER  HEADER RECORD!!!!!!!") + 160 + start
    else:
        at = _namestr_offset(bytes(data), k) + start
    data[at : at + len(raw)] = raw
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    "k,start,raw,words",
    [
        (
            2,
            4,
            (1).to_bytes(2, "big"),
            r"variable 3 \(LBSTRESN\): a numeric variable is 2 to 8 bytes long, not 1",
        ),
        (1, 84, (0).to_bytes(4, "big"), r"variable LBTESTCD starts at byte 0 of the row, inside USUBJID"),
        (3, 0, (7).to_bytes(2, "big"), r"variable 4 \(LBDT\): type code 7 is neither 1 \(numeric\) nor 2"),
        (None, 8, b"\0" * 8, r"member \(dataset\) name .* is empty or holds a byte that is not printable"),
        (1, 8, b"LB\0TESTC", r"variable 2 name b'LB\\x00TESTC' is empty or holds a byte"),
        (1, 8, b"USUBJID ", r"variable 2 \(USUBJID\): the name is used by an earlier variable"),
        (0, 4, (201).to_bytes(2, "big"), r"a character variable is 1 to 200 bytes long, not 201"),
    ],
    ids=["numeric-1-byte", "overlap", "type-7", "nul-member", "nul-variable", "repeated-name", "char-201"],
)
def test_reader_refuses_a_namestr_sas_could_not_have_written(tmp_path, k, start, raw, words):
    path = _patched(tmp_path, k, start, raw)
    with pytest.raises(XptError, match=words):
        read_xpt(path)


def _alarm(seconds: float):
    """Raise TimeoutError in this thread after `seconds` (a blocking open() of a FIFO is interrupted)."""
    import signal

    def fire(signum, frame):
        raise TimeoutError("the reader blocked")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    return lambda: (signal.setitimer(signal.ITIMER_REAL, 0), signal.signal(signal.SIGALRM, previous))


def test_only_regular_files_are_read_and_each_other_one_is_a_finding(tmp_path):
    import os

    from cdiscgen.validate import read_folder

    frame, variables = lb_like()
    write_xpt(frame, tmp_path / "lb.xpt", dataset="LB", label="Lab", variables=variables, created=CREATED)
    os.mkfifo(tmp_path / "dm.xpt")
    (tmp_path / "ae.xpt").symlink_to("/dev/zero")
    (tmp_path / "cm.xpt").symlink_to(tmp_path / "missing.xpt")
    (tmp_path / "vs.xpt").symlink_to(tmp_path / "lb.xpt")  # a link to a regular file is read
    with pytest.raises(XptError, match="is a FIFO, not a regular file"):
        read_xpt(tmp_path / "dm.xpt")
    stop = _alarm(20)
    try:
        frames, _metas, _files, notes = read_folder(tmp_path)
    finally:
        stop()
    assert sorted(frames) == ["LB", "VS"]
    got = sorted((n.code, n.dataset) for n in notes)
    assert got == [("CDG0002", "AE"), ("CDG0002", "CM"), ("CDG0002", "DM")]
    messages = " ".join(n.message for n in notes)
    assert "is a device (a link to /dev/zero)" in messages and "is a FIFO" in messages
    assert "No such file or directory" in messages


def test_the_first_and_last_sas_dates_are_written(tmp_path):
    frame = pd.DataFrame({"USUBJID": ["P-01", "P-02"], "ADT": [-138_061.0, 6_589_335.0]})
    variables = [
        XptVariable("USUBJID", "Subject", "char"),
        XptVariable("ADT", "Date", "num", format="DATE9."),
    ]
    path = write_xpt(frame, tmp_path / "t.xpt", dataset="T", label="", variables=variables, created=CREATED)
    assert read_xpt(path)[0]["ADT"].tolist() == [-138_061.0, 6_589_335.0]


def test_reader_of_some_variables_reads_them_as_the_independent_reader_does(tmp_path):
    """`columns`: only the variables named, in the file's order whatever the order asked, each value as
    the independent reader reads it; the metadata still lists every variable; a name the file lacks is an
    error naming it."""
    frame, variables = _mixed_frame(50)
    kwargs = dict(dataset="MX", label="Mixed", variables=variables, profile=CP1252, created=CREATED)
    path = write_xpt(frame, tmp_path / "mx.xpt", **kwargs)
    got = ref.read(str(path), encoding="cp1252")
    part, meta = read_xpt(path, encoding="cp1252", columns=["VAL", "USUBJID"])
    assert part.columns.tolist() == ["USUBJID", "VAL"]
    assert [v.name for v in meta.variables] == ["USUBJID", "TERM", "NOTE", "VAL", "CODE"]
    assert meta.records == 50
    assert part["USUBJID"].tolist() == [row[0] for row in got.rows]
    for value, row in zip(part["VAL"], got.rows, strict=True):
        assert same_number(value, row[3])
    some, _ = read_xpt(path, encoding="cp1252", columns=["NOTE"], rows=(3, 8))
    assert some["NOTE"].tolist() == [row[2] for row in got.rows[3:8]]
    with pytest.raises(XptError, match=r"mx\.xpt: holds no variable AGE, SEX"):
        read_xpt(path, encoding="cp1252", columns=["SEX", "USUBJID", "AGE"])


def test_text_is_ascii_looks_at_every_character_field_of_every_record(tmp_path, monkeypatch):
    """A byte above 0x7F in any character field of any record, in whichever block of records it falls,
    makes the file not ASCII; the same byte in a number's field (IBM floats use every byte) does not."""
    import cdiscgen.export._xpt_read as reader
    from cdiscgen.export._xpt_read import text_is_ascii

    monkeypatch.setattr(reader, "_ASCII_SCAN_BYTES", 3 * 80)  # a block of a few records
    path = _one_char_column(tmp_path, [f"v{i}" for i in range(40)])
    assert text_is_ascii(path)
    data = path.read_bytes()
    for row in (0, 17, 39):
        _patch_field(path, row, b"v\x92")
        assert not text_is_ascii(path), row
        path.write_bytes(data)
    assert text_is_ascii(path)
    frame = pd.DataFrame({"X": [-1.5, -0.1, 2.0**-70]})  # sign bit and mantissa bytes >= 0x80
    numbers = write_xpt(frame, tmp_path / "n.xpt", dataset="N", label="", variables=[XptVariable("X", "", "num")],
                        created=CREATED)  # fmt: skip
    assert np.frombuffer(numbers.read_bytes()[-80:], dtype=np.uint8).max() >= 0x80
    assert text_is_ascii(numbers)
    (tmp_path / "bad.xpt").write_bytes(b"not a transport file" * 40)
    assert not text_is_ascii(tmp_path / "bad.xpt")
