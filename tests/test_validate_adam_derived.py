"""ADaM derivation and traceability rules (cdiscgen/validate/_rules_adam_derived.py) on frames built here.

Every expected value is worked by hand from the ADaMIG definition quoted in the test; the injected defects
in the real output are in tests/test_validate_pipeline.py.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from cdiscgen.validate import validate_datasets


def sas(iso: str) -> float:
    return float((date.fromisoformat(iso) - date(1960, 1, 1)).days)


def _flagged(datasets: dict, code: str) -> list[tuple]:
    found = validate_datasets(datasets, codes=[code]).findings
    return [(f.dataset, f.usubjid, f.seq) for f in found if f.code == code]


def _bds(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    base = {
        "STUDYID": ["S"] * n,
        "USUBJID": columns.pop("USUBJID", ["S-1"] * n),
        "ASEQ": [float(i + 1) for i in range(n)],
        "PARAMCD": columns.pop("PARAMCD", ["KAPPA"] * n),
    }
    return pd.DataFrame({**base, **columns})


NA = np.nan


def test_change_and_percent_change():
    # CHG = AVAL - BASE; PCHG = (AVAL - BASE) / BASE x 100, null when BASE is 0
    adlb = _bds(
        AVAL=[10.0, 12.0, 12.0, 5.0, 0.1 + 0.2, 3.0],
        BASE=[10.0, 10.0, 10.0, 0.0, 0.3, NA],
        CHG=[0.0, 2.0, 3.0, 5.0, 0.0, 1.0],  # row 3 wrong; row 6 has no BASE to change from
        PCHG=[0.0, 20.0, 2.0, 0.0, 0.0, NA],  # row 3 holds CHG; row 4 divides by BASE 0
    )
    # 0.1 + 0.2 - 0.3 is 5.6e-17: floating-point noise, not a finding
    assert _flagged({"ADLB": adlb}, "CDG1113") == [("ADLB", "S-1", 3), ("ADLB", "S-1", 6)]
    assert _flagged({"ADLB": adlb}, "CDG1114") == [("ADLB", "S-1", 3), ("ADLB", "S-1", 4)]


def test_base_is_the_baseline_records_value_per_subject_and_parameter():
    adlb = _bds(
        USUBJID=["S-1", "S-1", "S-1", "S-2", "S-2"],
        PARAMCD=["KAPPA", "KAPPA", "LAMBDA", "KAPPA", "KAPPA"],
        AVAL=[80.0, 60.0, 9.0, 50.0, 40.0],
        ABLFL=["Y", "", "", "Y", ""],
        BASE=[80.0, 80.0, 80.0, 50.0, 51.0],  # row 3: LAMBDA has no baseline record (not checked)
    )
    assert _flagged({"ADLB": adlb}, "CDG1115") == [("ADLB", "S-2", 5)]


def test_analysis_study_day_has_no_day_zero():
    # TRTSDT 2024-01-08: 2024-01-15 is day 8, 2024-01-07 is day -1, 2024-01-08 is day 1
    start = sas("2024-01-08")
    adlb = _bds(
        TRTSDT=[start] * 5,
        ADT=[sas("2024-01-15"), sas("2024-01-07"), sas("2024-01-08"), sas("2024-01-07"), NA],
        ADY=[8.0, -1.0, 1.0, 0.0, 3.0],  # row 4: day 0; row 5: a day without a date
    )
    assert _flagged({"ADLB": adlb}, "CDG1117") == [("ADLB", "S-1", 4), ("ADLB", "S-1", 5)]


def test_study_day_takes_trtsdt_from_adsl_when_the_record_has_none():
    adsl = pd.DataFrame({"STUDYID": ["S"], "USUBJID": ["S-1"], "TRTSDT": [sas("2024-01-08")]})
    adae = pd.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "USUBJID": ["S-1", "S-1"],
            "AESEQ": [1.0, 2.0],
            "ASTDT": [sas("2024-02-01"), sas("2024-02-01")],
            "ASTDY": [25.0, 24.0],  # 2024-02-01 - 2024-01-08 + 1 = 25
        }
    )
    assert [
        f.usubjid for f in validate_datasets({"ADSL": adsl, "ADAE": adae}, codes=["CDG1117"]).findings
    ] == ["S-1"]


def test_time_to_event_counts_both_ends_in_the_parameters_unit():
    start = sas("2024-01-08")
    adtte = _bds(
        PARAMCD=["OS", "OS", "PFS", "PFS"],
        PARAM=["Overall Survival (days)"] * 2 + ["Progression-Free Survival (months)"] * 2,
        STARTDT=[start] * 4,
        ADT=[sas("2024-03-07")] * 4,  # 59 days after the start: 60 days counting both
        AVAL=[60.0, 59.0, round(60 / 30.4375, 2), 60 / 30.4375 + 0.1],
        CNSR=[0.0] * 4,
    )
    assert _flagged({"ADTTE": adtte}, "CDG1118") == [("ADTTE", "S-1", 2), ("ADTTE", "S-1", 4)]


def test_source_pointers_resolve_to_a_record_of_the_same_subject():
    lb = pd.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "DOMAIN": ["LB", "LB"],
            "USUBJID": ["S-1", "S-2"],
            "LBSEQ": [1.0, 1.0],
            "LBDTC": ["2024-03", "2024-03-05"],
            "LBSTRESN": [1.0, 2.0],
        }
    )
    adlb = _bds(
        USUBJID=["S-1", "S-1", "S-2", "S-2", "S-2"],
        SRCDOM=["LB", "LB", "LB", "LX", ""],
        SRCVAR=["LBSTRESN", "LBSTRESX", "LBSTRESN", "LBSTRESN", "LBSTRESN"],
        SRCSEQ=[1.0, 1.0, 2.0, 1.0, NA],
        ADT=[sas("2024-03-01")] * 5,
    )
    datasets = {"LB": lb, "ADLB": adlb}
    assert _flagged(datasets, "CDG1119") == [("ADLB", "S-2", 4)]  # LX is not submitted
    assert _flagged(datasets, "CDG1120") == [("ADLB", "S-1", 2), ("ADLB", "S-2", 5)]  # and SRCVAR sans SRCDOM
    assert _flagged(datasets, "CDG1121") == [("ADLB", "S-2", 3)]  # S-2 has no LBSEQ 2
    # the records taken from S-1's LBDTC "2024-03" imputed ADT without an ADTF; each names that source date
    assert _flagged(datasets, "CDG1124") == [("ADLB", "S-1", 1), ("ADLB", "S-1", 2)]
    found = validate_datasets(datasets, codes=["CDG1124"]).findings
    assert [f.value for f in found if f.code == "CDG1124"] == ["2024-03", "2024-03"]


def test_imputation_flags():
    adsl = pd.DataFrame(
        {
            "STUDYID": ["S"] * 3,
            "USUBJID": ["S-1", "S-2", "S-3"],
            "DTHDT": [sas("2024-05-01"), NA, sas("2024-05-01")],
            "DTHDTF": ["D", "M", "DAY"],
        }
    )
    assert _flagged({"ADSL": adsl}, "CDG1122") == [("ADSL", "S-2", None)]
    assert _flagged({"ADSL": adsl}, "CDG1123") == [("ADSL", "S-3", None)]


def test_one_analysis_record_per_window_and_derived_records_apart():
    adlb = _bds(
        AVISITN=[1.0, 1.0, 2.0, 2.0],
        DTYPE=["", "", "", "AVERAGE"],
        ANL01FL=["Y", "Y", "Y", "Y"],  # rows 1-2 share a visit; row 4 is a derived record of its own
        AVAL=[1.0, 2.0, 3.0, 3.0],
    )
    assert _flagged({"ADLB": adlb}, "CDG1125") == [("ADLB", "S-1", 1), ("ADLB", "S-1", 2)]


def test_adsl_values_carried_into_another_dataset():
    adsl = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-2"], "SAFFL": ["Y", "N"]})
    adlb = _bds(USUBJID=["S-1", "S-2", "S-3"], SAFFL=["Y", "Y", "Y"], AVAL=[1.0, 2.0, 3.0])
    # S-3 is not in ADSL (CDG1102's finding), so there is nothing to compare with
    assert _flagged({"ADSL": adsl, "ADLB": adlb}, "CDG1126") == [("ADLB", "S-2", 2)]
    found = validate_datasets({"ADSL": adsl, "ADLB": adlb}, codes=["CDG1126"]).findings
    assert [(f.value, f.expected) for f in found if f.code == "CDG1126"] == [("Y", "N")]  # ADSL's value


def test_a_blank_copy_of_a_missing_adsl_value_is_the_same_null():
    # no subject died: ADSL DTHDT is missing (NaN), ADAE carries it as a blank; a transport file cannot tell
    # them apart, so nothing differs (a 8-subject run without deaths gave 37 false CDG1126 errors)
    adsl = pd.DataFrame({"STUDYID": ["S", "S"], "USUBJID": ["S-1", "S-2"], "DTHDT": [NA, sas("2024-05-01")]})
    adae = _bds(USUBJID=["S-1", "S-2"], DTHDT=["", ""], AVAL=[1.0, 2.0])
    assert _flagged({"ADSL": adsl, "ADAE": adae}, "CDG1126") == [("ADAE", "S-2", 2)]


def test_srcseq_into_an_adam_dataset_without_aseq_is_its_sdtm_seq():
    # the CDISC pilot's ADTTE: SRCSEQ = ADAE.AESEQ, and its ADAE has no ASEQ
    adae = pd.DataFrame(
        {
            "STUDYID": ["S", "S"],
            "USUBJID": ["S-1", "S-1"],
            "AESEQ": [3.0, 7.0],
            "ASTDT": [sas("2024-03-01")] * 2,
        }
    )
    adtte = _bds(
        USUBJID=["S-1", "S-1"],
        PARAMCD=["TTDE", "TTX"],
        SRCDOM=["ADAE", "ADAE"],
        SRCVAR=["ASTDT", "ASTDT"],
        SRCSEQ=[7.0, 4.0],
        ADT=[sas("2024-03-01")] * 2,
    )
    # 7 is an AESEQ of the subject's ADAE records, 4 is none
    assert _flagged({"ADAE": adae, "ADTTE": adtte}, "CDG1121") == [("ADTTE", "S-1", 2)]


def test_a_subject_on_two_adsl_rows_is_compared_with_neither():
    # S-1 has two ADSL rows (CDG1101's finding): which SAFFL its records should carry is unknown
    adsl = pd.DataFrame({"STUDYID": ["S"] * 3, "USUBJID": ["S-1", "S-1", "S-2"], "SAFFL": ["Y", "N", "N"]})
    adlb = _bds(USUBJID=["S-1", "S-2", "S-1", "S-2"], SAFFL=["N", "N", "Y", "Y"], AVAL=[1.0, 2.0, 3.0, 4.0])
    assert _flagged({"ADSL": adsl, "ADLB": adlb}, "CDG1126") == [("ADLB", "S-2", 4)]
