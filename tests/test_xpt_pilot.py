"""CDISC pilot and MSG sample XPTs: read, rewrite with our writer, read again."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pyreadstat
import pytest

from cdiscgen.export import FDA, AgencyProfile, XptError, XptVariable, read_xpt, write_xpt
from tests import xpt_reference_reader as ref

REFDATA = Path(__file__).resolve().parents[1].parent / "shared" / "refdata"  # ../shared/refdata
PILOT_FILES = sorted(
    [
        *REFDATA.glob("cdiscpilot01/sdtm/*.xpt"),
        *REFDATA.glob("cdiscpilot01/adam/*.xpt"),
        *REFDATA.glob("sdtm-msg-2.0/*.xpt"),
        *REFDATA.glob("adam-msg-1.0/*.xpt"),
    ]
)
TS_CP1252 = REFDATA / "cdiscpilot01" / "sdtm" / "ts.xpt"
CP1252 = AgencyProfile("fda-cp1252", "cp1252", 5 * 1024**3)
CREATED = datetime(2025, 3, 28, 0, 0, 0)

pytestmark = pytest.mark.skipif(
    not REFDATA.is_dir(), reason="reference data folder ../shared/refdata is absent"
)


def _encoding(path: Path) -> str:
    return "cp1252" if path == TS_CP1252 else "ascii"


def _same(a: list, b: list) -> bool:
    return all(
        (isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y)) or x == y
        for x, y in zip(a, b, strict=True)
    )


@pytest.mark.parametrize(
    "path", PILOT_FILES, ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}/{p.name}"
)
def test_pilot_round_trip(tmp_path, path):
    encoding = _encoding(path)
    profile = CP1252 if encoding == "cp1252" else FDA
    original = ref.read(str(path), encoding=encoding)
    frame, meta = read_xpt(path, encoding=encoding)
    # our reader agrees with pyreadstat on the original
    df, pmeta = pyreadstat.read_xport(str(path), encoding=encoding, disable_datetime_conversion=True)
    assert list(df.columns) == list(frame.columns) and len(df) == len(frame)
    for col in df.columns:
        expected = [("" if v is None else v) for v in df[col].tolist()]
        assert _same(frame[col].tolist(), expected), col
    # rewrite: same labels and formats, lengths computed (None)
    variables = [XptVariable(v.name, v.label, v.type, None, v.format) for v in meta.variables]
    out = write_xpt(
        frame,
        tmp_path / path.name,
        dataset=meta.dataset,
        label=meta.label,
        variables=variables,
        profile=profile,
        created=CREATED,
    )
    again = ref.read(str(out), encoding=encoding)
    assert again.rows == original.rows
    assert again.dataset == original.dataset and again.dataset_label == original.dataset_label
    for new, old in zip(again.variables, original.variables, strict=True):
        assert (new.name, new.label, new.ntype, new.format_name, new.format_length, new.format_decimals) == (
            old.name,
            old.label,
            old.ntype,
            old.format_name,
            old.format_length,
            old.format_decimals,
        )
        assert new.length <= old.length, f"{new.name}: {new.length} > {old.length}"
    # pyreadstat agrees on the rewritten file, including labels
    df2, pmeta2 = pyreadstat.read_xport(str(out), encoding=encoding, disable_datetime_conversion=True)
    assert pmeta2.column_names_to_labels == pmeta.column_names_to_labels
    for col in df.columns:
        assert _same(df2[col].tolist(), df[col].tolist()), col


@pytest.mark.skipif(not TS_CP1252.exists(), reason="cdiscpilot01/sdtm/ts.xpt is absent")
def test_cp1252_byte_is_refused_under_fda(tmp_path):
    frame, meta = read_xpt(TS_CP1252, encoding="cp1252")
    variables = [XptVariable(v.name, v.label, v.type, None, v.format) for v in meta.variables]
    with pytest.raises(XptError, match=r"TS\.\w+: non-ASCII text .*row \d+, value") as info:
        write_xpt(
            frame,
            tmp_path / "ts.xpt",
            dataset="TS",
            label="",
            variables=variables,
            profile=FDA,
            created=CREATED,
        )
    assert "\u2019" in info.value.value  # 0x92 in cp1252 is U+2019 RIGHT SINGLE QUOTATION MARK
    assert list(tmp_path.iterdir()) == []
    # reading it as ASCII is refused too, naming the variable and the row
    with pytest.raises(XptError, match="do not decode as ascii"):
        read_xpt(TS_CP1252)


RANGE_FILES = [REFDATA / "sdtm-msg-2.0" / "lb.xpt", REFDATA / "cdiscpilot01" / "sdtm" / "ex.xpt"]


@pytest.mark.parametrize("path", [p for p in RANGE_FILES if p.exists()], ids=lambda p: p.parent.name)
@pytest.mark.parametrize("where", ["start", "middle", "end", "empty"])
def test_reading_a_range_of_records_gives_those_records(path, where):
    """A subject partition of a large file is read as a range of its records (issue 16): pyreadstat reads
    the same records with its own row offset and limit."""
    total = len(pyreadstat.read_xport(str(path), usecols=["USUBJID"])[0])
    start, stop = {
        "start": (0, 7),
        "middle": (total // 3, total // 3 + 101),
        "end": (total - 5, total),
        "empty": (total // 2, total // 2),
    }[where]
    frame, meta = read_xpt(path, rows=(start, stop))
    assert list(frame.index) == list(range(stop - start))
    assert meta == read_xpt(path)[1]
    if stop == start:
        assert list(frame.columns) == [v.name for v in meta.variables]
        return
    df, _ = pyreadstat.read_xport(
        str(path), row_offset=start, row_limit=stop - start, disable_datetime_conversion=True
    )
    assert list(df.columns) == list(frame.columns) and len(df) == stop - start
    for col in df.columns:
        expected = [("" if v is None else v) for v in df[col].tolist()]
        assert _same(frame[col].tolist(), expected), col


def test_a_range_outside_the_file_is_refused_with_the_records_it_holds():
    path = RANGE_FILES[0]
    total = len(read_xpt(path)[0])
    with pytest.raises(
        XptError, match=rf"records {total - 1}-{total + 1} asked for; the file holds {total:,}"
    ):
        read_xpt(path, rows=(total - 1, total + 1))


@pytest.mark.skipif(not TS_CP1252.exists(), reason="cdiscpilot01/sdtm/ts.xpt is absent")
def test_an_undecodable_value_in_a_range_names_its_row_of_the_file():
    with pytest.raises(XptError) as whole:
        read_xpt(TS_CP1252)
    row = whole.value.row  # 1-based row of the file
    with pytest.raises(XptError) as part:
        read_xpt(TS_CP1252, rows=(row - 2, row))
    assert part.value.row == row and f"row {row}:" in str(part.value)
    frame, _ = read_xpt(TS_CP1252, rows=(0, row - 1))  # the rows before it decode
    assert len(frame) == row - 1
