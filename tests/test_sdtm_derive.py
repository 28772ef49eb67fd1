"""SDTM-wide derivations and unit standardisation on hand-written frames; expected rows worked by hand."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscgen._specs import load_study
from sdtm import (
    RuleContext,
    compute_age,
    compute_epoch,
    compute_study_day,
    compute_subject_elements,
    compute_visit_table,
    derive_baseline_flag,
    derive_dm,
    derive_epoch,
    derive_nrind,
    derive_reference_dates,
    derive_seq,
    derive_standard_units,
    derive_supp,
    derive_visit,
    read_units,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def study():
    return load_study(ROOT)


def s(values: list) -> pd.Series:
    return pd.Series(values, dtype="str")


def test_study_day_has_no_day_zero_and_is_empty_for_partial_dates():
    rf = s(["2024-01-08T09:30"] * 6 + [""])
    dates = s(["2024-01-07", "2024-01-08T08:00", "2024-01-09", "2023-12-31", "2024-01", "2024", "2024-01-09"])
    # 01-07 is the day before -> -1; the first-dose date -> 1 (time ignored); 01-09 -> 2;
    # 2023-12-31 is 8 days before -> -8; partial dates and a missing RFSTDTC -> empty
    got = compute_study_day(dates, rf).tolist()
    assert got[:4] == [-1.0, 1.0, 2.0, -8.0]
    assert all(np.isnan(got[4:]))


def test_every_study_day_counts_from_the_subjects_reference_date(study):
    from sdtm._derive import derive_dy

    refs = pd.DataFrame({"RFSTDTC": ["2024-02-28T10:00", ""]}, index=pd.Index(["A", "B"], name="USUBJID"))
    df = pd.DataFrame(
        {
            "USUBJID": s(["A", "A", "A", "B", "C"]),
            "LBDTC": s(["2024-03-01", "2025-02-28T08:00", "2024-02-30", "2024-03-01", "2024-03-01"]),
            "LBENDTC": s(["2024-02-27", "", "2024-02-28", "2024-03-01", "2024-03-01"]),
        }
    )
    out = derive_dy(df, study.dataset("LB"), refs)
    # A: 2024 is a leap year: 02-28 -> 03-01 is 2 days (day 3), -> 2025-02-28 is 366 days (day 367); the
    # day before is -1 and the reference date itself 1; 02-30 is no date. B has no reference date, C no
    # record in DM's reference dates: no study day
    assert out["LBDY"].tolist()[:2] == [3.0, 367.0] and np.isnan(out["LBDY"].tolist()[2:]).all()
    assert out["LBENDY"].tolist()[0] == -1.0 and out["LBENDY"].tolist()[2] == 1.0
    assert np.isnan(out["LBENDY"].tolist()[1]) and np.isnan(out["LBENDY"].tolist()[3:]).all()
    assert out["LBDY"].dtype == np.float64


def test_seq_follows_dataset_keys(study):
    spec = study.dataset("LB")
    df = pd.DataFrame(
        {
            "USUBJID": s(["B", "A", "A", "A"]),
            "LBTESTCD": s(["KLCFR", "LLCFR", "KLCFR", "KLCFR"]),
            "LBSPEC": s(["SERUM"] * 4),
            "LBMETHOD": s([""] * 4),
            "VISITNUM": [1.0, 1.0, 101.0, 1.0],
            "LBDTC": s(["2024-01-01", "2024-01-01", "2024-01-08", "2024-01-01"]),
        }
    )
    out = derive_seq(df, spec)
    # A: KLCFR/1, KLCFR/101, LLCFR/1 -> 1, 2, 3; B: KLCFR -> 1
    assert out[["USUBJID", "LBTESTCD", "VISITNUM", "LBSEQ"]].values.tolist() == [
        ["A", "KLCFR", 1.0, 1.0],
        ["A", "KLCFR", 101.0, 2.0],
        ["A", "LLCFR", 1.0, 3.0],
        ["B", "KLCFR", 1.0, 1.0],
    ]


def test_ds_seq_is_chronological_with_same_day_ties_in_source_order(study):
    # DS keys start with DSCAT, so numbering by keys put the end of study (DISPOSITION EVENT) before the
    # informed consent (PROTOCOL MILESTONE); specs/sdtm/ds.yaml numbers by `seq_order: [.., DSSTDTC]`
    spec = study.dataset("DS")
    assert spec.keys[:3] == ("STUDYID", "USUBJID", "DSCAT") and spec.seq_order[-1] == "DSSTDTC"
    df = (
        pd.DataFrame(  # in the order the mapping's sources make them: consent, end of treatment, end of study
            {
                "STUDYID": s(["X"] * 5),
                "USUBJID": s(["A", "B", "A", "B", "B"]),
                "DSDECOD": s(
                    ["INFORMED CONSENT OBTAINED", "INFORMED CONSENT OBTAINED", "COMPLETED", "DEATH", "DEATH"]
                ),
                "DSCAT": s(["PROTOCOL MILESTONE"] * 2 + ["DISPOSITION EVENT"] * 3),
                "DSSCAT": s(["", "", "END OF STUDY", "END OF TREATMENT", "END OF STUDY"]),
                "DSSTDTC": s(["2024-01-19", "2024-02-01", "2026-01-31", "2024-05-03", "2024-05-03"]),
            }
        )
    )
    out = derive_seq(df, spec)
    assert out[["USUBJID", "DSDECOD", "DSSCAT", "DSSEQ"]].values.tolist() == [
        ["A", "INFORMED CONSENT OBTAINED", "", 1.0],
        ["A", "COMPLETED", "END OF STUDY", 2.0],
        ["B", "INFORMED CONSENT OBTAINED", "", 1.0],
        ["B", "DEATH", "END OF TREATMENT", 2.0],  # same day: treatment ends before the study does
        ["B", "DEATH", "END OF STUDY", 3.0],
    ]


def test_unscheduled_visits_numbered_between_scheduled_ones_across_domains(study):
    lb = pd.DataFrame(
        {
            "USUBJID": s(["S1"] * 6 + ["S2"]),
            "_VISITCODE": s(["SCR", "C1D1", "UNS", "uns", "C2D1", "UNS", "UNS"]),
            "_VDATE": s(
                [
                    "2024-01-01",
                    "2024-01-08",
                    "2024-01-25",
                    "2024-01-20",
                    "2024-02-05",
                    "2024-02-10",
                    "2023-12-01",
                ]
            ),
        }
    )
    rs = pd.DataFrame({"USUBJID": s(["S1"]), "_VISITCODE": s(["UNS"]), "_VDATE": s(["2024-02-10"])})
    table = compute_visit_table([lb, rs], study)
    out, findings = derive_visit(lb, table, study, RuleContext("LB", "VISIT", study.codelists))
    # S1: UNS 01-20 and 01-25 follow C1D1 (101) -> 101.01, 101.02; UNS 02-10 follows C2D1 (201) -> 201.01
    # S2: an unscheduled visit before any scheduled one -> 0 + 0.01
    assert out["VISITNUM"].tolist() == [1.0, 101.0, 101.02, 101.01, 201.0, 201.01, 0.01]
    assert out["VISIT"].tolist() == [
        "SCREENING",
        "CYCLE 1 DAY 1",
        "UNSCHEDULED 101.02",
        "UNSCHEDULED 101.01",
        "CYCLE 2 DAY 1",
        "UNSCHEDULED 201.01",
        "UNSCHEDULED 0.01",
    ]
    assert findings == []
    rs_out, _ = derive_visit(rs, table, study, RuleContext("RS", "VISIT", study.codelists))
    assert rs_out["VISITNUM"].tolist() == [201.01]  # the same visit in another domain gets the same number


def test_unknown_visit_code_is_a_finding(study):
    df = pd.DataFrame(
        {
            "USUBJID": s(["S1"]),
            "_VISITCODE": s(["C9D9"]),
            "_VDATE": s(["2024-01-01"]),
            "_ROW": [7],
            "_FILE": s(["f.csv"]),
        }
    )
    out, findings = derive_visit(df, compute_visit_table([df], study), study, RuleContext("LB", "VISIT", {}))
    assert np.isnan(out["VISITNUM"].iloc[0]) and out["VISIT"].iloc[0] == ""
    assert [(f.code, f.file, f.line, f.value) for f in findings] == [("MAP008", "f.csv", 8, "C9D9")]


def elements(rows: list[tuple], *, open_before: bool = True) -> pd.DataFrame:
    """A subject-elements table (sdtm compute_subject_elements' shape) from (USUBJID, TAETORD, EPOCH,
    SESTDTC, starts with a dose) rows; element 1 is open towards earlier dates unless `open_before` is
    False (design.pre_study_epoch: none)."""
    return pd.DataFrame(
        {
            "USUBJID": s([r[0] for r in rows]),
            "ETCD": s(["E"] * len(rows)),
            "ELEMENT": s(["E"] * len(rows)),
            "TAETORD": [float(r[1]) for r in rows],
            "EPOCH": s([r[2] for r in rows]),
            "SESTDTC": s([r[3] for r in rows]),
            "SEENDTC": s([""] * len(rows)),
            "_DOSING": [bool(r[4]) for r in rows],
            "_OPEN": [r[1] == 1 and open_before for r in rows],
        }
    )


# subject A: screening from consent, treatment from the first dose (a dose: that day is treatment), follow-up
# from the end of the treatment element 2024-06-30 (not a dose: that day is still treatment)
DOSED = [
    ("A", 1, "SCREENING", "2024-01-01", False),
    ("A", 2, "TREATMENT", "2024-01-08T09:30", True),
    ("A", 3, "FOLLOW-UP", "2024-06-30", False),
]


def test_epoch_from_dates():
    table = elements(DOSED + [("B", 1, "SCREENING", "2024-01-01", False)])
    no_end = pd.Series({"A": "", "B": ""})
    dtc = s(
        [
            "2024-01-07",
            "2024-01-08T08:00",
            "2024-01-08T10:00",
            "2024-01-08",
            "2024-06-30",
            "2024-07-01",
            "2024-07",
            "2024-03-01",
            "2024-01-08T09:30",
        ]
    )
    subj = s(["A"] * 7 + ["B", "A"])
    got = compute_epoch(dtc, subj, table, no_end).tolist()
    # pre-dose sample on the first-dose date (08:00 < 09:30) is SCREENING; a date without time on that day is
    # TREATMENT; the end of the treatment element is inclusive; never dosed -> SCREENING. The partial
    # 2024-07 stands for 07-01 .. 07-31, all after TRTEND 06-30 (no RFPENDTC here: open-ended) -> FOLLOW-UP.
    # A record at the very minute of the first dose is on treatment (the element starts at that moment).
    assert got == [
        "SCREENING",
        "SCREENING",
        "TREATMENT",
        "TREATMENT",
        "TREATMENT",
        "FOLLOW-UP",
        "FOLLOW-UP",
        "SCREENING",
        "TREATMENT",
    ]


def test_epoch_of_partial_dates_and_after_the_end_of_participation():
    # A: first dose 2024-01-08 09:30, treatment element to 2024-06-30, participation to 2025-03-15.
    # S: screen failure (never dosed), participation 2024-01-20 .. 2024-02-10.
    table = elements(DOSED + [("S", 1, "SCREENING", "2024-01-20", False)])
    rfpendtc = pd.Series({"A": "2025-03-15", "S": "2024-02-10"})
    cases = [
        ("A", "2024-07", "FOLLOW-UP"),  # 07-01 .. 07-31: all after 06-30, before 2025-03-15
        ("A", "2024-06", "TREATMENT"),  # 06-01 .. 06-30: the end of the element is inclusive
        ("A", "2024-02", "TREATMENT"),  # 02-01 .. 02-29
        ("A", "2023", "SCREENING"),  # 2023-01-01 .. 2023-12-31: all before the first dose
        ("A", "2024-01", ""),  # 01-01 is screening, 01-31 treatment
        ("A", "2024", ""),  # spans screening, treatment and follow-up
        ("A", "2025-03", ""),  # 03-01 follow-up, 03-31 after the end of participation
        ("A", "2025-03-15", "FOLLOW-UP"),  # on RFPENDTC: still in the last epoch
        ("A", "2025-03-16", ""),  # after RFPENDTC: in no epoch
        ("A", "2024---15", ""),  # month unknown: not a span we resolve
        ("A", "", ""),
        ("S", "2024-02-10", "SCREENING"),  # a screen failure's records are screening
        ("S", "2024-01", "SCREENING"),  # 01-01 .. 01-31, before RFPENDTC
        ("S", "2024-02", ""),  # 02-11 .. 02-29 are after RFPENDTC
    ]
    subj = s([c[0] for c in cases])
    dtc = s([c[1] for c in cases])
    got = compute_epoch(dtc, subj, table, rfpendtc).tolist()
    assert list(zip(subj, dtc, got, strict=True)) == cases


def test_a_closed_first_element_leaves_pre_study_dates_without_epoch():
    """pre_study_epoch none: A consented 2024-01-01 (screening element); anything dated before is in no
    epoch, the consent day itself is screening. X has no known consent: its first element stays open."""
    table = elements(DOSED + [("X", 1, "SCREENING", "", False)], open_before=False)
    cases = [
        ("A", "2019-05-03", ""),  # a diagnosis years before consent
        ("A", "2023-12-31", ""),
        ("A", "2023-12", ""),  # 12-01 .. 12-31: all before consent
        ("A", "2023-12-31T23:59", ""),
        ("A", "2024-01-01", "SCREENING"),  # the consent day belongs to the first element
        ("A", "2024-01-01T08:00", "SCREENING"),  # no time on the element start: the day decides
        ("A", "2024-01", ""),  # 01-01 is screening, 01-31 treatment
        ("A", "2024-01-05", "SCREENING"),
        ("A", "2024-01-08T10:00", "TREATMENT"),
        ("X", "2019-05-03", "SCREENING"),
    ]
    subj = s([c[0] for c in cases])
    dtc = s([c[1] for c in cases])
    got = compute_epoch(dtc, subj, table, pd.Series({"A": "", "X": ""})).tolist()
    assert list(zip(subj, dtc, got, strict=True)) == cases


def test_pre_study_epoch_is_read_from_the_design(study):
    """compute_subject_elements marks the first element open unless design.pre_study_epoch is none."""
    dm = pd.DataFrame({"USUBJID": s(["A"]), "ARMCD": s([""]), "ACTARMCD": s([""])})
    refs = pd.DataFrame(
        {c: [""] for c in ("RFICDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC")},
        index=pd.Index(["A"], name="USUBJID"),
    )
    refs["RFICDTC"] = "2024-01-01"
    flags = {}
    for setting in ("first", "none"):
        design = {**study.settings["design"], "pre_study_epoch": setting}
        variant = dataclasses.replace(study, settings={**study.settings, "design": design})
        got = compute_subject_elements(dm, refs, {}, variant)
        flags[setting] = got["_OPEN"].tolist()
    assert flags == {"first": [True], "none": [False]}


def test_epoch_uses_the_start_date_then_the_collection_date(study):
    refs = pd.DataFrame(
        {"RFPENDTC": ["2024-09-12", "2024-03-06", ""]},
        index=pd.Index(["A", "SF", "X"], name="USUBJID"),
    )
    table = elements(DOSED + [("SF", 1, "SCREENING", "2024-03-01", False), ("X", 1, "SCREENING", "", False)])
    ds = pd.DataFrame(
        {
            "USUBJID": s(["A", "A", "A", "SF", "SF", "X"]),
            # a death record has no DSDTC; an end-of-study record after the treatment element; a record
            # whose only date is DSDTC; a screen failure's records; a subject with no dates at all
            "DSDTC": s(["", "2024-09-12", "2024-03-01", "", "2024-03-06", ""]),
            "DSSTDTC": s(["2024-09-12", "2024-09-12", "", "2024-03-06", "2024-03-06", ""]),
        }
    )
    out = derive_epoch(ds, study.dataset("DS"), table, refs)
    assert out["EPOCH"].tolist() == ["FOLLOW-UP", "FOLLOW-UP", "TREATMENT", "SCREENING", "SCREENING", ""]


def test_lobxfl_last_result_on_or_before_first_dose_ties_by_seq(study):
    spec = study.dataset("LB")
    refs = pd.DataFrame({"RFXSTDTC": ["2024-01-08"]}, index=pd.Index(["A"], name="USUBJID"))
    df = pd.DataFrame(
        {
            "USUBJID": s(["A"] * 9),
            "LBSEQ": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
            "LBTESTCD": s(["KLCFR"] * 4 + ["MCPROT"] * 2 + ["KLCFR"] * 3),
            "LBSPEC": s(["SERUM"] * 9),
            "LBMETHOD": s(["", "", "", "", "ELECTROPHORESIS", "IMMUNOFIXATION ELECTROPHORESIS", "", "", ""]),
            "LBSTRESC": s(["10", "11", "12", "", "0.3", "POSITIVE", "  ", None, "13"]),
            "LBSTAT": s([""] * 6 + ["", "", " NOT DONE"]),
            "LBDTC": s(
                ["2024-01-01"] + ["2024-01-08"] * 3 + ["2024-01-01", "2024-01-09"] + ["2024-01-08"] * 3
            ),
        }
    )
    out = derive_baseline_flag(df, spec, refs, {"flag": "LBLOBXFL"})
    # KLCFR: seq 2, 3 and 7-9 share the first-dose date; seq 4 and 7 have no result (blank, blanks only),
    # 8 a missing one, 9 is NOT DONE -> the highest seq with a result, 3. MCPROT by ELECTROPHORESIS: seq 5;
    # MCPROT by IFE only after the first dose -> none.
    assert out["LBLOBXFL"].tolist() == ["", "", "Y", "", "Y", "", "", "", ""]


def test_lobxfl_needs_the_subjects_complete_first_dose_date(study):
    refs = pd.DataFrame(
        {"RFXSTDTC": ["2024-01-08T10:00", "2024", ""]}, index=pd.Index(["A", "P", "N"], name="USUBJID")
    )
    df = pd.DataFrame(
        {
            "USUBJID": s(["A", "P", "N", "X"]),  # X has no reference dates at all
            "LBSEQ": [1.0, 1.0, 1.0, 1.0],
            "LBTESTCD": s(["KLCFR"] * 4),
            "LBSPEC": s(["SERUM"] * 4),
            "LBSTRESC": s(["10"] * 4),
            "LBDTC": s(["2024-01-08T09:00", "2023-12-01", "2024-01-08", "2024-01-08"]),
        }
    )
    out = derive_baseline_flag(df, study.dataset("LB"), refs, {"flag": "LBLOBXFL"})
    # the date parts are compared: A's result on the first-dose date is its baseline; a partial first-dose
    # date (P: "2023-12-01" would sort before "2024" as text), none (N) or no subject record (X) gives none
    assert out["LBLOBXFL"].tolist() == ["Y", "", "", ""]


def test_nrind(study):
    df = pd.DataFrame(
        {
            "LBSTRESN": [1.0, 5.0, 30.0, np.nan, 400.0, 5.0],
            "LBSTNRLO": [3.3, 3.3, 3.3, 3.3, np.nan, np.nan],
            "LBSTNRHI": [19.4, 19.4, 19.4, 19.4, 125.0, np.nan],
        }
    )
    nrind = derive_nrind(df, study.dataset("LB"))["LBNRIND"]
    assert nrind.dtype == "str"
    assert nrind.tolist() == [
        "LOW",
        "NORMAL",
        "HIGH",
        "",
        "HIGH",
        "",
    ]


def test_unit_conversions_of_domain_md(study):
    table = read_units(ROOT / "specs" / "units.yaml")
    rows = [
        # testcd, method, orres, orresu, lo, hi
        ("KLCFR", "", "1.23", "mg/dL", "0.33", "1.94"),  # x10 -> 12.3 mg/L, range 3.3-19.4
        ("LLCFR", "", "<0.05", "mg/dL", "", ""),  # comparator: STRESC "<0.5", STRESN empty
        ("LLCFR", "", "<0.5", "mg/L", "", ""),
        ("BNPPRONT", "", "100", "pmol/L", "", ""),  # 100 x 8.457 = 845.7 ng/L
        ("BNPPRONT", "", ">35000", "ng/L", "", "125"),
        ("PROTEXR", "", "1250", "mg/day", "", ""),  # 1250 / 1000 = 1.25 g/day
        ("CREAT", "", "1.0", "mg/dL", "", ""),  # 88.4 umol/L
        ("KLCLLCFR", "", "6.667", "", "0.26", "1.65"),  # no unit -> RATIO
        ("MCPROT", "ELECTROPHORESIS", "0.32", "g/dL", "", ""),
        ("MCPROT", "IMMUNOFIXATION ELECTROPHORESIS", "POSITIVE", "", "", ""),  # not in the table: untouched
        ("TROPONT", "", "30", "ug/L", "", ""),  # unknown unit -> MAP002
        ("KLCFR", "", "", "mg/L", "", ""),  # not done
    ]
    df = pd.DataFrame(
        rows, columns=["LBTESTCD", "LBMETHOD", "LBORRES", "LBORRESU", "LBORNRLO", "LBORNRHI"]
    ).astype("str")
    df["LBSTRESC"] = s([""] * 9 + ["POSITIVE", "", ""])
    df["_ROW"] = range(1, len(df) + 1)
    out, findings = derive_standard_units(df, "LB", table, RuleContext("LB", "", study.codelists))
    assert out["LBSTRESC"].tolist() == [
        "12.3",
        "<0.5",
        "<0.5",
        "845.7",
        ">35000",
        "1.25",
        "88.4",
        "6.667",
        "0.32",
        "POSITIVE",
        "",
        "",
    ]
    n = out["LBSTRESN"].tolist()
    assert (
        n[0] == pytest.approx(12.3)
        and n[3] == pytest.approx(845.7)
        and n[5] == pytest.approx(1.25)
        and n[6] == pytest.approx(88.4)
    )
    assert (
        np.isnan(n[1])
        and np.isnan(n[2])
        and np.isnan(n[4])
        and np.isnan(n[9])
        and np.isnan(n[10])
        and np.isnan(n[11])
    )
    assert out["LBSTRESU"].tolist() == [
        "mg/L",
        "mg/L",
        "mg/L",
        "ng/L",
        "ng/L",
        "g/day",
        "umol/L",
        "RATIO",
        "g/dL",
        "",
        "",
        "",
    ]
    assert out["LBSTNRLO"].iloc[0] == pytest.approx(3.3) and out["LBSTNRHI"].iloc[0] == pytest.approx(19.4)
    assert out["LBSTNRHI"].iloc[4] == pytest.approx(125.0)
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP002", 12, "ug/L")]


def test_repeated_results_are_standardised_alike_and_reported_on_each_line(study):
    # standard values are worked out once per distinct (test, method, unit, result, range): records that
    # repeat one get the same values, and each record's finding names its own line
    table = read_units(ROOT / "specs" / "units.yaml")
    rows = [
        ("KLCFR", "1.23", "mg/dL", "0.33"),  # x10 -> 12.3 mg/L, range 3.3
        ("TROPONT", "30", "ug/L", ""),  # unknown unit -> MAP002
        ("KLCFR", "1.23", "mg/dL", "0.33"),
        ("KLCFR", "1.23", "mg/dL", ""),  # the same result without a range
        ("TROPONT", "30", "ug/L", ""),
        ("CREAT", "high", "mg/dL", ""),  # not a number -> MAP006
        ("CREAT", "high", "mg/dL", ""),
    ]
    df = pd.DataFrame(rows, columns=["LBTESTCD", "LBORRES", "LBORRESU", "LBORNRLO"]).astype("str")
    df["_ROW"] = range(1, len(df) + 1)
    out, findings = derive_standard_units(df, "LB", table, RuleContext("LB", "", study.codelists))
    assert out["LBSTRESC"].tolist() == ["12.3", "", "12.3", "12.3", "", "", ""]
    assert out["LBSTRESU"].tolist() == ["mg/L", "", "mg/L", "mg/L", "", "", ""]
    assert out["LBSTNRLO"].tolist()[:4:2] == [pytest.approx(3.3)] * 2 and np.isnan(out["LBSTNRLO"].iloc[3])
    assert sorted((f.code, f.line, f.value) for f in findings) == [
        ("MAP002", 3, "ug/L"),
        ("MAP002", 6, "ug/L"),
        ("MAP006", 7, "high"),
        ("MAP006", 8, "high"),
    ]


def test_supp_rows_point_at_parent_records(study):
    rs = pd.DataFrame(
        {
            "USUBJID": s(["A", "A", "B"]),
            "RSSEQ": [1.0, 2.0, 1.0],
            "MRDSENS": s(["", "1E-05", "1E-04"]),
            "MRDMETH": s(["", "FLOW CYTOMETRY", ""]),
        }
    )
    supp = derive_supp(rs, study.dataset("RS"), "DARPAL")
    assert supp[["USUBJID", "IDVAR", "IDVARVAL", "QNAM", "QVAL", "QORIG"]].values.tolist() == [
        ["A", "RSSEQ", "2", "MRDMETH", "FLOW CYTOMETRY", "Collected"],
        ["A", "RSSEQ", "2", "MRDSENS", "1E-05", "Collected"],
        ["B", "RSSEQ", "1", "MRDSENS", "1E-04", "Collected"],
    ]
    assert set(supp["RDOMAIN"]) == {"RS"} and set(supp["QLABEL"]) == {"MRD Sensitivity Achieved", "MRD Assay"}


def test_age_in_completed_years():
    # birthday not yet reached on the consent date -> 65; reached that day -> 66; partial birth date -> empty
    got = compute_age(
        s(["1958-03-10", "1958-03-10", "1958"]), s(["2024-03-09", "2024-03-10", "2024-03-10"])
    ).tolist()
    assert got[:2] == [65.0, 66.0] and np.isnan(got[2])


def test_reference_dates_arms_and_screen_failures(study):
    dm = pd.DataFrame(
        {
            "USUBJID": s(["A", "B", "C"]),
            "RFICDTC": s(["2024-01-01", "2024-01-02", "2024-01-03"]),
            "BRTHDTC": s(["1960-01-01", "1960-01-01", "1960-01-01"]),
            "DTHDTC": s(["", "UNK", "2024-05"]),
            "DTHFL": s(["", "", ""]),
            "ARMCD": s(["", "", ""]),
            "ARM": s(["", "", ""]),
            "ACTARMCD": s(["", "", ""]),
            "ACTARM": s(["", "", ""]),
            "ARMNRS": s(["", "SCREEN FAILURE", ""]),
            "AGE": [np.nan] * 3,
        }
    )
    ex = pd.DataFrame(
        {
            "USUBJID": s(["A", "A", "A", "A"]),
            "EXDOSE": [4.0, 1800.0, 0.0, 4.0],
            "EXSTDTC": s(["2024-01-08", "2024-01-08T09:30", "2024-03-01", "2024-02-01"]),
            "EXENDTC": s(["2024-01-28", "2024-01-08T09:30", "2024-03-20", "2024-02-21"]),
        }
    )
    ds = pd.DataFrame(
        {
            "USUBJID": s(["A"]),
            "DSSCAT": s(["END OF TREATMENT"]),
            "DSSTDTC": s(["2024-03-10"]),
            "DSDTC": s([""]),
        }
    )
    # C's last sample is dated after the study's data cut-off (specs/study.yaml)
    late = (study.cutoff + timedelta(days=15)).isoformat()
    lb = pd.DataFrame({"USUBJID": s(["A", "C", "C"]), "LBDTC": s(["2024-04-02T08:00", "2024-01-04", late])})
    frames = {"DM": dm, "EX": ex, "DS": ds, "LB": lb}
    refs = derive_reference_dates(dm, frames, study)
    # A: first dose date 2024-01-08, the record with a time wins; last dose = latest end of a dose > 0
    # (the 0 mg interruption to 03-20 does not count) -> 2024-02-21; end of participation = LB 04-02, with
    # the time recorded (RFPENDTC is a date/time: the last contact as precisely as the data have it)
    assert refs.loc["A", ["RFICDTC", "RFXSTDTC", "RFXENDTC", "RFSTDTC", "RFENDTC", "RFPENDTC"]].tolist() == [
        "2024-01-01",
        "2024-01-08T09:30",
        "2024-02-21",
        "2024-01-08T09:30",
        "2024-02-21",
        "2024-04-02T08:00",
    ]
    # C: never dosed; latest complete date = LB 2024-01-04 (the partial death date is not complete, the
    # sample after the cut-off is not counted)
    assert refs.loc["C", ["RFXSTDTC", "RFPENDTC"]].tolist() == ["", "2024-01-04"]
    dm_out, findings = derive_dm(dm, refs, study)
    assert findings == []
    out = dm_out.set_index("USUBJID")
    # the treatment element ends at the DS end-of-treatment date 03-10 (study.yaml FU start); C was never
    # dosed: screening only, to the end of participation
    se = compute_subject_elements(dm_out, refs, frames, study)
    assert se.loc[se["USUBJID"] == "A", ["ETCD", "SESTDTC", "SEENDTC"]].values.tolist() == [
        ["SCRN", "2024-01-01", "2024-01-08T09:30"],
        ["DARAPOM", "2024-01-08T09:30", "2024-03-10"],
        ["FU", "2024-03-10", "2024-04-02T08:00"],
    ]
    assert se.loc[se["USUBJID"] == "C", ["ETCD", "SESTDTC", "SEENDTC"]].values.tolist() == [
        ["SCRN", "2024-01-03", "2024-01-04"]
    ]
    assert out.loc["A", ["ARMCD", "ACTARMCD", "ARMNRS", "RFENDTC"]].tolist() == [
        "DARAPOM",
        "DARAPOM",
        "",
        "2024-02-21",
    ]
    assert out.loc["B", ["ARMCD", "ARM", "ACTARMCD", "ARMNRS"]].tolist() == ["", "", "", "SCREEN FAILURE"]
    assert out.loc["C", ["ARMCD", "ACTARMCD", "ARMNRS", "DTHFL"]].tolist() == [
        "DARAPOM",
        "",
        "ASSIGNED, NOT TREATED",
        "Y",
    ]
    assert out.loc["A", "AGE"] == 64.0  # 1960-01-01 -> 2024-01-01: birthday reached on the day


def test_results_round_half_away_from_zero_on_the_decimal_they_stand_for():
    """Worked by hand: 36.885 (stored 36.88499999...) is the decimal 36.885 -> 36.89; 1.005 -> 1.01; -2.5 to
    0 places -> -3; 0.125 -> 0.13; -0.004 to 2 places is 0, written +0; a missing value or a missing number
    of decimals leaves the value as it is. Repeats get the same answer as the value alone."""
    from sdtm._units import compute_rounded

    values = np.array([36.885, 1.005, -2.5, 0.125, -0.004, np.nan, 7.777, 36.885, -2.5, 0.125])
    decimals = np.array([2, 2, 0, 2, 2, 1, np.nan, 1, 0, 2], dtype=float)
    got = compute_rounded(values, decimals)
    want = [36.89, 1.01, -3.0, 0.13, 0.0, np.nan, 7.777, 36.9, -3.0, 0.13]
    np.testing.assert_array_equal(got, want)
    assert not np.signbit(got[4])
    assert compute_rounded(np.array([]), 2).size == 0
