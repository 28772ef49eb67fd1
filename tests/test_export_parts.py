"""Datasets written in parts (subject partitions, issue 16): XPT, Dataset-JSON and NDJSON streamed part by
part are the bytes of the whole frame written at once; errors name the row of the whole dataset; the
file's header, padding and last-row check see the dataset, not a part."""

from __future__ import annotations

from datetime import datetime
from itertools import pairwise

import pandas as pd
import pytest

from cdiscgen.export import (
    FDA,
    AgencyProfile,
    DatasetJsonError,
    DatasetParts,
    JsonColumn,
    XptError,
    XptVariable,
    compute_xpt_lengths,
    read_xpt,
    write_dataset_json,
    write_dataset_json_and_ndjson,
    write_dataset_ndjson,
    write_xpt,
    write_xpt_split,
)
from tests.conftest import refdata_path

CREATED = datetime(2026, 12, 6, 10, 0, 0)


def _parts(name: str, frame: pd.DataFrame, cuts: list[int]) -> DatasetParts:
    """`frame` in consecutive slices ending at each cut (an empty slice where two cuts are equal)."""
    bounds = [0, *cuts, len(frame)]
    readers = tuple((lambda a=a, b=b: frame.iloc[a:b].reset_index(drop=True)) for a, b in pairwise(bounds))
    return DatasetParts(name, readers, len(frame), tuple(frame.columns))


def _fixed(variables: list[XptVariable], parts: DatasetParts) -> list[XptVariable]:
    """The variables with each character length the longest over the parts (as a partitioned run does)."""
    longest: dict[str, int] = {}
    for _, part in parts.parts():
        for name, length in compute_xpt_lengths(part, variables, profile=FDA, dataset=parts.name).items():
            longest[name] = max(longest.get(name, 0), length)
    return [XptVariable(v.name, v.label, v.type, longest[v.name], v.format) for v in variables]


@pytest.fixture(scope="module")
def pilot_lb():
    """A real dataset with many rows and columns of varied widths: the SDTM-MSG's LB."""
    frame, meta = read_xpt(refdata_path("sdtm-msg-2.0", "lb.xpt"))
    variables = [XptVariable(v.name, v.label, v.type, None, v.format) for v in meta.variables]
    return frame, variables


def test_xpt_in_parts_is_the_whole_file(tmp_path, pilot_lb):
    frame, variables = pilot_lb
    whole = write_xpt(
        frame, tmp_path / "whole.xpt", dataset="LB", label="Laboratory", variables=variables, created=CREATED
    )
    parts = _parts("LB", frame, [1000, 1000, 2501, len(frame) - 3])
    fixed = _fixed(variables, parts)
    # the rows do not fill the last 80-byte record: the padding after the last part is at stake
    assert len(frame) * sum(v.length or 8 for v in fixed) % 80
    streamed = write_xpt(
        parts, tmp_path / "parts.xpt", dataset="LB", label="Laboratory", variables=fixed, created=CREATED
    )
    assert streamed.read_bytes() == whole.read_bytes()
    folder = tmp_path / "folder"
    folder.mkdir()
    split = write_xpt_split(parts, folder, dataset="LB", label="Laboratory", variables=fixed, created=CREATED)
    assert [p.name for p in split] == ["lb.xpt"] and split[0].read_bytes() == whole.read_bytes()


def _json_columns(frame: pd.DataFrame) -> list[JsonColumn]:
    return [
        JsonColumn(f"IT.LB.{c}", c, c.title(), "double" if frame[c].dtype.kind == "f" else "string")
        for c in frame.columns
    ]


_JSON_COMMON = {
    "dataset": "LB",
    "label": "Laboratory",
    "study_oid": "S",
    "metadata_version_oid": "MDV",
    "metadata_ref": "define.xml",
    "created": CREATED,
    "originator": "test",
    "source_system": ("cdiscgen", "test"),
    "item_group_oid": "IG.LB",
}


@pytest.mark.parametrize("writer", [write_dataset_json, write_dataset_ndjson], ids=["json", "ndjson"])
def test_dataset_json_in_parts_is_the_whole_file(tmp_path, pilot_lb, writer):
    frame, _ = pilot_lb
    columns = _json_columns(frame)
    # 69,760 rows: the second part crosses the writer's chunks of 65,536 rows
    many = pd.concat([frame] * 20, ignore_index=True)
    parts = _parts("LB", many, [0, 2000])
    whole = writer(many, tmp_path / "whole.json", columns=columns, **_JSON_COMMON)
    streamed = writer(parts, tmp_path / "parts.json", columns=columns, **_JSON_COMMON)
    assert streamed.read_bytes() == whole.read_bytes()


def test_json_and_ndjson_from_one_pass_are_each_writers_files(tmp_path, pilot_lb):
    frame, _ = pilot_lb
    many = pd.concat([frame] * 20, ignore_index=True)  # crosses the writer's chunks of 65,536 rows
    # values whose JSON text holds what separates rows: a line break, a comma before one, quotes
    many.loc[[0, 70_000 % len(many), len(many) - 1], "LBORRES"] = ["a,\nb", 'x",\n"y', ",\r\n\t\u00e9"]
    columns = _json_columns(many)
    for data, name in ((many, "whole"), (_parts("LB", many, [0, 2000]), "parts"), (many.iloc[:0], "empty")):
        one, nd = write_dataset_json_and_ndjson(
            data, tmp_path / f"{name}.json", tmp_path / f"{name}.ndjson", columns=columns, **_JSON_COMMON
        )
        alone = write_dataset_json(data, tmp_path / f"{name}-alone.json", columns=columns, **_JSON_COMMON)
        nd_alone = write_dataset_ndjson(
            data, tmp_path / f"{name}-alone.ndjson", columns=columns, **_JSON_COMMON
        )
        assert one.read_bytes() == alone.read_bytes() and nd.read_bytes() == nd_alone.read_bytes()


#: The small adverse-event dataset's file arguments.
_AE = {"dataset": "AE", "label": "Adverse", "created": CREATED}


def _small() -> tuple[pd.DataFrame, list[XptVariable]]:
    frame = pd.DataFrame(
        {
            "USUBJID": [f"S-{i}" for i in range(10)],
            "TERM": ["a", "bb", "", "ccc", "d", "e", "f", "", "g", "h"],
        }
    )
    return frame, [XptVariable("USUBJID", "Subject", "char", 4), XptVariable("TERM", "Term", "char", 3)]


def test_an_error_in_a_later_part_names_the_row_of_the_whole_dataset(tmp_path):
    frame, variables = _small()
    frame.loc[7, "TERM"] = "\u00e9"  # non-ASCII at dataset row 8, part 2 row 3
    parts = _parts("AE", frame, [5])
    with pytest.raises(XptError) as caught:
        write_xpt(parts, tmp_path / "ae.xpt", variables=variables, **_AE)
    assert caught.value.row == 8 and caught.value.usubjid == "S-7" and "row 8" in str(caught.value)
    assert not list(tmp_path.iterdir())  # no file, no temporary file left

    columns = [
        JsonColumn("IT.AE.USUBJID", "USUBJID", "Subject", "string"),
        JsonColumn("IT.AE.TERM", "TERM", "Term", "string"),
    ]
    later = frame.astype({"TERM": object})
    later.loc[9, "TERM"] = 7  # a number in a text column at dataset row 10, part 2 row 5
    with pytest.raises(DatasetJsonError) as failed:
        write_dataset_json(
            _parts("AE", later, [5]),
            tmp_path / "ae.json",
            columns=columns,
            **{**_JSON_COMMON, "dataset": "AE"},
        )
    assert failed.value.row == 10, failed.value
    assert not list(tmp_path.iterdir())


def test_parts_need_every_character_length(tmp_path):
    frame, variables = _small()
    open_ended = [variables[0], XptVariable("TERM", "Term", "char", None)]
    with pytest.raises(XptError, match="TERM need their length"):
        write_xpt(
            _parts("AE", frame, [5]),
            tmp_path / "ae.xpt",
            variables=open_ended,
            **_AE,
        )


def test_only_the_last_row_of_the_dataset_is_checked_for_being_blank(tmp_path):
    frame, variables = _small()
    # part 1 ends on a blank TERM and a blank USUBJID: a blank row inside the dataset is data
    frame.loc[4, ["USUBJID", "TERM"]] = ""
    whole = write_xpt(frame, tmp_path / "whole.xpt", variables=variables, **_AE)
    streamed = write_xpt(
        _parts("AE", frame, [5]),
        tmp_path / "parts.xpt",
        variables=variables,
        **_AE,
    )
    assert streamed.read_bytes() == whole.read_bytes()
    frame.loc[9, ["USUBJID", "TERM"]] = ""
    with pytest.raises(XptError, match="last row is blank") as caught:
        write_xpt(
            _parts("AE", frame, [5]),
            tmp_path / "last.xpt",
            variables=variables,
            **_AE,
        )
    assert caught.value.row == 10
    assert not (tmp_path / "last.xpt").exists()


def test_parts_that_do_not_add_up_are_refused_and_nothing_is_written(tmp_path):
    frame, variables = _small()
    short = DatasetParts("AE", _parts("AE", frame, [5]).readers[:1], len(frame), tuple(frame.columns))
    with pytest.raises(ValueError, match="hold 5 rows, not the 10 declared"):
        write_xpt(short, tmp_path / "ae.xpt", variables=variables, **_AE)
    renamed = DatasetParts("AE", _parts("AE", frame, [5]).readers, len(frame), ("USUBJID", "AETERM"))
    with pytest.raises(ValueError, match="part 1 has columns"):
        write_dataset_ndjson(
            renamed,
            tmp_path / "ae.ndjson",
            columns=[
                JsonColumn("IT.AE.USUBJID", "USUBJID", "Subject", "string"),
                JsonColumn("IT.AE.AETERM", "AETERM", "Term", "string"),
            ],
            **{**_JSON_COMMON, "dataset": "AE"},
        )
    assert not list(tmp_path.iterdir())


def _split_files(folder) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()
    }


@pytest.mark.parametrize(
    "split_by, cuts",
    [("LBCAT", [1000, 1000, 2501, 5000]), ("LBTESTCD", [7, 3000]), (None, [1000, 2501]), ("LBTESTCD", [])],
    ids=["by-category", "by-test", "by-rows", "one-part"],
)
def test_parts_over_the_agency_limit_are_split_as_the_whole_frame(tmp_path, pilot_lb, split_by, cuts):
    """A dataset of subject partitions over the agency's file limit: the full file and every split part
    are the bytes the whole frame gives: whole groups of split_by packed in value order (a missing value
    last), or slices of rows where a group alone is over the limit (LBCAT here) or there is no split_by."""
    frame, variables = pilot_lb
    frame = frame.copy()
    frame.loc[frame.index[100:130], "LBTESTCD"] = ""  # an empty value sorts first
    frame["LBTESTCD"] = frame["LBTESTCD"].where(frame.index % 97 != 5, None)  # missing: the last group
    parts = _parts("LB", frame, cuts)
    fixed = _fixed(variables, parts)
    row_length = sum(v.length or 8 for v in fixed)
    limit = AgencyProfile("small", "ascii", 40 * 80 + 700 * row_length)  # ~700 rows a file
    common = {
        "dataset": "LB",
        "label": "Laboratory",
        "variables": fixed,
        "profile": limit,
        "created": CREATED,
    }
    (tmp_path / "whole").mkdir()
    (tmp_path / "parts").mkdir()
    whole = write_xpt_split(frame, tmp_path / "whole", split_by=split_by, **common)
    streamed = write_xpt_split(parts, tmp_path / "parts", split_by=split_by, **common)
    assert len(whole) > 3 and [p.name for p in streamed] == [p.name for p in whole]
    assert _split_files(tmp_path / "parts") == _split_files(tmp_path / "whole")  # no scratch left behind
    assert all(p.stat().st_size <= limit.max_file_bytes for p in whole[1:])


def test_a_dataset_in_parts_within_the_limit_is_one_file(tmp_path):
    frame, variables = _small()
    tiny = AgencyProfile("tiny", "ascii", 2000)  # headers 1,040 bytes + 10 rows of 7 bytes fit
    written = write_xpt_split(_parts("AE", frame, [5]), tmp_path, variables=variables, profile=tiny, **_AE)
    assert [p.name for p in written] == ["ae.xpt"]
