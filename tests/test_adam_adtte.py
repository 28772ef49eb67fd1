"""ADTTE origin handling (DOMAIN.md: AVAL = ADT - STARTDT + 1; CNSR 2 censors at STARTDT)."""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from adam import derive_adam
from tests.adam_fixtures import ROOT, sas, settings, worked_examples


def with_parameter(study: Path, parameter: dict) -> None:
    """A copy of the bundled specs in `study` whose ADTTE params add `parameter`."""
    shutil.copytree(ROOT / "specs", study / "specs")
    path = study / "specs" / "adam" / "params" / "adtte.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["parameters"].append(parameter)
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def test_aval_counts_from_startdt_inclusive():
    t = derive_adam(worked_examples().frames(), settings()).datasets["ADTTE"]
    # EX-1 OS is censored at the last known alive date, EOT 2024-06-24 (day 169 from 2024-01-08):
    # 2024-06-24 - 2024-01-01 = 175 days, + 1 = 176.
    os_ = t[(t["USUBJID"] == "EX-1") & (t["PARAMCD"] == "OS")].iloc[0]
    assert (os_["STARTDT"], os_["ADT"], os_["AVAL"], os_["CNSR"]) == (
        sas("2024-01-01"),
        sas("2024-06-24"),
        176,
        1,
    )


def test_censoring_at_the_origin_names_the_origin_variable(tmp_path):
    with_parameter(
        tmp_path,
        {
            "paramcd": "TTHRT",
            "paramn": 7,
            "param": "Time to Response from First Dose (days)",
            "start": {"variable": "TRTSDT"},
            "events": [{"selection": "hem_response", "pick": "first", "evntdesc": "FIRST RESPONSE"}],
            "censors": [
                {
                    "cnsr": 2,
                    "if_none": "adequate",
                    "start": True,
                    "evntdesc": "NONE",
                    "cnsdtdsc": "FIRST DOSE",
                }
            ],
        },
    )
    s = worked_examples()
    s.subject("EX-4").flc("EX-4", "2024-01-01", "SCREENING", 12, 250)  # no post-baseline assessment
    t = derive_adam(s.frames(), settings(), study_dir=tmp_path).datasets["ADTTE"]
    rows = t[t["PARAMCD"] == "TTHRT"].set_index("USUBJID")
    # EX-4: censored at the origin, the first dose 2024-01-08: AVAL 0 + 1 = 1, SRCVAR TRTSDT (not SCRNDT).
    assert (rows.loc["EX-4", "ADT"], rows.loc["EX-4", "AVAL"], rows.loc["EX-4", "CNSR"]) == (
        sas("2024-01-08"),
        1,
        2,
    )
    assert (rows.loc["EX-4", "SRCDOM"], rows.loc["EX-4", "SRCVAR"]) == ("ADSL", "TRTSDT")
    # EX-1: first response 2024-02-05 - 2024-01-08 = 28 days, + 1 = 29.
    assert (rows.loc["EX-1", "AVAL"], rows.loc["EX-1", "CNSR"]) == (29, 0)


def test_imputed_dates_carry_their_flag_into_adtf_and_startdtf(tmp_path):
    with_parameter(
        tmp_path,
        {
            "paramcd": "TTDNT",
            "paramn": 8,
            "param": "Time from New Therapy to Death (days)",
            "start": {"variable": "NACTDT"},
            "events": [{"variable": "DTHDT", "evntdesc": "DEATH"}],
            "censors": [
                {"cnsr": 1, "variable": "LSTALVDT", "evntdesc": "ALIVE", "cnsdtdsc": "LAST KNOWN ALIVE"}
            ],
        },
    )
    s = worked_examples()
    # EX-5 died in May 2024 (day unknown: DTHDT 2024-05-01, DTHDTF D) after a new therapy started in
    # April 2024 (NACTDT 2024-04-01, NACTDTF D); last dose 2024-03-20, its last date known alive
    s.subject("EX-5", dthdtc="2024-05", last_dose="2024-03-20").flc(
        "EX-5", "2024-01-01", "SCREENING", 12, 250
    )
    s.flc("EX-5", "2024-02-05", "CYCLE 2 DAY 1", 10, 90)
    s.therapy("EX-5", "2024-04")
    t = (
        derive_adam(s.frames(), settings(), study_dir=tmp_path)
        .datasets["ADTTE"]
        .set_index(["USUBJID", "PARAMCD"])
    )
    os_ = t.loc[("EX-5", "OS")]
    assert (os_["ADT"], os_["ADTF"], os_["CNSR"], os_["STARTDTF"]) == (sas("2024-05-01"), "D", 0, "")
    new = t.loc[("EX-5", "TTDNT")]
    assert (new["STARTDT"], new["STARTDTF"], new["ADT"], new["ADTF"]) == (
        sas("2024-04-01"),
        "D",
        sas("2024-05-01"),
        "D",
    )
    assert new["AVAL"] == 31  # 2024-04-01 .. 2024-05-01 inclusive
    # a complete date has no flag: EX-1's OS censoring at its last known alive date
    assert t.loc[("EX-1", "OS"), "ADTF"] == "" and t.loc[("EX-1", "OS"), "STARTDTF"] == ""


def test_a_selection_reads_another_adam_dataset_with_its_own_date_and_sequence():
    import numpy as np
    import pandas as pd

    from adam._adtte import derive_adtte

    adsl = pd.DataFrame(
        {"STUDYID": ["S"] * 3, "USUBJID": ["A", "B", "C"], "SAFFL": ["Y"] * 3,
         "TRTSDT": [sas("2024-01-10")] * 3, "RFENDT": [sas("2024-07-01"), sas("2024-06-01"), np.nan]}
    )  # fmt: skip
    adae = pd.DataFrame(
        {
            "USUBJID": ["A", "A", "B", "C"],
            "AESEQ": [4.0, 2.0, 1.0, 1.0],
            "ASTDT": [sas("2024-02-01"), sas("2024-01-20"), sas("2024-01-05"), np.nan],
            "ASTDTF": ["", "D", "", ""],
            "FLAG": ["Y", "Y", "Y", "Y"],
        }
    )
    spec = {
        "selections": {
            "first": {"dataset": "ADAE", "date": "ASTDT", "seq": "AESEQ", "where": {"FLAG": ["Y"]}, "order": ["ASTDT", "AESEQ"]}
        },
        "parameters": [
            {
                "paramcd": "TTAE", "paramn": 1, "param": "Time to AE", "start": {"variable": "TRTSDT"},
                "events": [{"selection": "first", "pick": "first", "evntdesc": "AE"}],
                "censors": [{"cnsr": 1, "variable": "RFENDT", "evntdesc": "END", "cnsdtdsc": "END OF STUDY"}],
            }
        ],
    }  # fmt: skip
    out, findings = derive_adtte(adsl, pd.DataFrame(), spec, frames={"ADAE": adae})
    got = out.set_index("USUBJID")
    # A: the earliest ADAE record, 2024-01-20 (AESEQ 2, day imputed): day 11 from 2024-01-10, SRCSEQ 2, ADTF D
    assert got.loc["A", ["ADT", "AVAL", "CNSR", "SRCDOM", "SRCVAR", "SRCSEQ", "ADTF"]].tolist() == [
        sas("2024-01-20"), 11, 0, "ADAE", "ASTDT", 2.0, "D"
    ]  # fmt: skip
    # B: its AE is before the origin (ignored): censored at RFENDT 2024-06-01 = day 144, no SRCSEQ
    assert got.loc["B", ["ADT", "AVAL", "CNSR", "SRCDOM", "SRCVAR"]].tolist() == [
        sas("2024-06-01"),
        144,
        1,
        "ADSL",
        "RFENDT",
    ]
    assert np.isnan(got.loc["B", "SRCSEQ"])
    # C: an undated AE and no end date: no record, and a finding says so
    assert "C" not in got.index and [f.usubjid for f in findings] == ["C"]


def test_a_selection_of_a_dataset_the_study_does_not_derive_is_named(tmp_path):
    from adam import check_parameter_specs

    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    path = tmp_path / "specs" / "adam" / "params" / "adtte.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["selections"]["card_any"]["dataset"] = "ADXX"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    findings = [f for f in check_parameter_specs(tmp_path) if "ADXX" in f.message]
    assert len(findings) == 1 and findings[0].file.endswith("adtte.yaml") and findings[0].line
    assert "selection card_any: dataset ADXX is not an ADaM dataset the study derives" in findings[0].message
