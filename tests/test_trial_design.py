"""Trial design datasets (TS, TA, TE, TV, TI) of the bundled DarPAL study.

Every expected row below was written out by hand from specs/study.yaml and specs/codelists.yaml; the
CT check reads the NCI EVS release in ../shared/refdata/ct independently of specs/codelists.yaml.
"""

from __future__ import annotations

import copy
import csv
import shutil
from pathlib import Path

import pandas as pd
import pytest

from cdiscgen._specs import load_study
from sdtm._trial_design import TrialDesignError, derive_trial_design

ROOT = Path(__file__).resolve().parents[1]
CT_FILE = ROOT.parent / "shared" / "refdata" / "ct" / "SDTM_Terminology_2025-03-28.txt"
ARM = "Daratumumab + Pomalidomide"


@pytest.fixture(scope="module")
def study():
    return load_study(ROOT)


@pytest.fixture(scope="module")
def td(study):
    return derive_trial_design(study)


def _records(frame, columns):
    return [tuple(r) for r in frame[columns].itertuples(index=False, name=None)]


# ------------------------------------------------------------------------------------------ structure


def test_returns_the_five_datasets_with_spec_variables_in_order(td):
    assert set(td) == {"TS", "TA", "TE", "TV", "TI"}
    assert list(td["TS"].columns) == [
        "STUDYID", "DOMAIN", "TSSEQ", "TSGRPID", "TSPARMCD", "TSPARM",
        "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER",
    ]  # fmt: skip
    assert list(td["TA"].columns) == [
        "STUDYID", "DOMAIN", "ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "TABRANCH", "TATRANS", "EPOCH",
    ]  # fmt: skip
    assert list(td["TE"].columns) == ["STUDYID", "DOMAIN", "ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"]
    assert list(td["TV"].columns) == [
        "STUDYID", "DOMAIN", "VISITNUM", "VISIT", "VISITDY", "ARMCD", "ARM", "TVSTRL", "TVENRL",
    ]  # fmt: skip
    assert list(td["TI"].columns) == ["STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT", "TIVERS"]
    for name, frame in td.items():
        assert (frame["STUDYID"] == "DARPAL").all()
        assert (frame["DOMAIN"] == name).all()


def test_numbers_are_float64_and_text_has_no_missing(td):
    numeric = {"TS": ["TSSEQ"], "TA": ["TAETORD"], "TV": ["VISITNUM", "VISITDY"], "TE": [], "TI": []}
    for name, frame in td.items():
        for col in frame.columns:
            if col in numeric[name]:
                assert frame[col].dtype == "float64", (name, col)
            else:
                assert frame[col].notna().all(), (name, col)
                assert all(isinstance(v, str) for v in frame[col]), (name, col)


# ------------------------------------------------------------------------------------------ TA TE TI


def test_ta_one_row_per_element_of_the_single_arm(td):
    assert _records(
        td["TA"], ["ARMCD", "ARM", "TAETORD", "ETCD", "ELEMENT", "TABRANCH", "TATRANS", "EPOCH"]
    ) == [
        ("DARAPOM", ARM, 1.0, "SCRN", "Screening", "", "", "SCREENING"),
        ("DARAPOM", ARM, 2.0, "DARAPOM", ARM, "", "", "TREATMENT"),
        ("DARAPOM", ARM, 3.0, "FU", "Follow-up", "", "", "FOLLOW-UP"),
    ]


def test_te_one_row_per_element(td):
    assert _records(td["TE"], ["ETCD", "ELEMENT", "TESTRL", "TEENRL", "TEDUR"]) == [
        ("SCRN", "Screening", "Informed consent", "First dose of study treatment", "P28D"),
        (
            "DARAPOM",
            ARM,
            "First dose of study treatment",
            "28 days after the last dose of cycle 6 or end of treatment",
            "P168D",
        ),
        ("FU", "Follow-up", "End of the treatment element", "End of study, death or loss to follow-up", ""),
    ]


def test_ti_one_row_per_criterion(td):
    assert _records(td["TI"], ["IETESTCD", "IETEST", "IECAT", "TIVERS"]) == [
        ("INCL01", "Age >= 18 years at informed consent", "INCLUSION", "1"),
        ("INCL02", "Biopsy-proven systemic AL amyloidosis", "INCLUSION", "1"),
        ("INCL03", "Relapsed/refractory disease not in VGPR or better after prior therapy", "INCLUSION", "1"),
        ("INCL04", "Measurable disease (dFLC >= 20 mg/L or abnormal ratio with a clone)", "INCLUSION", "1"),
        ("EXCL01", "Prior daratumumab or pomalidomide refractoriness", "EXCLUSION", "1"),
        ("EXCL02", "NT-proBNP > 8500 ng/L (Mayo stage IIIb)", "EXCLUSION", "1"),
    ]


# ------------------------------------------------------------------------------------------ TV


def test_tv_one_row_per_scheduled_visit(td):
    tv = td["TV"]
    assert len(tv) == 24
    assert (tv["ARMCD"] == "DARAPOM").all() and (tv["ARM"] == ARM).all()
    assert (tv["TVENRL"] == "").all()
    assert list(tv["VISITNUM"]) == [
        1, 101, 108, 115, 122, 201, 208, 215, 222, 301, 315, 401, 415, 501, 515, 601, 615, 700,
        803, 806, 809, 812, 815, 818,
    ]  # fmt: skip
    # Nominal days: cycle c day d = 28 * (c - 1) + d; EOT 169; FU every 91 days from 260.
    assert list(tv["VISITDY"]) == [
        -28, 1, 8, 15, 22, 29, 36, 43, 50, 57, 71, 85, 99, 113, 127, 141, 155, 169,
        260, 351, 442, 533, 624, 715,
    ]  # fmt: skip
    assert list(tv["VISIT"][:2]) == ["SCREENING", "CYCLE 1 DAY 1"]
    assert list(tv["VISIT"][-2:]) == ["FOLLOW-UP MONTH 15", "FOLLOW-UP MONTH 18"]


def test_tv_start_rules(td):
    rule = dict(zip(td["TV"]["VISIT"], td["TV"]["TVSTRL"], strict=True))
    assert rule["SCREENING"] == "Informed consent, up to 28 days before the first dose"
    assert rule["CYCLE 1 DAY 1"] == "Day 1 (no window) relative to the first dose"
    assert rule["CYCLE 2 DAY 1"] == "Day 29 (window -2 to +2 days) relative to the first dose"
    assert rule["END OF TREATMENT"] == "Day 169 (window -7 to +27 days) relative to the first dose"
    assert rule["FOLLOW-UP MONTH 12"] == "Day 533 (window -14 to +14 days) relative to the first dose"


# ------------------------------------------------------------------------------------------ TS

CT = ("CDISC CT", "2025-03-28")
# (TSPARMCD, TSSEQ) -> (TSGRPID, TSPARM, TSVAL, TSVALNF, TSVALCD, TSVCDREF, TSVCDVER), from study.yaml
# and the C-codes of specs/codelists.yaml.
EXPECTED_TS = {
    ("TITLE", 1): (
        "",
        "Trial Title",
        "Daratumumab and Pomalidomide in Previously Treated Patients With AL Amyloidosis",
        "",
        "",
        "",
        "",
    ),
    ("SPONSOR", 1): ("", "Clinical Study Sponsor", "DarPAL Study Group", "", "", "", ""),
    ("TPHASE", 1): ("", "Trial Phase Classification", "PHASE II TRIAL", "", "C15601", *CT),
    ("INDIC", 1): ("", "Trial Disease/Condition Indication", "Amyloidosis, AL", "", "", "", ""),
    # UNIIs as the FDA Global Substance Registration System lists them
    ("TRT", 1): (
        "DARATUMUMAB",
        "Investigational Therapy or Treatment",
        "DARATUMUMAB",
        "",
        "4Z63YK6E0E",
        "UNII",
        "",
    ),
    ("TRT", 2): (
        "POMALIDOMIDE",
        "Investigational Therapy or Treatment",
        "POMALIDOMIDE",
        "",
        "D2UX06XLB5",
        "UNII",
        "",
    ),
    ("STYPE", 1): ("", "Study Type", "INTERVENTIONAL", "", "C98388", *CT),
    ("SSTDTC", 1): ("", "Study Start Date", "2024-01-01", "", "", "ISO 8601", ""),
    ("PLANSUB", 1): ("", "Planned Number of Subjects", "40", "", "", "", ""),
    ("AGEMIN", 1): ("", "Planned Minimum Age of Subjects", "P18Y", "", "", "ISO 8601", ""),
    ("AGEMAX", 1): ("", "Planned Maximum Age of Subjects", "", "PINF", "", "", ""),
    ("SEXPOP", 1): ("", "Sex of Participants", "BOTH", "", "C49636", *CT),
    ("DCUTDTC", 1): ("", "Data Cutoff Date", "2026-06-30", "", "", "ISO 8601", ""),
    ("DCUTDESC", 1): (
        "",
        "Data Cutoff Description",
        "Primary analysis data cut (all subjects followed at least 12 months after the last dose or off study)",
        "",
        "",
        "",
        "",
    ),
    ("TBLIND", 1): ("", "Trial Blinding Schema", "OPEN LABEL", "", "C49659", *CT),
    ("TCNTRL", 1): ("", "Control Type", "NONE", "", "C41132", *CT),
    ("TINDTP", 1): ("", "Trial Intent Type", "TREATMENT", "", "C49656", *CT),
    ("INTMODEL", 1): ("", "Intervention Model", "SINGLE GROUP", "", "C82640", *CT),
    ("NARMS", 1): ("", "Planned Number of Arms", "1", "", "", "", ""),
    ("ADDON", 1): ("", "Added on to Existing Treatments", "N", "", "C49487", *CT),
    ("RANDOM", 1): ("", "Trial is Randomized", "N", "", "C49487", *CT),
    ("HLTSUBJI", 1): ("", "Healthy Subject Indicator", "N", "", "C49487", *CT),
    ("PDSTIND", 1): ("", "Pediatric Study Indicator", "N", "", "C49487", *CT),
    ("REGID", 1): ("", "Registry Identifier", "NCT04895917", "", "NCT04895917", "ClinicalTrials.gov", ""),
    ("ROUTE", 1): ("DARATUMUMAB", "Route of Administration", "SUBCUTANEOUS", "", "C38299", *CT),
    ("ROUTE", 2): ("POMALIDOMIDE", "Route of Administration", "ORAL", "", "C38288", *CT),
    ("DOSE", 1): ("DARATUMUMAB", "Dose per Administration", "1800", "", "", "", ""),
    ("DOSE", 2): ("POMALIDOMIDE", "Dose per Administration", "4", "", "", "", ""),
    ("DOSU", 1): ("DARATUMUMAB", "Dose Units", "mg", "", "C28253", *CT),
    ("DOSU", 2): ("POMALIDOMIDE", "Dose Units", "mg", "", "C28253", *CT),
    # daratumumab weekly in cycles 1-2, every 2 weeks in cycles 3-6 (study.yaml frequency is a list)
    ("DOSFRQ", 1): ("DARATUMUMAB", "Dosing Frequency", "EVERY WEEK", "", "C67069", *CT),
    ("DOSFRQ", 2): ("DARATUMUMAB", "Dosing Frequency", "EVERY 2 WEEKS", "", "C71127", *CT),
    ("DOSFRQ", 3): ("POMALIDOMIDE", "Dosing Frequency", "QD", "", "C25473", *CT),
    # CORE CG0287: ADAPT, STOPRULE and SENDTC are present; the stopping rule is not in study.yaml (the
    # registry text does not give it) and the study has not ended at the data cut: null flavors say so
    ("ADAPT", 1): ("", "Adaptive Design", "N", "", "C49487", *CT),
    ("STOPRULE", 1): ("", "Study Stop Rules", "", "UNK", "", "", ""),
    ("SENDTC", 1): ("", "Study End Date", "", "NAV", "", "", ""),
    ("SDTIGVER", 1): ("", "SDTM IG Version", "3.4", "", "", "", ""),
    ("SDTMVER", 1): ("", "SDTM Version", "2.0", "", "", "", ""),
    # Not an add-on study: no background treatment, null flavor NA.
    ("CURTRT", 1): ("", "Current Therapy or Treatment", "", "NA", "", "", ""),
    # C66739 Trial Type Response: EFFICACY C49666.
    ("TTYPE", 1): ("", "Trial Type", "EFFICACY", "", "C49666", *CT),
    # C99078 Intervention Type Response: daratumumab (a monoclonal antibody) BIOLOGIC C307; pomalidomide
    # DRUG C1909; one per treatment, grouped with it.
    ("INTTYPE", 1): ("DARATUMUMAB", "Intervention Type", "BIOLOGIC", "", "C307", *CT),
    ("INTTYPE", 2): ("POMALIDOMIDE", "Intervention Type", "DRUG", "", "C1909", *CT),
    # FDA Established Pharmacologic Class from MED-RT; study.yaml holds no MED-RT code, so TSVALCD is empty.
    ("PCLAS", 1): (
        "DARATUMUMAB",
        "Pharmacologic Class",
        "CD38-directed Cytolytic Antibody",
        "",
        "",
        "MED-RT",
        "",
    ),
    ("PCLAS", 2): ("POMALIDOMIDE", "Pharmacologic Class", "Thalidomide Analog", "", "", "MED-RT", ""),
    # 4 weeks screening + 6 x 4-week cycles + 52 weeks follow-up = 80 weeks.
    ("LENGTH", 1): ("", "Trial Length", "P80W", "", "", "ISO 8601", ""),
    ("THERAREA", 1): ("", "Therapeutic Area", "Hematology", "", "", "", ""),
    ("OBJPRIM", 1): (
        "",
        "Trial Primary Objective",
        "To assess the rate of good quality (CR+VGPR) hematologic response at the completion of 6 cycles of "
        "daratumumab plus pomalidomide in relapsed/refractory AL amyloidosis not in VGPR or better",
        "",
        "",
        "",
        "",
    ),
    ("OUTMSPRI", 1): (
        "",
        "Primary Outcome Measure",
        "Rate of CR+VGPR hematologic response (Palladini 2012) at the completion of 6 cycles (6 months)",
        "",
        "",
        "",
        "",
    ),
}
TS_VALUE_COLUMNS = ["TSGRPID", "TSPARM", "TSVAL", "TSVALNF", "TSVALCD", "TSVCDREF", "TSVCDVER"]


def _ts_index(ts):
    return {
        (r.TSPARMCD, int(r.TSSEQ)): tuple(getattr(r, c) for c in TS_VALUE_COLUMNS) for r in ts.itertuples()
    }


def test_ts_holds_each_expected_parameter_exactly(td):
    got = _ts_index(td["TS"])
    for key, expected in EXPECTED_TS.items():
        assert got.get(key) == expected, key


def test_ts_has_nothing_unexpected(td):
    got = set(_ts_index(td["TS"]))
    assert got == set(EXPECTED_TS)
    assert len(td["TS"]) == len(EXPECTED_TS)


def test_ts_keys_unique_sorted_and_sequenced(td):
    ts = td["TS"]
    assert not ts.duplicated(["STUDYID", "TSPARMCD", "TSSEQ"]).any()
    assert list(ts["TSPARMCD"]) == sorted(ts["TSPARMCD"])
    assert list(ts.loc[ts["TSPARMCD"] == "TRT", "TSSEQ"]) == [1.0, 2.0]
    # TSVAL is empty only where a null flavor says why.
    assert ((ts["TSVAL"] == "") == (ts["TSVALNF"] != "")).all()
    assert (ts["TSVAL"].str.len() <= 200).all()


def _ct_rows():
    if not CT_FILE.is_file():
        pytest.skip(f"CDISC CT reference file is absent: {CT_FILE}")
    with CT_FILE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def test_tphase_code_matches_the_nci_ct_release(td):
    rows = _ct_rows()
    tphase_codelist = next(
        r["Code"] for r in rows if not r["Codelist Code"] and r["CDISC Submission Value"] == "TPHASE"
    )
    code = next(
        r["Code"]
        for r in rows
        if r["Codelist Code"] == tphase_codelist and r["CDISC Submission Value"] == "PHASE II TRIAL"
    )
    row = td["TS"].query("TSPARMCD == 'TPHASE'").iloc[0]
    assert row["TSVALCD"] == code


def test_every_cdisc_ct_code_in_ts_is_in_the_nci_ct_release(td):
    rows = _ct_rows()
    pairs = {(r["CDISC Submission Value"], r["Code"]) for r in rows if r["Codelist Code"]}
    parms = {(r["CDISC Submission Value"], r["Code"]) for r in rows if r["Codelist Code"] == "C66738"}
    ts = td["TS"]
    for r in ts[ts["TSVCDREF"] == "CDISC CT"].itertuples():
        assert (r.TSVAL, r.TSVALCD) in pairs, (r.TSPARMCD, r.TSVAL, r.TSVALCD)
    for parmcd in ts["TSPARMCD"].unique():
        assert any(value == parmcd for value, _ in parms), parmcd


# ------------------------------------------------------------------------------------------ errors and variants


def _study_copy_with_title(tmp_path, title):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    path = tmp_path / "specs" / "study.yaml"
    old = "  title: Daratumumab and Pomalidomide in Previously Treated Patients With AL Amyloidosis\n"
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, f"  title: {title}\n"), encoding="utf-8")
    return load_study(tmp_path)


def test_a_201_character_title_is_a_clear_error(tmp_path):
    title = "A" * 201
    study = _study_copy_with_title(tmp_path, title)
    with pytest.raises(TrialDesignError, match=r"TS\.TSVAL TSPARMCD=TITLE.*201 characters.*200"):
        derive_trial_design(study)


def test_a_200_character_title_fits(tmp_path):
    title = "B" * 200
    ts = derive_trial_design(_study_copy_with_title(tmp_path, title))["TS"]
    assert ts.loc[ts["TSPARMCD"] == "TITLE", "TSVAL"].tolist() == [title]


def test_a_value_outside_a_non_extensible_codelist_is_an_error(study):
    bad = copy.deepcopy(study)
    bad.settings["study"]["study_type"] = "OBSERVATIONAL STUDY"  # STYPE (C99077) is not extensible
    with pytest.raises(TrialDesignError, match=r"TS\.STYPE.*study\.study_type.*STYPE"):
        derive_trial_design(bad)


def test_ct_synonyms_and_extended_values(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["treatments"][1]["frequency"] = "qd"  # resolved to the submission value
    variant.settings["design"]["treatments"][0]["frequency"] = "Q3D"  # FREQ is extensible: kept, no code
    notes: list[str] = []
    ts = derive_trial_design(variant, notes=notes)["TS"]
    got = _ts_index(ts)
    assert got[("DOSFRQ", 2)] == ("POMALIDOMIDE", "Dosing Frequency", "QD", "", "C25473", *CT)
    assert got[("DOSFRQ", 1)] == ("DARATUMUMAB", "Dosing Frequency", "Q3D", "", "", "", "")
    assert [n for n in notes if "'Q3D'" in n and "codelist FREQ" in n]


def test_two_arms_need_an_explicit_intervention_model(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["arms"].append(
        {"armcd": "POM", "arm": "Pomalidomide", "elements": ["SCRN", "DARAPOM", "FU"]}
    )
    with pytest.raises(TrialDesignError, match="intervention_model"):
        derive_trial_design(variant)


def test_two_arms_repeat_ta_and_tv_per_arm(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["arms"].append(
        {"armcd": "POM", "arm": "Pomalidomide", "elements": ["SCRN", "FU"]}
    )
    variant.settings["design"]["intervention_model"] = "SINGLE GROUP"
    variant.settings["design"]["randomized"] = False
    td = derive_trial_design(variant)
    assert _records(td["TA"], ["ARMCD", "TAETORD", "ETCD"]) == [
        ("DARAPOM", 1.0, "SCRN"),
        ("DARAPOM", 2.0, "DARAPOM"),
        ("DARAPOM", 3.0, "FU"),
        ("POM", 1.0, "SCRN"),
        ("POM", 2.0, "FU"),
    ]
    assert len(td["TV"]) == 48
    assert td["TV"]["ARMCD"].value_counts().to_dict() == {"DARAPOM": 24, "POM": 24}
    ts = _ts_index(td["TS"])
    assert ts[("NARMS", 1)][2] == "2"
    assert ts[("RANDOM", 1)][2:5] == ("N", "", "C49487")


def test_agemax_when_given(study):
    variant = copy.deepcopy(study)
    variant.settings["study"]["age_max"] = "P75Y"
    ts = _ts_index(derive_trial_design(variant)["TS"])
    assert ts[("AGEMAX", 1)] == ("", "Planned Maximum Age of Subjects", "P75Y", "", "", "ISO 8601", "")


def test_no_criteria_give_an_empty_ti_with_its_variables(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["inclusion"] = []
    ti = derive_trial_design(variant)["TI"]
    assert len(ti) == 0
    assert list(ti.columns) == ["STUDYID", "DOMAIN", "IETESTCD", "IETEST", "IECAT", "TIVERS"]


# ------------------------------------------------------------------------------------------ TS from DM

# Five subjects at three sites: two screen failures (one of them the only subject from GBR), one
# assigned but never treated (enrolled all the same), a lower-case country and a blank one.
DM_FIXTURE = {
    "USUBJID": ["DARPAL-101-001", "DARPAL-101-002", "DARPAL-102-001", "DARPAL-103-001", "DARPAL-103-002"],
    "ARMNRS": ["", "SCREEN FAILURE", "ASSIGNED, NOT TREATED", "", "SCREEN FAILURE"],
    "COUNTRY": ["ITA", "ITA", "deu", "", "GBR"],
}


def test_ts_without_dm_has_no_actsub_or_fcntry(td):
    assert not td["TS"]["TSPARMCD"].isin(["ACTSUB", "FCNTRY"]).any()


def test_ts_actsub_counts_enrolled_subjects_and_fcntry_lists_site_countries(study):
    dm = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in DM_FIXTURE.items()})
    td = derive_trial_design(study, dm)
    ts = td["TS"]
    got = _ts_index(ts)
    # 5 subjects - 2 screen failures = 3 enrolled (the not-treated subject counts).
    assert got[("ACTSUB", 1)] == ("", "Actual Number of Subjects", "3", "", "", "", "")
    # Countries of every subject (screen failures' sites too), upper-cased, sorted, blank dropped.
    fcntry = "Planned Country of Investigational Sites"
    assert got[("FCNTRY", 1)] == ("", fcntry, "DEU", "", "DEU", "ISO 3166-1 alpha-3", "")
    assert got[("FCNTRY", 2)] == ("", fcntry, "GBR", "", "GBR", "ISO 3166-1 alpha-3", "")
    assert got[("FCNTRY", 3)] == ("", fcntry, "ITA", "", "ITA", "ISO 3166-1 alpha-3", "")
    assert len(ts) == len(derive_trial_design(study)["TS"]) + 4
    # TS stays sorted by its keys with the new rows.
    assert list(ts["TSPARMCD"]) == sorted(ts["TSPARMCD"])


def test_ts_from_a_dm_without_country_is_a_clear_error(study):
    dm = pd.DataFrame({"USUBJID": ["DARPAL-101-001"], "ARMNRS": [""]}, dtype="str")
    with pytest.raises(TrialDesignError, match="COUNTRY"):
        derive_trial_design(study, dm)


def test_every_tsparmcd_fda_requires_is_present_with_dm(study):
    from cdiscgen.validate import TS_REQUIRED

    dm = pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in DM_FIXTURE.items()})
    present = set(derive_trial_design(study, dm)["TS"]["TSPARMCD"])
    assert set(TS_REQUIRED) - present == set()


def test_an_add_on_study_needs_its_background_treatment(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["add_on"] = True
    with pytest.raises(TrialDesignError, match=r"TS\.CURTRT.*design\.current_treatment"):
        derive_trial_design(variant)
    variant.settings["design"]["current_treatment"] = "DEXAMETHASONE"
    got = _ts_index(derive_trial_design(variant)["TS"])
    assert got[("CURTRT", 1)] == ("", "Current Therapy or Treatment", "DEXAMETHASONE", "", "", "", "")
    assert got[("ADDON", 1)] == ("", "Added on to Existing Treatments", "Y", "", "C49488", *CT)


def test_a_background_treatment_in_a_study_that_is_not_add_on_is_an_error(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["current_treatment"] = "DEXAMETHASONE"
    with pytest.raises(TrialDesignError, match=r"TS\.CURTRT.*not add-on"):
        derive_trial_design(variant)


def test_pclas_carries_a_med_rt_code_only_when_given(study):
    variant = copy.deepcopy(study)
    # a placeholder of the MED-RT NUI shape, not a real code: only the pass-through is tested
    variant.settings["design"]["treatments"][1]["pharmacologic_class_code"] = "N0000000001"
    got = _ts_index(derive_trial_design(variant)["TS"])
    assert got[("PCLAS", 2)] == (
        "POMALIDOMIDE", "Pharmacologic Class", "Thalidomide Analog", "", "N0000000001", "MED-RT", "",
    )  # fmt: skip
    assert got[("PCLAS", 1)][4] == ""


def test_intervention_type_outside_its_non_extensible_codelist_is_an_error(study):
    variant = copy.deepcopy(study)
    variant.settings["design"]["treatments"][0]["intervention_type"] = "ANTIBODY"
    with pytest.raises(TrialDesignError, match=r"TS\.INTTYPE.*intervention_type.*INTTYPE"):
        derive_trial_design(variant)
