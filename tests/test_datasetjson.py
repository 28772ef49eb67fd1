"""Dataset-JSON 1.1 and NDJSON: schema-valid, values round-trip through json.loads, spec structure."""

from __future__ import annotations

import json
import math
from datetime import datetime
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cdiscgen.export import DatasetJsonError, JsonColumn, read_xpt, write_dataset_json, write_dataset_ndjson

REFDATA = Path(__file__).resolve().parents[1].parent / "shared" / "refdata"  # ../shared/refdata
DSJ = REFDATA / "dataset-json-1.1"
needs_refdata = pytest.mark.skipif(
    not DSJ.is_dir(), reason="reference data folder ../shared/refdata is absent"
)
CREATED = datetime(2025, 3, 28, 9, 30, 0)
COMMON = dict(
    study_oid="cdisc.com/DARPAL",
    metadata_version_oid="MDV.DARPAL.ADaMIG.1.3",
    metadata_ref="define.xml",
    created=CREATED,
    originator="cdiscgen tests",
    source_system=("cdiscgen", "0.1.0"),
)


def schema(name: str) -> dict:
    return json.loads((DSJ / "schema" / name).read_text(encoding="utf-8"))


def adsl_like() -> tuple[pd.DataFrame, list[JsonColumn]]:
    frame = pd.DataFrame(
        {
            "USUBJID": ["DARPAL-001", "DARPAL-002", "DARPAL-003"],
            "AGE": [63.0, np.nan, 71.0],
            "TRTSDT": [19725.0, np.nan, 0.0],  # SAS days: 19725 = 2014-01-02 (see test), 0 = 1960-01-01
            "BMIBL": [25.1, 30.8983333232059, np.nan],
            "DCSREAS": ["", None, 'Said "no"\\ then left'],
        }
    )
    columns = [
        JsonColumn(
            "IT.ADSL.USUBJID", "USUBJID", "Unique Subject Identifier", "string", length=10, key_sequence=1
        ),
        JsonColumn("IT.ADSL.AGE", "AGE", "Age", "integer"),
        JsonColumn(
            "IT.ADSL.TRTSDT",
            "TRTSDT",
            "Date of First Exposure to Treatment",
            "date",
            "integer",
            display_format="DATE9.",
        ),
        JsonColumn("IT.ADSL.BMIBL", "BMIBL", "Baseline BMI (kg/m^2)", "float"),
        JsonColumn(
            "IT.ADSL.DCSREAS", "DCSREAS", "Reason for Discontinuation from Study", "string", length=23
        ),
    ]
    return frame, columns


@needs_refdata
def test_json_is_schema_valid_and_values_round_trip(tmp_path):
    frame, columns = adsl_like()
    path = write_dataset_json(
        frame,
        tmp_path / "adsl.json",
        dataset="ADSL",
        label="Subject-Level Analysis Dataset",
        columns=columns,
        item_group_oid="IG.ADSL",
        **COMMON,
    )
    doc = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft201909Validator(schema("dataset.schema.json")).validate(doc)
    assert doc["records"] == 3 and doc["datasetJSONCreationDateTime"] == "2025-03-28T09:30:00"
    # 19725 days after 1960-01-01: 54 years (1960..2013, 14 leap days) = 54*365 + 14 = 19724 -> 2014-01-01,
    # +1 -> 2014-01-02 (the CDISC pilot ADSL's first TRTSDT)
    assert doc["rows"] == [
        ["DARPAL-001", 63, "2014-01-02", 25.1, ""],
        ["DARPAL-002", None, None, 30.8983333232059, None],
        ["DARPAL-003", 71, "1960-01-01", None, 'Said "no"\\ then left'],
    ]
    assert doc["columns"][2] == {
        "itemOID": "IT.ADSL.TRTSDT",
        "name": "TRTSDT",
        "label": "Date of First Exposure to Treatment",
        "dataType": "date",
        "targetDataType": "integer",
        "displayFormat": "DATE9.",
    }


@needs_refdata
def test_ndjson_metadata_line_is_valid_and_rows_match_json(tmp_path):
    frame, columns = adsl_like()
    kwargs = dict(
        dataset="ADSL",
        label="Subject-Level Analysis Dataset",
        columns=columns,
        item_group_oid="IG.ADSL",
        **COMMON,
    )
    nd = write_dataset_ndjson(frame, tmp_path / "adsl.ndjson", **kwargs)
    js = write_dataset_json(frame, tmp_path / "adsl.json", **kwargs)
    lines = nd.read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0])
    jsonschema.Draft201909Validator(schema("dataset-ndjson-schema.cdisc-rules-engine-0.17.1.json")).validate(
        meta
    )
    doc = json.loads(js.read_text(encoding="utf-8"))
    assert meta == {k: v for k, v in doc.items() if k != "rows"}
    assert [json.loads(line) for line in lines[1:]] == doc["rows"]


@needs_refdata
def test_structure_and_values_match_the_cdisc_dm_example(tmp_path):
    """Rebuild examples/sdtm/dm.json from sdtm-msg-2.0/dm.xpt (the same SDTM-MSG data) with the example's
    own column metadata: the key order and every row must come out the same."""
    example = json.loads((DSJ / "examples" / "sdtm" / "dm.json").read_text(encoding="utf-8"))
    frame, _ = read_xpt(REFDATA / "sdtm-msg-2.0" / "dm.xpt")
    columns = [
        JsonColumn(
            c["itemOID"],
            c["name"],
            c["label"],
            c["dataType"],
            c.get("targetDataType"),
            c.get("length"),
            c.get("displayFormat"),
            c.get("keySequence"),
        )
        for c in example["columns"]
    ]
    frame = frame[[c.name for c in columns]]
    path = write_dataset_json(
        frame,
        tmp_path / "dm.json",
        dataset=example["name"],
        label=example["label"],
        columns=columns,
        study_oid=example["studyOID"],
        metadata_version_oid=example["metaDataVersionOID"],
        metadata_ref=example["metaDataRef"],
        created=datetime.fromisoformat(example["datasetJSONCreationDateTime"]),
        originator=example["originator"],
        source_system=(example["sourceSystem"]["name"], example["sourceSystem"]["version"]),
        item_group_oid=example["itemGroupOID"],
        file_oid=example["fileOID"],
        db_last_modified=datetime.fromisoformat(example["dbLastModifiedDateTime"]),
    )
    ours = json.loads(path.read_text(encoding="utf-8"))
    assert list(ours) == list(example)  # same attributes in the same (spec) order
    assert [list(c) for c in ours["columns"]] == [list(c) for c in example["columns"]]
    assert {k: v for k, v in ours.items() if k != "rows"} == {k: v for k, v in example.items() if k != "rows"}
    assert ours["rows"] == example["rows"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    texts=st.lists(st.one_of(st.none(), st.text(max_size=30)), min_size=1, max_size=20),
    data=st.data(),
)
def test_any_text_and_double_round_trips(tmp_path_factory, texts, data):
    n = len(texts)
    doubles = data.draw(
        st.lists(st.one_of(st.floats(allow_infinity=False), st.just(math.nan)), min_size=n, max_size=n)
    )
    ints = data.draw(st.lists(st.integers(-(2**53), 2**53), min_size=n, max_size=n))
    frame = pd.DataFrame(
        {
            "T": pd.Series(texts, dtype=object),
            "D": pd.Series(doubles, dtype="float64"),
            "I": pd.Series(ints, dtype="int64"),
        }
    )
    columns = [
        JsonColumn("IT.T", "T", "t", "string"),
        JsonColumn("IT.D", "D", "d", "double"),
        JsonColumn("IT.I", "I", "i", "integer"),
    ]
    path = tmp_path_factory.mktemp("dsj") / "x.json"
    write_dataset_json(frame, path, dataset="X", label="", columns=columns, item_group_oid="IG.X", **COMMON)
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    assert [r[0] for r in rows] == texts
    assert [r[1] for r in rows] == [None if math.isnan(d) else d for d in doubles]
    assert [r[2] for r in rows] == ints


def test_reruns_are_byte_identical(tmp_path):
    frame, columns = adsl_like()
    kwargs = dict(dataset="ADSL", label="ADSL", columns=columns, item_group_oid="IG.ADSL", **COMMON)
    a = write_dataset_json(frame, tmp_path / "a.json", **kwargs).read_bytes()
    b = write_dataset_json(frame, tmp_path / "b.json", **kwargs).read_bytes()
    assert a == b


def test_many_rows_stream_in_chunks(tmp_path):
    n = 150_000  # more than two 65,536-row chunks
    frame = pd.DataFrame({"SEQ": np.arange(n, dtype=float), "C": np.where(np.arange(n) % 2 == 0, "a", "b")})
    columns = [JsonColumn("IT.SEQ", "SEQ", "Seq", "integer"), JsonColumn("IT.C", "C", "c", "string")]
    path = write_dataset_json(
        frame,
        tmp_path / "big.json",
        dataset="BIG",
        label="",
        columns=columns,
        item_group_oid="IG.BIG",
        **COMMON,
    )
    rows = json.loads(path.read_text(encoding="utf-8"))["rows"]
    assert len(rows) == n and rows[0] == [0, "a"] and rows[65536] == [65536, "a"] and rows[-1] == [n - 1, "b"]


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        (
            lambda f, c: (f.assign(AGE=[63.5, 1.0, 2.0]), c),
            r"ADSL\.AGE: dataType integer needs whole numbers \(row 1, value 63\.5\)",
        ),
        (lambda f, c: (f.assign(BMIBL=[1.0, np.inf, 2.0]), c), r"ADSL\.BMIBL: infinity .*row 2"),
        (lambda f, c: (f.assign(EXTRA=1), c), r"frame column\(s\) \['EXTRA'\] are not declared"),
        (lambda f, c: (f.drop(columns="AGE"), c), r"declared column\(s\) \['AGE'\] are not in the frame"),
        (
            lambda f, c: (f, [*c[:1], JsonColumn("IT.AGE", "AGE", "Age", "number"), *c[2:]]),
            "unknown dataType 'number'",
        ),
        (lambda f, c: (f.assign(USUBJID=[1.0, 2.0, 3.0]), c), r"ADSL\.USUBJID: dataType string needs text"),
    ],
)
def test_bad_input_is_an_error_and_leaves_no_file(tmp_path, change, pattern):
    frame, columns = change(*adsl_like())
    with pytest.raises(DatasetJsonError, match=pattern):
        write_dataset_json(
            frame,
            tmp_path / "x.json",
            dataset="ADSL",
            label="",
            columns=columns,
            item_group_oid="IG.ADSL",
            **COMMON,
        )
    assert list(tmp_path.iterdir()) == []


def test_error_row_counts_from_the_whole_frame(tmp_path):
    n = 70_000  # the bad value sits in the second 65,536-row chunk
    ages = np.ones(n)
    ages[66_000] = 1.5
    frame = pd.DataFrame({"AGE": ages})
    with pytest.raises(DatasetJsonError, match=r"row 66001, value 1\.5") as info:
        write_dataset_json(
            frame,
            tmp_path / "x.json",
            dataset="ADSL",
            label="",
            columns=[JsonColumn("IT.AGE", "AGE", "Age", "integer")],
            item_group_oid="IG",
            **COMMON,
        )
    assert (info.value.column, info.value.row, info.value.value) == ("AGE", 66001, 1.5)


def test_chunks_made_on_two_threads_give_the_same_file_and_the_first_bad_row(tmp_path, monkeypatch):
    """Chunks of rows are turned into text on two threads and written in order: chunks of 1 and 3 rows give
    the bytes of one chunk, for a frame without columns too; with bad values in two chunks, the first one
    of the dataset is reported."""
    import cdiscgen.export._dataset_json as dsj

    frame, columns = adsl_like()
    args = dict(dataset="ADSL", label="Subject-Level Analysis Dataset", item_group_oid="IG.ADSL", **COMMON)
    whole = write_dataset_json(frame, tmp_path / "whole.json", columns=columns, **args).read_bytes()
    empty = pd.DataFrame(index=range(5))
    no_columns = write_dataset_json(empty, tmp_path / "none.json", columns=[], **args).read_bytes()
    for rows in (1, 3):
        monkeypatch.setattr(dsj, "_CHUNK_ROWS", rows)
        assert (
            write_dataset_json(frame, tmp_path / f"c{rows}.json", columns=columns, **args).read_bytes()
            == whole
        )
        assert (
            write_dataset_json(empty, tmp_path / f"n{rows}.json", columns=[], **args).read_bytes()
            == no_columns
        )
    assert no_columns.endswith(b'"rows":[\n[],\n[],\n[],\n[],\n[]\n]}\n')
    ages = np.ones(20)
    ages[[7, 16]] = 1.5
    with pytest.raises(DatasetJsonError) as info:
        write_dataset_json(
            pd.DataFrame({"AGE": ages}),
            tmp_path / "bad.json",
            columns=[JsonColumn("IT.AGE", "AGE", "Age", "integer")],
            **args,
        )
    assert (info.value.column, info.value.row) == ("AGE", 8)


def test_row_text_is_exact_for_every_data_type(tmp_path):
    """The exact bytes of each row: shortest double repr (-0.0 kept apart from 0.0), integers, SAS
    dates/datetimes/times as ISO 8601, decimals as strings, booleans, escapes, and null for missing."""
    frame = pd.DataFrame(
        {
            "S": pd.Series(["a", 'q"b', "c\\d", "e\tf", "ü", None], dtype=object),
            "T": pd.Series(["x", "x", "", "y", "x", "z"], dtype="str"),
            "D": [-0.0, 0.0, 1e16, 1.5e-05, np.nan, 0.1],
            "I": [1.0, -2.0, np.nan, 1.0, 2**53, 0.0],
            "DT": [0.0, 19725.0, np.nan, 19725.0, -1.0, 1.0],
            "DTM": [0.0, 1704067200.0, 86399.0, np.nan, 1704067200.0, -1.0],
            "TM": [0.0, 86399.0, 3600.0, np.nan, 3600.0, 61.0],
            "DEC": [1.5, np.nan, 1.5, -0.0, 123456789.125, 1e-7],
            "B": pd.Series([True, False, None, True, False, True], dtype="boolean"),
        }
    )
    columns = [
        JsonColumn("IT.S", "S", "s", "string"),
        JsonColumn("IT.T", "T", "t", "string"),
        JsonColumn("IT.D", "D", "d", "double"),
        JsonColumn("IT.I", "I", "i", "integer"),
        JsonColumn("IT.DT", "DT", "dt", "date", "integer"),
        JsonColumn("IT.DTM", "DTM", "dtm", "datetime", "integer"),
        JsonColumn("IT.TM", "TM", "tm", "time", "integer"),
        JsonColumn("IT.DEC", "DEC", "dec", "decimal"),
        JsonColumn("IT.B", "B", "b", "boolean"),
    ]
    kwargs = dict(dataset="X", label="", columns=columns, item_group_oid="IG.X", **COMMON)
    nd = write_dataset_ndjson(frame, tmp_path / "x.ndjson", **kwargs).read_bytes()
    js = write_dataset_json(frame, tmp_path / "x.json", **kwargs).read_bytes()
    expected = [
        '["a","x",-0.0,1,"1960-01-01","1960-01-01T00:00:00","00:00:00","1.5",true]',
        '["q\\"b","x",0.0,-2,"2014-01-02","2013-12-31T00:00:00","23:59:59",null,false]',
        '["c\\\\d","",1e+16,null,null,"1960-01-01T23:59:59","01:00:00","1.5",null]',
        '["e\\tf","y",1.5e-05,1,"2014-01-02",null,null,"-0.0",true]',
        '["ü","x",null,9007199254740992,"1959-12-31","2013-12-31T00:00:00","01:00:00","123456789.125",false]',
        '[null,"z",0.1,0,"1960-01-02","1959-12-31T23:59:59","00:01:01","1e-07",true]',
    ]
    assert nd.decode("utf-8").split("\n", 1)[1] == "\n".join(expected) + "\n"
    assert js.decode("utf-8").endswith(',"rows":[\n' + ",\n".join(expected) + "\n]}\n")


def test_nulls_and_escapes_in_later_chunks_only(tmp_path):
    """Each 65,536-row chunk decides on its own whether a column has nulls or needs escaping."""
    n = 140_000
    text = np.where(np.arange(n) % 3 == 0, "p", "q").astype(object)
    text[70_000] = None  # a null in the second chunk only
    text[135_000] = 'say "hi"\\'  # an escape in the third chunk only
    values = np.tile([0.5, -0.0, 2.0], n // 3 + 1)[:n]
    values[1] = np.nan
    frame = pd.DataFrame({"C": pd.Series(text, dtype="str"), "V": values})
    columns = [JsonColumn("IT.C", "C", "c", "string"), JsonColumn("IT.V", "V", "v", "double")]
    path = write_dataset_ndjson(
        frame, tmp_path / "c.ndjson", dataset="C", label="", columns=columns, item_group_oid="IG.C", **COMMON
    )
    lines = path.read_text(encoding="utf-8").split("\n")
    assert len(lines) == n + 2 and lines[-1] == ""
    rows = [json.loads(line) for line in lines[1:-1]]
    assert [r[0] for r in rows] == [None if v is None or v != v else v for v in text.tolist()]
    assert lines[1:4] == ['["p",0.5]', '["q",null]', '["q",2.0]'] and lines[5] == '["q",-0.0]'
    assert [r[1] for r in rows[2:]] == [None if math.isnan(v) else v for v in values[2:].tolist()]
    assert all(math.copysign(1, r[1]) == -1 for r in rows[4::3])


def test_the_text_made_on_one_thread_or_two_gives_the_same_files(tmp_path, monkeypatch):
    """write_dataset_json_and_ndjson beside other work makes the rows' text on one thread: the bytes are
    those made on two, chunk after chunk."""
    import cdiscgen.export._dataset_json as dsj
    from cdiscgen.export import write_dataset_json_and_ndjson

    frame, columns = adsl_like()
    args = dict(dataset="ADSL", label="Subject-Level Analysis Dataset", item_group_oid="IG.ADSL", **COMMON)
    monkeypatch.setattr(dsj, "_CHUNK_ROWS", 1)  # several chunks in flight
    written = {
        threads: write_dataset_json_and_ndjson(
            frame, tmp_path / f"t{threads}.json", tmp_path / f"t{threads}.ndjson", columns=columns,
            threads=threads, **args,
        )
        for threads in (1, 2)
    }  # fmt: skip
    assert len(frame) > 2
    for one, two in zip(written[1], written[2], strict=True):
        assert one.read_bytes() == two.read_bytes()
    whole = write_dataset_json(frame, tmp_path / "whole.json", columns=columns, **args)
    assert written[1][0].read_bytes() == whole.read_bytes()
