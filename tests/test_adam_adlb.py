"""ADLB: parameters from specs/adam/params/adlb.yaml (re-label / add without code), LB source matching,
ADY, and the checks on a broken parameter file. Expected values are worked by hand in the comments."""

from __future__ import annotations

import shutil

import pytest
import yaml

from adam import check_parameter_specs, derive_adam
from tests.adam_fixtures import ROOT, Sdtm, day, sas, settings


def _copy_study(tmp_path):
    shutil.copytree(ROOT / "specs", tmp_path / "specs")
    return tmp_path


def _adlb_doc(study):
    path = study / "specs" / "adam" / "params" / "adlb.yaml"
    return path, yaml.safe_load(path.read_text())


def _rows(result, usubjid: str, paramcd: str):
    adlb = result.datasets["ADLB"]
    return adlb[(adlb["USUBJID"] == usubjid) & (adlb["PARAMCD"] == paramcd)].sort_values("ADT")


def _organ_subject() -> Sdtm:
    s = Sdtm().subject("S-1", sex="M", age=60)
    s.flc("S-1", "2024-01-01", "SCREENING", 12, 250, sife="POSITIVE", uife="POSITIVE")
    s.organ("S-1", "2024-01-01", "SCREENING", creat=80.0)
    s.flc("S-1", day(29), "CYCLE 2 DAY 1", 10, 90)
    s.organ("S-1", day(29), "CYCLE 2 DAY 1", creat=100.0)
    return s


def test_relabel_and_add_a_parameter_in_yaml_only(tmp_path):
    study = _copy_study(tmp_path)
    path, doc = _adlb_doc(study)
    doc["parameters"][0]["param"] = "Kappa FLC (mg/L)"
    doc["parameters"].append(
        {
            "paramcd": "CREAT",
            "paramn": 15,
            "param": "Creatinine (umol/L)",
            "unit": "umol/L",
            "source": {"testcd": "CREAT", "spec": "SERUM"},
        }
    )
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    r = derive_adam(_organ_subject().frames(), settings(), study_dir=study)

    kappa = _rows(r, "S-1", "KAPPA")
    assert set(kappa["PARAM"]) == {"Kappa FLC (mg/L)"}

    creat = _rows(r, "S-1", "CREAT")
    assert list(creat["PARAMN"]) == [15, 15]
    assert list(creat["AVAL"]) == [80.0, 100.0]
    assert list(creat["ABLFL"]) == ["Y", ""]  # screening is the last value on/before first dose
    assert list(creat["BASE"]) == [80.0, 80.0]
    # post-baseline only: 100 - 80 = 20, 20 / 80 = 25 %.
    assert creat["CHG"].iloc[1] == 20.0 and creat["PCHG"].iloc[1] == 25.0
    assert creat["CHG"].isna().iloc[0]
    assert list(creat["SRCDOM"]) == ["LB", "LB"] and list(creat["SRCVAR"]) == ["LBSTRESN", "LBSTRESN"]
    # the declared CREAT records still feed eGFR (no GFRBSCRT at either visit).
    assert len(_rows(r, "S-1", "EGFR")) == 2
    # parameters are ordered by PARAMN within the subject: CREAT (15) after EGFR (14).
    adlb = r.datasets["ADLB"]
    subject = adlb[adlb["USUBJID"] == "S-1"]
    assert list(subject["ASEQ"]) == list(range(1, len(subject) + 1))
    assert subject["PARAMN"].is_monotonic_increasing


def test_bundled_study_does_not_analyse_creatinine_itself():
    r = derive_adam(_organ_subject().frames(), settings())
    assert _rows(r, "S-1", "CREAT").empty
    assert len(_rows(r, "S-1", "EGFR")) == 2


def test_lb_records_are_matched_by_test_specimen_method_and_result():
    s = Sdtm().subject("S-2")
    s.flc("S-2", "2024-01-01", "SCREENING", 12, 250)
    # MCPROT without LBMETHOD: a POSITIVE/NEGATIVE result is an immunofixation, a number an M-spike.
    s.lab("S-2", "MCPROT", "POSITIVE", "2024-01-01", "SCREENING")
    s.lab("S-2", "MCPROT", 1.2, "2024-01-01", "SCREENING")
    s.lab("S-2", "MCPROT", "NEGATIVE", "2024-01-01", "SCREENING", spec="URINE", method="")
    # urine M-spike by electrophoresis and urine free kappa: no ADLB parameter declares them.
    s.lab("S-2", "MCPROT", 150.0, "2024-01-01", "SCREENING", spec="URINE", method="ELECTROPHORESIS")
    s.lab("S-2", "KLCFR", 33.0, "2024-01-01", "SCREENING", spec="URINE")
    r = derive_adam(s.frames(), settings())
    assert list(_rows(r, "S-2", "SIFE")["AVALC"]) == ["POSITIVE"]
    assert list(_rows(r, "S-2", "UIFE")["AVALC"]) == ["NEGATIVE"]
    assert list(_rows(r, "S-2", "MSPIKE")["AVAL"]) == [1.2]
    assert list(_rows(r, "S-2", "KAPPA")["AVAL"]) == [12.0]  # the serum value only
    adlb = r.datasets["ADLB"]
    assert 150.0 not in set(adlb.loc[adlb["USUBJID"] == "S-2", "AVAL"])


def test_ady_counts_from_first_dose_without_day_zero():
    s = Sdtm().subject("S-3")  # first dose 2024-01-08
    s.flc("S-3", "2024-01-01", "SCREENING", 12, 250)
    s.flc("S-3", "2024-01-07", "UNSCHEDULED", 12, 240, visitnum=1.1)
    s.flc("S-3", "2024-01-08", "CYCLE 1 DAY 1", 11, 230)
    s.flc("S-3", "2024-02-05", "CYCLE 2 DAY 1", 10, 90)
    r = derive_adam(s.frames(), settings())
    kappa = _rows(r, "S-3", "KAPPA")
    # 01-01 - 01-08 = -7; 01-07 -> -1; 01-08 -> 0 + 1 = 1; 02-05 is 28 days after -> 29.
    assert list(kappa["ADY"]) == [-7, -1, 1, 29]
    assert list(kappa["ADT"]) == [sas(d) for d in ("2024-01-01", "2024-01-07", "2024-01-08", "2024-02-05")]
    # derived parameters carry the ADY of their assessment.
    assert list(_rows(r, "S-3", "DFLC")["ADY"]) == [-7, -1, 1, 29]
    assert list(_rows(r, "S-3", "KAPPA")["TRTSDT"].unique()) == [sas("2024-01-08")]


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (lambda p: p[2].update(derived="dflc"), "derived rule 'dflc' produces PARAMCD DFLC, not RATIO"),
        (lambda p: p.pop(8), "need ADLB parameters MSPIKE"),
        (lambda p: p[1].update(paramn=1), "PARAMN 1 is already used by KAPPA"),
        (lambda p: p[1].update(source={"testcd": "KLCFR", "spec": "SERUM"}), "same LB source as KAPPA"),
        (lambda p: p[0].pop("source"), "give a `source`"),
    ],
)
def test_broken_adlb_parameters_are_reported(tmp_path, edit, expected):
    study = _copy_study(tmp_path)
    path, doc = _adlb_doc(study)
    edit(doc["parameters"])
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    findings = check_parameter_specs(study)
    assert any(expected in f.message and f.file == str(path) for f in findings), findings


def test_unknown_key_in_adlb_parameters_names_file_and_line(tmp_path):
    study = _copy_study(tmp_path)
    path = study / "specs" / "adam" / "params" / "adlb.yaml"
    text = path.read_text().replace("paramcd: UMPROT,", "paramcd: UMPROT, colour: red,", 1)
    path.write_text(text)
    findings = check_parameter_specs(study)
    line = next(i for i, row in enumerate(text.splitlines(), 1) if "colour: red" in row)
    assert [(f.file, f.line) for f in findings] == [(str(path), line)]
    assert "unknown" in findings[0].message


def test_assessment_keys_and_detection_limits_are_read_per_distinct_value_as_per_row():
    # ADLB reads each distinct result text and number once; every row must get what its own value gives
    import re

    import numpy as np
    import pandas as pd

    from adam._adlb import _LIMIT, _key_text, _limit_values
    from cdiscgen._distinct import on_distinct

    numbers = pd.Series([3.0, np.nan, 0.0, -0.0, 2.5, 3.0, 1e20, np.nan])
    assert _key_text("V", numbers).tolist() == ["V3.0", "V", "V0.0", "V0.0", "V2.5", "V3.0", "V1e+20", "V"]
    texts = pd.Series(["<5", " >= 2.5e3 ", "x", "", None, "<5", "12", "> .5"], dtype="str")
    (limits,) = on_distinct(texts, _limit_values)
    by_row = [
        float(m.group(2)) if isinstance(t, str) and (m := re.match(_LIMIT, t)) else np.nan
        for t in texts.tolist()
    ]
    np.testing.assert_array_equal(limits, np.array(by_row, dtype="float64"))
    assert limits[0] == 5.0 and limits[1] == 2500.0 and limits[7] == 0.5
