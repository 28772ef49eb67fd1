"""Edge cases seen on the 10,000-subject run: partial dates and EPOCH, 0 mg interruptions and DM reference dates."""

from __future__ import annotations

import pandas as pd

from cdiscgen.validate import validate_datasets


def test_partial_dates_may_leave_epoch_null():
    ds = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 3,
            "DOMAIN": ["DS"] * 3,
            "USUBJID": ["S1-001"] * 3,
            "DSSEQ": [1.0, 2.0, 3.0],
            "DSTERM": ["DEATH", "COMPLETED", "INFORMED CONSENT OBTAINED"],
            "DSDECOD": ["DEATH", "COMPLETED", "INFORMED CONSENT OBTAINED"],
            "EPOCH": ["", "", "SCREENING"],
            "DSSTDTC": ["2024", "2024-09-12", "2024-01-02"],
        }
    )
    found = [f for f in validate_datasets({"DS": ds}, codes=["CDG0701"]).findings if f.code == "CDG0701"]
    # only the complete date 2024-09-12 without EPOCH; "2024" may span epochs; the third has EPOCH
    assert [(f.seq, f.value) for f in found] == [(2, "2024-09-12")]


def _mh(dates: list[str]) -> pd.DataFrame:
    n = len(dates)
    return pd.DataFrame(
        {
            "STUDYID": ["S1"] * n,
            "DOMAIN": ["MH"] * n,
            "USUBJID": ["S1-001"] * n,
            "MHSEQ": [float(i) for i in range(1, n + 1)],
            "MHTERM": ["AL AMYLOIDOSIS"] * n,
            "EPOCH": [""] * n,
            "MHSTDTC": dates,
        }
    )


def _dm(rficdtc: str) -> pd.DataFrame:
    return pd.DataFrame({"STUDYID": ["S1"], "DOMAIN": ["DM"], "USUBJID": ["S1-001"], "RFICDTC": [rficdtc]})


def test_records_before_the_study_start_may_leave_epoch_null():
    """Consent 2024-01-02: a diagnosis of 2021-06-15 or 2024-01-01 belongs to no epoch; one on the consent
    day or later is in the study and needs EPOCH."""
    mh = _mh(["2021-06-15", "2024-01-01", "2024-01-02", "2024-03-04"])
    found = validate_datasets({"DM": _dm("2024-01-02T09:30"), "MH": mh}, codes=["CDG0701"]).findings
    assert [(f.seq, f.value) for f in found if f.code == "CDG0701"] == [(3, "2024-01-02"), (4, "2024-03-04")]


def test_the_first_se_element_sets_the_study_start_before_dm():
    """SE says the subject entered screening on 2023-12-20 (RFICDTC 2024-01-02): 2023-12-21 is in the study."""
    mh = _mh(["2023-12-19", "2023-12-21"])
    se = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 2,
            "DOMAIN": ["SE"] * 2,
            "USUBJID": ["S1-001"] * 2,
            "SESEQ": [1.0, 2.0],
            "ETCD": ["SCRN", "TRT"],
            "SESTDTC": ["2023-12-20", "2024-01-05"],
        }
    )
    found = validate_datasets({"DM": _dm("2024-01-02"), "SE": se, "MH": mh}, codes=["CDG0701"]).findings
    assert [(f.seq, f.value) for f in found if f.code == "CDG0701"] == [(2, "2023-12-21")]


def test_interruption_records_are_not_exposure():
    # EX: 2 mg up to 2024-07-12, then a 0 mg interruption 2024-07-13..19; RFXENDTC = 2024-07-12 is right.
    dm = pd.DataFrame(
        {
            "STUDYID": ["S1"],
            "DOMAIN": ["DM"],
            "USUBJID": ["S1-001"],
            "RFXSTDTC": ["2024-06-01"],
            "RFXENDTC": ["2024-07-12"],
        }
    )
    ex = pd.DataFrame(
        {
            "STUDYID": ["S1"] * 3,
            "DOMAIN": ["EX"] * 3,
            "USUBJID": ["S1-001"] * 3,
            "EXSEQ": [1.0, 2.0, 3.0],
            "EXTRT": ["POMALIDOMIDE"] * 3,
            "EXDOSE": [0.0, 2.0, 0.0],
            "EXSTDTC": ["2024-05-30", "2024-06-01", "2024-07-13"],
            "EXENDTC": ["2024-05-31", "2024-07-12", "2024-07-19"],
        }
    )
    found = validate_datasets({"DM": dm, "EX": ex}, codes=["CDG0503", "CDG0504"]).findings
    assert [f.code for f in found] == []
    dm.loc[0, "RFXENDTC"] = "2024-07-19"  # the interruption's end is not the last exposure
    found = validate_datasets({"DM": dm, "EX": ex}, codes=["CDG0503", "CDG0504"]).findings
    assert [(f.code, f.value) for f in found] == [("CDG0504", "2024-07-19")]


def test_placebo_at_zero_dose_is_exposure():
    dm = pd.DataFrame(
        {"STUDYID": ["S1"], "DOMAIN": ["DM"], "USUBJID": ["S1-001"], "RFXSTDTC": ["2024-06-01"]}
    )
    dm["RFXENDTC"] = ["2024-06-30"]
    ex = pd.DataFrame(
        {
            "STUDYID": ["S1"],
            "DOMAIN": ["EX"],
            "USUBJID": ["S1-001"],
            "EXSEQ": [1.0],
            "EXTRT": ["PLACEBO"],
            "EXDOSE": [0.0],
            "EXSTDTC": ["2024-06-01"],
            "EXENDTC": ["2024-07-15"],
        }
    )
    found = validate_datasets({"DM": dm, "EX": ex}, codes=["CDG0504"]).findings
    # placebo through 2024-07-15 is exposure: RFXENDTC 2024-06-30 is wrong
    assert [(f.code, f.value, f.expected) for f in found] == [("CDG0504", "2024-06-30", "2024-07-15")]


def test_a_sponsor_codelist_and_a_term_the_ig_prescribes_extend_no_cdisc_codelist(tmp_path):
    # AETOXGR uses the sponsor's own CTCAE grade codelist (not a CDISC list), AEACN MULTIPLE is SDTMIG's
    # term for several study treatments with different actions (issue 29): neither is a sponsor extension
    # of a non-extensible CDISC codelist; without its `convention`, MULTIPLE is one.
    import shutil

    from cdiscgen import load_study
    from tests.conftest import REPO

    ae = pd.DataFrame(
        {"STUDYID": ["DARPAL"] * 2, "DOMAIN": ["AE"] * 2, "USUBJID": ["DARPAL-101-001"] * 2,
         "AESEQ": [1.0, 2.0], "AETOXGR": ["3", "1"], "AEACN": ["MULTIPLE", "DOSE NOT CHANGED"]}
    )  # fmt: skip
    found = validate_datasets({"AE": ae}, study=load_study(), codes=["CDG0803"]).findings
    assert list(found) == []
    copy = tmp_path / "study"
    shutil.copytree(REPO / "specs", copy / "specs")
    shutil.copytree(REPO / "mappings", copy / "mappings")
    codelists = copy / "specs" / "codelists.yaml"
    text = codelists.read_text(encoding="utf-8")
    term = text.index("decode: Different actions with the study treatments")
    line_end = text.index("\n", term)
    assert text[term:line_end].count(", convention: ") == 1  # the term's line: {value, ..., convention}
    start = text.index(", convention: ", term)
    codelists.write_text(text[:start] + text[line_end - 1 :], encoding="utf-8")
    found = validate_datasets({"AE": ae}, study=load_study(copy), codes=["CDG0803"]).findings
    assert [(f.variable, f.value) for f in found] == [("AEACN", "MULTIPLE")]
