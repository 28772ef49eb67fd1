"""Subject partitions (issue 16, docs/partitioned-runs.md): run_sdtm on a subset of subjects gives the
whole run's records of those subjects, so the datasets of a study mapped (and its ADaM derived) in
partitions, put one after the other, are the datasets of the whole study; spilled to Parquet partition by
partition and streamed to XPT, Dataset-JSON and NDJSON, they are the files of the whole study byte for
byte, and their define.xml, from the partitions' merged profiles, is the whole study's. Checked on the bundled study and on the CDISC pilot."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from cdiscgen import load_study
from cdiscgen._partitions import SpilledDatasets
from cdiscgen._publish import write_datasets
from define import write_define
from sdtm import run_sdtm
from tests.conftest import REPO, refdata_path

pytestmark = pytest.mark.slow


def _partitions(dm: pd.DataFrame, count: int) -> list[list[str]]:
    """DM's subjects in `count` runs of consecutive USUBJIDs (as a partitioned run would cut them)."""
    subjects = sorted(dm["USUBJID"])
    size = -(-len(subjects) // count)
    return [subjects[i : i + size] for i in range(0, len(subjects), size)]


def _assert_concatenated_parts_are_the_whole(
    parts: list[Mapping[str, pd.DataFrame]], whole: Mapping[str, pd.DataFrame], names: list[str]
) -> None:
    for name in names:
        got = pd.concat([p[name] for p in parts], ignore_index=True)
        expected = whole[name]
        assert len(got) == len(expected), (
            f"{name}: {len(got)} records in the partitions, {len(expected)} whole"
        )
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, check_exact=True, obj=name)


def _assert_spilled_partitions_write_the_whole_files(
    parts: list[Mapping[str, pd.DataFrame]],
    whole: Mapping[str, pd.DataFrame],
    names: list[str],
    study,
    tmp: Path,
) -> None:
    created = datetime(2026, 12, 6, 12, 0, 0)
    spilled = SpilledDatasets(tmp / "spill", study)
    for partition in parts:
        spilled.add({name: partition[name] for name in names})
    assert spilled.names() == sorted(names)
    expected = write_datasets(
        {n: whole[n] for n in names}, study, tmp / "whole", created=created, json_dir=tmp / "wj"
    )
    got = write_datasets(
        {n: spilled.parts(n) for n in names}, study, tmp / "parts", created=created, json_dir=tmp / "pj"
    )
    assert got.lengths == expected.lengths and got.rows == expected.rows
    assert [p.name for p in got.files] == [p.name for p in expected.files]
    assert len(expected.files) >= 3 * len(names)  # XPT, JSON and NDJSON of each
    for mine, theirs in zip(got.files, expected.files, strict=True):
        assert mine.read_bytes() == theirs.read_bytes(), f"{mine.name} differs from the whole run's file"
    standard = "ADaM" if study.dataset(names[0]).is_adam else "SDTM"
    whole_define = write_define(
        study,
        {n: whole[n] for n in names},
        tmp / "whole",
        standard=standard,
        created=created,
        lengths=expected.lengths,
    )
    define = write_define(
        study,
        {n: spilled.profile(n) for n in names},
        tmp / "parts",
        standard=standard,
        created=created,
        lengths=got.lengths,
    )
    assert define.define_xml.read_bytes() == whole_define.define_xml.read_bytes()
    assert [f.as_dict() for f in define.findings] == [f.as_dict() for f in whole_define.findings]


def _assert_partitions_give_the_whole(whole, raw, study, count: int, tmp: Path) -> None:
    """SDTM: the subject-level datasets; ADaM (derived from each partition's SDTM): every dataset. Each also
    spilled and written."""
    from adam import derive_adam

    def adam(datasets):
        return derive_adam(datasets, study.settings, cutoff=study.cutoff, study_dir=study.root).datasets

    parts = [run_sdtm(raw, study, subjects=set(p)).datasets for p in _partitions(whole.datasets["DM"], count)]
    by_subject = [name for name, frame in whole.datasets.items() if "USUBJID" in frame.columns]
    assert {"DM", "AE"} <= set(by_subject)
    _assert_concatenated_parts_are_the_whole(parts, whole.datasets, by_subject)
    _assert_spilled_partitions_write_the_whole_files(parts, whole.datasets, by_subject, study, tmp / "sdtm")
    whole_adam = adam(whole.datasets)
    assert "ADSL" in whole_adam
    parts_adam = [adam(p) for p in parts]
    _assert_concatenated_parts_are_the_whole(parts_adam, whole_adam, list(whole_adam))
    _assert_spilled_partitions_write_the_whole_files(
        parts_adam, whole_adam, list(whole_adam), study, tmp / "adam"
    )


def test_darpal_in_three_subject_partitions_is_the_whole_study(darpal_run, tmp_path):
    study = load_study(None)
    raw = darpal_run / "raw"
    _assert_partitions_give_the_whole(run_sdtm(raw, study), raw, study, 3, tmp_path)


def test_the_pilot_in_three_subject_partitions_is_the_whole_study(pilot_mapped, tmp_path):
    study = load_study(REPO / "examples" / "cdiscpilot01")
    _assert_partitions_give_the_whole(
        pilot_mapped(), refdata_path("cdiscpilot01-raw", "raw"), study, 3, tmp_path
    )
