"""Any study, not only DarPAL: one regression test per problem a new user hit when mapping the CDISC pilot
(issue 11), on a hand-made raw export in the pilot's layout mapped with examples/cdiscpilot01, and on the
`init --minimal` skeleton. Every expected value is worked out by hand from the rules named beside it."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from cdiscgen import load_study
from cdiscgen._exposure import compute_exposure_mask
from cdiscgen._findings import Severity
from cdiscgen._specs import check_study
from cdiscgen.cli import main
from cdiscgen.validate import validate_datasets
from sdtm import (
    DateFormatError,
    RuleContext,
    check_mapping_specs,
    compile_date_format,
    compute_assign,
    compute_condition,
    compute_iso8601_date,
    derive_dm,
    derive_merge,
    run_sdtm,
)
from tests.conftest import REPO
from tests.test_sdtm_algorithms import raw as _raw

PILOT = REPO / "examples" / "cdiscpilot01"

# ------------------------------------------------------------------------------------ a tiny pilot export
# Three subjects in the pilot's raw layout: 701-0001 placebo (EXDOSE 0), 701-0002 high dose (54 -> 81 ->
# 54 mg: five elements), 702-0003 a screen failure. Visit codes in VS are written in other cases than the
# schedule's ("BASELINE", "week 2"), one visit is unscheduled with its own number, one code is unknown.

DM_RAW = """\
STUDY,PATNUM,IT.AGE,IT.SEX,IT.ETHNIC,IT.RACE,COUNTRY,PLANNED_ARM,PLANNED_ARMCD,ACTUAL_ARM,ACTUAL_ARMCD,COL_DT,IC_DT
CDISCPILOT01,701-0001,70,Female,Not Hispanic or Latino,White,USA,Placebo,Pbo,Placebo,Pbo,12/20/2013,12/20/2013
CDISCPILOT01,701-0002,64,Male,Hispanic or Latino,White,USA,Xanomeline High Dose,Xan_Hi,Xanomeline High Dose,Xan_Hi,12/21/2013,12/21/2013
CDISCPILOT01,702-0003,81,Female,Not Hispanic or Latino,Black or African American,USA,Screen Failure,Scrnfail,Screen Failure,Scrnfail,12/22/2013,12/22/2013
"""
DS_RAW = """\
STUDY,PATNUM,SITENM,INSTANCE,FORM,FORML,IT.DSTERM,IT.DSDECOD,OTHERSP,DSDTCOL,DSTMCOL,IT.DSSTDAT,DEATHDT
CDISCPILOT01,701-0001,CDISCPILOT,Baseline,DISC1,Subject Disposition,Randomized,Randomized,,01-02-2014,,01-02-2014,
CDISCPILOT01,701-0001,CDISCPILOT,Week 2,DISC1,Subject Disposition,Protocol Completed,Completed,,01-30-2014,,01-30-2014,
CDISCPILOT01,701-0001,CDISCPILOT,Week 2,DISC1,Subject Disposition,,,Final Lab Visit,02-13-2014,11:45,02-13-2014,
CDISCPILOT01,701-0002,CDISCPILOT,Baseline,DISC1,Subject Disposition,Randomized,Randomized,,01-02-2014,,01-02-2014,
CDISCPILOT01,701-0002,CDISCPILOT,Week 24,DISC1,Subject Disposition,Protocol Completed,Completed,,06-26-2014,,06-26-2014,
CDISCPILOT01,701-0002,CDISCPILOT,Week 24,DISC1,Subject Disposition,,,Final Lab Visit,07-10-2014,,07-10-2014,
CDISCPILOT01,702-0003,CDISCPILOT,Screening 1,DISC1,Subject Disposition,Screen Failure,Screen Failure,,12-28-2013,,12-28-2013,
"""
EC_RAW = """\
STUDY,PATNUM,VISITNAME,FOLDER,FOLDERL,IT.ECREFID,DRUGAD,IT.ECSTDAT,IT.ECENDAT,IT.ECDSTXT,IT.ECDOSU,DOSFM,DOSFRQ,IT.ECROUTE
CDISCPILOT01,701-0001,Baseline,EC,Exposure as Collected,123,PLACEBO,02-Jan-2014,16-Jan-2014,0,Milligram,patch,Daily,Transdermal
CDISCPILOT01,701-0001,Week 2,EC,Exposure as Collected,123,PLACEBO,17-Jan-2014,30-Jan-2014,0,Milligram,patch,Daily,Transdermal
CDISCPILOT01,701-0002,Baseline,EC,Exposure as Collected,123,XANOMELINE,02-Jan-2014,15-Jan-2014,54,Milligram,patch,Daily,Transdermal
CDISCPILOT01,701-0002,Week 2,EC,Exposure as Collected,123,XANOMELINE,16-Jan-2014,11-Jun-2014,81,Milligram,patch,Daily,Transdermal
CDISCPILOT01,701-0002,Week 24,EC,Exposure as Collected,123,XANOMELINE,12-Jun-2014,26-Jun-2014,54,Milligram,patch,Daily,Transdermal
"""
_AE_HEAD = (
    "STUDY,PATNUM,FOLDER,FOLDERL,IT.AETERM,AEOUTCOME,AELLT,AELLTCD,AEDECOD,AEPTCD,AEHLT,AEHLTCD,AEHLGT,"
    "AEHLGTCD,AEBODSYS,AEBDSYCD,AESOC,AESOCCD,IT.AESEV,IT.AESER,IT.AEREL,IT.AEACN,AESCAN,AESCNO,AEDIS,"
    "IT.AESDTH,IT.AESHOSP,IT.AESLIFE,AESOD,AEDTCOL,IT.AESTDAT,IT.AEENDAT"
)
_AE_BODY = (
    "Headache,Recovered/Resolved,HEADACHE,10019211,HEADACHE,,HLT_0064,,HLGT_0344,,NERVOUS SYSTEM DISORDERS,,"
    "NERVOUS SYSTEM DISORDERS,10029205,Moderate Adverse Event,No,Not Related,,No,No,No,No,No,No,No"
)
AE_RAW = (
    f"{_AE_HEAD}\n"
    f"CDISCPILOT01,701-0001,AE,Adverse Events,{_AE_BODY},01/16/2014,01/10/2014,01/20/2014\n"
    f"CDISCPILOT01,701-0002,AE,Adverse Events,{_AE_BODY},02/01/2014,2013,\n"
)
VS_RAW = """\
STUDY,PATNUM,INSTANCE,FORM,FORML,VTLD,IT.HEIGHT_VSORRES,IT.WEIGHT,IT.TEMP,IT.TEMP_LOC,TMPTC,SYS_BP,DIA_BP,PULSE,SUBPOS
CDISCPILOT01,701-0001,Screening 1,VS,Vital Signs,20-Dec-2013,65,150,98.6,ORAL CAVITY,after Lying Down for 5 Minutes,120,,,SUPINE
CDISCPILOT01,701-0001,BASELINE,VS,Vital Signs,02-Jan-2014,,,97.7,ORAL CAVITY,after Lying Down for 5 Minutes,118,,,SUPINE
CDISCPILOT01,701-0001,week 2,VS,Vital Signs,16-Jan-2014,,,37.2,ORAL CAVITY,after Lying Down for 5 Minutes,122,,,SUPINE
CDISCPILOT01,701-0001,Unscheduled 1.1,VS,Vital Signs,25-Jan-2014,,,,,after Lying Down for 5 Minutes,125,,,SUPINE
CDISCPILOT01,701-0001,Week 99,VS,Vital Signs,27-Jan-2014,,,,,after Lying Down for 5 Minutes,130,,,SUPINE
"""
RAW = {
    "dm_raw.csv": DM_RAW,
    "ds_raw.csv": DS_RAW,
    "ec_raw.csv": EC_RAW,
    "ae_raw.csv": AE_RAW,
    "vs_raw.csv": VS_RAW,
}


@pytest.fixture(scope="module")
def pilot_raw(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("pilot_raw")
    for name, text in RAW.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def pilot_study():
    return load_study(PILOT)


@pytest.fixture(scope="module")
def mapped(pilot_raw, pilot_study):
    return run_sdtm(pilot_raw, pilot_study)


def records(mapped, name: str, usubjid: str | None = None) -> pd.DataFrame:
    df = mapped.datasets[name]
    return df[df["USUBJID"] == usubjid].reset_index(drop=True) if usubjid else df


def vs(mapped, test: str) -> pd.DataFrame:
    df = records(mapped, "VS", "01-701-0001")
    return df[df["VSTESTCD"] == test].sort_values("VSDTC").reset_index(drop=True)


def test_the_only_finding_is_the_unknown_visit_code_named_with_file_line_and_value(mapped):
    # "Week 99" is not in the schedule: MAP008 at vs_raw.csv line 6 (header = line 1); nothing else
    assert [(f.code, f.file, f.line, f.value) for f in mapped.findings if f.severity >= Severity.WARNING] == [
        ("MAP008", "vs_raw.csv", 6, "Week 99")
    ]
    row = records(mapped, "VS", "01-701-0001").query("VSDTC == '2014-01-27'")
    assert row["VISIT"].tolist() == [""] and row["VISITNUM"].isna().all()


# ---------------------------------------------------------------------- placebo subjects are treated


def test_placebo_subject_gets_reference_dates_study_days_epochs_and_baseline(mapped):
    dm = records(mapped, "DM", "01-701-0001").iloc[0]
    # EXDOSE 0 of PLACEBO (placebo: true) is exposure: first EX start / last EX end
    assert (dm["RFXSTDTC"], dm["RFXENDTC"], dm["RFSTDTC"]) == ("2014-01-02", "2014-01-30", "2014-01-02")
    # RFENDTC: last disposition event (Completed 01-30); RFPENDTC: last DS date of any kind, time kept
    assert (dm["RFENDTC"], dm["RFPENDTC"]) == ("2014-01-30", "2014-02-13T11:45")
    assert dm["DMDY"] == -13  # 2013-12-20 is 13 days before day 1 (no day 0)
    sysbp = vs(mapped, "SYSBP")
    # 2013-12-20, 2014-01-02, 01-16, 01-25, 01-27 against RFSTDTC 2014-01-02
    assert sysbp["VSDY"].tolist() == [-13, 1, 15, 24, 26]
    # the first-dose day belongs to the treatment element (dosing starts it)
    assert sysbp["EPOCH"].tolist() == ["SCREENING"] + ["TREATMENT"] * 4
    assert sysbp["VSBLFL"].tolist() == ["", "Y", "", "", ""]  # baseline visit BASELINE (study.yaml)
    assert sysbp["VSLOBXFL"].tolist() == ["", "Y", "", "", ""]  # last on or before RFXSTDTC
    ex = records(mapped, "EX", "01-701-0001")
    assert ex["EXSTDY"].tolist() == [1, 16] and ex["EXENDY"].tolist() == [15, 29]


def test_a_zero_dose_of_an_active_drug_is_an_interruption_and_a_placebo_dose_is_exposure(pilot_study):
    ex = pd.DataFrame({"EXTRT": ["PLACEBO", "XANOMELINE", "XANOMELINE", "placebo "], "EXDOSE": [0, 0, 54, 0]})
    assert compute_exposure_mask(ex, pilot_study.settings).tolist() == [True, False, True, True]
    # without study metadata: a treatment whose name says placebo
    assert compute_exposure_mask(ex, None).tolist() == [True, False, True, True]
    # a study may state its own rule
    own = {"reference_dates": {"exposure": {"where": {"variable": "EXDOSE", "op": "gt", "value": 0}}}}
    assert compute_exposure_mask(ex, own).tolist() == [False, False, True, False]


def test_a_treatment_the_design_does_not_name_is_never_exposure(pilot_study):
    ex = pd.DataFrame({"EXTRT": ["XANOMELINE 99", "XANOMELINE"], "EXDOSE": [54, 54]})
    assert compute_exposure_mask(ex, pilot_study.settings).tolist() == [False, True]
    # without design.treatments there is nothing to compare with: the dose rule alone
    assert compute_exposure_mask(ex, None).tolist() == [True, True]


def test_an_unknown_treatment_is_an_error_with_file_and_line(tmp_path, pilot_study):
    # issue 28, item 2: a DRUGAD that is not in design.treatments (XANOMELINE, PLACEBO) was silently an
    # interruption (dose 0) or exposure (dose 54) and moved RFXSTDTC with no finding.
    lines = EC_RAW.splitlines()
    lines[1] = lines[1].replace(",PLACEBO,", ",XANOMELINE 99,")  # 701-0001, placebo 02-Jan, line 2
    lines[3] = lines[3].replace(",XANOMELINE,", ",Xanomeline 99,")  # 701-0002, 54 mg 02-Jan, line 4
    for name, text in {**RAW, "ec_raw.csv": "\n".join(lines) + "\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = run_sdtm(tmp_path, pilot_study)
    found = [(f.code, f.severity, f.file, f.line, f.value) for f in result.findings if f.code == "MAP021"]
    assert found == [
        ("MAP021", Severity.ERROR, "ec_raw.csv", 2, "XANOMELINE 99"),
        ("MAP021", Severity.ERROR, "ec_raw.csv", 4, "XANOMELINE 99"),
    ]
    assert "PLACEBO, XANOMELINE" == result.findings.at_least(Severity.ERROR)[0].expected
    # the first dose of a designed treatment starts exposure: 17-Jan (placebo), 16-Jan (81 mg)
    dm = result.datasets["DM"].set_index("USUBJID")
    assert dm.loc["01-701-0001", "RFXSTDTC"] == "2014-01-17"
    assert dm.loc["01-701-0002", "RFXSTDTC"] == "2014-01-16"


def test_validator_reference_date_checks_are_quiet_on_placebo_subjects(mapped, pilot_study):
    result = validate_datasets(mapped.datasets, study=pilot_study, codes=["CDG0503", "CDG0504"])
    assert [f for f in result.findings if f.code in ("CDG0503", "CDG0504")] == []


# --------------------------------------------------------------------------------- multi-arm designs


def test_each_subject_follows_its_own_arm_through_any_number_of_elements(mapped):
    se = mapped.datasets["SE"]
    got = {
        u: list(zip(g["ETCD"], g["SESTDTC"].str[:10], g["SEENDTC"].str[:10], strict=True))
        for u, g in se.groupby("USUBJID", sort=True)
    }
    assert got == {
        # Pbo: SCRN (consent) -> PBO (first dose) -> FOLO (RFENDTC) -> end of participation
        "01-701-0001": [
            ("SCRN", "2013-12-20", "2014-01-02"),
            ("PBO", "2014-01-02", "2014-01-30"),
            ("FOLO", "2014-01-30", "2014-02-13"),
        ],
        # Xan_Hi: HIM starts with the first 81 mg record, HIE with the next 54 mg one
        "01-701-0002": [
            ("SCRN", "2013-12-21", "2014-01-02"),
            ("HIS", "2014-01-02", "2014-01-16"),
            ("HIM", "2014-01-16", "2014-06-12"),
            ("HIE", "2014-06-12", "2014-06-26"),
            ("FOLO", "2014-06-26", "2014-07-10"),
        ],
        # a screen failure: screening only, to the end of participation (the screen-failure DS date)
        "01-702-0003": [("SCRN", "2013-12-22", "2013-12-28")],
    }


def test_mixed_case_arm_codes_are_accepted_and_decoded(mapped):
    dm = mapped.datasets["DM"].set_index("USUBJID")
    assert dm.loc["01-701-0002", ["ARMCD", "ARM", "ACTARMCD"]].tolist() == [
        "Xan_Hi",
        "Xanomeline High Dose",
        "Xan_Hi",
    ]
    assert dm.loc["01-702-0003", ["ARMCD", "ARMNRS"]].tolist() == ["", "SCREEN FAILURE"]


def test_a_two_element_arm_gives_se_without_error(tmp_path):
    study_dir = _minimal_study(tmp_path)
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "demographics.csv").write_text(MINIMAL_DM, encoding="utf-8")
    result = run_sdtm(raw, load_study(study_dir))
    se = result.datasets["SE"]
    # no exposure in the skeleton: every subject is in screening only (TRT starts at RFXSTDTC)
    assert se["ETCD"].tolist() == ["SCRN", "SCRN"] and se["SESTDTC"].tolist() == ["2026-01-05", "2026-01-07"]


# ------------------------------------------------------------------------------------------ DM: AGE


def test_collected_age_is_kept_without_birth_date(mapped):
    dm = mapped.datasets["DM"].set_index("USUBJID")
    assert dm["AGE"].tolist() == [70, 64, 81]


def test_collected_age_that_disagrees_with_the_birth_date_is_a_finding(pilot_study):
    dm = pd.DataFrame(
        {
            "USUBJID": ["01-1", "01-2"],
            "AGE": [40.0, 41.0],
            "BRTHDTC": ["1980-06-15", "1980-06-15"],
            "RFICDTC": ["2020-06-14", "2020-06-14"],
            "ARMCD": ["Pbo", "Pbo"],
            "_ROW": [1, 2],
            "_FILE": ["dm.csv", "dm.csv"],
        }
    )
    refs = pd.DataFrame(
        {c: ["", ""] for c in ("RFSTDTC", "RFENDTC", "RFXSTDTC", "RFXENDTC", "RFPENDTC")},
        index=["01-1", "01-2"],
    )
    out, findings = derive_dm(dm, refs, pilot_study)
    # 1980-06-15 -> 2020-06-14 is 39 full years: both collected ages disagree; the collected value wins
    assert out["AGE"].tolist() == [40, 41]
    assert sorted((f.code, f.line) for f in findings if f.code == "MAP013") == [("MAP013", 2), ("MAP013", 3)]


def test_a_dm_spec_without_brthdtc_runs(tmp_path):
    study_dir = _minimal_study(tmp_path)
    spec = study_dir / "specs" / "sdtm" / "dm.yaml"
    data = yaml.safe_load(spec.read_text())
    data["variables"] = [v for v in data["variables"] if v["name"] != "BRTHDTC"]
    spec.write_text(yaml.safe_dump(data, sort_keys=False))
    mapping = study_dir / "mappings" / "dm.yaml"
    mapping.write_text(
        mapping.read_text().replace(
            "      BRTHDTC: {iso8601: BIRTH_DATE, formats: [YYYY-MM-DD, YYYY-MM, YYYY]}\n", ""
        )
    )
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "demographics.csv").write_text(MINIMAL_DM, encoding="utf-8")
    result = run_sdtm(raw, load_study(study_dir))
    assert "BRTHDTC" not in result.datasets["DM"].columns
    assert result.datasets["DM"]["AGE"].isna().all()  # nothing to derive it from, nothing collected


# -------------------------------------------------------------------------------------- visit codes


def test_visit_codes_match_the_schedule_ignoring_case_and_unscheduled_numbers_are_kept(mapped):
    sysbp = vs(mapped, "SYSBP")
    # Screening 1, BASELINE (code Baseline), week 2 (code Week 2), Unscheduled 1.1
    assert sysbp["VISITNUM"].tolist()[:4] == [1, 3, 4, 1.1] and pd.isna(sysbp["VISITNUM"].iloc[4])
    assert sysbp["VISIT"].tolist() == ["SCREENING 1", "BASELINE", "WEEK 2", "UNSCHEDULED 1.1", ""]
    # VISITDY in VS too (planned study day of the scheduled visits; none for an unscheduled one)
    assert sysbp["VISITDY"].tolist()[:3] == [-7, 1, 14] and sysbp["VISITDY"].iloc[3:].isna().all()
    sv = records(mapped, "SV", "01-701-0001")
    assert sorted(sv["VISITNUM"].tolist()) == [1, 1.1, 3, 4]


def test_several_unscheduled_codes_placed_by_date(tmp_path):
    study_dir = _minimal_study(tmp_path)
    path = study_dir / "specs" / "study.yaml"
    data = yaml.safe_load(path.read_text())
    data["unscheduled"] = {"visit_label": "UNSCHEDULED", "codes": ["UNS", "Unsched"], "visitnum_step": 0.01}
    data["visits"][0]["code"] = "Scr"  # a mixed-case code in the schedule
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    study = load_study(study_dir)
    assert study.unscheduled_codes == ("UNS", "UNSCHED")


# ------------------------------------------------------------------------------------- date patterns


def test_declared_date_patterns_with_two_digit_years_and_unknown_parts():
    values = pd.Series(
        ["09-30-2013", "15-Sep-20", "15-Sep-99", "UN UNK 2019", "20 UNK 2019", "UN Mar 2019", "x"]
    )
    iso, unparseable, impossible = compute_iso8601_date(
        values, ["MM-DD-YYYY", "DD-MON-YY", "DD MON YYYY"], unknown=["UN", "UNK"], pivot_year=1950
    )
    # YY in 1950..2049; an unknown month with a known day keeps the day: YYYY---DD (ISO 8601)
    assert iso.tolist() == ["2013-09-30", "2020-09-15", "1999-09-15", "2019", "2019---20", "2019-03", ""]
    assert unparseable.tolist() == [False] * 6 + [True] and not impossible.any()


def test_bad_date_patterns_are_refused_with_the_reason():
    with pytest.raises(DateFormatError, match="QQ"):
        compile_date_format("DD-QQ-YYYY")
    with pytest.raises(DateFormatError):
        compile_date_format("DD-MM")  # no year


def test_ambiguous_or_pivotless_formats_are_spec_errors(tmp_path):
    study_dir = _copy_pilot(tmp_path)
    path = study_dir / "mappings" / "dm.yaml"
    text = path.read_text()
    text = text.replace("formats: &mdy [MM/DD/YYYY]", "formats: &mdy [MM/DD/YYYY, DD/MM/YYYY]")
    text = text.replace(
        "DMDTC: {iso8601: COL_DT, formats: *mdy}", "DMDTC: {iso8601: COL_DT, formats: [DD-MON-YY]}"
    )
    path.write_text(text)
    findings = check_mapping_specs(load_study(study_dir))
    spec107 = [f for f in findings if f.code == "SPEC107"]
    messages = " ".join(f.message for f in spec107)
    assert "ambiguous" in messages and "pivot_year" in messages
    assert all(f.file == "mappings/dm.yaml" and f.line for f in spec107)


# ---------------------------------------------------------------------------- raw columns, USUBJID


def test_raw_column_names_with_dots_and_spaces_are_declared(tmp_path):
    study_dir = _minimal_study(tmp_path)
    mapping = study_dir / "mappings" / "dm.yaml"
    mapping.write_text(
        mapping.read_text()
        .replace(", COUNTRY,", ", IT.COUNTRY of site,")
        .replace("assign: COUNTRY", "assign: IT.COUNTRY of site")
    )
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "demographics.csv").write_text(
        MINIMAL_DM.replace("COUNTRY", "IT.COUNTRY of site"), encoding="utf-8"
    )
    study = load_study(study_dir)
    assert check_mapping_specs(study) == []
    dm = run_sdtm(raw, study).datasets["DM"]
    assert dm["COUNTRY"].tolist() == ["USA", "CAN"]


def test_usubjid_pattern_and_a_lower_case_studyid(mapped, tmp_path):
    dm = mapped.datasets["DM"]
    assert dm["USUBJID"].tolist() == ["01-701-0001", "01-701-0002", "01-702-0003"]
    # SUBJID and SITEID extracted from the raw "site-subject" number by a regular expression
    assert dm["SUBJID"].tolist() == ["0001", "0002", "0003"] and dm["SITEID"].tolist() == [
        "701",
        "701",
        "702",
    ]
    study_dir = _minimal_study(tmp_path)
    path = study_dir / "specs" / "study.yaml"
    data = yaml.safe_load(path.read_text())
    data["study"]["studyid"] = "cdisc.pilot-01"
    data["subjects"] = {"usubjid": "{studyid}/{subject}"}
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    study = load_study(study_dir)
    assert study.compute_usubjid(pd.Series(["1001", ""])).tolist() == ["cdisc.pilot-01/1001", ""]


# --------------------------------------------------------------------------------------------- units


def test_units_with_offset_and_rounding_and_stresn_is_the_number_stresc_shows(mapped):
    temp = vs(mapped, "TEMP")
    # (98.6 - 32) x 5/9 = 37; (97.7 - 32) x 5/9 = 36.5; 37.2 C stays
    assert temp["VSORRESU"].tolist() == ["F", "F", "C"]
    assert temp["VSSTRESN"].tolist() == [37.0, 36.5, 37.2] and set(temp["VSSTRESU"]) == {"C"}
    # 65 in x 2.54 = 165.1 cm; 150 LB x 0.4536 = 68.04 kg (2 decimals)
    assert vs(mapped, "HEIGHT")["VSSTRESN"].tolist() == [165.1]
    assert vs(mapped, "WEIGHT")["VSSTRESN"].tolist() == [68.04]
    df = mapped.datasets["VS"]
    assert (pd.to_numeric(df["VSSTRESC"]) == df["VSSTRESN"]).all()


# ------------------------------------------------------------------------------ mapping vocabulary


def _ctx(variable: str = "X", targets: dict | None = None) -> RuleContext:
    return RuleContext(
        "CM", variable, {}, "form.csv", None, targets=pd.DataFrame(targets) if targets else None
    )


def test_numeric_comparisons_and_non_numbers_are_reported():
    df = _raw(SYS=["139", "140", "151.5", "n/a"])
    rule = {
        "condition": [
            {"if": {"column": "SYS", "op": "ge", "value": 150}, "then": "HIGH"},
            {"if": {"column": "SYS", "op": "lt", "value": 140}, "then": "LOW"},
            {"else": "MID"},
        ]
    }
    values, findings = compute_condition(df, rule, _ctx())
    # "140" < 140 is false, so MID; "n/a" is not a number: no numeric branch holds -> else, and a finding
    assert values.tolist() == ["LOW", "MID", "HIGH", "MID"]
    assert sorted({(f.code, f.line, f.value) for f in findings}) == [("MAP011", 5, "n/a")]


def test_column_against_column_regex_and_substring():
    df = _raw(VERB=["ASPIRIN", "aspirin 100", "PARACETAMOL"], TRT=["ASPIRIN", "ASPIRIN", "IBUPROFEN"])
    differs = {
        "condition": [
            {"if": {"column": "VERB", "op": "ne", "other_column": "TRT"}, "then": {"assign": "TRT"}}
        ]
    }
    assert compute_condition(df, differs, _ctx())[0].tolist() == ["", "ASPIRIN", "IBUPROFEN"]
    regex = {
        "condition": [
            {"if": {"column": "VERB", "op": "matches", "value": r"^\w+ \d+$"}, "then": "DOSE IN NAME"}
        ]
    }
    assert compute_condition(df, regex, _ctx())[0].tolist() == ["", "DOSE IN NAME", ""]
    has = {"condition": [{"if": {"column": "VERB", "op": "contains", "value": "CETA"}, "then": "Y"}]}
    assert compute_condition(df, has, _ctx())[0].tolist() == ["", "", "Y"]


def test_ordered_column_against_column_compares_numbers_and_dates_of_each_row():
    # each row compares its own pair (pairs repeat: rows 1 and 4, 2 and 5); numbers as numbers ("9" < "10"),
    # ISO dates as dates; a value that is neither does not hold and is reported on its line
    df = _raw(
        A=["9", "2024-01-05", " 3 ", "9", "2024-01-05", "x", "", "2024-01"],
        B=["10", "2024-01-04", "3", "10", "2024-01-04", "1", "1", "2024-02-01"],
    )
    rule = {"condition": [{"if": {"column": "A", "op": "lt", "other_column": "B"}, "then": "Y"}]}
    values, findings = compute_condition(df, rule, _ctx())
    assert values.tolist() == ["Y", "", "", "Y", "", "", "", "Y"]
    assert sorted({(f.code, f.line, f.value) for f in findings}) == [("MAP011", 7, "x")]


def test_extract_takes_the_first_group_and_a_non_match_is_a_finding():
    df = _raw(PATNUM=["701-1015", "7011015"])
    values, findings = compute_assign(df, {"assign": "PATNUM", "extract": r"^(\d+)-"}, _ctx("SITEID"))
    assert values.tolist() == ["701", ""]
    assert [(f.code, f.line, f.value) for f in findings] == [("MAP012", 3, "7011015")]


def test_a_condition_on_a_target_variable_assigned_earlier():
    df = _raw(ITEM=["SYS_BP", "TEMP"])
    targets = {"VSTESTCD": pd.Series(["SYSBP", "TEMP"], index=df.index)}
    rule = {"condition": [{"if": {"variable": "VSTESTCD", "op": "eq", "value": "SYSBP"}, "then": "mmHg"}]}
    assert compute_condition(df, rule, _ctx("VSORRESU", targets))[0].tolist() == ["mmHg", ""]


def test_a_condition_on_a_target_variable_not_yet_assigned_is_a_spec_error(tmp_path):
    study_dir = _copy_pilot(tmp_path)
    path = study_dir / "mappings" / "vs.yaml"
    # VSLOC is assigned after VSPOS (a rule of the shared group `tests`, which comes before the source's
    # own variables): a condition of VSPOS on VSLOC comes too early
    text = path.read_text().replace(
        "    VSPOS: {assign: SUBPOS}\n",
        "    VSPOS:\n      condition:\n        - if: {variable: VSLOC, op: empty}\n          then: {assign: SUBPOS}\n",
    )
    assert "VSLOC, op: empty" in text
    path.write_text(text)
    findings = [f for f in check_mapping_specs(load_study(study_dir)) if f.severity >= Severity.ERROR]
    assert findings and all(f.file == "mappings/vs.yaml" for f in findings)
    assert any("VSLOC" in f.message for f in findings)


def test_merge_filtered_and_aggregated():
    left = _raw(SUBJECT=["1", "2", "3"])
    other = _raw(
        SUBJECT=["1", "1", "1", "2"],
        DOSE=["10", "0", "20", "5"],
        DAY=["2024-01-03", "2024-01-01", "2024-01-02", "2024-02-01"],
    )
    forms = {"ex.csv": other}
    step = {
        "merge": {
            "form": "ex.csv",
            "by": ["SUBJECT"],
            "columns": ["DAY"],
            "where": {"column": "DOSE", "op": "gt", "value": 0},
            "order_by": ["DAY"],
            "pick": "first",
        }
    }
    out, findings = derive_merge(left, step, _ctx(), forms)
    # subject 1: doses > 0 on 01-03 and 01-02 -> earliest 01-02; subject 3 has none
    assert out["DAY"].tolist() == ["2024-01-02", "2024-02-01", ""] and findings == []
    step = {
        "merge": {
            "form": "ex.csv",
            "by": ["SUBJECT"],
            "columns": ["DAY", "DOSE"],
            "aggregate": {"DAY": "max", "DOSE": "count"},
        }
    }
    out, findings = derive_merge(left, step, _ctx(), forms)
    assert out["DAY"].tolist() == ["2024-01-03", "2024-02-01", ""] and out["DOSE"].tolist() == ["3", "1", "0"]
    assert findings == []


# ---------------------------------------------------------------------- findings shown and reported


def test_sdtm_command_prints_the_findings_and_writes_the_reports(pilot_raw, tmp_path):
    out = tmp_path / "sdtm"
    result = CliRunner().invoke(
        main,
        [
            "sdtm",
            "--study",
            str(PILOT),
            "--raw",
            str(pilot_raw),
            "--out",
            str(out),
            "--report",
            str(tmp_path / "validation"),
            "--format",
            "console,json,html,xlsx",
        ],
    )
    assert result.exit_code == 1, result.output  # an error-level finding (MAP008) exists
    assert "MAP008" in result.output and "vs_raw.csv" in result.output and "Week 99" in result.output
    report = json.loads((tmp_path / "validation" / "report.json").read_text())
    text = json.dumps(report)
    assert "MAP008" in text and "Week 99" in text
    assert (tmp_path / "validation" / "report.html").is_file() and (
        tmp_path / "validation" / "report.xlsx"
    ).is_file()
    assert (out / "dm.xpt").is_file()  # the datasets are written all the same


# -------------------------------------------------------------------------------------- init --minimal

MINIMAL_DM = """\
SUBJECT,SITE,COUNTRY,CONSENT_DATE,BIRTH_DATE,SEX,RACE,ETHNICITY,SCREEN_FAILED
1001,01,USA,2026-01-05,1970-03-01,F,WHITE,NOT HISPANIC OR LATINO,N
1002,02,CAN,2026-01-07,1981-01-08,M,ASIAN,HISPANIC OR LATINO,N
"""


def _minimal_study(tmp_path: Path) -> Path:
    target = tmp_path / "minimal"
    result = CliRunner().invoke(main, ["init", str(target), "--minimal"])
    assert result.exit_code == 0, result.output
    return target


def _copy_pilot(tmp_path: Path) -> Path:
    target = tmp_path / "pilot"
    shutil.copytree(PILOT, target)
    return target


def test_init_minimal_has_no_darpal_content_checks_clean_and_maps_a_demographics_form(tmp_path):
    study_dir = _minimal_study(tmp_path)
    text = " ".join(p.read_text() for p in study_dir.rglob("*.yaml")).upper()
    for darpal in ("DARPAL", "DARATUMUMAB", "POMALIDOMIDE", "AMYLOIDOSIS", "DFLC"):
        assert darpal not in text, darpal
    assert sorted(p.stem for p in (study_dir / "specs" / "sdtm").glob("*.yaml")) == [
        "dm",
        "se",
        "sv",
        "ta",
        "te",
        "ti",
        "ts",
        "tv",
    ]
    check = CliRunner().invoke(main, ["check-specs", "--study", str(study_dir)])
    assert check.exit_code == 0, check.output
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "demographics.csv").write_text(MINIMAL_DM, encoding="utf-8")
    result = run_sdtm(raw, load_study(study_dir))
    dm = result.datasets["DM"]
    assert dm["USUBJID"].tolist() == ["MYSTUDY-1001", "MYSTUDY-1002"]
    # 1970-03-01 -> 2026-01-05: 55 full years; 1981-01-08 -> 2026-01-07: 44 (the birthday is a day later)
    assert dm["AGE"].tolist() == [55, 44]
    # a single-arm design needs no collected arm, but the skeleton maps no exposure and declares
    # design.armnrs_default: a subject never exposed is not put in the arm (issue 31, item 8)
    assert dm["ARMCD"].tolist() == ["", ""] and dm["ARMNRS"].tolist() == ["NOT ASSIGNED", "NOT ASSIGNED"]
    assert not [f for f in result.findings if f.severity >= Severity.ERROR]


def test_check_study_names_file_and_line_of_a_bad_selector(tmp_path):
    study_dir = _minimal_study(tmp_path)
    path = study_dir / "specs" / "study.yaml"
    path.write_text(
        path.read_text()
        + textwrap.dedent(
            """\
            reference_dates:
              RFENDTC: [{dataset: XX, variable: XXDTC, pick: last}]
            """
        )
    )
    _, findings = check_study(study_dir)
    bad = [f for f in findings if f.code == "SPEC036"]
    assert bad and bad[0].file.endswith("study.yaml") and bad[0].line


# ------------------------------------------------------------------------ record flags and dates


def test_ordered_comparisons_of_dates_at_the_precision_both_have():
    from cdiscgen._conditions import compute_condition_mask

    start = pd.Series(["2014-03", "2014-01", "2014-01-02T08:00", "2014-01-01", "", "2013", "n/a"])
    first = pd.Series(
        ["2014-01-11", "2014-01-11", "2014-01-02", "2014-01-02", "2014-01-02", "2014-01-02", "2014-01-02"]
    )
    frame = {"AESTDTC": start, "RFSTDTC": first}
    cond = {"variable": "AESTDTC", "op": "ge", "other_dm": "RFSTDTC"}
    result = compute_condition_mask(cond, lambda kind, name: frame[name], start.index)
    # 2014-03 > 2014-01 (known); 2014-01 vs 2014-01-11 unknown; same day holds; earlier; empty; 2013 < 2014
    assert result.mask.tolist() == [True, False, True, False, False, False, False]
    (_, _, bad), *_ = result.non_numeric
    assert bad.tolist() == [False] * 6 + [True]  # only "n/a" is neither a number nor a date
    quoted = {"variable": "AESTDTC", "op": "lt", "value": "2014-01-02"}
    assert compute_condition_mask(quoted, lambda k, n: frame[n], start.index).mask.tolist() == [
        False,
        False,
        False,
        True,
        False,
        True,
        False,
    ]


def test_a_record_flag_from_study_yaml_fills_the_supplemental_qualifier(mapped):
    supp = mapped.datasets["SUPPAE"]
    ae = mapped.datasets["AE"]
    # 701-0001: starts 2014-01-10, first dose 2014-01-02 -> Y; 701-0002: starts "2013", first dose 2014 -> N
    got = dict(zip(supp["USUBJID"], supp["QVAL"], strict=True))
    assert got == {"01-701-0001": "Y", "01-701-0002": "N"}
    assert set(supp["QNAM"]) == {"AETRTEM"} and set(supp["IDVAR"]) == {"AESEQ"}
    assert supp["IDVARVAL"].tolist() == [str(int(s)) for s in ae["AESEQ"]]


def test_a_record_flag_naming_an_unknown_dm_variable_is_a_spec_error(tmp_path):
    study_dir = _copy_pilot(tmp_path)
    path = study_dir / "specs" / "study.yaml"
    path.write_text(path.read_text().replace("other_dm: RFSTDTC", "other_dm: RFSTDT"))
    _, findings = check_study(study_dir)
    bad = [f for f in findings if f.code == "SPEC039"]
    assert len(bad) == 1 and "RFSTDT is not a variable of DM" in bad[0].message and bad[0].line
