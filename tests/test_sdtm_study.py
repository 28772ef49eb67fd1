"""The bundled study, simulated (40 subjects, seed 20240101), maps with every documented dirt kind either
cleaned by a spec rule or reported as a finding."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cdiscgen._findings import Severity
from cdiscgen._specs import load_study
from cdiscgen.simulate import simulate_study
from sdtm import run_sdtm

ROOT = Path(__file__).resolve().parents[1]
ISO = re.compile(r"^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2})?)?)?)?$")


@pytest.fixture(scope="module")
def study():
    return load_study(ROOT)


@pytest.fixture(scope="module")
def raw_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("raw")
    simulate_study(out, subjects=40, seed=20240101)
    return out


@pytest.fixture(scope="module")
def result(raw_dir, study):
    return run_sdtm(raw_dir, study)


def read(raw_dir: Path, form: str) -> pd.DataFrame:
    return pd.read_csv(raw_dir / form, dtype="str", keep_default_na=False)


def test_every_dataset_has_exactly_the_spec_variables(result, study):
    expected = {"DM", "EX", "LB", "RS", "QS", "DS", "CM", "SE", "SV", "SUPPDM", "SUPPRS"}
    assert expected <= set(result.datasets)
    for name, df in result.datasets.items():
        spec = study.dataset(name)
        assert list(df.columns) == spec.variable_names, name
        for v in spec.submitted_variables:
            col = df[v.name]
            if v.is_numeric:
                assert col.dtype == "float64", (name, v.name)
            else:
                assert not col.isna().any(), (name, v.name)
    for name, trace in result.trace.items():
        assert len(trace) == len(result.datasets[name])
        assert (trace["RAWFILE"] != "").all() or name in ("SE", "SV")


def test_only_notices_remain_and_they_are_the_resent_lab_records(result, raw_dir):
    assert result.findings.at_least(Severity.WARNING) == []
    lab = read(raw_dir, "central_lab.csv")
    # a re-sent record repeats ACCESSION, LAB_TEST and RESULT of an earlier row
    expected = int(lab.groupby(["ACCESSION", "LAB_TEST", "RESULT"]).size().sub(1).sum())
    notices = [f for f in result.findings if f.code == "MAP005"]
    assert expected > 0 and len(notices) == expected
    assert {f.file for f in notices} == {"central_lab.csv"}


def test_no_raw_lab_row_is_silently_dropped(result, raw_dir):
    lab = read(raw_dir, "central_lab.csv")
    trace = result.trace["LB"]
    mapped = set(trace.loc[trace["RAWFILE"] == "central_lab.csv", "RAWRECID"])
    dropped_lines = {f.line for f in result.findings if f.code == "MAP005"}
    for i, rec in enumerate(lab["RECORD_ID"], start=1):
        assert rec in mapped or (i + 1) in dropped_lines, rec


def test_site_date_formats_and_partial_dates(result, raw_dir):
    enr = read(raw_dir, "enrollment.csv")
    assert (
        enr["CONSENT_DATE"].str.contains("/").any()
        and enr["CONSENT_DATE"].str.match(r"^\d{2}[A-Z]{3}\d{4}$").any()
    )
    dm = result.datasets["DM"].set_index("SUBJID")
    months = {
        "JAN": "01",
        "FEB": "02",
        "MAR": "03",
        "APR": "04",
        "MAY": "05",
        "JUN": "06",
        "JUL": "07",
        "AUG": "08",
        "SEP": "09",
        "OCT": "10",
        "NOV": "11",
        "DEC": "12",
    }
    for _, row in enr.iterrows():  # a test-side check, row by row, of 40 subjects
        d = row["CONSENT_DATE"]
        if "/" in d:
            day, month, year = d.split("/")
        elif "-" in d:
            year, month, day = d.split("-")
        else:
            day, month, year = d[:2], months[d[2:5]], d[5:]
        assert dm.loc[row["SUBJECT"], "RFICDTC"] == f"{year}-{month}-{day}"
    for name, df in result.datasets.items():
        for col in [c for c in df.columns if c.endswith("DTC")]:
            values = df.loc[df[col] != "", col]
            assert values.map(lambda v: bool(ISO.match(v))).all(), (name, col)
    bdx = read(raw_dir, "baseline_disease.csv")
    mh = result.datasets["MH"]
    diag = mh.loc[mh["MHCAT"] == "PRIMARY DIAGNOSIS"].set_index("USUBJID")["MHSTDTC"]
    partial = bdx.loc[bdx["DIAGNOSIS_DATE"].str.startswith("UN")]
    assert len(partial) > 0
    for _, row in partial.iterrows():
        got = diag["DARPAL-" + row["SUBJECT"]]
        parts = row["DIAGNOSIS_DATE"].split("-")
        # UN-MAR-2019 -> 2019-03; UNK-UNK-2019 -> 2019
        assert got == (parts[2] if parts[1] == "UNK" else f"{parts[2]}-{months[parts[1]]}")


def test_lbcat_is_the_kind_of_test_not_the_endpoint_it_serves(result):
    # issue 29: LBCAT held endpoint names (HEMATOLOGIC RESPONSE, ORGAN FUNCTION); a category groups tests by
    # kind, so a reviewer finds the chemistry, the urinalysis and the paraprotein studies where labs usually are
    lb = result.datasets["LB"]
    chemistry = {"BNPPRONT", "TROPONT", "CREAT", "GFRBSCRT", "ALT", "AST", "BILI"}
    haematology = {"HGB", "WBC", "NEUT", "PLAT"}
    by_test = lb["LBTESTCD"].map(
        lambda t: "CHEMISTRY" if t in chemistry else "HEMATOLOGY" if t in haematology else "IMMUNOLOGY"
    )
    expected = lb["LBSPEC"].map({"URINE": "URINALYSIS"}).fillna(by_test)
    assert (lb["LBCAT"] == expected).all()
    assert set(lb.loc[lb["LBCAT"] == "HEMATOLOGY", "LBSPEC"]) == {"BLOOD"}
    assert set(lb.loc[lb["LBCAT"] == "IMMUNOLOGY", "LBTESTCD"]) == {
        "KLCFR",
        "LLCFR",
        "KLCLLCFR",
        "MCPROT",
        "MPIGISO",
    }


def test_eq5d_qsorres_is_the_response_ticked_and_qsstresn_its_level(result):
    # issue 29: QSORRES held the level the EDC stores ("2"); the response as collected is the instrument's
    # wording (EQ-5D-5L, UK English), and the level is the standardised result
    qs = result.datasets["QS"]
    worst = {
        "EQ5D0201": "I am unable to walk about",
        "EQ5D0202": "I am unable to wash or dress myself",
        "EQ5D0203": "I am unable to do my usual activities",
        "EQ5D0204": "I have extreme pain or discomfort",
        "EQ5D0205": "I am extremely anxious or depressed",
    }
    best = {
        "EQ5D0201": "I have no problems in walking about",
        "EQ5D0202": "I have no problems washing or dressing myself",
        "EQ5D0203": "I have no problems doing my usual activities",
        "EQ5D0204": "I have no pain or discomfort",
        "EQ5D0205": "I am not anxious or depressed",
    }
    answered = qs[qs["QSSTAT"] != "NOT DONE"]
    dims = answered[answered["QSTESTCD"].isin(list(best))]
    assert (dims["QSSTRESC"] == dims["QSSTRESN"].map(lambda v: f"{v:.0f}")).all()
    for testcd, text in best.items():
        mine = dims[dims["QSTESTCD"] == testcd]
        assert set(mine.loc[mine["QSSTRESN"] == 1, "QSORRES"]) == {text}, testcd
        assert set(mine.loc[mine["QSSTRESN"] == 5, "QSORRES"]) <= {worst[testcd]}, testcd
        # one wording per level, and a level's wording names its severity (slight for 2, moderate for 3 ...)
        assert mine.groupby("QSSTRESN")["QSORRES"].nunique().eq(1).all(), testcd
        for level, word in ((2, "slight"), (3, "moderate"), (4, "severe")):
            assert mine.loc[mine["QSSTRESN"] == level, "QSORRES"].str.contains(word).all(), (testcd, level)
    vas = answered[answered["QSTESTCD"] == "EQ5D0206"]
    assert (pd.to_numeric(vas["QSORRES"]) == vas["QSSTRESN"]).all()
    assert (qs.loc[qs["QSSTAT"] == "NOT DONE", "QSORRES"] == "").all()


def test_unit_dirt_is_standardised(result):
    lb = result.datasets["LB"]
    num = pd.to_numeric(lb["LBORRES"], errors="coerce")

    def check(testcd: str, unit: str, factor: float, std: str) -> None:
        rows = lb.loc[(lb["LBTESTCD"] == testcd) & (lb["LBORRESU"] == unit) & num.notna()]
        assert len(rows) > 0, (testcd, unit)
        assert np.allclose(rows["LBSTRESN"], num[rows.index] * factor)
        assert set(rows["LBSTRESU"]) == {std}

    check("KLCFR", "mg/dL", 10, "mg/L")  # FLC mg/dL x 10 at one site
    check("LLCFR", "mg/dL", 10, "mg/L")
    check("BNPPRONT", "pmol/L", 8.457, "ng/L")  # NT-proBNP pmol/L x 8.457 at another
    check("PROTEXR", "mg/day", 0.001, "g/day")  # 24-h protein mg/24h at another (ORRESU mapped to mg/day)
    check("CREAT", "mg/dL", 88.4, "umol/L")
    check("KLCFR", "mg/L", 1, "mg/L")
    egfr = lb.loc[(lb["LBTESTCD"] == "GFRBSCRT") & (lb["LBSTAT"] != "NOT DONE"), "LBORRESU"]
    assert set(egfr) == {"mL/min/1.73 m2"}


def test_results_beyond_the_assay_range_keep_the_comparator(result):
    lb = result.datasets["LB"]
    below = lb.loc[lb["LBORRES"].str.startswith("<")]
    above = lb.loc[lb["LBORRES"].str.startswith(">")]
    assert len(below) and len(above)
    assert below["LBSTRESN"].isna().all() and above["LBSTRESN"].isna().all()
    assert set(below.loc[below["LBORRESU"] == "mg/L", "LBSTRESC"]) == {"<0.5"}
    assert set(above["LBSTRESC"]) == {">35000"}


def test_missing_samples_are_not_done_records(result, raw_dir):
    lab = read(raw_dir, "central_lab.csv")
    ife = read(raw_dir, "immunofixation.csv")
    lb = result.datasets["LB"]
    trace = result.trace["LB"]
    nd_ids = set(lab.loc[lab["RESULT"] == "", "RECORD_ID"]) | set(
        ife.loc[ife["IFE_RESULT"] == "", "RECORD_ID"]
    )
    assert nd_ids
    rows = lb.loc[trace["RAWRECID"].isin(nd_ids).to_numpy()]
    dropped = {f.line for f in result.findings if f.code == "MAP005"}
    kept_nd = {r for i, r in enumerate(lab["RECORD_ID"], start=1) if r in nd_ids and (i + 1) not in dropped}
    kept_nd |= set(ife.loc[ife["IFE_RESULT"] == "", "RECORD_ID"])
    assert len(rows) == len(kept_nd)
    assert set(rows["LBSTAT"]) == {"NOT DONE"} and (rows["LBREASND"] != "").all()


def test_unscheduled_visits_are_numbered_and_shared_across_domains(result, raw_dir):
    lab = read(raw_dir, "central_lab.csv")
    assert (lab["VISIT"] == "UNS").any()
    lb, rs, sv = result.datasets["LB"], result.datasets["RS"], result.datasets["SV"]
    uns = lb.loc[lb["VISIT"].str.startswith("UNSCHEDULED ")]
    assert len(uns) > 0 and (uns["VISITNUM"] % 1 > 0).all()
    assert (uns["VISIT"] == "UNSCHEDULED " + uns["VISITNUM"].map("{:.2f}".format)).all()
    rs_uns = rs.loc[rs["VISIT"].str.startswith("UNSCHEDULED ")]
    lb_dates = set(zip(uns["USUBJID"], uns["LBDTC"].str[:10], uns["VISITNUM"], strict=True))
    for key in zip(rs_uns["USUBJID"], rs_uns["RSDTC"].str[:10], rs_uns["VISITNUM"], strict=True):
        assert key in lb_dates
    assert set(uns["VISITNUM"]) <= set(sv["VISITNUM"])


def test_coded_text_dirt_is_cleaned(result, raw_dir, study):
    enr = read(raw_dir, "enrollment.csv")
    dirty = enr["SEX"].ne(enr["SEX"].str.strip().str.title()) | enr["RACE"].ne(enr["RACE"].str.strip())
    rsp = read(raw_dir, "response_assessment.csv")
    dirty_rs = rsp["HEM_RESPONSE"].ne(rsp["HEM_RESPONSE"].str.strip().str.upper())
    assert dirty.any() or dirty_rs.any()
    dm = result.datasets["DM"]
    assert set(dm["SEX"]) <= {"M", "F"}
    assert set(dm["RACE"]) <= study.codelists["RACE"].values
    assert set(dm["ETHNIC"]) <= study.codelists["ETHNIC"].values
    rs = result.datasets["RS"]
    hem = rs.loc[rs["RSTESTCD"] == "HEMARESP", "RSSTRESC"]
    assert set(hem) <= study.codelists["HEMRESP"].values
    assert (
        set(rs.loc[rs["RSTESTCD"].isin(["CARDRESP", "RENLRESP"]), "RSSTRESC"])
        <= study.codelists["ORGRESP"].values
    )
    assert set(rs.loc[rs["RSTESTCD"] == "MRDIND", "RSSTRESC"]) <= {"NEGATIVE", "POSITIVE", "NE"}
    lb = result.datasets["LB"]
    ife = lb.loc[
        (lb["LBTESTCD"] == "MCPROT") & (lb["LBMETHOD"] == "IMMUNOFIXATION ELECTROPHORESIS"), "LBSTRESC"
    ]
    assert set(ife) <= {"POSITIVE", "NEGATIVE", ""}
    iso = lb.loc[lb["LBTESTCD"] == "MPIGISO", "LBSTRESC"]
    assert len(iso) and (iso == iso.str.strip().str.upper()).all()
    supp = result.datasets["SUPPDM"]
    assert set(supp.loc[supp["QNAM"] == "INVLC", "QVAL"]) <= {"KAPPA", "LAMBDA"}


def test_sdtm_conventions_hold(result):
    d = result.datasets
    for name in ("LB", "RS", "QS", "EX", "DS", "CM", "SV"):
        df = d[name]
        for col in [c for c in df.columns if c.endswith("DY")]:
            assert not (df[col] == 0).any(), (name, col)
        seq = next((c for c in df.columns if c.endswith("SEQ")), None)
        if seq:
            assert not df.duplicated(["USUBJID", seq]).any()
    lb = d["LB"]
    flags = lb.loc[lb["LBLOBXFL"] == "Y"].groupby(["USUBJID", "LBTESTCD", "LBSPEC", "LBMETHOD"]).size()
    assert len(flags) > 0 and (flags == 1).all()
    dm = d["DM"]
    sf = dm["ARMNRS"] == "SCREEN FAILURE"
    assert sf.any() and (dm.loc[sf, ["ARMCD", "ARM", "ACTARMCD", "ACTARM"]] == "").all().all()
    assert (dm.loc[~sf, "RFXSTDTC"] != "").all() and (dm["DTHFL"] == "Y").sum() == (dm["DTHDTC"] != "").sum()
    qs = d["QS"]
    assert set(qs["QSTESTCD"]) == {f"EQ5D020{i}" for i in range(1, 7)}
    assert set(d["EX"]["EXTRT"]) == {"DARATUMUMAB", "POMALIDOMIDE"}
    assert set(d["DS"]["DSDECOD"]) >= {"INFORMED CONSENT OBTAINED", "COMPLETED", "SCREEN FAILURE"}


def test_reruns_are_identical(result, raw_dir, study):
    again = run_sdtm(raw_dir, study)
    for name, df in result.datasets.items():
        pd.testing.assert_frame_equal(df, again.datasets[name])
