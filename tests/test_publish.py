"""Writing datasets from the study metadata: XPT attributes and Dataset-JSON columns come from specs/."""

from __future__ import annotations

import json
from datetime import datetime

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from cdiscgen import load_study
from cdiscgen._publish import conform_to_spec, json_columns, write_datasets
from tests.conftest import refdata_path

CREATED = datetime(2026, 1, 15, 9, 0, 0)


def tv_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "STUDYID": ["DARPAL", "DARPAL"],
            "DOMAIN": ["TV", "TV"],
            "VISITNUM": [1.0, 101.0],
            "VISIT": ["SCREENING", "CYCLE 1 DAY 1"],
            "VISITDY": [-28.0, 1.0],
            "ARMCD": ["DARAPOM", "DARAPOM"],
            "ARM": ["Daratumumab + Pomalidomide"] * 2,
            "TVSTRL": ["Informed consent", "Day 1"],
            "TVENRL": ["", ""],
        }
    )


def test_xpt_attributes_come_from_the_spec(tmp_path):
    study = load_study()
    result = write_datasets(
        {"TV": tv_frame()}, study, tmp_path / "xpt", created=CREATED, json_dir=tmp_path / "json"
    )
    frame, meta = pyreadstat.read_xport(str(tmp_path / "xpt" / "tv.xpt"), disable_datetime_conversion=True)
    spec = study.dataset("TV")
    assert list(frame.columns) == spec.variable_names
    assert meta.file_label == "Trial Visits"
    assert meta.column_labels == [v.label for v in spec.submitted_variables]
    # longest value in bytes: "Daratumumab + Pomalidomide" is 26 characters; TVENRL all blank -> 1
    assert meta.variable_storage_width["ARM"] == 26 and result.lengths["TV"]["ARM"] == 26
    assert meta.variable_storage_width["TVENRL"] == 1
    assert meta.variable_storage_width["VISITNUM"] == 8
    assert frame["VISITNUM"].tolist() == [1.0, 101.0]
    assert result.rows == {"TV": 2}


def test_dataset_json_is_schema_valid_and_typed_from_the_spec(tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(refdata_path("dataset-json-1.1", "schema", "dataset.schema.json").read_text())
    study = load_study()
    write_datasets({"TV": tv_frame()}, study, tmp_path / "xpt", created=CREATED, json_dir=tmp_path / "json")
    doc = json.loads((tmp_path / "json" / "tv.json").read_text())
    jsonschema.validate(doc, schema)
    by_name = {c["name"]: c for c in doc["columns"]}
    assert by_name["VISITNUM"]["dataType"] == "double" and by_name["VISITNUM"]["keySequence"] == 3
    assert by_name["VISIT"]["dataType"] == "string" and by_name["VISIT"]["length"] == 13  # "CYCLE 1 DAY 1"
    assert doc["records"] == 2 and doc["datasetJSONCreationDateTime"] == "2026-01-15T09:00:00"


def test_numeric_sas_dates_are_iso_dates_in_json():
    study = load_study()
    adsl = study.dataset("ADSL")
    assert any(v.format == "DATE9." for v in adsl.variables)
    columns = {c.name: c for c in json_columns(adsl, {})}
    dated = [v.name for v in adsl.submitted_variables if v.format == "DATE9."]
    assert all(columns[n].data_type == "date" and columns[n].target_data_type == "integer" for n in dated)


def test_frame_must_match_its_spec():
    study = load_study()
    frame = tv_frame().drop(columns=["TVENRL"]).assign(EXTRA=np.nan)
    with pytest.raises(ValueError, match="missing TVENRL; not in the spec EXTRA"):
        conform_to_spec(frame, study.dataset("TV"))


def test_a_dataset_spilled_in_partitions_is_written_as_the_whole_one(tmp_path):
    from cdiscgen._partitions import SpilledDatasets

    study = load_study()
    whole = tv_frame()
    spilled = SpilledDatasets(tmp_path / "spill", study)
    spilled.add({"TV": whole.iloc[:1]})
    spilled.add({"TV": whole.iloc[1:].reset_index(drop=True)})
    parts = spilled.parts("TV")
    # ARM "Daratumumab + Pomalidomide" (26) in both partitions; TVSTRL "Informed consent" (16) in the first
    assert parts.rows == 2 and parts.lengths["ARM"] == 26 and parts.lengths["TVSTRL"] == 16
    written = write_datasets({"TV": parts}, study, tmp_path / "parts", created=CREATED)
    expected = write_datasets({"TV": whole}, study, tmp_path / "whole", created=CREATED)
    assert written.files[0].read_bytes() == expected.files[0].read_bytes()


def test_a_dataset_made_by_some_partitions_only_has_their_parts(tmp_path):
    from cdiscgen._partitions import SpilledDatasets

    spilled = SpilledDatasets(tmp_path / "spill", load_study())
    spilled.add({})
    spilled.add({"TV": tv_frame()})
    spilled.add({})
    assert (
        spilled.names() == ["TV"] and len(spilled.parts("TV").readers) == 1 and spilled.parts("TV").rows == 2
    )


def test_a_dataset_in_parts_must_match_its_spec(tmp_path):
    from cdiscgen.export import DatasetParts

    frame = tv_frame()
    reordered = frame[[*frame.columns[1:], frame.columns[0]]]
    parts = DatasetParts("TV", (lambda: reordered,), 2, tuple(reordered.columns), lengths={})
    with pytest.raises(ValueError, match="TV in parts has the columns"):
        write_datasets({"TV": parts}, load_study(), tmp_path, created=CREATED)
    unmeasured = DatasetParts("TV", (lambda: frame,), 2, tuple(frame.columns), lengths={"STUDYID": 6})
    with pytest.raises(ValueError, match="no length measured for DOMAIN, VISITNUM"):
        write_datasets({"TV": unmeasured}, load_study(), tmp_path, created=CREATED)
    assert not list(tmp_path.iterdir())


def test_define_profiles_of_parts_merge_only_within_one_dataset():
    from dataclasses import replace

    from define import merge_profiles, profile_dataset

    study = load_study()
    frame = tv_frame()
    first = profile_dataset(frame.iloc[:1], study.dataset("TV"), study)
    second = profile_dataset(frame.iloc[1:], study.dataset("TV"), study)
    merged = merge_profiles([first, second])
    # VISIT: "SCREENING" (9 bytes) in the first part, "CYCLE 1 DAY 1" (13) in the second; TVENRL blank in both
    assert merged.rows == 2 and merged.variables["VISIT"].longest == 13
    assert not merged.variables["TVENRL"].present and merged.variables["TVENRL"].length == 1
    with pytest.raises(ValueError, match="does not belong to a dataset"):
        first.merge(replace(second, columns=second.columns[:-1]))
    with pytest.raises(ValueError, match="no parts"):
        merge_profiles([])


def test_dataset_json_handed_to_a_writer_is_the_same_once_waited_for(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    study = load_study()
    frames = {"TV": tv_frame()}
    alone = write_datasets(
        frames, study, tmp_path / "a" / "xpt", created=CREATED, json_dir=tmp_path / "a" / "json"
    )
    with ThreadPoolExecutor(max_workers=1) as writer:
        beside = write_datasets(frames, study, tmp_path / "b" / "xpt", created=CREATED,
                                json_dir=tmp_path / "b" / "json", json_writer=writer)  # fmt: skip
        assert len(beside.writing) == 1
        beside.wait()
    assert beside.writing == []
    assert [p.relative_to(tmp_path / "b") for p in beside.files] == [
        p.relative_to(tmp_path / "a") for p in alone.files
    ]
    for name in ("json/tv.json", "json/tv.ndjson", "xpt/tv.xpt"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_a_failed_dataset_json_is_raised_by_wait_and_the_files_not_begun_are_dropped(tmp_path):
    from concurrent.futures import Future

    from cdiscgen._publish import PublishResult

    failed: Future = Future()
    failed.set_exception(ValueError("TV.VISITDY row 2: not a finite number"))
    waiting: Future = Future()  # not begun
    result = PublishResult(writing=[failed, waiting])
    with pytest.raises(ValueError, match="TV.VISITDY row 2"):
        result.wait()
    assert waiting.cancelled() and result.writing == [] and result.files == []
