"""Subject partitions (issue 16, docs/partitioned-runs.md): run_sdtm on a subset of subjects gives the
whole run's records of those subjects, so the datasets of a study mapped in partitions, put one after the
other, are the datasets mapped whole. Checked on the bundled study and on the CDISC pilot."""

from __future__ import annotations

import pandas as pd
import pytest

from cdiscgen import load_study
from sdtm import run_sdtm
from tests.conftest import REPO, refdata_path

pytestmark = pytest.mark.slow


def _partitions(dm: pd.DataFrame, count: int) -> list[list[str]]:
    """DM's subjects in `count` runs of consecutive USUBJIDs (as a partitioned run would cut them)."""
    subjects = sorted(dm["USUBJID"])
    size = -(-len(subjects) // count)
    return [subjects[i : i + size] for i in range(0, len(subjects), size)]


def _assert_partitions_give_the_whole(whole, raw, study, count: int) -> None:
    parts = [run_sdtm(raw, study, subjects=set(p)) for p in _partitions(whole.datasets["DM"], count)]
    by_subject = [name for name, frame in whole.datasets.items() if "USUBJID" in frame.columns]
    assert {"DM", "AE"} <= set(by_subject)
    for name in by_subject:
        expected = whole.datasets[name]
        got = pd.concat([p.datasets[name] for p in parts], ignore_index=True)
        assert len(got) == len(expected), (
            f"{name}: {len(got)} records in the partitions, {len(expected)} whole"
        )
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, obj=name)


def test_darpal_mapped_in_three_partitions_is_the_whole_mapping(darpal_run):
    study = load_study(None)
    raw = darpal_run / "raw"
    _assert_partitions_give_the_whole(run_sdtm(raw, study), raw, study, 3)


def test_the_pilot_mapped_in_three_partitions_is_the_whole_mapping(pilot_mapped):
    study = load_study(REPO / "examples" / "cdiscpilot01")
    _assert_partitions_give_the_whole(pilot_mapped(), refdata_path("cdiscpilot01-raw", "raw"), study, 3)


def _assert_adam_of_partitions_is_the_whole(whole, raw, study, count: int) -> None:
    from adam import derive_adam

    def adam(datasets):
        return derive_adam(datasets, study.settings, cutoff=study.cutoff, study_dir=study.root).datasets

    expected_all = adam(whole.datasets)
    parts = [
        adam(run_sdtm(raw, study, subjects=set(p)).datasets) for p in _partitions(whole.datasets["DM"], count)
    ]
    assert "ADSL" in expected_all
    for name, expected in expected_all.items():
        got = pd.concat([p[name] for p in parts], ignore_index=True)
        assert len(got) == len(expected), (
            f"{name}: {len(got)} records in the partitions, {len(expected)} whole"
        )
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, obj=name)


def test_darpal_adam_derived_in_three_partitions_is_the_whole_adam(darpal_run):
    study = load_study(None)
    raw = darpal_run / "raw"
    _assert_adam_of_partitions_is_the_whole(run_sdtm(raw, study), raw, study, 3)


def test_the_pilot_adam_derived_in_three_partitions_is_the_whole_adam(pilot_mapped):
    study = load_study(REPO / "examples" / "cdiscpilot01")
    _assert_adam_of_partitions_is_the_whole(pilot_mapped(), refdata_path("cdiscpilot01-raw", "raw"), study, 3)
