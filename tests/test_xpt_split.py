"""write_xpt_split: parts under the limit, whole groups, sizes computed, parts add up to the whole."""

from __future__ import annotations

import math
from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from cdiscgen.export import AgencyProfile, XptError, XptVariable, compute_xpt_size, read_xpt, write_xpt_split

CREATED = datetime(2025, 3, 28, 0, 0, 0)
VARIABLES = [
    XptVariable("USUBJID", "Unique Subject Identifier", "char"),
    XptVariable("LBCAT", "Category for Lab Test", "char"),
    XptVariable("LBSEQ", "Sequence Number", "num"),
    XptVariable("LBSTRESN", "Numeric Result/Finding in Standard Units", "num"),
]


def lb(n: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    cats = np.array(["CHEMISTRY", "HEMATOLOGY", "URINALYSIS", "IMMUNOLOGY"])
    return pd.DataFrame(
        {
            "USUBJID": [f"DARPAL-{i // 10:03d}" for i in range(n)],
            "LBCAT": cats[rng.integers(0, 4, n)],
            "LBSEQ": np.arange(1, n + 1, dtype=float),
            "LBSTRESN": rng.normal(50, 10, n).round(2),
        }
    )


def size_of(rows: int, row_length: int = 12 + 10 + 8 + 8, n_vars: int = 4) -> int:
    # 9 header records + NAMESTRs (140 each) padded to 80 + rows padded to 80
    return 720 + math.ceil(140 * n_vars / 80) * 80 + math.ceil(rows * row_length / 80) * 80


def test_row_length_assumption():
    frame = lb()
    # USUBJID 'DARPAL-000' is 10 bytes, LBCAT longest 'HEMATOLOGY'/'URINALYSIS'/'IMMUNOLOGY' is 10
    assert compute_xpt_size(frame, VARIABLES, profile=AgencyProfile("t", "ascii", 1)) == size_of(
        300, 10 + 10 + 16
    )


@pytest.mark.parametrize("split_by", ["LBCAT", None])
def test_split_parts_under_limit_and_add_up(tmp_path, split_by):
    frame = lb()
    row_length = 36
    full_size = size_of(300, row_length)  # 720 + 560 + 10800 = 12080
    limit = 6000  # fixed part 720 + 560 = 1280 bytes -> at most (4720 // 80 * 80) // 36 = 131 rows per part
    profile = AgencyProfile("tiny", "ascii", limit)
    paths = write_xpt_split(
        frame,
        tmp_path,
        dataset="LB",
        label="Laboratory Test Results",
        variables=VARIABLES,
        profile=profile,
        created=CREATED,
        split_by=split_by,
    )
    full, parts = paths[0], paths[1:]
    assert full == tmp_path / "lb.xpt" and full.stat().st_size == full_size
    assert [p.name for p in parts] == [f"lb{k}.xpt" for k in range(1, len(parts) + 1)]
    assert all(p.parent == tmp_path / "split" for p in parts)
    for p in parts:
        back, meta = read_xpt(p)
        assert p.stat().st_size <= limit
        assert p.stat().st_size == size_of(len(back), row_length)  # computed size == actual size
        assert [v.length for v in meta.variables] == [10, 10, 8, 8]  # the full dataset's lengths
    pieces = [read_xpt(p)[0] for p in parts]
    whole, _ = read_xpt(full)
    combined = pd.concat(pieces, ignore_index=True)
    if split_by is None:
        assert [len(p) for p in pieces] == [131, 131, 38]
        pd.testing.assert_frame_equal(combined, whole)
    else:
        # whole groups: every LBCAT value lives in exactly one part
        owners = {
            cat: {k for k, piece in enumerate(pieces) if (piece.LBCAT == cat).any()} for cat in whole.LBCAT
        }
        assert all(len(o) == 1 for o in owners.values())
        assert len(parts) >= 2  # ~75 rows per category, 131 rows per part
        # parts hold the rows grouped by LBCAT (sorted), original order kept inside each group
        expected = whole.sort_values("LBCAT", kind="stable").reset_index(drop=True)
        pd.testing.assert_frame_equal(combined, expected)


def test_group_too_big_falls_back_to_row_order(tmp_path):
    # one group of 300 rows; LBCAT is now 9 bytes, row 35 bytes: (4000 - 1280) // 80 * 80 // 35 = 77 rows/part
    frame = lb().assign(LBCAT="CHEMISTRY")
    paths = write_xpt_split(
        frame,
        tmp_path,
        dataset="LB",
        label="",
        variables=VARIABLES,
        profile=AgencyProfile("tiny", "ascii", 4000),
        created=CREATED,
        split_by="LBCAT",
    )
    pieces = [read_xpt(p)[0] for p in paths[1:]]
    assert [len(p) for p in pieces] == [77, 77, 77, 69]
    pd.testing.assert_frame_equal(pd.concat(pieces, ignore_index=True), read_xpt(paths[0])[0])


def test_under_the_limit_no_split_and_stale_parts_removed(tmp_path):
    frame = lb()
    write_xpt_split(
        frame,
        tmp_path,
        dataset="LB",
        label="",
        variables=VARIABLES,
        profile=AgencyProfile("tiny", "ascii", 4000),
        created=CREATED,
    )
    assert len(list((tmp_path / "split").glob("lb*.xpt"))) == 4
    (tmp_path / "split" / "lbx.xpt").write_bytes(b"keep me")  # not one of our parts
    paths = write_xpt_split(
        frame,
        tmp_path,
        dataset="LB",
        label="",
        variables=VARIABLES,
        profile=AgencyProfile("big", "ascii", 10**9),
        created=CREATED,
    )
    assert paths == [tmp_path / "lb.xpt"]
    assert sorted(p.name for p in (tmp_path / "split").iterdir()) == ["lbx.xpt"]


def test_limit_below_one_row_is_an_error(tmp_path):
    with pytest.raises(XptError, match="exceeds the tiny limit"):
        write_xpt_split(
            lb(),
            tmp_path,
            dataset="LB",
            label="",
            variables=VARIABLES,
            profile=AgencyProfile("tiny", "ascii", 1300),
            created=CREATED,
        )
