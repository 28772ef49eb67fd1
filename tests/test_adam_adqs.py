"""DarPAL's ADQS (specs/adam/params/adqs.yaml through the BDS engine) on a small QS built here: the
EQ-5D-5L level sum score and the index value with the Italian value set, worked by hand from the value
set's decrements (Finch et al., Soc Sci Med 2022;292:114519, as specs/adam/adqs.yaml states them); the
worst state 55555 is the published minimum of the value set, -0.571."""

from __future__ import annotations

import pandas as pd
import pytest

from adam import AdamInputError
from adam._bds import derive_bds
from adam._paramspec import load_parameter_specs
from cdiscgen import bundled_study_dir

D = pd.Timestamp("1960-01-01")
DIMENSIONS = ["EQ5D0201", "EQ5D0202", "EQ5D0203", "EQ5D0204", "EQ5D0205"]


def days(iso: str) -> float:
    return float((pd.Timestamp(iso) - D).days)


@pytest.fixture(scope="module")
def adqs_doc():
    engine, doc = load_parameter_specs(bundled_study_dir()).datasets["ADQS"]
    assert engine == "bds"
    return doc


def _qs(states: dict[tuple[str, str, str], str | None], vas: float = 70.0) -> pd.DataFrame:
    """QS rows: per (subject, visit, date) a five-digit state (None: the third dimension not done)."""
    rows = []
    for (subject, visit, dtc), state in states.items():
        levels = list(state or "11111")
        for i, code in enumerate(DIMENSIONS):
            value = float(levels[i]) if state is not None or i != 2 else float("nan")
            rows.append((subject, code, value, visit, dtc))
        rows.append((subject, "EQ5D0206", vas, visit, dtc))
    qs = pd.DataFrame(rows, columns=["USUBJID", "QSTESTCD", "QSSTRESN", "VISIT", "QSDTC"])
    qs["QSSTRESC"] = qs["QSSTRESN"].map(lambda x: "" if pd.isna(x) else f"{x:g}")
    qs["QSSEQ"] = qs.groupby("USUBJID").cumcount().astype(float) + 1
    qs["VISITNUM"] = qs["VISIT"].map({"SCREENING": 1.0, "CYCLE 4 DAY 1": 401.0, "END OF TREATMENT": 700.0})
    qs["QSCAT"] = "EQ-5D-5L"
    return qs


def _derive(doc, qs: pd.DataFrame) -> pd.DataFrame:
    subjects = sorted(set(qs["USUBJID"]))
    adsl = pd.DataFrame(
        {"USUBJID": subjects, "STUDYID": "DARPAL", "SAFFL": "Y", "TRTSDT": days("2025-03-01"), "TRT01A": "X"}
    )
    frame, _ = derive_bds({"QS": qs}, adsl, doc, name="ADQS", cutoff_days=days("2026-06-30"))
    return frame


def test_index_value_and_level_sum_worked_by_hand(adqs_doc):
    states = {
        ("S-1", "SCREENING", "2025-02-20"): "11111",
        ("S-1", "CYCLE 4 DAY 1", "2025-06-01"): "55555",
        ("S-1", "END OF TREATMENT", "2025-08-01"): "12345",
        ("S-2", "SCREENING", "2025-02-21"): "21111",
        ("S-2", "CYCLE 4 DAY 1", "2025-06-02"): None,  # usual activities not answered
    }
    adqs = _derive(adqs_doc, _qs(states))
    index = adqs[adqs["PARAMCD"] == "EQ5DIDX"].set_index(["USUBJID", "VISIT"])["AVAL"]
    total = adqs[adqs["PARAMCD"] == "EQ5DLSS"].set_index(["USUBJID", "VISIT"])["AVAL"]
    assert index[("S-1", "SCREENING")] == 1.0  # full health
    assert index[("S-1", "CYCLE 4 DAY 1")] == -0.571  # 1 - 0.329 - 0.257 - 0.255 - 0.408 - 0.322
    assert index[("S-1", "END OF TREATMENT")] == 0.215  # 1 - 0.046 - 0.064 - 0.353 - 0.322
    assert index[("S-2", "SCREENING")] == 0.949  # 1 - 0.051
    assert (
        total[("S-1", "SCREENING")],
        total[("S-1", "CYCLE 4 DAY 1")],
        total[("S-1", "END OF TREATMENT")],
    ) == (
        5,
        25,
        15,
    )
    # a visit with a dimension not answered has neither score
    assert ("S-2", "CYCLE 4 DAY 1") not in index.index and ("S-2", "CYCLE 4 DAY 1") not in total.index
    # baseline and change: the screening index is the baseline; change at end of treatment 0.215 - 1
    s1 = adqs[(adqs["USUBJID"] == "S-1") & (adqs["PARAMCD"] == "EQ5DIDX")].set_index("VISIT")
    assert s1.loc["SCREENING", "ABLFL"] == "Y" and s1.loc["END OF TREATMENT", "CHG"] == pytest.approx(-0.785)
    assert s1.loc["END OF TREATMENT", "AVISIT"] == "End of Treatment" and s1.loc["SCREENING", "AVISITN"] == 0


def test_a_level_outside_1_to_5_is_a_named_error(adqs_doc):
    qs = _qs({("S-1", "SCREENING", "2025-02-20"): "11611"})
    with pytest.raises(AdamInputError, match="EQ5D0203 = 6 is not a level") as err:
        _derive(adqs_doc, qs)
    assert err.value.usubjid == "S-1"
