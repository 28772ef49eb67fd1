"""DarPAL's ADEX (specs/adam/params/adex.yaml through the BDS engine) on a small EC built here: every
planned administration (given or not) with its planned dose, totals per drug, interruptions, reductions
and the relative dose intensity, worked by hand from the methods of specs/adam/adex.yaml."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adam._bds import derive_bds
from adam._paramspec import load_parameter_specs
from cdiscgen import bundled_study_dir

D = pd.Timestamp("1960-01-01")
FIRST, LAST = "2025-03-01", "2025-08-31"


def days(iso: str) -> float:
    return float((pd.Timestamp(iso) - D).days)


def test_adex_doses_interruptions_reductions_and_rdi_worked_by_hand():
    engine, doc = load_parameter_specs(bundled_study_dir()).datasets["ADEX"]
    assert engine == "bds"
    rows = [
        # ECSEQ, ECTRT, ECOCCUR, ECDOSE, start, end
        (1, "DARATUMUMAB", "Y", 1800.0, "2025-03-01T10:00", "2025-03-01T10:00"),
        (2, "DARATUMUMAB", "N", np.nan, "2025-03-08", "2025-03-08"),  # not given
        (3, "DARATUMUMAB", "Y", 1800.0, "2025-03-15T09:30", "2025-03-15T09:30"),
        (4, "POMALIDOMIDE", "Y", 4.0, "2025-03-01", "2025-03-10"),  # 10 days at 4 mg
        (5, "POMALIDOMIDE", "N", 0.0, "2025-03-11", "2025-03-14"),  # 4 days interrupted
        (6, "POMALIDOMIDE", "Y", 3.0, "2025-03-15", "2025-03-21"),  # 7 days reduced to 3 mg
        (7, "POMALIDOMIDE", "Y", 4.0, "2026-07-01", "2026-07-21"),  # after the cut-off
    ]
    ec = pd.DataFrame(rows, columns=["ECSEQ", "ECTRT", "ECOCCUR", "ECDOSE", "ECSTDTC", "ECENDTC"])
    ec = ec.assign(USUBJID="S-1", ECSEQ=ec["ECSEQ"].astype(float), ECDOSU="mg", ECADJ="", ECREASOC="")
    ec = ec.assign(VISIT="CYCLE 1 DAY 1", VISITNUM=101.0)
    adsl = pd.DataFrame(
        {
            "USUBJID": ["S-1"],
            "STUDYID": ["DARPAL"],
            "SAFFL": ["Y"],
            "TRTSDT": [days(FIRST)],
            "TRTEDT": [days(LAST)],
        }
    )
    adex, _ = derive_bds({"EC": ec}, adsl, doc, name="ADEX", cutoff_days=days("2026-06-30"))
    overall = adex[adex["PARCAT2"] == "OVERALL"].set_index(["PARCAT1", "PARAMCD"])
    dara, poma = "DARATUMUMAB", "POMALIDOMIDE"
    # daratumumab: 2 x 1800 given of 3 x 1800 planned, 1 interruption, no reduction
    assert overall.loc[(dara, "TDOSE"), "AVAL"] == 3600 and overall.loc[(dara, "TPDOSE"), "AVAL"] == 5400
    assert overall.loc[(dara, "NINTERR"), "AVAL"] == 1 and overall.loc[(dara, "ANYRED"), "AVALC"] == ""
    assert overall.loc[(dara, "RDI"), "AVAL"] == pytest.approx(3600 / 5400 * 100)
    # pomalidomide: 10 x 4 + 4 x 0 + 7 x 3 = 61 mg of (10 + 4 + 7) x 4 = 84 mg planned; the July record is
    # after the cut-off
    assert overall.loc[(poma, "TDOSE"), "AVAL"] == 61 and overall.loc[(poma, "TPDOSE"), "AVAL"] == 84
    assert overall.loc[(poma, "NINTERR"), "AVAL"] == 1 and overall.loc[(poma, "ANYRED"), "AVALC"] == "Y"
    assert overall.loc[(poma, "RDI"), "AVAL"] == pytest.approx(61 / 84 * 100)
    assert overall.loc[(poma, "TDOSE"), "AENDT"] == days("2025-03-21")
    # dose intensity: total dose over the days from the first dose to the end of the last record
    # (daratumumab: 2025-03-15 is day 15; pomalidomide: 2025-03-21 is day 21)
    assert overall.loc[(dara, "EXPDUR"), "AVAL"] == 15 and overall.loc[(dara, "DI"), "AVAL"] == 240
    assert overall.loc[(poma, "EXPDUR"), "AVAL"] == 21
    assert overall.loc[(poma, "DI"), "AVAL"] == pytest.approx(61 / 21)
    single = adex[(adex["PARCAT2"] == "INDIVIDUAL") & (adex["PARAMCD"] == "REDUCED")]
    assert single.set_index("ECSEQ")["AVALC"].to_dict() == {
        1.0: "",
        2.0: "",
        3.0: "",
        4.0: "",
        5.0: "",
        6.0: "Y",
    }
