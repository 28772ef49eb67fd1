"""Subject partitions (issue 16, docs/partitioned-runs.md): run_sdtm on a subset of subjects gives the
whole run's records of those subjects, so the datasets of a study mapped (and its ADaM derived) in
partitions, put one after the other, are the datasets of the whole study. Checked on the bundled study
and on the CDISC pilot."""

from __future__ import annotations

from collections.abc import Mapping

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


def _assert_concatenated_parts_are_the_whole(
    parts: list[Mapping[str, pd.DataFrame]], whole: Mapping[str, pd.DataFrame], names: list[str]
) -> None:
    for name in names:
        got = pd.concat([p[name] for p in parts], ignore_index=True)
        expected = whole[name]
        assert len(got) == len(expected), (
            f"{name}: {len(got)} records in the partitions, {len(expected)} whole"
        )
        pd.testing.assert_frame_equal(got, expected, check_dtype=True, obj=name)


def _assert_partitions_give_the_whole(whole, raw, study, count: int) -> None:
    """SDTM: the subject-level datasets; ADaM (derived from each partition's SDTM): every dataset."""
    from adam import derive_adam

    def adam(datasets):
        return derive_adam(datasets, study.settings, cutoff=study.cutoff, study_dir=study.root).datasets

    parts = [run_sdtm(raw, study, subjects=set(p)).datasets for p in _partitions(whole.datasets["DM"], count)]
    by_subject = [name for name, frame in whole.datasets.items() if "USUBJID" in frame.columns]
    assert {"DM", "AE"} <= set(by_subject)
    _assert_concatenated_parts_are_the_whole(parts, whole.datasets, by_subject)
    whole_adam = adam(whole.datasets)
    assert "ADSL" in whole_adam
    _assert_concatenated_parts_are_the_whole([adam(p) for p in parts], whole_adam, list(whole_adam))


def test_darpal_in_three_subject_partitions_is_the_whole_study(darpal_run):
    study = load_study(None)
    raw = darpal_run / "raw"
    _assert_partitions_give_the_whole(run_sdtm(raw, study), raw, study, 3)


def test_the_pilot_in_three_subject_partitions_is_the_whole_study(pilot_mapped):
    study = load_study(REPO / "examples" / "cdiscpilot01")
    _assert_partitions_give_the_whole(pilot_mapped(), refdata_path("cdiscpilot01-raw", "raw"), study, 3)
